// The child stage of voidoci: everything between clone3 and execve.
//
// The parent (Swift) prepares a `struct void_child` completely: a program (the lowering's child
// operations, in order), and the strings, arrays, fds and compiled seccomp filter they act on.
// The child runs that program with raw syscalls and async-signal-safe calls, no allocation, and
// reports the first failure on `sync_fd` as a fixed-size `struct void_report` (step, errno,
// index). EOF on `sync_fd` means execve happened.
#ifndef CVOID_H
#define CVOID_H

#include <stdint.h>
#include <sys/types.h>
#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

// Kinds of mount operations, applied in order inside the void's root.
enum void_op_kind {
    VOID_OP_BIND = 1,     // bind `source` (host path, or image path when in_image) at dest
    VOID_OP_SYMLINK = 2,  // create a symlink at dest whose text is `source`
    VOID_OP_DIR = 3,      // create a directory at dest
    VOID_OP_FS = 4,       // mount a fresh kernel filesystem `fstype` (proc, tmpfs, ...) at dest
    VOID_OP_MASK = 5,     // if dest exists: hide it (empty read-only tmpfs on a dir, /dev/null on a file)
    VOID_OP_READONLY = 6, // if dest exists: bind it onto itself read-only
};

// One entry copied into a fresh filesystem before it is mounted (`tmpcopyup`). voidoci read
// the image's files (inside the image root, regular files only, capped) into one memfd; the
// child creates each entry, relative to the new mount, in order (parents first).
enum void_copy_kind {
    VOID_COPY_DIR = 1,      // mkdir; its mode is applied once everything inside exists
    VOID_COPY_FILE = 2,     // a file with bytes [offset, offset+length) of the memfd
    VOID_COPY_SYMLINK = 3,  // a symlink whose text is `target`
};

struct void_copy {
    int32_t kind;
    uint32_t mode;          // permission bits
    const char *path;       // relative to the new filesystem's root, no "..", e.g. "seed/a.txt"
    const char *target;     // symlink text
    uint64_t offset, length;
};

struct void_op {
    int32_t kind;
    const char *dest;       // relative to the void root, no leading '/', never "..", e.g. "usr/bin/sh"
    const char *source;     // see void_op_kind
    int32_t in_image;       // bind: source is resolved inside the image root (RESOLVE_IN_ROOT)
    int32_t no_symlinks;    // bind: a host source opened without following any symlink (RESOLVE_NO_SYMLINKS)
    int32_t is_dir;         // bind: the source is a directory (create a dir, not a file, at dest)
    int32_t recursive;      // bind: rbind (AT_RECURSIVE)
    int32_t tree_fd;        // bind: a detached tree the parent already cloned and configured, or -1
    uint64_t attr_set;      // MOUNT_ATTR_* to set (RDONLY, NOSUID, NODEV, NOEXEC, ...), on the whole tree of an rbind
    uint64_t attr_top;      // bind: MOUNT_ATTR_* set on the top mount only (a config rbind's plain "ro": runc's meaning)
    const char *fstype;     // fs: filesystem type
    const char *const *fs_keys;    // fs: fsconfig string options, key[i]=value[i]
    const char *const *fs_values;  // value may be NULL for flag options
    int32_t fs_nopts;
    int32_t copy_fd;        // fs: the memfd holding the files' bytes, or -1
    const struct void_copy *copy;  // fs: entries to create before the mount is attached
    int32_t n_copy;
};

