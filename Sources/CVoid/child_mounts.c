// The child stage's mounts: one planned mount (struct void_op) made inside the void's root,
// never through a symlink of the image. Straight-line, raw syscalls, no allocation.
#define _GNU_SOURCE
#include "child.h"

#include <errno.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

int void_move_mount_fd(int from, int to_dfd, const char *to_path, unsigned int flags) {
    return (int)syscall(SYS_move_mount, from, "", to_dfd, to_path, flags | MOVE_MOUNT_F_EMPTY_PATH);
}

// Walks `rel` below `rootfd`, creating missing directories (mode 0755), never following a
// symlink: a destination that goes through a link is refused, so nothing inside the image can
// steer a mount outside the void. Returns an O_PATH fd of the final component, created as a
// directory or an empty file when missing (want_dir decides), or -1 with errno.
int void_open_dest(int rootfd, const char *rel, int want_dir, int *symlink_hit) {
    char comp[256];
    int cur = rootfd, owned = 0;
    const char *p = rel;
    *symlink_hit = 0;
    for (;;) {
        while (*p == '/') p++;
        if (*p == '\0') {  // the root itself
            int fd = (int)syscall(SYS_openat, cur, ".", O_PATH | O_CLOEXEC | O_DIRECTORY);
            if (owned) close(cur);
            return fd;
        }
        size_t n = strcspn(p, "/");
        if (n >= sizeof comp) { errno = ENAMETOOLONG; goto fail; }
        memcpy(comp, p, n);
        comp[n] = '\0';
        p += n;
        while (*p == '/') p++;
        int last = (*p == '\0');
        struct stat st;
        if (fstatat(cur, comp, &st, AT_SYMLINK_NOFOLLOW) < 0) {
            if (errno != ENOENT) goto fail;
            if (!last || want_dir) {
                if (mkdirat(cur, comp, 0755) < 0 && errno != EEXIST) goto fail;
            } else {
                if (mknodat(cur, comp, S_IFREG | 0644, 0) < 0 && errno != EEXIST) goto fail;
            }
        } else if (S_ISLNK(st.st_mode)) {
            *symlink_hit = 1;
            errno = ELOOP;
            goto fail;
        }
        int flags = O_PATH | O_CLOEXEC | O_NOFOLLOW | ((!last || want_dir) ? O_DIRECTORY : 0);
        int next = (int)syscall(SYS_openat, cur, comp, flags);
        if (next < 0) goto fail;
        if (owned) close(cur);
        cur = next;
        owned = 1;
        if (last) {
            if (!want_dir) {
                if (fstat(cur, &st) == 0 && S_ISDIR(st.st_mode)) { close(cur); errno = EISDIR; return -1; }
            }
            return cur;
        }
    }
fail:
    if (owned) close(cur);
    return -1;
}

static void do_bind(int rootfd, int imagefd, const struct void_op *op, int i) {
    int tree = op->tree_fd;
    if (tree < 0) {
        // Opened here, in the child's own copy of the mount namespace, so open_tree may clone
        // it; image paths are resolved as if the image were "/" (no escape through links).
        int src = op->in_image
            ? void_openat2(imagefd, op->source, O_PATH | O_CLOEXEC, 0,
                           RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS)
            : void_openat2(AT_FDCWD, op->source, O_PATH | O_CLOEXEC, 0,
                           op->no_symlinks ? RESOLVE_NO_SYMLINKS : RESOLVE_NO_MAGICLINKS);
        CHECK(src, VOID_STEP_OPEN_SOURCE, i);
        tree = void_open_tree(src, "", OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_EMPTY_PATH |
                                           (op->recursive ? AT_RECURSIVE : 0));
        CHECK(tree, VOID_STEP_CLONE_SOURCE, i);
        close(src);
        // Only flags are added (never cleared), so the flags the kernel locked on the source
        // (nosuid, nodev, ...) are kept and no EPERM arises inside the user namespace.
        CHECK(void_mount_setattr(tree, "", AT_EMPTY_PATH | (op->recursive ? AT_RECURSIVE : 0),
                                 op->attr_set, 0, MS_PRIVATE),
              VOID_STEP_SETATTR, i);
        if (op->attr_top)
            CHECK(void_mount_setattr(tree, "", AT_EMPTY_PATH, op->attr_top, 0, 0), VOID_STEP_SETATTR, i);
    }
    int hit;
    int dest = void_open_dest(rootfd, op->dest, op->is_dir, &hit);
    if (dest < 0) void_fail(hit ? VOID_STEP_DEST_SYMLINK : VOID_STEP_DEST, i);
    CHECK(void_move_mount_fd(tree, dest, "", MOVE_MOUNT_T_EMPTY_PATH), VOID_STEP_MOVE_MOUNT, i);
    close(dest);
    close(tree);
}

