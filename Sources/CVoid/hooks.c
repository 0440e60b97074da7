// The child stage of an OCI hook: (join the void's namespaces) → stdin, fds, signals → execve.
// Straight-line, raw syscalls, no allocation: the parent prepared everything. The first failure
// is reported on report_fd and the child exits.
#define _GNU_SOURCE
#include "cvoid_hooks.h"
#include "internal.h"

#include <errno.h>
#include <grp.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#ifndef SYS_execveat
#define SYS_execveat 322
#endif

static const struct void_hook *H;
static int creator_fd = -1;  // a pidfd of voidoci, made just before the clone
__attribute__((noreturn)) static void hook_fail(int kind);

// A hook dies with voidoci (issue 10): the kernel sends SIGKILL when voidoci's thread exits;
// and if voidoci died before that was set, its pidfd already reads as exited. (pdeathsig is
// reset by a change of credentials, so it is set after the last one, right before execve.)
static void die_with_voidoci(void) {
    if (prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) < 0) hook_fail(VOID_HOOK_EXEC);
    struct pollfd p = {.fd = creator_fd, .events = POLLIN, .revents = 0};
    if (creator_fd >= 0 && poll(&p, 1, 0) > 0) _exit(127);
}

static void hook_report(int kind, int err, int pid) {
    struct void_hook_report r = {.kind = kind, .err = err, .pid = pid};
    ssize_t n;
    do { n = write(H->report_fd, &r, sizeof r); } while (n < 0 && errno == EINTR);
}

__attribute__((noreturn)) static void hook_fail(int kind) {
    hook_report(kind, errno, 0);
    _exit(127);
}

// The hook itself: the state JSON on stdin, voidoci's stdout and stderr, nothing else (every
// other fd is close-on-exec, the report fd among them: EOF tells voidoci the exec happened),
// a clean signal state, exactly the hook's env.
__attribute__((noreturn)) static void hook_exec(void) {
    if (H->stdin_fd != 0) {
        if (dup2(H->stdin_fd, 0) < 0) hook_fail(VOID_HOOK_STDIN);
    } else if (fcntl(0, F_SETFD, 0) < 0) {
        hook_fail(VOID_HOOK_STDIN);
    }
    syscall(SYS_close_range, 3, ~0U, CLOSE_RANGE_CLOEXEC);
    if (H->exec_fd >= 0 && H->exec_fd_inherit && fcntl(H->exec_fd, F_SETFD, 0) < 0) hook_fail(VOID_HOOK_EXEC);

    void_reset_signals();
    die_with_voidoci();

    if (H->exec_fd >= 0)
        syscall(SYS_execveat, H->exec_fd, "", (char *const *)H->argv, (char *const *)H->envp, AT_EMPTY_PATH);
    else
        execve(H->path, (char *const *)H->argv, (char *const *)H->envp);
    hook_fail(VOID_HOOK_EXEC);
}

// Joins every namespace of the void's init at once through its pidfd (the user namespace
// first or last, see `user_first`), takes the void's set-up ids, then clones the hook: the pid
// and time namespaces apply to children only. CLONE_PARENT makes the hook voidoci's child, so
// voidoci waits for it (and its timeout kills it) directly.
__attribute__((noreturn)) static void hook_join(void) {
    const int others = CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWNET | CLONE_NEWIPC | CLONE_NEWUTS |
                       CLONE_NEWCGROUP | CLONE_NEWTIME;
    if (H->drop_groups && syscall(SYS_setgroups, 0, NULL) < 0) hook_fail(VOID_HOOK_GROUPS);
    if (H->join_user && H->user_first && syscall(SYS_setns, H->join_pidfd, CLONE_NEWUSER) < 0)
        hook_fail(VOID_HOOK_SETNS_USER);
    if (syscall(SYS_setns, H->join_pidfd, others) < 0) hook_fail(VOID_HOOK_SETNS);
    if (H->join_user && !H->user_first && syscall(SYS_setns, H->join_pidfd, CLONE_NEWUSER) < 0)
        hook_fail(VOID_HOOK_SETNS_USER);
    if (syscall(SYS_setresgid, H->gid, H->gid, H->gid) < 0) hook_fail(VOID_HOOK_IDS);
    if (syscall(SYS_setresuid, H->uid, H->uid, H->uid) < 0) hook_fail(VOID_HOOK_IDS);
    if (chdir("/") < 0) hook_fail(VOID_HOOK_SETNS);

    struct void_clone_args args;
    memset(&args, 0, sizeof args);
    args.flags = CLONE_PARENT;  // exit_signal must be 0: the hook inherits ours (SIGCHLD to voidoci)
    pid_t pid = (pid_t)syscall(SYS_clone3, &args, sizeof args);
    if (pid < 0) hook_fail(VOID_HOOK_CLONE);
    if (pid == 0) hook_exec();
    hook_report(VOID_HOOK_PID, 0, pid);
    _exit(0);
}

pid_t void_hook_spawn(const struct void_hook *hook, int *pidfd) {
    struct void_clone_args args;
    memset(&args, 0, sizeof args);
    int fd = -1;
    args.flags = CLONE_PIDFD;
    args.pidfd = (uint64_t)(uintptr_t)&fd;
    args.exit_signal = SIGCHLD;
    creator_fd = (int)syscall(SYS_pidfd_open, getpid(), 0);
    pid_t pid = (pid_t)syscall(SYS_clone3, &args, sizeof args);
    if (pid == 0) {
        H = hook;
        if (hook->join_pidfd >= 0) hook_join();
        hook_exec();
    }
    int e = errno;
    if (creator_fd >= 0) close(creator_fd);
    creator_fd = -1;
    errno = e;
    if (pid > 0 && pidfd) *pidfd = fd;
    return pid;
}

int void_pipe_cloexec(int *fds) { return pipe2(fds, O_CLOEXEC); }