// The child's instructions: one per `.child` operation of the lowering (Lowering.swift), in
// its order (ChildProgram.swift translates). The child executes exactly these and decides
// nothing; the data they act on is in struct void_child.
enum void_do {
    VOID_DO_CLOSE_FDS = 1,         // close every fd >= 3 not in keep_fds
    VOID_DO_JOIN_CGROUPS = 2,      // write "0" into each of cgroup_fds
    VOID_DO_UNSHARE_CGROUPNS = 3,  // a cgroup namespace rooted at the cgroups just joined
    VOID_DO_WAIT_RELEASE = 4,      // one byte on sync_fd: voidoci wrote the id maps
    VOID_DO_OPEN_IMAGE = 5,        // open image_path, for clones made here
    VOID_DO_OPEN_HOST_NULL = 6,    // the host's /dev/null: the source for masking a file
    VOID_DO_HOSTNAME = 7,
    VOID_DO_DOMAINNAME = 8,
    VOID_DO_LOOPBACK = 9,          // bring up lo
    VOID_DO_MAKE_PRIVATE = 10,     // every mount private: nothing done below reaches the host
    VOID_DO_ROOT_IMAGE = 11,       // the root is the image: arg 1 image_tree_fd, 0 cloned here
    VOID_DO_ROOT_TMPFS = 12,       // the root is an empty tmpfs: arg 1 root_tmpfs_fd, 0 made here
    VOID_DO_ATTACH_ROOT = 13,      // attach it at the cwd (voidoci cloned the child from the attach point)
    VOID_DO_OPEN_JOINED_ROOT = 14, // exec: the running void's "/" is the root
    VOID_DO_SETUP_IDS = 15,        // setup_uid/setup_gid
    VOID_DO_SYSCTL = 16,           // arg: which of sysctl_paths
    VOID_DO_MOUNT = 17,            // arg: which of ops
    VOID_DO_MOUNT_IF_ABSENT = 18,  // arg: which of ops, only when nothing is at its dest yet
    VOID_DO_MAKE_CWD = 19,         // create cwd below the root
    VOID_DO_PAUSE_HOOKS = 20,      // report VOID_STEP_HOOKS_PAUSE, wait for one byte on sync_fd
    VOID_DO_PIVOT = 21,            // pivot_root onto the root
    VOID_DO_DETACH_OLD_ROOT = 22,  // make the old root private and detach it
    VOID_DO_ROOT_READONLY = 23,
    VOID_DO_CHDIR = 24,            // into cwd
    VOID_DO_CONSOLE = 25,          // console_fd: stdio and controlling terminal
    VOID_DO_PRESERVE_FDS = 26,     // fds 3 .. 3+preserve_fds-1 lose CLOEXEC
    VOID_DO_RLIMIT = 27,           // arg: which of rlimits
    VOID_DO_UMASK = 28,
    VOID_DO_SECCOMP = 29,          // load seccomp_filter
    VOID_DO_BOUNDING = 30,         // drop what cap_bounding lacks
    VOID_DO_SETGROUPS = 31,
    VOID_DO_SET_IDS = 32,          // uid, gid (keeping the permitted set)
    VOID_DO_CAPS = 33,             // the final capability sets, ambient raised
    VOID_DO_NO_NEW_PRIVS = 34,
    VOID_DO_RESET_SIGNALS = 35,    // no signal blocked or ignored
    VOID_DO_READY = 36,            // report VOID_STEP_READY
    VOID_DO_WAIT_COMMIT = 37,      // one byte on sync_fd (EOF: exit)
    VOID_DO_WAIT_START = 38,       // one byte on exec_fifo_fd (EOF: exit)
    VOID_DO_EXEC = 39,             // execve; never returns
    VOID_DO_LISTEN_FDS = 40,       // listen_fds to listen_first.., LISTEN_PID= in envp set
    VOID_DO_STDIO_CONNECTION = 41, // connection_fd to fds 0 and 1
    VOID_DO_DIE_WITH_PARENT = 42,  // PR_SET_PDEATHSIG SIGKILL; exit if the parent is gone already
    VOID_DO_OPEN_FDS = 43,         // open_fds to open_first..
    // org.voidoci.connect: load connect_filter with a listener, report its number
    // (VOID_STEP_LISTENER), wait for one byte (voidoci took it through the pidfd), close it.
    VOID_DO_CONNECT_FILTER = 44,
};

struct void_instr {
    int32_t op;   // enum void_do
    int32_t arg;
};

