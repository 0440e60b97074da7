// The child stage: clone3 → (wait for id maps) → build the void root → pivot → process
// attributes → (wait for start) → execve. Straight-line, raw syscalls, no allocation: the parent
// prepared everything. The first failure is reported on sync_fd and the child exits.
#define _GNU_SOURCE
#include "cvoid.h"
#include "internal.h"

#include <errno.h>
#include <linux/capability.h>
#include <net/if.h>
#include <signal.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <termios.h>
#include <unistd.h>

static const struct void_child *C;
static int devnull_fd = -1;  // the host's /dev/null, opened in the child's namespace: the source for masking files

static int report_detail(int step, int err, int index, int detail) {
    struct void_report r = {.step = step, .err = err, .index = index, .detail = detail};
    ssize_t n;
    do { n = send(C->sync_fd, &r, sizeof r, MSG_NOSIGNAL); } while (n < 0 && errno == EINTR);
    return n == (ssize_t)sizeof r ? 0 : -1;
}

static int report(int step, int err, int index) { return report_detail(step, err, index, 0); }

__attribute__((noreturn)) static void fail(int step, int index) {
    report(step, errno, index);
    _exit(126);
}

#define CHECK(expr, step, index) do { if ((expr) < 0) fail((step), (index)); } while (0)

static void fmt_u32(char *buf, uint32_t v) {
    char tmp[16];
    int n = 0;
    do { tmp[n++] = (char)('0' + v % 10); v /= 10; } while (v);
    for (int k = 0; k < n; k++) buf[k] = tmp[n - 1 - k];
    buf[n] = '\0';
}

static int sys_mount(const char *src, const char *dst, const char *type, unsigned long flags,
                     const void *data) {
    return (int)syscall(SYS_mount, src, dst, type, flags, data);
}

static int move_mount_fd(int from, int to_dfd, const char *to_path, unsigned int flags) {
    return (int)syscall(SYS_move_mount, from, "", to_dfd, to_path, flags | MOVE_MOUNT_F_EMPTY_PATH);
}

// Walks `rel` below `rootfd`, creating missing directories (mode 0755), never following a
// symlink: a destination that goes through a link is refused, so nothing inside the image can
// steer a mount outside the void. Returns an O_PATH fd of the final component, created as a
// directory or an empty file when missing (want_dir decides), or -1 with errno.
static int open_dest(int rootfd, const char *rel, int want_dir, int index, int *symlink_hit) {
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
    (void)index;
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
    int dest = open_dest(rootfd, op->dest, op->is_dir, i, &hit);
    if (dest < 0) fail(hit ? VOID_STEP_DEST_SYMLINK : VOID_STEP_DEST, i);
    CHECK(move_mount_fd(tree, dest, "", MOVE_MOUNT_T_EMPTY_PATH), VOID_STEP_MOVE_MOUNT, i);
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
        if (n >= sizeof parent) { errno = ENAMETOOLONG; fail(VOID_STEP_SYMLINK, i); }
        memcpy(parent, op->dest, n);
        parent[n] = '\0';
        name = slash + 1;
        pfd = open_dest(rootfd, parent, 1, i, &hit);
    } else {
        pfd = open_dest(rootfd, "", 1, i, &hit);
    }
    if (pfd < 0) fail(hit ? VOID_STEP_DEST_SYMLINK : VOID_STEP_DEST, i);
    if (symlinkat(op->source, pfd, name) < 0) {
        if (errno != EEXIST) fail(VOID_STEP_SYMLINK, i);
        char buf[4096];
        ssize_t n = readlinkat(pfd, name, buf, sizeof buf - 1);
        if (n < 0) fail(VOID_STEP_SYMLINK, i);
        buf[n] = '\0';
        if (strcmp(buf, op->source) != 0) { errno = EEXIST; fail(VOID_STEP_SYMLINK, i); }
    }
    close(pfd);
}

// tmpcopyup: the entries voidoci planned and read, created in the new filesystem before it is
// attached. Everything comes from the parent (paths, modes, the bytes in a memfd): nothing of
// the image is opened here.
static char copy_buf[65536];

