// The child stage: an interpreter of the program voidoci lowered for it (Lowering's `.child`
// operations, one `struct void_instr` each, in order). It decides nothing: what to do and in
// which order is in the program, what to do it with (paths, ids, fds) in `struct void_child`.
// Raw syscalls and async-signal-safe calls only, no allocation: the parent prepared
// everything. The first failure is reported on sync_fd and the child exits.
#define _GNU_SOURCE
#include "child.h"

#include <errno.h>
#include <linux/capability.h>
#include <net/if.h>
#include <poll.h>
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

const struct void_child *void_C;
int void_devnull_fd = -1;
#define C void_C

int void_report_detail(int step, int err, int index, int detail) {
    struct void_report r = {.step = step, .err = err, .index = index, .detail = detail};
    ssize_t n;
    do { n = send(C->sync_fd, &r, sizeof r, MSG_NOSIGNAL); } while (n < 0 && errno == EINTR);
    return n == (ssize_t)sizeof r ? 0 : -1;
}

static int report(int step, int err, int index) { return void_report_detail(step, err, index, 0); }

__attribute__((noreturn)) void void_fail(int step, int index) {
    report(step, errno, index);
    _exit(126);
}

// One byte on `fd`, or the child exits: EOF means voidoci died (or gave up on us).
static void wait_byte(int fd) {
    char b;
    ssize_t n;
    do { n = read(fd, &b, 1); } while (n < 0 && errno == EINTR);
    if (n != 1) _exit(126);
}