struct void_rlimit {
    int32_t resource;
    uint64_t soft, hard;
};

struct void_child {
    // Channels.
    int32_t sync_fd;        // child's end of a SOCK_SEQPACKET pair (CLOEXEC)
    // Every fd >= 3 not listed here (sorted ascending) is closed first thing (VOID_DO_CLOSE_FDS:
    // voidoci's end of the socket pair too), so nothing the
    // caller passed to `create` (a pipe it waits on, the state dir's flock) lives on in the
    // waiting init. The preserved fds and the init's own channels are listed.
    const int32_t *keep_fds;
    int32_t n_keep_fds;
    int32_t exec_fifo_fd;   // read end (O_RDWR) of the exec fifo (VOID_DO_WAIT_START)

    // What to do, in order.
    const struct void_instr *program;
    int32_t n_program;

    // Files the child writes "0" into first thing, moving itself into the void's cgroups (v1
    // `tasks`; for exec also v2 `cgroup.procs`), opened by voidoci. voidoci itself never enters
    // them: nothing of its own is charged to the void, so a tight memory limit kills the void,
    // never voidoci. Their permission is the opener's (voidoci's), checked at write.
    const int32_t *cgroup_fds;
    int32_t n_cgroup_fds;

    // Identity during set-up: a mapped id, so files can be created in the tmpfs.
    uint32_t setup_uid, setup_gid;

    // Filesystem.
    const char *image_path;  // root.path on the host (absolute, canonical)
    int32_t image_tree_fd;   // a detached clone of the image root from the parent, or -1
    int32_t root_tmpfs_fd;   // the root tmpfs, made by a privileged parent, or -1
    struct void_op *ops;
    int32_t n_ops;
    const char *cwd;         // relative to the void root ("" for "/")

    // Namespaces' contents.
    // linux.sysctl for the void's new namespaces: paths below /proc ("sys/net/ipv4/..."), written
    // through a proc mount the child makes and never attaches, before its ids change.
    const char *const *sysctl_paths;
    const char *const *sysctl_values;
    int32_t n_sysctls;
    const char *hostname;
    const char *domainname;

    // The process.
    const char *exec_path;
    const char *const *argv;
    const char *const *envp;
    uint32_t uid, gid;
    int32_t n_groups;
    const uint32_t *groups;
    int32_t umask;
    const struct void_rlimit *rlimits;
    int32_t n_rlimits;
    uint64_t cap_bounding, cap_effective, cap_permitted, cap_inheritable, cap_ambient;
    const void *seccomp_filter;   // struct sock_filter[]
    uint16_t seccomp_len;
    uint32_t seccomp_flags;
    int32_t console_fd;      // pty slave
    int32_t preserve_fds;
    // org.voidoci.listen: sockets voidoci bound (CLOEXEC, numbered above the targets), moved to
    // listen_first.. ; envp[listen_pid_env] is "LISTEN_PID=" with room for the pid, or -1.
    const int32_t *listen_fds;
    int32_t n_listen_fds;
    int32_t listen_first;
    int32_t listen_pid_env;
    int32_t connection_fd;   // org.voidoci.accept=stdio: the connection, or -1
    int32_t parent_pidfd;    // a connection's void: its supervisor's pidfd (VOID_DO_DIE_WITH_PARENT)
    // org.voidoci.open: files voidoci opened (CLOEXEC, numbered above the targets), moved to
    // open_first.. .
    const int32_t *open_fds;
    int32_t n_open_fds;
    int32_t open_first;
    // org.voidoci.connect: a filter whose SECCOMP_RET_USER_NOTIF the supervisor answers.
    const void *connect_filter;   // struct sock_filter[]
    uint16_t connect_len;
};

// What the child reports on failure.
struct void_report {
    int32_t step;   // enum void_step
    int32_t err;    // errno
    int32_t index;  // op index, rlimit index, ... or -1
    int32_t detail; // VOID_STEP_COPYUP: the entry of the op's copy list, else 0
};