__attribute__((noreturn)) static void copy_fail(int i, int k) {
    report_detail(VOID_STEP_COPYUP, errno, i, k);
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
        int dest = open_dest(rootfd, op->dest, 1, i, &hit);
        if (dest < 0) fail(hit ? VOID_STEP_DEST_SYMLINK : VOID_STEP_DEST, i);
        CHECK(move_mount_fd(op->tree_fd, dest, "", MOVE_MOUNT_T_EMPTY_PATH), VOID_STEP_MOVE_MOUNT, i);
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
    int dest = open_dest(rootfd, op->dest, 1, i, &hit);
    if (dest < 0) fail(hit ? VOID_STEP_DEST_SYMLINK : VOID_STEP_DEST, i);
    CHECK(move_mount_fd(mnt, dest, "", MOVE_MOUNT_T_EMPTY_PATH), VOID_STEP_MOVE_MOUNT, i);
    close(dest);
    close(mnt);
}

// maskedPaths / readonlyPaths: only what exists (a void usually has neither /proc nor /sys).
static void do_mask_or_readonly(int rootfd, const struct void_op *op, int i) {
    int target = void_openat2(rootfd, op->dest, O_PATH | O_CLOEXEC | O_NOFOLLOW, 0,
                              RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS);
    if (target < 0) {
        if (errno == ENOENT || errno == ENOTDIR) return;
        fail(VOID_STEP_DEST, i);
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
        if (devnull_fd < 0) { errno = EBADF; fail(VOID_STEP_OPEN_SOURCE, i); }
        tree = void_open_tree(devnull_fd, "", OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_EMPTY_PATH);
        CHECK(tree, VOID_STEP_CLONE_SOURCE, i);
    }
    CHECK(move_mount_fd(tree, target, "", MOVE_MOUNT_T_EMPTY_PATH), VOID_STEP_MOVE_MOUNT, i);
    close(tree);
    close(target);
}

// linux.sysctl for the void's own namespaces: /proc/sys follows the writer's namespaces, so a
// proc mount made here and never attached shows the void's. Written as the set-up ids: the ipc
// and mqueue sysctls let only the namespace's root (uid 0 inside) write, the network ones
// whoever holds CAP_NET_ADMIN over it. (kernel.domainname is set with setdomainname.)
static void write_sysctls(void) {
    if (C->n_sysctls == 0) return;
    int proc = -1;
    int fs = (int)syscall(SYS_fsopen, "proc", FSOPEN_CLOEXEC);
    if (fs >= 0 && syscall(SYS_fsconfig, fs, FSCONFIG_CMD_CREATE, NULL, NULL, 0) == 0)
        proc = (int)syscall(SYS_fsmount, fs, FSMOUNT_CLOEXEC, MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV | MOUNT_ATTR_NOEXEC);
    if (fs >= 0) close(fs);
    // A pid namespace joined from another user namespace admits no proc of ours: the host's
    // /proc, still in this private copy of the mount namespace before the pivot, shows the same.
    if (proc < 0) proc = (int)syscall(SYS_openat, AT_FDCWD, "/proc", O_PATH | O_CLOEXEC | O_DIRECTORY);
    CHECK(proc, VOID_STEP_SYSCTL_PROC, -1);
    for (int i = 0; i < C->n_sysctls; i++) {
        int fd = void_openat2(proc, C->sysctl_paths[i], O_WRONLY | O_CLOEXEC | O_NOFOLLOW, 0,
                              RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS);
        CHECK(fd, VOID_STEP_SYSCTL, i);
        const char *v = C->sysctl_values[i];
        size_t len = strlen(v);
        ssize_t n;
        do { n = write(fd, v, len); } while (n < 0 && errno == EINTR);
        if (n < 0) fail(VOID_STEP_SYSCTL, i);
        if ((size_t)n != len) { errno = EINVAL; fail(VOID_STEP_SYSCTL, i); }
        close(fd);
    }
    close(proc);
}

static void loopback_up(void) {
    int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    CHECK(s, VOID_STEP_LOOPBACK, -1);
    struct ifreq ifr;
    memset(&ifr, 0, sizeof ifr);
    memcpy(ifr.ifr_name, "lo", 3);
    CHECK(ioctl(s, SIOCGIFFLAGS, &ifr), VOID_STEP_LOOPBACK, -1);
    ifr.ifr_flags |= IFF_UP | IFF_RUNNING;
    CHECK(ioctl(s, SIOCSIFFLAGS, &ifr), VOID_STEP_LOOPBACK, -1);
    close(s);
}

static int load_seccomp(void) {
    struct sock_fprog prog = {.len = C->seccomp_len, .filter = (struct sock_filter *)C->seccomp_filter};
    return (int)syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, C->seccomp_flags, &prog);
}