static int sys_mount(const char *src, const char *dst, const char *type, unsigned long flags,
                     const void *data) {
    return (int)syscall(SYS_mount, src, dst, type, flags, data);
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

// Into the void's cgroups, through the files voidoci opened (see cvoid.h, cgroup_fds).
static void join_cgroups(void) {
    for (int i = 0; i < C->n_cgroup_fds; i++) {
        ssize_t n;
        do { n = write(C->cgroup_fds[i], "0", 1); } while (n < 0 && errno == EINTR);
        if (n != 1) void_fail(VOID_STEP_CGROUP, i);
        close(C->cgroup_fds[i]);
    }
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

// The image root, cloned by voidoci (made_by_runtime) or here, in the child's own copy of the
// mount namespace.
static int root_from_image(int imagefd, int made_by_runtime) {
    if (made_by_runtime) return C->image_tree_fd;
    int root = void_open_tree(imagefd, "", OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_EMPTY_PATH | AT_RECURSIVE);
    CHECK(root, VOID_STEP_ROOT_IMAGE, -1);
    CHECK(void_mount_setattr(root, "", AT_EMPTY_PATH | AT_RECURSIVE, 0, 0, MS_PRIVATE), VOID_STEP_ROOT_IMAGE, -1);
    return root;
}

// The empty tmpfs root, made by voidoci (made_by_runtime) or here, owned by the set-up ids
// (ids inside the void), not by the caller's unmapped ones.
static int root_tmpfs(int made_by_runtime) {
    if (made_by_runtime) return C->root_tmpfs_fd;
    int fs = (int)syscall(SYS_fsopen, "tmpfs", FSOPEN_CLOEXEC);
    CHECK(fs, VOID_STEP_ROOT_TMPFS, -1);
    CHECK(syscall(SYS_fsconfig, fs, FSCONFIG_SET_STRING, "mode", "0755", 0), VOID_STEP_ROOT_TMPFS, -1);
    char num[16];
    void_fmt_u32(num, C->setup_uid);
    CHECK(syscall(SYS_fsconfig, fs, FSCONFIG_SET_STRING, "uid", num, 0), VOID_STEP_ROOT_TMPFS, -1);
    void_fmt_u32(num, C->setup_gid);
    CHECK(syscall(SYS_fsconfig, fs, FSCONFIG_SET_STRING, "gid", num, 0), VOID_STEP_ROOT_TMPFS, -1);
    CHECK(syscall(SYS_fsconfig, fs, FSCONFIG_CMD_CREATE, NULL, NULL, 0), VOID_STEP_ROOT_TMPFS, -1);
    int root = (int)syscall(SYS_fsmount, fs, FSMOUNT_CLOEXEC, MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV);
    CHECK(root, VOID_STEP_ROOT_TMPFS, -1);
    close(fs);
    return root;
}

// linux.sysctl for the void's own namespaces: /proc/sys follows the writer's namespaces, so a
// proc mount made here and never attached shows the void's. Written as the set-up ids: the ipc
// and mqueue sysctls let only the namespace's root (uid 0 inside) write, the network ones
// whoever holds CAP_NET_ADMIN over it. (kernel.domainname is set with setdomainname.) The proc
// mount is made for the first and closed after the last.
static int sysctl_proc = -1;

static void write_sysctl(int i) {
    if (i < 0 || i >= C->n_sysctls) { errno = EINVAL; void_fail(VOID_STEP_PROGRAM, i); }
    if (sysctl_proc < 0) {
        int fs = (int)syscall(SYS_fsopen, "proc", FSOPEN_CLOEXEC);
        if (fs >= 0 && syscall(SYS_fsconfig, fs, FSCONFIG_CMD_CREATE, NULL, NULL, 0) == 0)
            sysctl_proc = (int)syscall(SYS_fsmount, fs, FSMOUNT_CLOEXEC, MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV | MOUNT_ATTR_NOEXEC);
        if (fs >= 0) close(fs);
        // A pid namespace joined from another user namespace admits no proc of ours: the
        // host's /proc, still in this private copy of the mount namespace before the pivot,
        // shows the same.
        if (sysctl_proc < 0) sysctl_proc = (int)syscall(SYS_openat, AT_FDCWD, "/proc", O_PATH | O_CLOEXEC | O_DIRECTORY);
        CHECK(sysctl_proc, VOID_STEP_SYSCTL_PROC, -1);
    }
    int fd = void_openat2(sysctl_proc, C->sysctl_paths[i], O_WRONLY | O_CLOEXEC | O_NOFOLLOW, 0,
                          RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS);
    CHECK(fd, VOID_STEP_SYSCTL, i);
    const char *v = C->sysctl_values[i];
    size_t len = strlen(v);
    ssize_t n;
    do { n = write(fd, v, len); } while (n < 0 && errno == EINTR);
    if (n < 0) void_fail(VOID_STEP_SYSCTL, i);
    if ((size_t)n != len) { errno = EINVAL; void_fail(VOID_STEP_SYSCTL, i); }
    close(fd);
    if (i == C->n_sysctls - 1) { close(sysctl_proc); sysctl_proc = -1; }
}

// A missing cwd is created (in the void's tmpfs, never through a link).
static void make_cwd(int rootfd) {
    int hit;
    int d = void_open_dest(rootfd, C->cwd, 1, &hit);
    if (d < 0) void_fail(hit ? VOID_STEP_DEST_SYMLINK : VOID_STEP_CWD_CREATE, -1);
    close(d);
}

static void take_console(void) {
    CHECK(setsid(), VOID_STEP_CONSOLE, -1);
    CHECK(ioctl(C->console_fd, TIOCSCTTY, 0), VOID_STEP_CONSOLE, -1);
    for (int fd = 0; fd < 3; fd++) CHECK(dup2(C->console_fd, fd), VOID_STEP_CONSOLE, fd);
    if (C->console_fd > 2) close(C->console_fd);
}

// A preserved fd that is not open stays closed; an open one loses CLOEXEC.
static void keep_preserved_fds(void) {
    for (int fd = 3; fd < 3 + C->preserve_fds; fd++) {
        int fl = fcntl(fd, F_GETFD);
        if (fl >= 0 && fcntl(fd, F_SETFD, fl & ~FD_CLOEXEC) < 0) void_fail(VOID_STEP_PRESERVE_FDS, fd);
    }
}

// The listen sockets to listen_first.. (dup2 clears CLOEXEC), after moving out of the way any
// fd the rest of the program still uses; then the pid the program will have, as it sees it
// (getpid here: execve keeps it), into the LISTEN_PID= entry of envp.
static int move_out(int fd, int first, int limit, int step) {
    if (fd < first || fd >= limit) return fd;
    int moved = fcntl(fd, F_DUPFD_CLOEXEC, limit);
    if (moved < 0) void_fail(step, -1);
    return moved;
}

// `src[i]` to `first + i` (dup2 clears CLOEXEC). The fds the rest of the program still uses
// move out of that range first; the child's own copy of the instructions (no CLONE_VM) keeps
// their new numbers.
static void place_fds(const int32_t *src, int n, int first, int step) {
    int limit = first + n;
    struct void_child *own = (struct void_child *)C;
    own->sync_fd = move_out(C->sync_fd, first, limit, step);
    own->exec_fifo_fd = move_out(C->exec_fifo_fd, first, limit, step);
    own->connection_fd = move_out(C->connection_fd, first, limit, step);
    own->parent_pidfd = move_out(C->parent_pidfd, first, limit, step);
    for (int i = 0; i < n; i++) {
        if (src[i] < limit) { errno = EBADF; void_fail(step, i); }
        CHECK(dup2(src[i], first + i), step, i);
    }
}

static void place_listen_fds(void) {
    place_fds(C->listen_fds, C->n_listen_fds, C->listen_first, VOID_STEP_LISTEN_FDS);
    if (C->listen_pid_env < 0) return;
    char *entry = (char *)C->envp[C->listen_pid_env];
    size_t n = strlen("LISTEN_PID=");
    if (strncmp(entry, "LISTEN_PID=", n) != 0 || strlen(entry + n) < 10) { errno = EINVAL; void_fail(VOID_STEP_PROGRAM, C->listen_pid_env); }
    void_fmt_u32(entry + n, (uint32_t)getpid());
}

// org.voidoci.open: the files voidoci opened, to open_first.. .
static void place_open_fds(void) { place_fds(C->open_fds, C->n_open_fds, C->open_first, VOID_STEP_OPEN_FDS); }

// accept=stdio: the connection is the program's stdin and stdout (inetd's way); stderr stays.
static void take_connection(void) {
    for (int fd = 0; fd < 2; fd++) CHECK(dup2(C->connection_fd, fd), VOID_STEP_CONNECTION, fd);
}

// The supervisor's death kills this void. Set after the last change of ids (which clears it);
// if the supervisor died before, its pidfd (parent_pidfd) is readable: exit rather than outlive
// it. (Its end of sync_fd would not say so: a sibling void cloned at the same instant holds a
// copy of it until its first instruction.)
static void die_with_parent(void) {
    CHECK(prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0), VOID_STEP_CONNECTION, -1);
    struct pollfd p = {.fd = C->parent_pidfd, .events = POLLIN};
    if (C->parent_pidfd < 0 || poll(&p, 1, 0) != 0) _exit(1);
}

static void set_rlimit(int i) {
    if (i < 0 || i >= C->n_rlimits) { errno = EINVAL; void_fail(VOID_STEP_PROGRAM, i); }
    struct rlimit rl = {.rlim_cur = C->rlimits[i].soft, .rlim_max = C->rlimits[i].hard};
    CHECK(setrlimit(C->rlimits[i].resource, &rl), VOID_STEP_RLIMIT, i);
}

static void load_seccomp(void) {
    struct sock_fprog prog = {.len = C->seccomp_len, .filter = (struct sock_filter *)C->seccomp_filter};
    CHECK(syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, C->seccomp_flags, &prog), VOID_STEP_SECCOMP, -1);
}

