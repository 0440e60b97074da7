// Thin wrappers over syscalls that Glibc's Swift module does not expose, plus constants that are
// macros in C headers. Each wrapper is the raw syscall: -1 and errno on failure.
#define _GNU_SOURCE
#include "cvoid.h"
#include "internal.h"

#include <errno.h>
#include <signal.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/mman.h>
#include <pthread.h>
#include <sched.h>
#include <linux/futex.h>
#include <fcntl.h>
#include <stdlib.h>
#include <stdio.h>
#include <unistd.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <sys/signalfd.h>

const uint64_t VOID_CLONE_NEWUSER = CLONE_NEWUSER, VOID_CLONE_NEWNS = CLONE_NEWNS,
               VOID_CLONE_NEWPID = CLONE_NEWPID, VOID_CLONE_NEWNET = CLONE_NEWNET,
               VOID_CLONE_NEWIPC = CLONE_NEWIPC, VOID_CLONE_NEWUTS = CLONE_NEWUTS,
               VOID_CLONE_NEWCGROUP = CLONE_NEWCGROUP, VOID_CLONE_NEWTIME = CLONE_NEWTIME;
const uint64_t VOID_MOUNT_ATTR_RDONLY = MOUNT_ATTR_RDONLY, VOID_MOUNT_ATTR_NOSUID = MOUNT_ATTR_NOSUID,
               VOID_MOUNT_ATTR_NODEV = MOUNT_ATTR_NODEV, VOID_MOUNT_ATTR_NOEXEC = MOUNT_ATTR_NOEXEC,
               VOID_MOUNT_ATTR_NOATIME = MOUNT_ATTR_NOATIME,
               VOID_MOUNT_ATTR_STRICTATIME = MOUNT_ATTR_STRICTATIME,
               VOID_MOUNT_ATTR_NODIRATIME = MOUNT_ATTR_NODIRATIME,
               VOID_MOUNT_ATTR_NOSYMFOLLOW = MOUNT_ATTR_NOSYMFOLLOW,
               VOID_MOUNT_ATTR_RELATIME = MOUNT_ATTR_RELATIME;
const unsigned int VOID_OPEN_TREE_CLONE = OPEN_TREE_CLONE, VOID_AT_RECURSIVE = AT_RECURSIVE,
                   VOID_AT_EMPTY_PATH = AT_EMPTY_PATH;
const uint64_t VOID_O_PATH = O_PATH, VOID_RESOLVE_IN_ROOT = RESOLVE_IN_ROOT,
               VOID_RESOLVE_NO_MAGICLINKS = RESOLVE_NO_MAGICLINKS,
               VOID_RESOLVE_NO_SYMLINKS = RESOLVE_NO_SYMLINKS, VOID_RESOLVE_BENEATH = RESOLVE_BENEATH;
const uint64_t VOID_MS_PRIVATE = MS_PRIVATE;

int void_setns(int fd, int nstype) { return (int)syscall(SYS_setns, fd, nstype); }

int void_pidfd_open(pid_t pid) { return (int)syscall(SYS_pidfd_open, pid, 0); }

int void_pidfd_send_signal(int pidfd, int sig) {
    return (int)syscall(SYS_pidfd_send_signal, pidfd, sig, NULL, 0);
}

int void_open_tree(int dfd, const char *path, unsigned int flags) {
    return (int)syscall(SYS_open_tree, dfd, path, flags);
}

int void_mount_setattr(int dfd, const char *path, unsigned int flags, uint64_t attr_set,
                       uint64_t attr_clr, uint64_t propagation) {
    struct mount_attr attr = {.attr_set = attr_set, .attr_clr = attr_clr, .propagation = propagation};
    return (int)syscall(SYS_mount_setattr, dfd, path, flags, &attr, sizeof attr);
}

int void_openat2(int dfd, const char *path, uint64_t flags, uint64_t mode, uint64_t resolve) {
    struct open_how how = {.flags = flags, .mode = mode, .resolve = resolve};
    return (int)syscall(SYS_openat2, dfd, path, &how, sizeof how);
}