enum void_step {
    VOID_STEP_READY = 1,          // not a failure: set-up done, waiting for start
    VOID_STEP_SYNC = 2,
    VOID_STEP_SETUP_IDS = 3,
    VOID_STEP_HOSTNAME = 4,
    VOID_STEP_DOMAINNAME = 5,
    VOID_STEP_LOOPBACK = 6,
    VOID_STEP_MAKE_PRIVATE = 7,
    VOID_STEP_ROOT_TMPFS = 8,
    VOID_STEP_ROOT_IMAGE = 9,
    VOID_STEP_ATTACH_ROOT = 10,
    VOID_STEP_OPEN_SOURCE = 11,
    VOID_STEP_CLONE_SOURCE = 12,
    VOID_STEP_SETATTR = 13,
    VOID_STEP_DEST = 14,          // creating/opening the destination failed
    VOID_STEP_DEST_SYMLINK = 15,  // a destination component is a symlink
    VOID_STEP_MOVE_MOUNT = 16,
    VOID_STEP_SYMLINK = 17,
    VOID_STEP_FS_OPEN = 18,
    VOID_STEP_FS_CONFIG = 19,
    VOID_STEP_FS_MOUNT = 20,
    VOID_STEP_CWD_CREATE = 21,
    VOID_STEP_PIVOT = 22,
    VOID_STEP_OLD_ROOT_PRIVATE = 23,
    VOID_STEP_OLD_ROOT_DETACH = 24,
    VOID_STEP_ROOT_READONLY = 25,
    VOID_STEP_CHDIR_CWD = 26,
    VOID_STEP_CONSOLE = 27,
    VOID_STEP_PRESERVE_FDS = 28,
    VOID_STEP_RLIMIT = 29,
    VOID_STEP_SECCOMP = 30,
    VOID_STEP_BOUNDING = 31,
    VOID_STEP_KEEPCAPS = 32,
    VOID_STEP_SETGROUPS = 33,
    VOID_STEP_SETGID = 34,
    VOID_STEP_SETUID = 35,
    VOID_STEP_CAPSET = 36,
    VOID_STEP_AMBIENT = 37,
    VOID_STEP_NO_NEW_PRIVS = 38,
    VOID_STEP_EXEC_FIFO = 39,
    VOID_STEP_EXEC = 40,
    VOID_STEP_CLOSE_FDS = 41,
    VOID_STEP_HOOKS_PAUSE = 42,   // not a failure: waiting for the create-time hooks (hook_pause)
    VOID_STEP_CGROUP = 43,        // index: which of cgroup_fds
    VOID_STEP_CGROUPNS = 44,
    VOID_STEP_SYSCTL_PROC = 45,   // making the detached proc mount for the sysctls
    VOID_STEP_SYSCTL = 46,        // index: which of sysctl_paths
    VOID_STEP_COPYUP = 47,        // index: the op, detail: its copy entry
    VOID_STEP_PROGRAM = 48,       // an instruction voidoci cannot have meant (a bug): index, if any
    VOID_STEP_LISTEN_FDS = 49,    // index: which listen socket
    VOID_STEP_CONNECTION = 50,
    VOID_STEP_OPEN_FDS = 51,      // index: which opened file
    VOID_STEP_CONNECT_FILTER = 52,
    VOID_STEP_LISTENER = 53,      // not a failure: the connect filter's listener is fd `index`; err|detail<<32: the void's SO_NETNS_COOKIE
};

// clone3 with `flags` (CLONE_NEW*), SIGCHLD, CLONE_PIDFD, and CLONE_INTO_CGROUP when `cgroup_fd`
// (a cgroup2 directory) is not -1. In the child, runs the child stage and never returns. In the
// parent, returns the pid (or -1 with errno) and stores the pidfd.
pid_t void_spawn(const struct void_child *child, uint64_t flags, int cgroup_fd, int *pidfd);
pid_t void_fork(int cgroup_fd, int *pidfd);
int void_signalfd_block(const int *sigs, int n);
int void_signalfd_next(int fd);
int void_accept(int fd);
void void_close_except(const int *keep, int n);