static void do_symlink(int rootfd, const struct void_op *op, int i) {
    // The parent of the link is created like any destination; the link itself must be new or
    // already the same link (two programs may share a path through it).
    const char *slash = strrchr(op->dest, '/');
    char parent[4096];
    const char *name = op->dest;
    int pfd;
    int hit;
    if (slash) {
        size_t n = (size_t)(slash - op->dest);
        if (n >= sizeof parent) { errno = ENAMETOOLONG; void_fail(VOID_STEP_SYMLINK, i); }
        memcpy(parent, op->dest, n);
        parent[n] = '\0';
        name = slash + 1;
        pfd = void_open_dest(rootfd, parent, 1, &hit);
    } else {
        pfd = void_open_dest(rootfd, "", 1, &hit);
    }
    if (pfd < 0) void_fail(hit ? VOID_STEP_DEST_SYMLINK : VOID_STEP_DEST, i);
    if (symlinkat(op->source, pfd, name) < 0) {
        if (errno != EEXIST) void_fail(VOID_STEP_SYMLINK, i);
        char buf[4096];
        ssize_t n = readlinkat(pfd, name, buf, sizeof buf - 1);
        if (n < 0) void_fail(VOID_STEP_SYMLINK, i);
        buf[n] = '\0';
        if (strcmp(buf, op->source) != 0) { errno = EEXIST; void_fail(VOID_STEP_SYMLINK, i); }
    }
    close(pfd);
}

// tmpcopyup: the entries voidoci planned and read, created in the new filesystem before it is
// attached. Everything comes from the parent (paths, modes, the bytes in a memfd): nothing of
// the image is opened here.
static char copy_buf[65536];

__attribute__((noreturn)) static void copy_fail(int i, int k) {
    void_report_detail(VOID_STEP_COPYUP, errno, i, k);
    _exit(126);
}

static void copy_up(int mnt, const struct void_op *op, int i) {
    for (int k = 0; k < op->n_copy; k++) {
        const struct void_copy *e = &op->copy[k];
        if (e->kind == VOID_COPY_DIR) {
            if (mkdirat(mnt, e->path, 0700) < 0) copy_fail(i, k);
        } else if (e->kind == VOID_COPY_SYMLINK) {
            if (symlinkat(e->target, mnt, e->path) < 0) copy_fail(i, k);
        } else {
            int fd = void_openat2(mnt, e->path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600,
                                  RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS);
            if (fd < 0) copy_fail(i, k);
            uint64_t off = e->offset, left = e->length;
            while (left > 0) {
                size_t want = left < sizeof copy_buf ? (size_t)left : sizeof copy_buf;
                ssize_t n = pread(op->copy_fd, copy_buf, want, (off_t)off);
                if (n < 0 && errno == EINTR) continue;
                if (n <= 0) { if (n == 0) errno = EIO; copy_fail(i, k); }
                for (ssize_t done = 0; done < n;) {
                    ssize_t w = write(fd, copy_buf + done, (size_t)(n - done));
                    if (w < 0 && errno == EINTR) continue;
                    if (w <= 0) { if (w == 0) errno = EIO; copy_fail(i, k); }
                    done += w;
                }
                off += (uint64_t)n;
                left -= (uint64_t)n;
            }
            if (fchmod(fd, e->mode & 07777) < 0) copy_fail(i, k);
            close(fd);
        }
    }
    // Directory modes last, deepest first: a 0555 directory is filled before it is closed.
    for (int k = op->n_copy - 1; k >= 0; k--) {
        if (op->copy[k].kind == VOID_COPY_DIR && fchmodat(mnt, op->copy[k].path, op->copy[k].mode & 07777, 0) < 0)
            copy_fail(i, k);
    }
}

