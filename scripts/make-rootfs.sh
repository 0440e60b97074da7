#!/usr/bin/env bash
# Build a small test-image rootfs in DIR.
#   make-rootfs.sh DIR --busybox       static busybox + every applet as a symlink
#   make-rootfs.sh DIR --host [PROG..] host programs + their libraries + ELF interpreter,
#                                      at the host's own paths (merged-/usr symlinks included)
#   make-rootfs.sh DIR --static SRC.c.. each C source (relative to the repository) built static
#                                      with gcc, as DIR/NAME: a program that needs no library
#   make-rootfs.sh DIR --debian PKG..   every file of the installed Debian packages PKG and of
#                                      their dependencies (dpkg -L): an image built from Debian packages
# Additive and idempotent: rerunning over an existing DIR of the same kind is fine.
set -euo pipefail

usage() { echo "usage: $0 DIR --busybox | --host [PROG...] | --static SRC.c... | --debian PKG..." >&2; exit 2; }
(($# >= 2)) || usage
DIR=$1 MODE=$2; shift 2
mkdir -p "$DIR"
DIR=$(realpath "$DIR")
[[ $DIR != / ]] || { echo "make-rootfs: refusing to build into /" >&2; exit 1; }

# Minimal identity files: `id`, `ls -l` and engines that resolve user names need them.
common_files() {
  mkdir -p "$DIR/etc"
  printf '%s\n' 'root:x:0:0:root:/root:/bin/sh' \
    'nobody:x:65534:65534:nobody:/nonexistent:/bin/false' >"$DIR/etc/passwd"
  printf '%s\n' 'root:x:0:' 'nobody:x:65534:' >"$DIR/etc/group"
  mkdir -p "$DIR/tmp" && chmod 1777 "$DIR/tmp"
}

# Copy absolute host path $1 into DIR at the same path, recreating every symlink met on the
# way (so /bin/sh -> usr/bin/sh -> dash all exist inside), then copying the final file.
copy_path() {
  local path=$1 cur="" comp rest target
  rest=${path#/}
  while [[ -n $rest ]]; do
    comp=${rest%%/*}
    [[ $rest == */* ]] && rest=${rest#*/} || rest=""
    cur="$cur/$comp"
    if [[ -L $cur ]]; then
      target=$(readlink "$cur")
      [[ -L $DIR$cur || -e $DIR$cur ]] || ln -s "$target" "$DIR$cur"
      # Continue from the link target (lexically normalised; parents are already link-free).
      [[ $target == /* ]] || target="$(dirname "$cur")/$target"
      copy_path "$(realpath -ms "$target${rest:+/$rest}")"
      return
    elif [[ -z $rest ]]; then
      cp -pf "$cur" "$DIR$cur"
    else
      mkdir -p "$DIR$cur"
    fi
  done
}

case $MODE in
--static)
  (($# > 0)) || usage
  repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
  for src in "$@"; do
    name=$(basename "$src" .c)
    gcc -static -O2 -Wall -o "$DIR/$name" "$repo/$src"
    echo "make-rootfs: $name (static, from $src)"
  done
  ;;
--busybox)
  (($# == 0)) || usage
  [[ ! -L $DIR/bin ]] || { echo "make-rootfs: $DIR looks like a --host rootfs; remove it first" >&2; exit 1; }
  # Debian's busybox-static package installs the static binary as /bin/busybox.
  bb=/bin/busybox
  # It must be static: the rootfs carries no libraries. (An ELF with no INTERP is static.)
  if [[ ! -x $bb ]] || readelf -l "$bb" | grep -q INTERP; then
    echo "make-rootfs: $bb missing or not static; install busybox-static" >&2; exit 1
  fi
  mkdir -p "$DIR/bin" "$DIR/usr/bin"
  cp -pf "$bb" "$DIR/bin/busybox"
  n=0
  for applet in $("$bb" --list); do
    [[ $applet == busybox ]] && continue
    ln -sfn busybox "$DIR/bin/$applet"; n=$((n + 1))
  done
  common_files
  echo "make-rootfs: busybox with $n applets"
  ;;
--debian)
  (($# > 0)) || usage
  [[ ! -d $DIR/bin || -L $DIR/bin ]] || { echo "make-rootfs: $DIR looks like a --busybox rootfs; remove it first" >&2; exit 1; }
  for d in bin sbin lib lib32 lib64 libx32; do
    if [[ -L /$d ]]; then
      target=$(readlink "/$d")
      [[ -L $DIR/$d ]] || ln -s "$target" "$DIR/$d"
      mkdir -p "$DIR/${target#/}"
    fi
  done
  for p in "$@"; do dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null | grep -qx installed ||
    { echo "make-rootfs: Debian package $p is not installed (scripts/install-deps.sh installs it)" >&2; exit 1; }; done
  # The packages and what they depend on (installed ones only), then every file they own.
  mapfile -t pkgs < <(apt-cache depends --recurse --installed --no-recommends --no-suggests --no-conflicts \
    --no-breaks --no-replaces --no-enhances "$@" 2>/dev/null | grep -v '^ ' | grep -v '^<' | sort -u)
  list=$(mktemp)
  trap 'rm -f "$list"' EXIT
  for p in "${pkgs[@]}"; do dpkg -L "$p" 2>/dev/null || true; done | sort -u |
    while IFS= read -r f; do
      [[ $f == /* ]] || continue
      [[ -d $f && ! -L $f ]] && continue
      case $f in /usr/share/doc/*|/usr/share/man/*|/usr/share/info/*|/usr/share/locale/*|/usr/share/lintian/*) continue ;; esac   # as slim images do
      [[ -e $f || -L $f ]] && printf '%s\n' "${f#/}"
    done >"$list"
  # Paths under the host's merged-/usr links land on the image's same links.
  tar -C / --no-recursion -cf - -T "$list" | tar -C "$DIR" --keep-directory-symlink -xf -
  [[ -f /etc/ld.so.cache ]] && cp -pf /etc/ld.so.cache "$DIR/etc/ld.so.cache"
  common_files
  echo "make-rootfs: Debian packages $* and their dependencies (${#pkgs[@]} packages, $(wc -l <"$list") files)"
  ;;
--host)
  [[ ! -d $DIR/bin || -L $DIR/bin ]] || { echo "make-rootfs: $DIR looks like a --busybox rootfs; remove it first" >&2; exit 1; }
  (($# > 0)) || set -- sh ls cat id true false sleep env hostname readlink stat touch mkdir echo
  # Mirror the host's top-level merged-/usr symlinks (bin -> usr/bin, lib64 -> usr/lib64...)
  # so every path the loader or a script may use exists inside too.
  for d in bin sbin lib lib32 lib64 libx32; do
    if [[ -L /$d ]]; then
      target=$(readlink "/$d")
      [[ -L $DIR/$d ]] || ln -s "$target" "$DIR/$d"
      mkdir -p "$DIR/${target#/}"   # the link's target, e.g. usr/lib64
    fi
  done
  files=()
  for prog in "$@"; do
    # type -P: the file on PATH, never a shell builtin (command -v echo says "echo").
    p=$(type -P "$prog") || { echo "make-rootfs: $prog not found on PATH" >&2; exit 1; }
    files+=("$p")
    # ldd lists every needed library by path and the interpreter; keep the paths only.
    # (Static binaries and scripts make ldd fail: nothing more to copy for those.)
    while read -r lib; do files+=("$lib"); done < <(ldd "$(realpath "$p")" 2>/dev/null | grep -o '/[^ ]*' || true)
  done
  for f in $(printf '%s\n' "${files[@]}" | sort -u); do copy_path "$f"; done
  # The loader inside consults the image's cache just as on the host.
  [[ -f /etc/ld.so.cache ]] && mkdir -p "$DIR/etc" && cp -pf /etc/ld.so.cache "$DIR/etc/ld.so.cache"
  common_files
  echo "make-rootfs: host programs $* (${#files[@]} paths incl. libraries)"
  ;;
*) usage ;;
esac

# The rootfs must be usable as-is: a plain chroot is the simplest honest check.
# (Only when the rootfs has what the check itself runs: a custom --host list may not.)
if [[ $EUID -eq 0 && -e $DIR/bin/sh && -e $DIR/bin/ls && -e $DIR/bin/id ]]; then
  # (No /dev inside, so no redirections to /dev/null in there: capture from outside.)
  out=$(chroot "$DIR" /bin/sh -c 'ls / && id' 2>&1) ||
    { printf '%s\n' "$out" >&2; echo "make-rootfs: chroot $DIR /bin/sh -c 'ls / && id' failed" >&2; exit 1; }
  echo "make-rootfs: chroot check OK: $(tail -n1 <<<"$out")"
fi
echo "$DIR"