int void_close_range_cloexec(unsigned int first) {
    return (int)syscall(SYS_close_range, first, ~0U, CLOSE_RANGE_CLOEXEC);
}

// runc's SendFd: one fd in one SCM_RIGHTS cmsg, with a non-empty payload (conmon's recvfd
// refuses an empty one).
int void_send_fd(int sock, int fd, const char *payload) {
    char buf[CMSG_SPACE(sizeof(int))];
    memset(buf, 0, sizeof buf);
    struct iovec iov = {.iov_base = (void *)payload, .iov_len = strlen(payload)};
    if (iov.iov_len == 0) { iov.iov_base = (void *)"pty"; iov.iov_len = 3; }
    struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = buf, .msg_controllen = sizeof buf};
    struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int));
    memcpy(CMSG_DATA(c), &fd, sizeof(int));
    ssize_t n;
    do { n = sendmsg(sock, &msg, MSG_NOSIGNAL); } while (n < 0 && errno == EINTR);
    return n < 0 ? -1 : 0;
}

int void_last_cap(void) {
    // The kernel's own answer; capabilities past it cannot be set or dropped.
    int last = 40;
    while (last > 0 && prctl(PR_CAPBSET_READ, last, 0, 0, 0) < 0) last--;
    return last;
}

int void_prctl_subreaper(void) { return prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0); }

int void_memfd(const char *name) { return (int)syscall(SYS_memfd_create, name, MFD_CLOEXEC); }

// posix_openpt & co. are not in Swift's Glibc module. The slave is opened here, outside any
// void, and handed in as an fd.
int void_openpty(int *master, int *slave, char *name, size_t len) {
    int m = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
    if (m < 0) return -1;
    if (grantpt(m) < 0 || unlockpt(m) < 0 || ptsname_r(m, name, len) != 0) { int e = errno; close(m); errno = e; return -1; }
    int s = open(name, O_RDWR | O_NOCTTY | O_CLOEXEC);
    if (s < 0) { int e = errno; close(m); errno = e; return -1; }
    *master = m;
    *slave = s;
    return 0;
}

int void_unshare(int flags) { return (int)syscall(SYS_unshare, flags); }
int void_rename_noreplace(const char *from, const char *to) {
    return (int)syscall(SYS_renameat2, AT_FDCWD, from, AT_FDCWD, to, 1 /* RENAME_NOREPLACE */);
}

// Decimal text of v into buf (16 bytes are enough), without printf: async-signal-safe, and
// glibc's printf machinery is a large stretch of code that no other hot path runs.
void void_fmt_u32(char *buf, uint32_t v) {
    char tmp[16];
    int n = 0;
    do { tmp[n++] = (char)('0' + v % 10); v /= 10; } while (v);
    for (int k = 0; k < n; k++) buf[k] = tmp[n - 1 - k];
    buf[n] = '\0';
}

// The void's root tmpfs made by a privileged voidoci in its own user namespace: owned (uid=,
// gid=) by the void's host ids, so the void can fill it, while host root (podman cp) can still
// write into it and the void cannot remount its superblock. Returns a detached mount fd.
int void_make_tmpfs(uint32_t uid, uint32_t gid) {
    char u[16], g[16];
    void_fmt_u32(u, uid);
    void_fmt_u32(g, gid);
    const char *keys[] = {"mode", "uid", "gid"};
    const char *values[] = {"0755", u, g};
    return void_make_fs("tmpfs", keys, values, 3, MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV);
}

int void_make_node_tmpfs(void) {
    const char *keys[] = {"mode", "size"};
    const char *values[] = {"0755", "64k"};
    return void_make_fs("tmpfs", keys, values, 2, MOUNT_ATTR_NOSUID | MOUNT_ATTR_NOEXEC);
}