static void do_fs(int rootfd, const struct void_op *op, int i) {
    if (op->tree_fd >= 0) {
        // Made by voidoci in a namespace joined by path (mqueue of a joined ipc namespace, sysfs
        // of a joined network one), which the void's user namespace does not own.
        int hit;
        int dest = void_open_dest(rootfd, op->dest, 1, &hit);
        if (dest < 0) void_fail(hit ? VOID_STEP_DEST_SYMLINK : VOID_STEP_DEST, i);
        CHECK(void_move_mount_fd(op->tree_fd, dest, "", MOVE_MOUNT_T_EMPTY_PATH), VOID_STEP_MOVE_MOUNT, i);
        close(dest);
        close(op->tree_fd);
        return;
    }
    int fs = (int)syscall(SYS_fsopen, op->fstype, FSOPEN_CLOEXEC);
    CHECK(fs, VOID_STEP_FS_OPEN, i);
    for (int k = 0; k < op->fs_nopts; k++) {
        const char *v = op->fs_values[k];
        int r = v ? (int)syscall(SYS_fsconfig, fs, FSCONFIG_SET_STRING, op->fs_keys[k], v, 0)
                  : (int)syscall(SYS_fsconfig, fs, FSCONFIG_SET_FLAG, op->fs_keys[k], NULL, 0);
        CHECK(r, VOID_STEP_FS_CONFIG, i);
    }
    CHECK(syscall(SYS_fsconfig, fs, FSCONFIG_CMD_CREATE, NULL, NULL, 0), VOID_STEP_FS_CONFIG, i);
    // A read-only filesystem with content to copy is made read-only once it is filled.
    uint64_t attrs = op->n_copy > 0 ? op->attr_set & ~(uint64_t)MOUNT_ATTR_RDONLY : op->attr_set;
    int mnt = (int)syscall(SYS_fsmount, fs, FSMOUNT_CLOEXEC, (unsigned int)attrs);
    CHECK(mnt, VOID_STEP_FS_MOUNT, i);
    close(fs);
    if (op->n_copy > 0) {
        copy_up(mnt, op, i);
        if (op->attr_set & MOUNT_ATTR_RDONLY)
            CHECK(void_mount_setattr(mnt, "", AT_EMPTY_PATH, MOUNT_ATTR_RDONLY, 0, 0), VOID_STEP_SETATTR, i);
    }
    if (op->copy_fd >= 0) close(op->copy_fd);
    int hit;
    int dest = void_open_dest(rootfd, op->dest, 1, &hit);
    if (dest < 0) void_fail(hit ? VOID_STEP_DEST_SYMLINK : VOID_STEP_DEST, i);
    CHECK(void_move_mount_fd(mnt, dest, "", MOVE_MOUNT_T_EMPTY_PATH), VOID_STEP_MOVE_MOUNT, i);
    close(dest);
    close(mnt);
}