// org.voidoci.connect: the listener goes to voidoci, which takes it through the init's pidfd
// (sendmsg, which could pass it, may be a call this very filter sends to the listener).
// With it, the cookie of the void's network namespace (SO_NETNS_COOKIE, which needs no
// privilege to read), by which the supervisor tells the program's own sockets from those it made.
static void connect_filter(void) {
    uint64_t cookie = 0;
    socklen_t len = sizeof cookie;
    int s = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    CHECK(s, VOID_STEP_CONNECT_FILTER, -1);
    CHECK(getsockopt(s, SOL_SOCKET, 71 /* SO_NETNS_COOKIE */, &cookie, &len), VOID_STEP_CONNECT_FILTER, -1);
    close(s);
    int fd = void_load_listener_filter(C->connect_filter, C->connect_len);
    CHECK(fd, VOID_STEP_CONNECT_FILTER, -1);
    if (void_report_detail(VOID_STEP_LISTENER, (int32_t)(uint32_t)cookie, fd, (int32_t)(uint32_t)(cookie >> 32)) < 0) _exit(126);
    wait_byte(C->sync_fd);
    close(fd);
}

static void drop_bounding(void) {
    int last = void_last_cap();
    for (int cap = 0; cap <= last; cap++) {
        if (!(C->cap_bounding & (1ULL << cap)))
            CHECK(prctl(PR_CAPBSET_DROP, cap, 0, 0, 0), VOID_STEP_BOUNDING, cap);
    }
}