// Thin wrappers for calls Glibc's Swift module lacks. Each returns -1 with errno on failure.
int void_setns(int fd, int nstype);
int void_pidfd_open(pid_t pid);
int void_pidfd_send_signal(int pidfd, int sig);
int void_open_tree(int dfd, const char *path, unsigned int flags);
int void_mount_setattr(int dfd, const char *path, unsigned int flags, uint64_t attr_set,
                       uint64_t attr_clr, uint64_t propagation);
int void_openat2(int dfd, const char *path, uint64_t flags, uint64_t mode, uint64_t resolve);
int void_close_range_cloexec(unsigned int first);
int void_send_fd(int sock, int fd, const char *payload);
int void_last_cap(void);
int void_prctl_subreaper(void);
int void_memfd(const char *name);
int void_unshare(int flags);
int void_rename_noreplace(const char *from, const char *to);
int void_make_tmpfs(uint32_t uid, uint32_t gid);
// A fresh filesystem (fsopen/fsconfig/fsmount) in the caller's namespaces, never attached:
// `values[k]` NULL sets the flag `keys[k]`. Returns a detached mount fd (CLOEXEC) or -1.
int void_make_fs(const char *type, const char *const *keys, const char *const *values, int n, uint64_t attrs);
// linux.devices for a privileged voidoci: a tmpfs of its own, in the initial user namespace (so
// its nodes can be opened), never attached anywhere; nosuid, noexec, not nodev. A detached
// mount fd, or -1 with errno.
int void_make_node_tmpfs(void);
// mknod `name` in `dirfd` (type 'c', 'b' or 'p'), then exactly `mode` (whatever the umask) and
// the owner. -1 with errno on failure, and *what says which call: 1 mknod, 2 chmod, 3 chown.
int void_make_node(int dirfd, const char *name, char type, uint32_t major, uint32_t minor,
                   uint32_t mode, uint32_t uid, uint32_t gid, int *what);
// Detached clones (close-on-exec) of the nodes `names` of `mnt`, the tmpfs above, into fds[].
// open_tree clones only from a mount in the caller's mount namespace (until Linux 6.15), and
// the tmpfs must never be attached to voidoci's: a helper process sharing our fd table
// (CLONE_FILES) makes a private mount namespace of its own, attaches the tmpfs there, clones
// each node and exits; the attachment dies with its namespace, the clones stay ours. 0, or -1
// with errno and *failed: the node that failed, -1 for the helper's own set-up.
int void_clone_nodes(int mnt, const char *const *names, int n, int *fds, int *failed);
int void_openpty(int *master, int *slave, char *name, size_t len);

// Starts fn(arg) on a new thread that may run on any CPU the caller may use except the one the
// caller is on now: the kernel tends to start a new thread on its creator's CPU, where it
// preempts the creator, and the two then take turns instead of running side by side. Returns 0,
// or -1 when there is no second CPU to use or no thread to be had: the caller then runs fn itself.
int void_thread_start(unsigned long *thread, void *(*fn)(void *), void *arg);
int void_thread_join(unsigned long thread);
// A one-shot gate between two threads (a futex word, 0 until opened): wait returns once open
// has been called, at once if it already was.
void void_gate_open(int *gate);
void void_gate_wait(int *gate);
// 1 once this process has no thread but the caller (as setns into a user or mount namespace
// requires), after waiting up to about a second for exiting threads to be reaped; else 0.
int void_wait_single_threaded(void);