// maskedPaths / readonlyPaths: only what exists (a void usually has neither /proc nor /sys).
static void do_mask_or_readonly(int rootfd, const struct void_op *op, int i) {
    int target = void_openat2(rootfd, op->dest, O_PATH | O_CLOEXEC | O_NOFOLLOW, 0,
                              RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS);
    if (target < 0) {
        if (errno == ENOENT || errno == ENOTDIR) return;
        void_fail(VOID_STEP_DEST, i);
    }
    struct stat st;
    CHECK(fstat(target, &st), VOID_STEP_DEST, i);
    int tree;
    if (op->kind == VOID_OP_READONLY) {
        tree = void_open_tree(target, "", OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_EMPTY_PATH | AT_RECURSIVE);
        CHECK(tree, VOID_STEP_CLONE_SOURCE, i);
        // Read-only added to what the path has (runc's remount keeps its other flags).
        CHECK(void_mount_setattr(tree, "", AT_EMPTY_PATH | AT_RECURSIVE, MOUNT_ATTR_RDONLY, 0, MS_PRIVATE),
              VOID_STEP_SETATTR, i);
    } else if (S_ISDIR(st.st_mode)) {
        int fs = (int)syscall(SYS_fsopen, "tmpfs", FSOPEN_CLOEXEC);
        CHECK(fs, VOID_STEP_FS_OPEN, i);
        CHECK(syscall(SYS_fsconfig, fs, FSCONFIG_SET_STRING, "size", "0", 0), VOID_STEP_FS_CONFIG, i);
        CHECK(syscall(SYS_fsconfig, fs, FSCONFIG_CMD_CREATE, NULL, NULL, 0), VOID_STEP_FS_CONFIG, i);
        // An empty read-only tmpfs of size 0, as runc masks a directory (nothing to run in it).
        tree = (int)syscall(SYS_fsmount, fs, FSMOUNT_CLOEXEC, MOUNT_ATTR_RDONLY);
        CHECK(tree, VOID_STEP_FS_MOUNT, i);
        close(fs);
    } else {
        if (void_devnull_fd < 0) { errno = EBADF; void_fail(VOID_STEP_OPEN_SOURCE, i); }
        tree = void_open_tree(void_devnull_fd, "", OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_EMPTY_PATH);
        CHECK(tree, VOID_STEP_CLONE_SOURCE, i);
    }
    CHECK(void_move_mount_fd(tree, target, "", MOVE_MOUNT_T_EMPTY_PATH), VOID_STEP_MOVE_MOUNT, i);
    close(tree);
    close(target);
}

// linux.sysctl for the void's own namespaces: /proc/sys follows the writer's namespaces, so a
// proc mount made here and never attached shows the void's. Written as the set-up ids: the ipc
// and mqueue sysctls let only the namespace's root (uid 0 inside) write, the network ones

// VOID_DO_MOUNT: the planned mount `i`, whatever its kind.
void void_do_mount(int rootfd, int imagefd, int i) {
    if (i < 0 || i >= void_C->n_ops) { errno = EINVAL; void_fail(VOID_STEP_PROGRAM, i); }
    const struct void_op *op = &void_C->ops[i];
    switch (op->kind) {
    case VOID_OP_BIND: do_bind(rootfd, imagefd, op, i); break;
    case VOID_OP_SYMLINK: do_symlink(rootfd, op, i); break;
    case VOID_OP_FS: do_fs(rootfd, op, i); break;
    case VOID_OP_MASK:
    case VOID_OP_READONLY: do_mask_or_readonly(rootfd, op, i); break;
    case VOID_OP_DIR: {
        int hit;
        int d = void_open_dest(rootfd, op->dest, 1, &hit);
        if (d < 0) void_fail(hit ? VOID_STEP_DEST_SYMLINK : VOID_STEP_DEST, i);
        close(d);
        break;
    }
    default: errno = EINVAL; void_fail(VOID_STEP_PROGRAM, i);
    }
}

// VOID_DO_MOUNT_IF_ABSENT (exec): present already (granted at create, or by an earlier exec),
// it is left as it is.
void void_do_mount_if_absent(int rootfd, int imagefd, int i) {
    if (i < 0 || i >= void_C->n_ops) { errno = EINVAL; void_fail(VOID_STEP_PROGRAM, i); }
    struct stat st;
    if (fstatat(rootfd, void_C->ops[i].dest, &st, AT_SYMLINK_NOFOLLOW) == 0) return;
    void_do_mount(rootfd, imagefd, i);
}