// Keeps the permitted set across the uid change; VOID_DO_CAPS installs the final sets.
static void set_ids(void) {
    CHECK(prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0), VOID_STEP_KEEPCAPS, -1);
    CHECK(syscall(SYS_setresgid, C->gid, C->gid, C->gid), VOID_STEP_SETGID, -1);
    CHECK(syscall(SYS_setresuid, C->uid, C->uid, C->uid), VOID_STEP_SETUID, -1);
}

static void set_caps(void) {
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
    CHECK(prctl(PR_SET_KEEPCAPS, 0, 0, 0, 0), VOID_STEP_KEEPCAPS, -1);
}

__attribute__((noreturn)) static void exec_program(void) {
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

// What the interpreter holds between instructions.
struct run {
    int imagefd;   // VOID_DO_OPEN_IMAGE
    int rootmnt;   // the void's root mount before it is attached
    int rootfd;    // the void's root: the attached mount, or a running void's "/"
    int oldroot;   // the host's root during the pivot
};

// The filesystem half: from a private mount namespace to the pivot onto the void's root.
static void run_fs(struct run *r, const struct void_instr *in) {
    switch (in->op) {
    case VOID_DO_OPEN_IMAGE:
        // Opened before the ids change, with the caller's credentials.
        r->imagefd = (int)syscall(SYS_openat, AT_FDCWD, C->image_path, O_PATH | O_CLOEXEC | O_DIRECTORY);
        CHECK(r->imagefd, VOID_STEP_ROOT_IMAGE, -1);
        break;
    case VOID_DO_OPEN_HOST_NULL:
        void_devnull_fd = (int)syscall(SYS_openat, AT_FDCWD, "/dev/null", O_PATH | O_CLOEXEC);
        break;
    case VOID_DO_MAKE_PRIVATE:
        CHECK(sys_mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL), VOID_STEP_MAKE_PRIVATE, -1);
        break;
    case VOID_DO_ROOT_IMAGE: r->rootmnt = root_from_image(r->imagefd, in->arg); break;
    case VOID_DO_ROOT_TMPFS: r->rootmnt = root_tmpfs(in->arg); break;
    case VOID_DO_ATTACH_ROOT:
        // pivot_root needs the new root attached in this namespace: voidoci cloned us with the
        // attach point (in its 0700 state dir) as cwd, so no path above it is searched.
        CHECK(void_move_mount_fd(r->rootmnt, AT_FDCWD, ".", 0), VOID_STEP_ATTACH_ROOT, -1);
        r->rootfd = r->rootmnt;
        break;
    case VOID_DO_OPEN_JOINED_ROOT:
        r->rootfd = (int)syscall(SYS_openat, AT_FDCWD, "/", O_PATH | O_CLOEXEC | O_DIRECTORY);
        CHECK(r->rootfd, VOID_STEP_ATTACH_ROOT, -1);
        break;
    case VOID_DO_MOUNT: void_do_mount(r->rootfd, r->imagefd, in->arg); break;
    case VOID_DO_MOUNT_IF_ABSENT: void_do_mount_if_absent(r->rootfd, r->imagefd, in->arg); break;
    case VOID_DO_MAKE_CWD: make_cwd(r->rootfd); break;
    case VOID_DO_PAUSE_HOOKS:
        // The namespaces exist and the mounts are made, the pivot has not happened
        // (runtime-spec): one byte means the hooks succeeded; on failure voidoci kills us.
        if (report(VOID_STEP_HOOKS_PAUSE, 0, -1) < 0) _exit(126);
        wait_byte(C->sync_fd);
        break;
    case VOID_DO_PIVOT:
        // Pivot onto "." so no directory for the old root is needed.
        if (r->imagefd >= 0) { close(r->imagefd); r->imagefd = -1; }
        r->oldroot = (int)syscall(SYS_openat, AT_FDCWD, "/", O_PATH | O_CLOEXEC | O_DIRECTORY);
        CHECK(r->oldroot, VOID_STEP_PIVOT, -1);
        CHECK(fchdir(r->rootfd), VOID_STEP_PIVOT, -1);
        CHECK(syscall(SYS_pivot_root, ".", "."), VOID_STEP_PIVOT, -1);
        CHECK(fchdir(r->oldroot), VOID_STEP_PIVOT, -1);
        break;
    case VOID_DO_DETACH_OLD_ROOT:
        // Private first: a detach of a shared mount would propagate to the host.
        CHECK(sys_mount(NULL, ".", NULL, MS_REC | MS_PRIVATE, NULL), VOID_STEP_OLD_ROOT_PRIVATE, -1);
        CHECK(syscall(SYS_umount2, ".", MNT_DETACH), VOID_STEP_OLD_ROOT_DETACH, -1);
        CHECK(chdir("/"), VOID_STEP_PIVOT, -1);
        close(r->oldroot);
        close(r->rootfd);
        r->oldroot = r->rootfd = -1;
        break;
    case VOID_DO_ROOT_READONLY:
        CHECK(void_mount_setattr(AT_FDCWD, "/", 0, MOUNT_ATTR_RDONLY, 0, 0), VOID_STEP_ROOT_READONLY, -1);
        break;
    case VOID_DO_CHDIR:
        if (r->rootfd >= 0) { close(r->rootfd); r->rootfd = -1; }
        CHECK(chdir(C->cwd), VOID_STEP_CHDIR_CWD, -1);
        break;
    default: errno = EINVAL; void_fail(VOID_STEP_PROGRAM, -1);
    }
}

