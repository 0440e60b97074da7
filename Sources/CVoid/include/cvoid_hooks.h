// OCI hooks: the child stage of a hook process, between clone3 and execve. Same rules as the
// void's init (cvoid.h): the parent prepares everything, the child runs straight-line C with raw
// syscalls and reports the first failure on `report_fd` as a `struct void_hook_report`.
#ifndef CVOID_HOOKS_H
#define CVOID_HOOKS_H

#include <stdint.h>
#include <sys/types.h>

#ifdef __cplusplus
extern "C" {
#endif

struct void_hook {
    // What to run. exec_fd >= 0: execveat(exec_fd, "", AT_EMPTY_PATH) (the executable was opened
    // on the host before joining the void); else execve(path) where the process is then.
    const char *path;
    int32_t exec_fd;
    int32_t exec_fd_inherit;  // a #! script: the fd stays open across exec (the kernel hands the
                              // interpreter /dev/fd/N)
    const char *const *argv;
    const char *const *envp;
    int32_t stdin_fd;         // read end of the pipe carrying the state JSON: becomes fd 0
    int32_t report_fd;        // write end (CLOEXEC): reports; EOF once the hook exec'd

    // Join the namespaces of a void's init (createContainer, startContainer), or run where
    // voidoci runs (join_pidfd -1).
    int32_t join_pidfd;
    int32_t join_user;        // 0: voidoci already is in the void's user namespace
    int32_t user_first;       // unprivileged: the user namespace first (voidoci owns it, and
                              // gains the rights to join the others there); privileged: last
    int32_t drop_groups;      // real root: setgroups(0) first, no host group follows the hook in
    uint32_t uid, gid;        // ids once joined (the void's set-up ids)
};

struct void_hook_report {
    int32_t kind;  // enum void_hook_step
    int32_t err;   // errno
    int32_t pid;   // VOID_HOOK_PID: the hook process (a child of voidoci, in voidoci's pid ns)
    int32_t _pad;
};

enum void_hook_step {
    VOID_HOOK_PID = 1,        // not a failure: the hook's pid (joined hooks: a second clone)
    VOID_HOOK_SETNS_USER = 2,
    VOID_HOOK_SETNS = 3,
    VOID_HOOK_IDS = 4,
    VOID_HOOK_CLONE = 5,
    VOID_HOOK_STDIN = 6,
    VOID_HOOK_EXEC = 7,
    VOID_HOOK_GROUPS = 8,
};

// Clones the hook process (CLONE_PIDFD). Without a join, the child is the hook. With a join,
// the child joins the void's namespaces and clones the hook with CLONE_PARENT (so it enters the
// void's pid and time namespaces and is voidoci's own child), reports its pid and exits.
// Returns the child's pid (or -1 with errno) and stores its pidfd.
pid_t void_hook_spawn(const struct void_hook *hook, int *pidfd);

// pipe2(fds, O_CLOEXEC), which Glibc's Swift module lacks.
int void_pipe_cloexec(int *fds);

#ifdef __cplusplus
}
#endif
#endif