// org.voidoci.connect (notify.c): seccomp user notification, and the program's memory and fds.
struct void_notif {
    uint64_t id;
    int32_t pid;      // in voidoci's pid namespace
    int32_t nr;
    uint32_t arch;
    uint64_t args[6];
};
// A sendmsg of the program's, read from its memory: name, data (malloc'd, capped), control
// (SCM_RIGHTS fds replaced by the supervisor's copies, closed by void_msg_free).
struct void_msg {
    uint8_t name[128];
    uint32_t namelen;
    uint8_t *data;
    size_t len;
    int32_t truncated;
    uint8_t control[4096];
    size_t controllen;
    int32_t fds[253];
    int32_t nfds;
};
extern const uint32_t VOID_SECCOMP_FILTER_FLAG_NEW_LISTENER, VOID_AUDIT_ARCH_NATIVE;
int void_notif_recv(int fd, struct void_notif *out);
int void_notif_respond(int fd, uint64_t id, int64_t val, int32_t err);
int void_notif_valid(int fd, uint64_t id);
int void_notif_continue(int fd, uint64_t id);
int void_notif_setfd(int fd, uint64_t id, int srcfd, int target, int cloexec);
int void_pidfd_getfd(int pidfd, int fd);
ssize_t void_mem_read(pid_t pid, uint64_t addr, void *buf, size_t len);
ssize_t void_mem_write(pid_t pid, uint64_t addr, const void *buf, size_t len);
uint64_t void_socket_netns_cookie(int sock);
int void_copy_sockopts(int from, int to, int family);
int void_fd_cloexec(pid_t pid, int fd);
int void_msg_read(pid_t pid, int pidfd, uint64_t addr, size_t cap, struct void_msg *m);
ssize_t void_msg_send(int sock, const struct void_msg *m, const void *name, uint32_t namelen, int flags);
void void_msg_free(struct void_msg *m);
int void_connect(int sock, const void *addr, uint32_t len);
int void_connect_result(int sock);
int void_sockopt_int(int sock, int level, int name);
int void_load_listener_filter(const void *filter, uint16_t len);
int void_tgid(pid_t tid);
int void_become(uint32_t uid, uint32_t gid);

// Constants Swift cannot import from macros.
extern const uint64_t VOID_CLONE_NEWUSER, VOID_CLONE_NEWNS, VOID_CLONE_NEWPID, VOID_CLONE_NEWNET,
    VOID_CLONE_NEWIPC, VOID_CLONE_NEWUTS, VOID_CLONE_NEWCGROUP, VOID_CLONE_NEWTIME;
extern const uint64_t VOID_MOUNT_ATTR_RDONLY, VOID_MOUNT_ATTR_NOSUID, VOID_MOUNT_ATTR_NODEV,
    VOID_MOUNT_ATTR_NOEXEC, VOID_MOUNT_ATTR_NOATIME, VOID_MOUNT_ATTR_STRICTATIME,
    VOID_MOUNT_ATTR_NODIRATIME, VOID_MOUNT_ATTR_NOSYMFOLLOW, VOID_MOUNT_ATTR_RELATIME;
extern const unsigned int VOID_OPEN_TREE_CLONE, VOID_AT_RECURSIVE, VOID_AT_EMPTY_PATH;
extern const uint64_t VOID_O_PATH, VOID_RESOLVE_IN_ROOT, VOID_RESOLVE_NO_MAGICLINKS, VOID_RESOLVE_NO_SYMLINKS,
    VOID_RESOLVE_BENEATH;
extern const uint64_t VOID_MS_PRIVATE;

// `voidoci profile` (trace.c): ptrace a created void's init (stopped in its wait for start),
// fork+exec `start_argv` once it is held (its stderr to `start_err`), and trace it and every
// process it starts until all exit, writing records to `out_fd`; the init is killed after
// `timeout_seconds`, or when interrupted. `init_status`, `start_status`: wait statuses. The
// caller must have no other children meanwhile.
int void_trace(pid_t init, const char *const *start_argv, const char *start_err, int out_fd, int timeout_seconds,
               int *init_status, int *start_status);
// SIGINT, SIGTERM, SIGHUP set `void_trace_interrupted` (and end a trace) instead of killing voidoci.
void void_trace_catch_interrupts(void);
int void_trace_was_interrupted(void);

#ifdef __cplusplus
}
#endif
#endif