// One instruction.
static void run_one(struct run *r, const struct void_instr *in) {
    switch (in->op) {
    case VOID_DO_CLOSE_FDS: close_unkept_fds(); break;
    case VOID_DO_JOIN_CGROUPS: join_cgroups(); break;
    case VOID_DO_UNSHARE_CGROUPNS: CHECK(syscall(SYS_unshare, CLONE_NEWCGROUP), VOID_STEP_CGROUPNS, -1); break;
    // voidoci writes setgroups/uid_map/gid_map, then one byte; until then we have no ids.
    case VOID_DO_WAIT_RELEASE: wait_byte(C->sync_fd); break;
    case VOID_DO_HOSTNAME: CHECK(sethostname(C->hostname, strlen(C->hostname)), VOID_STEP_HOSTNAME, -1); break;
    case VOID_DO_DOMAINNAME: CHECK(setdomainname(C->domainname, strlen(C->domainname)), VOID_STEP_DOMAINNAME, -1); break;
    case VOID_DO_LOOPBACK: loopback_up(); break;
    case VOID_DO_SETUP_IDS:
        CHECK(syscall(SYS_setresgid, C->setup_gid, C->setup_gid, C->setup_gid), VOID_STEP_SETUP_IDS, -1);
        CHECK(syscall(SYS_setresuid, C->setup_uid, C->setup_uid, C->setup_uid), VOID_STEP_SETUP_IDS, -1);
        break;
    case VOID_DO_SYSCTL: write_sysctl(in->arg); break;
    case VOID_DO_CONSOLE: take_console(); break;
    case VOID_DO_PRESERVE_FDS: keep_preserved_fds(); break;
    case VOID_DO_LISTEN_FDS: place_listen_fds(); break;
    case VOID_DO_STDIO_CONNECTION: take_connection(); break;
    case VOID_DO_OPEN_FDS: place_open_fds(); break;
    case VOID_DO_DIE_WITH_PARENT: die_with_parent(); break;
    case VOID_DO_RLIMIT: set_rlimit(in->arg); break;
    case VOID_DO_UMASK: umask((mode_t)C->umask); break;
    case VOID_DO_SECCOMP: load_seccomp(); break;
    case VOID_DO_CONNECT_FILTER: connect_filter(); break;
    case VOID_DO_BOUNDING: drop_bounding(); break;
    case VOID_DO_SETGROUPS: CHECK(syscall(SYS_setgroups, C->n_groups, C->groups), VOID_STEP_SETGROUPS, -1); break;
    case VOID_DO_SET_IDS: set_ids(); break;
    case VOID_DO_CAPS: set_caps(); break;
    case VOID_DO_NO_NEW_PRIVS: CHECK(prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), VOID_STEP_NO_NEW_PRIVS, -1); break;
    // Nothing of the host's signal state (a harness thread's mask, a shell's `trap ''`) goes in.
    case VOID_DO_RESET_SIGNALS: void_reset_signals(); break;
    case VOID_DO_READY: if (report(VOID_STEP_READY, 0, -1) < 0) _exit(126); break;
    // voidoci recorded the void (its state), so `delete --force` finds it; EOF: it died first.
    case VOID_DO_WAIT_COMMIT: wait_byte(C->sync_fd); break;
    // `start` writes one byte into the exec fifo.
    case VOID_DO_WAIT_START: wait_byte(C->exec_fifo_fd); break;
    case VOID_DO_EXEC: exec_program();
    default: run_fs(r, in);
    }
}

__attribute__((noreturn)) static void child_main(void) {
    struct run r = {.imagefd = -1, .rootmnt = -1, .rootfd = -1, .oldroot = -1};
    for (int i = 0; i < C->n_program; i++) run_one(&r, &C->program[i]);
    // A program always ends in VOID_DO_EXEC.
    errno = EINVAL;
    void_fail(VOID_STEP_PROGRAM, -1);
}

// clone3 with `flags`, SIGCHLD and a pidfd, into `cgroup_fd`'s cgroup when >= 0.
static pid_t void_clone(uint64_t flags, int cgroup_fd, int *pidfd) {
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
    if (pid > 0 && pidfd) *pidfd = fd;
    return pid;
}

// A plain fork (no new namespace): returns 0 in the child, which goes on where the parent was
// (the supervisor of org.voidoci.accept).
pid_t void_fork(int cgroup_fd, int *pidfd) { return void_clone(0, cgroup_fd, pidfd); }

pid_t void_spawn(const struct void_child *child, uint64_t flags, int cgroup_fd, int *pidfd) {
    pid_t pid = void_clone(flags, cgroup_fd, pidfd);
    if (pid == 0) {
        C = child;
        child_main();
    }
    return pid;
}