static void set_capabilities(void) {
    int last = void_last_cap();
    for (int cap = 0; cap <= last; cap++) {
        if (!(C->cap_bounding & (1ULL << cap)))
            CHECK(prctl(PR_CAPBSET_DROP, cap, 0, 0, 0), VOID_STEP_BOUNDING, cap);
    }
}

static void set_ids_and_caps(void) {
    if (C->has_caps) set_capabilities();
    // Keep the permitted set across the uid change; the final sets are installed right after.
    CHECK(prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0), VOID_STEP_KEEPCAPS, -1);
    if (C->set_groups)
        CHECK(syscall(SYS_setgroups, C->n_groups, C->groups), VOID_STEP_SETGROUPS, -1);
    CHECK(syscall(SYS_setresgid, C->gid, C->gid, C->gid), VOID_STEP_SETGID, -1);
    CHECK(syscall(SYS_setresuid, C->uid, C->uid, C->uid), VOID_STEP_SETUID, -1);
    if (C->has_caps) {
        struct __user_cap_header_struct hdr = {.version = _LINUX_CAPABILITY_VERSION_3, .pid = 0};
        struct __user_cap_data_struct data[2];
        memset(data, 0, sizeof data);
        for (int k = 0; k < 2; k++) {
            data[k].effective = (uint32_t)(C->cap_effective >> (32 * k));
            data[k].permitted = (uint32_t)(C->cap_permitted >> (32 * k));
            data[k].inheritable = (uint32_t)(C->cap_inheritable >> (32 * k));
        }
        CHECK(syscall(SYS_capset, &hdr, data), VOID_STEP_CAPSET, -1);
        for (int cap = 0; cap < 64; cap++) {
            if (C->cap_ambient & (1ULL << cap))
                CHECK(prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, cap, 0, 0), VOID_STEP_AMBIENT, cap);
        }
    }
    CHECK(prctl(PR_SET_KEEPCAPS, 0, 0, 0, 0), VOID_STEP_KEEPCAPS, -1);
}

__attribute__((noreturn)) static void finish_process(void);

// Into the void's cgroups, through the files voidoci opened (see cvoid.h, cgroup_fds).
static void join_cgroups(void) {
    for (int i = 0; i < C->n_cgroup_fds; i++) {
        ssize_t n;
        do { n = write(C->cgroup_fds[i], "0", 1); } while (n < 0 && errno == EINTR);
        if (n != 1) fail(VOID_STEP_CGROUP, i);
        close(C->cgroup_fds[i]);
    }
    if (C->unshare_cgroupns) CHECK(syscall(SYS_unshare, CLONE_NEWCGROUP), VOID_STEP_CGROUPNS, -1);
}

static void close_unkept_fds(void) {
    unsigned int from = 3;
    for (int i = 0; i < C->n_keep_fds; i++) {
        unsigned int k = (unsigned int)C->keep_fds[i];
        if (k < from) continue;
        if (k > from) syscall(SYS_close_range, from, k - 1, 0);
        from = k + 1;
    }
    syscall(SYS_close_range, from, ~0U, 0);
}

// exec into a running void: voidoci already joined its namespaces. Only what is missing is
// added (the program and its closure, from trees voidoci cloned), then the process is set up
// as the init was.
__attribute__((noreturn)) static void exec_child_main(void) {
    close(C->parent_fd);
    close_unkept_fds();
    join_cgroups();
    CHECK(syscall(SYS_setresgid, C->setup_gid, C->setup_gid, C->setup_gid), VOID_STEP_SETUP_IDS, -1);
    CHECK(syscall(SYS_setresuid, C->setup_uid, C->setup_uid, C->setup_uid), VOID_STEP_SETUP_IDS, -1);
    int rootfd = (int)syscall(SYS_openat, AT_FDCWD, "/", O_PATH | O_CLOEXEC | O_DIRECTORY);
    CHECK(rootfd, VOID_STEP_ATTACH_ROOT, -1);
    for (int i = 0; i < C->n_ops; i++) {
        const struct void_op *op = &C->ops[i];
        // Present already (granted at create, or by an earlier exec): leave it.
        struct stat st;
        if (fstatat(rootfd, op->dest, &st, AT_SYMLINK_NOFOLLOW) == 0) continue;
        if (op->kind == VOID_OP_BIND) do_bind(rootfd, -1, op, i);
        else if (op->kind == VOID_OP_SYMLINK) do_symlink(rootfd, op, i);
    }
    // As at create, a missing cwd is created (in the void's tmpfs, never through a link).
    if (C->cwd[0]) {
        int hit;
        int d = open_dest(rootfd, C->cwd, 1, -1, &hit);
        if (d < 0) fail(hit ? VOID_STEP_DEST_SYMLINK : VOID_STEP_CWD_CREATE, -1);
        close(d);
    }
    close(rootfd);
    if (C->cwd[0]) CHECK(chdir(C->cwd), VOID_STEP_CHDIR_CWD, -1);
    finish_process();
}