int void_make_node(int dirfd, const char *name, char type, uint32_t major, uint32_t minor,
                   uint32_t mode, uint32_t uid, uint32_t gid, int *what) {
    mode_t fmt = type == 'b' ? S_IFBLK : type == 'p' ? S_IFIFO : S_IFCHR;
    *what = 1;
    if (mknodat(dirfd, name, fmt | (mode & 07777), type == 'p' ? 0 : makedev(major, minor)) < 0) return -1;
    // mknod applied the umask; and chown (below) would clear set-id bits: chown first.
    *what = 3;
    if (fchownat(dirfd, name, uid, gid, AT_SYMLINK_NOFOLLOW) < 0) return -1;
    *what = 2;
    if (fchmodat(dirfd, name, mode & 07777, 0) < 0) return -1;
    return 0;
}

int void_clone_nodes(int mnt, const char *const *names, int n, int *fds, int *failed) {
    *failed = -1;
    for (int i = 0; i < n; i++) fds[i] = -1;
    if (n <= 0) return 0;
    // The helper's answers: [0] the failed index, [1] its errno, then one fd per node.
    size_t size = sizeof(int32_t) * (size_t)(n + 2);
    int32_t *shared = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (shared == MAP_FAILED) return -1;
    shared[0] = -1;
    shared[1] = EIO;  // the helper died before answering
    for (int i = 0; i < n; i++) shared[2 + i] = -1;
    pid_t pid = (pid_t)syscall(SYS_clone, CLONE_FILES | SIGCHLD, NULL, NULL, NULL, 0);
    if (pid == 0) {
        // Raw syscalls only (a fork of a process that may have threads). Private before the
        // attach: nothing may propagate to the namespace we came from.
        if (syscall(SYS_unshare, CLONE_NEWNS) < 0
            || syscall(SYS_mount, NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0
            || syscall(SYS_move_mount, mnt, "", AT_FDCWD, "/", MOVE_MOUNT_F_EMPTY_PATH) < 0) {
            shared[1] = errno;
            _exit(1);
        }
        for (int i = 0; i < n; i++) {
            int t = (int)syscall(SYS_open_tree, mnt, names[i], OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC);
            if (t < 0) { shared[0] = i; shared[1] = errno; _exit(1); }
            shared[2 + i] = t;
        }
        shared[1] = 0;
        _exit(0);
    }
    int e = errno;
    if (pid > 0) {
        int status;
        while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {}
        e = shared[1];
        *failed = shared[0];
        // The fd table is shared: what the helper opened is ours, even if it failed midway.
        for (int i = 0; i < n; i++) fds[i] = shared[2 + i];
    }
    munmap(shared, size);
    if (pid < 0 || e != 0) {
        for (int i = 0; i < n; i++) if (fds[i] >= 0) { close(fds[i]); fds[i] = -1; }
        errno = e;
        return -1;
    }
    return 0;
}

int void_make_fs(const char *type, const char *const *keys, const char *const *values, int n, uint64_t attrs) {
    int fs = (int)syscall(SYS_fsopen, type, FSOPEN_CLOEXEC);
    if (fs < 0) return -1;
    int r = 0;
    for (int k = 0; k < n && r == 0; k++) {
        r = values && values[k] ? (int)syscall(SYS_fsconfig, fs, FSCONFIG_SET_STRING, keys[k], values[k], 0)
                                : (int)syscall(SYS_fsconfig, fs, FSCONFIG_SET_FLAG, keys[k], NULL, 0);
    }
    if (r == 0) r = (int)syscall(SYS_fsconfig, fs, FSCONFIG_CMD_CREATE, NULL, NULL, 0);
    int mnt = r == 0 ? (int)syscall(SYS_fsmount, fs, FSMOUNT_CLOEXEC, (unsigned int)attrs) : -1;
    int e = errno;
    close(fs);
    errno = e;
    return mnt;
}

// No signal blocked, none ignored: what a program voidoci starts (a void's process, a hook)
// gets, whatever voidoci's own caller had set. Async-signal-safe: usable after clone.
void void_reset_signals(void) {
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    for (int sig = 1; sig < _NSIG; sig++) {
        if (sig == SIGKILL || sig == SIGSTOP) continue;
        struct sigaction sa;
        memset(&sa, 0, sizeof sa);
        sa.sa_handler = SIG_DFL;
        sigaction(sig, &sa, NULL);
    }
}

int void_thread_start(unsigned long *thread, void *(*fn)(void *), void *arg) {
    cpu_set_t set;
    int cpu = sched_getcpu();
    if (cpu < 0 || sched_getaffinity(0, sizeof set, &set) < 0 || !CPU_ISSET(cpu, &set) || CPU_COUNT(&set) < 2) return -1;
    CPU_CLR(cpu, &set);
    pthread_attr_t attr;
    if (pthread_attr_init(&attr) != 0) return -1;
    int r = pthread_attr_setaffinity_np(&attr, sizeof set, &set);
    pthread_t t;
    if (r == 0) r = pthread_create(&t, &attr, fn, arg);
    pthread_attr_destroy(&attr);
    if (r != 0) return -1;
    *thread = (unsigned long)t;
    return 0;
}

int void_thread_join(unsigned long thread) { return pthread_join((pthread_t)thread, NULL); }

void void_gate_open(int *gate) {
    __atomic_store_n(gate, 1, __ATOMIC_RELEASE);
    syscall(SYS_futex, gate, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
}

void void_gate_wait(int *gate) {
    while (__atomic_load_n(gate, __ATOMIC_ACQUIRE) == 0)
        syscall(SYS_futex, gate, FUTEX_WAIT_PRIVATE, 0, NULL, NULL, 0);
}

// pthread_join returns when the kernel clears the thread's tid, before the thread has left the
// thread group (and its fs_struct): poll num_threads, field 20 of /proc/self/stat (counted after
// the ')' that ends the command name), until it says 1.
int void_wait_single_threaded(void) {
    for (int i = 0; i < 20000; i++) {
        char buf[1024];
        int fd = open("/proc/self/stat", O_RDONLY | O_CLOEXEC);
        if (fd < 0) return 0;
        ssize_t n = read(fd, buf, sizeof buf - 1);
        close(fd);
        if (n <= 0) return 0;
        buf[n] = 0;
        char *p = strrchr(buf, ')');
        if (!p) return 0;
        int field = 2;   // the ')' ends field 2
        while (*p && field < 20) { if (*p == ' ') field++; p++; }
        if (field != 20) return 0;
        if (atoi(p) == 1) return 1;
        usleep(50);
    }
    return 0;
}

// The supervisor's signals (Supervisor.swift): `sigs` blocked and read from a signalfd
// (non-blocking, close-on-exec); -1 with errno on failure.
int void_signalfd_block(const int *sigs, int n) {
    sigset_t mask;
    sigemptyset(&mask);
    for (int i = 0; i < n; i++) sigaddset(&mask, sigs[i]);
    if (sigprocmask(SIG_BLOCK, &mask, NULL) < 0) return -1;
    return signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
}

// The next signal queued on a signalfd, or 0 when none is.
int void_signalfd_next(int fd) {
    struct signalfd_siginfo info;
    ssize_t n = read(fd, &info, sizeof info);
    return n == (ssize_t)sizeof info ? (int)info.ssi_signo : 0;
}

// accept4 with close-on-exec (glibc declares it only under _GNU_SOURCE).
int void_accept(int fd) {
    return accept4(fd, NULL, NULL, SOCK_CLOEXEC);
}

// Closes every fd from 3 up but those in `keep` (sorted ascending).
void void_close_except(const int *keep, int n) {
    unsigned int from = 3;
    for (int i = 0; i < n; i++) {
        if (keep[i] < 0 || (unsigned int)keep[i] < from) continue;
        unsigned int k = (unsigned int)keep[i];
        if (k > from) syscall(SYS_close_range, from, k - 1, 0);
        from = k + 1;
    }
    syscall(SYS_close_range, from, ~0U, 0);
}