__attribute__((noreturn)) static void child_main(void) {
    close_unkept_fds();
    join_cgroups();
    // The parent writes setgroups/uid_map/gid_map, then one byte; until then we have no ids.
    char go;
    ssize_t n;
    do { n = read(C->sync_fd, &go, 1); } while (n < 0 && errno == EINTR);
    if (n != 1) _exit(126);

    // Host-side paths are opened before the ids change, with the creds the caller had.
    // Only needed when something of the image must be cloned here (an unprivileged caller):
    // a privileged voidoci cloned it all already, and the path may sit below a directory only
    // the host's root can search (containerd's 0600 /run/containerd).
    int imagefd = -1;
    if (C->need_image_fd) {
        imagefd = (int)syscall(SYS_openat, AT_FDCWD, C->image_path, O_PATH | O_CLOEXEC | O_DIRECTORY);
        CHECK(imagefd, VOID_STEP_ROOT_IMAGE, -1);
    }
    devnull_fd = (int)syscall(SYS_openat, AT_FDCWD, "/dev/null", O_PATH | O_CLOEXEC);

    if (C->hostname) CHECK(sethostname(C->hostname, strlen(C->hostname)), VOID_STEP_HOSTNAME, -1);
    if (C->domainname) CHECK(setdomainname(C->domainname, strlen(C->domainname)), VOID_STEP_DOMAINNAME, -1);
    if (C->loopback_up) loopback_up();

    // Nothing done below may propagate to the host.
    CHECK(sys_mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL), VOID_STEP_MAKE_PRIVATE, -1);

    int rootmnt;
    if (C->rootfs_mode) {
        rootmnt = C->image_tree_fd >= 0
            ? C->image_tree_fd
            : void_open_tree(imagefd, "", OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_EMPTY_PATH | AT_RECURSIVE);
        CHECK(rootmnt, VOID_STEP_ROOT_IMAGE, -1);
        if (C->image_tree_fd < 0)
            CHECK(void_mount_setattr(rootmnt, "", AT_EMPTY_PATH | AT_RECURSIVE, 0, 0, MS_PRIVATE),
                  VOID_STEP_ROOT_IMAGE, -1);
    } else if (C->root_tmpfs_fd >= 0) {
        rootmnt = C->root_tmpfs_fd;
    } else {
        int fs = (int)syscall(SYS_fsopen, "tmpfs", FSOPEN_CLOEXEC);
        CHECK(fs, VOID_STEP_ROOT_TMPFS, -1);
        CHECK(syscall(SYS_fsconfig, fs, FSCONFIG_SET_STRING, "mode", "0755", 0), VOID_STEP_ROOT_TMPFS, -1);
        // Owned by the set-up ids (ids inside the void), not by the caller's unmapped ones.
        char num[16];
        fmt_u32(num, C->setup_uid);
        CHECK(syscall(SYS_fsconfig, fs, FSCONFIG_SET_STRING, "uid", num, 0), VOID_STEP_ROOT_TMPFS, -1);
        fmt_u32(num, C->setup_gid);
        CHECK(syscall(SYS_fsconfig, fs, FSCONFIG_SET_STRING, "gid", num, 0), VOID_STEP_ROOT_TMPFS, -1);
        CHECK(syscall(SYS_fsconfig, fs, FSCONFIG_CMD_CREATE, NULL, NULL, 0), VOID_STEP_ROOT_TMPFS, -1);
        rootmnt = (int)syscall(SYS_fsmount, fs, FSMOUNT_CLOEXEC, MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV);
        CHECK(rootmnt, VOID_STEP_ROOT_TMPFS, -1);
        close(fs);
    }
    // pivot_root needs the new root attached somewhere in this namespace.
    // voidoci cloned us with the attach point (the state dir) as cwd; the kernel carried it into
    // our mount namespace, so no path above it has to be searched. The mount fd is its root.
    CHECK(move_mount_fd(rootmnt, AT_FDCWD, ".", 0), VOID_STEP_ATTACH_ROOT, -1);
    int rootfd = rootmnt;

    // From here on, files are created in the void: in a filesystem made in its user namespace
    // (the tmpfs root, a granted /dev tmpfs) they need an owner mapped there, or the kernel
    // answers EOVERFLOW (/dev/pts inside a granted /dev, with the image root granted). (The
    // attach path above lives in the caller's 0700 state dir: reached first.) With the image
    // root granted, a privileged voidoci has made the missing mount points (and the cwd) in the
    // image already, as runc would, before any namespace existed; an unprivileged caller's
    // set-up ids are its own host ids, as before.
    CHECK(syscall(SYS_setresgid, C->setup_gid, C->setup_gid, C->setup_gid), VOID_STEP_SETUP_IDS, -1);
    CHECK(syscall(SYS_setresuid, C->setup_uid, C->setup_uid, C->setup_uid), VOID_STEP_SETUP_IDS, -1);
    write_sysctls();

    for (int i = 0; i < C->n_ops; i++) {
        const struct void_op *op = &C->ops[i];
        switch (op->kind) {
        case VOID_OP_BIND: do_bind(rootfd, imagefd, op, i); break;
        case VOID_OP_SYMLINK: do_symlink(rootfd, op, i); break;
        case VOID_OP_FS: do_fs(rootfd, op, i); break;
        case VOID_OP_MASK:
        case VOID_OP_READONLY: do_mask_or_readonly(rootfd, op, i); break;
        case VOID_OP_DIR: {
            int hit;
            int d = open_dest(rootfd, op->dest, 1, i, &hit);
            if (d < 0) fail(hit ? VOID_STEP_DEST_SYMLINK : VOID_STEP_DEST, i);
            close(d);
            break;
        }
        }
    }
    if (C->cwd[0]) {
        int hit;
        int d = open_dest(rootfd, C->cwd, 1, -1, &hit);
        if (d < 0) fail(hit ? VOID_STEP_DEST_SYMLINK : VOID_STEP_CWD_CREATE, -1);
        close(d);
    }
    if (imagefd >= 0) close(imagefd);

    // Create-time hooks run now: the namespaces exist and the mounts are made, the pivot has not
    // happened (runtime-spec), so a createContainer hook joining us still sees the host's tree.
    // One byte means they succeeded; on failure voidoci kills us (EOF: it is gone).
    if (C->hook_pause) {
        if (report(VOID_STEP_HOOKS_PAUSE, 0, -1) < 0) _exit(126);
        char b;
        do { n = read(C->sync_fd, &b, 1); } while (n < 0 && errno == EINTR);
        if (n != 1) _exit(126);
    }

    // The dance all runtimes share: pivot onto "." so no directory for the old root is needed,
    // make the old root private (a detach of a shared mount would propagate to the host), detach.
    int oldroot = (int)syscall(SYS_openat, AT_FDCWD, "/", O_PATH | O_CLOEXEC | O_DIRECTORY);
    CHECK(oldroot, VOID_STEP_PIVOT, -1);
    CHECK(fchdir(rootfd), VOID_STEP_PIVOT, -1);
    CHECK(syscall(SYS_pivot_root, ".", "."), VOID_STEP_PIVOT, -1);
    CHECK(fchdir(oldroot), VOID_STEP_PIVOT, -1);
    CHECK(sys_mount(NULL, ".", NULL, MS_REC | MS_PRIVATE, NULL), VOID_STEP_OLD_ROOT_PRIVATE, -1);
    CHECK(syscall(SYS_umount2, ".", MNT_DETACH), VOID_STEP_OLD_ROOT_DETACH, -1);
    CHECK(chdir("/"), VOID_STEP_PIVOT, -1);
    close(oldroot);
    close(rootfd);
    if (C->root_readonly)
        CHECK(void_mount_setattr(AT_FDCWD, "/", 0, MOUNT_ATTR_RDONLY, 0, 0), VOID_STEP_ROOT_READONLY, -1);
    if (C->cwd[0]) CHECK(chdir(C->cwd), VOID_STEP_CHDIR_CWD, -1);

    finish_process();
}

// The process's own attributes and the handover to its program: shared by a new void's init
// and by a process exec'd into a running void.
__attribute__((noreturn)) static void finish_process(void) {
    ssize_t n;
    if (C->console_fd >= 0) {
        CHECK(setsid(), VOID_STEP_CONSOLE, -1);
        CHECK(ioctl(C->console_fd, TIOCSCTTY, 0), VOID_STEP_CONSOLE, -1);
        for (int fd = 0; fd < 3; fd++) CHECK(dup2(C->console_fd, fd), VOID_STEP_CONSOLE, fd);
        if (C->console_fd > 2) close(C->console_fd);
    }
    for (int fd = 3; fd < 3 + C->preserve_fds; fd++) {
        // A preserved fd that is not open stays closed; an open one loses CLOEXEC.
        int fl = fcntl(fd, F_GETFD);
        if (fl >= 0 && fcntl(fd, F_SETFD, fl & ~FD_CLOEXEC) < 0) fail(VOID_STEP_PRESERVE_FDS, fd);
    }

    for (int i = 0; i < C->n_rlimits; i++) {
        struct rlimit rl = {.rlim_cur = C->rlimits[i].soft, .rlim_max = C->rlimits[i].hard};
        CHECK(setrlimit(C->rlimits[i].resource, &rl), VOID_STEP_RLIMIT, i);
    }
    if (C->umask >= 0) umask((mode_t)C->umask);

    // Without no_new_privs the kernel demands CAP_SYS_ADMIN to load a filter, so it goes in
    // before the capabilities are reduced (runc's order); the profile then sees the calls below.
    if (C->seccomp_filter && !C->no_new_privs) CHECK(load_seccomp(), VOID_STEP_SECCOMP, -1);
    set_ids_and_caps();
    if (C->no_new_privs) CHECK(prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), VOID_STEP_NO_NEW_PRIVS, -1);

    // The program starts with no signal blocked or ignored, whatever the caller of voidoci
    // had (a test harness thread, a shell's `trap ''`): nothing of the host's state goes in.
    void_reset_signals();

    // READY is sent after the config's seccomp filter may be in force (loaded before the
    // capabilities are reduced): a profile that refuses send(2) must end the child here, not
    // leave voidoci waiting for READY while the child waits for voidoci (found by fuzzing).
    if (report(VOID_STEP_READY, 0, -1) < 0) _exit(126);
    if (C->wait_commit) {
        char b;
        do { n = read(C->sync_fd, &b, 1); } while (n < 0 && errno == EINTR);
        if (n != 1) _exit(126);
    }
    if (C->exec_fifo_fd >= 0) {
        // Blocks until `start` writes one byte into the fifo.
        char b;
        do { n = read(C->exec_fifo_fd, &b, 1); } while (n < 0 && errno == EINTR);
        if (n != 1) _exit(126);
    }
    if (C->seccomp_filter && C->no_new_privs) CHECK(load_seccomp(), VOID_STEP_SECCOMP, -1);
    execve(C->exec_path, (char *const *)C->argv, (char *const *)C->envp);
    int err = errno;
    report(VOID_STEP_EXEC, err, -1);
    // After `start` nobody reads sync_fd: say it where the process's output goes.
    static const char msg[] = "voidoci: exec failed: ";
    (void)!write(2, msg, sizeof msg - 1);
    (void)!write(2, C->exec_path, strlen(C->exec_path));
    const char *why = err == ENOENT ? ": no such file or directory\n"
                    : err == EACCES ? ": permission denied\n"
                    : err == ENOEXEC ? ": exec format error\n" : ": exec error\n";
    (void)!write(2, why, strlen(why));
    _exit(err == ENOENT ? 127 : 126);
}

pid_t void_spawn(const struct void_child *child, uint64_t flags, int cgroup_fd, int *pidfd) {
    struct void_clone_args args;
    memset(&args, 0, sizeof args);
    int fd = -1;
    args.flags = flags | CLONE_PIDFD;
    if (cgroup_fd >= 0) {
        args.flags |= CLONE_INTO_CGROUP;
        args.cgroup = (uint64_t)cgroup_fd;
    }
    args.pidfd = (uint64_t)(uintptr_t)&fd;
    args.exit_signal = SIGCHLD;
    pid_t pid = (pid_t)syscall(SYS_clone3, &args, sizeof args);
    if (pid == 0) {
        C = child;
        if (child->exec_mode) exec_child_main();
        child_main();
    }
    if (pid > 0 && pidfd) *pidfd = fd;
    return pid;
}
