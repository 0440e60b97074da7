// `voidoci profile`'s tracer (docs/profile.md): ptrace of a created void's init and everything
// it starts, from outside the void, from just before `start` until the last traced process
// exits. Each syscall stop is read with PTRACE_GET_SYSCALL_INFO; paths are read from the
// tracee's memory (process_vm_readv) at entry, made absolute against its cwd or dirfd (readlink
// of /proc/TID/cwd or /proc/TID/fd/N: paths as the void sees them), and written with the result
// at exit. Nothing is changed in the tracee: every syscall runs as it would.
//
// Records, one per line, on `out_fd` (fields separated by a tab; a path is the rest of the line,
// with \n, \t and \\ escaped):
//   P <phase> <tid> <nr> <result> <op> <path>   a path that a syscall named (phase r: the runtime
//                                                before the first execve, p: the program)
//   N <phase> <tid> <nr> <result> <op> <family> <type> <address>   connect, bind, listen
//   S <phase> <nr> <count>                       syscalls made, per number (at the end)
//   K <seconds>                                  killed: the timeout, or voidoci was interrupted
//   T <bytes>                                    records past the cap were dropped
//   O <count>                                    threads past the table ran without path records
//   A <count>                                    calls of another architecture (int 0x80)
//   D <tid> <state>                              a tracee still there when the run was killed
//   X <status>                                   the init's wait status (last line)
//
// The caller must have no other children while this runs (it waits for any child).
#define _GNU_SOURCE
#include "cvoid.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/audit.h>
#include <linux/openat2.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef SYS_pidfd_getfd
#define SYS_pidfd_getfd 438
#endif
#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434
#endif

#define MAX_NR 512
#if defined(__x86_64__)
#define AUDIT_ARCH_NATIVE AUDIT_ARCH_X86_64
#elif defined(__aarch64__)
#define AUDIT_ARCH_NATIVE AUDIT_ARCH_AARCH64
#endif
#define MAX_TIDS 4096

struct tstate {
    pid_t tid;
    int in_syscall;     // an entry seen, its exit not yet
    long nr;
    int op;             // index into op_names, or -1
    char path[4096];    // resolved at entry
    char path2[4096];   // a second path (rename, link)
    int op2;
    unsigned long args[6];
};

static struct tstate *tids;
static int ntids;

// Tracees whose exit was reported: a child can run, exit and be reported before its parent's
// fork event is (the two stops race), and must not be taken for a new tracee then.
#define GONE 4096
static pid_t gone[GONE];
static int ngone;
static void mark_gone(pid_t tid) { gone[ngone++ % GONE] = tid; }
static int is_gone(pid_t tid) {
    int n = ngone < GONE ? ngone : GONE;
    for (int i = 0; i < n; i++) if (gone[i] == tid) return 1;
    return 0;
}

static struct tstate *state_of(pid_t tid, int make) {
    for (int i = 0; i < ntids; i++) if (tids[i].tid == tid) return &tids[i];
    if (!make) return NULL;
    for (int i = 0; i < ntids; i++) if (tids[i].tid == 0) { memset(&tids[i], 0, sizeof tids[i]); tids[i].tid = tid; return &tids[i]; }
    if (ntids >= MAX_TIDS) return NULL;
    memset(&tids[ntids], 0, sizeof tids[ntids]);
    tids[ntids].tid = tid;
    return &tids[ntids++];
}

enum { OP_OPEN, OP_WRITE, OP_STAT, OP_EXEC, OP_READLINK, OP_LIST, OP_CHDIR, OP_CONNECT, OP_BIND, OP_LISTEN };
static const char *op_names[] = { "open", "write", "stat", "exec", "readlink", "list", "chdir", "connect", "bind", "listen" };

static FILE *out;

static long bytes_written;   // every byte of records written: the cap is in bytes

static void put_escaped(const char *s) {
    for (; *s; s++) {
        if (*s == '\n') { fputs("\\n", out); bytes_written += 2; }
        else if (*s == '\t') { fputs("\\t", out); bytes_written += 2; }
        else if (*s == '\\') { fputs("\\\\", out); bytes_written += 2; }
        else { fputc(*s, out); bytes_written++; }
    }
}

__attribute__((format(printf, 1, 2))) static void emit(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    int n = vfprintf(out, fmt, ap);
    va_end(ap);
    if (n > 0) bytes_written += n;
}

// A NUL-terminated string of the tracee, page by page (a string may end just before an unmapped page).
static int read_string(pid_t tid, unsigned long addr, char *buf, size_t size) {
    if (!addr) return -1;
    size_t got = 0;
    while (got + 1 < size) {
        size_t page_left = 4096 - ((addr + got) & 4095);
        size_t want = size - 1 - got < page_left ? size - 1 - got : page_left;
        struct iovec local = { buf + got, want }, remote = { (void *)(addr + got), want };
        ssize_t n = process_vm_readv(tid, &local, 1, &remote, 1, 0);
        if (n <= 0) return got ? 0 : -1;
        for (ssize_t i = 0; i < n; i++) if (buf[got + i] == 0) return 0;
        got += (size_t)n;
    }
    buf[size - 1] = 0;
    return 0;
}

static int read_link(const char *proc, char *buf, size_t size) {
    ssize_t n = readlink(proc, buf, size - 1);
    if (n < 0) return -1;
    buf[n] = 0;
    return 0;
}

// The path argument made absolute: against the cwd (dirfd AT_FDCWD, or a syscall without one)
// or the directory open at dirfd, as the void sees them.
static int resolve(pid_t tid, long dirfd, unsigned long addr, char *buf, size_t size) {
    char p[4096];
    if (read_string(tid, addr, p, sizeof p) < 0) return -1;
    // An empty path (AT_EMPTY_PATH: fstat of an fd, execveat of an fd) names no path: the
    // file was opened before (and recorded then), or came from outside (stdio).
    if (p[0] == 0) return -1;
    if (p[0] == '/') { snprintf(buf, size, "%s", p); return 0; }
    char proc[64], base[4096];
    if (dirfd == AT_FDCWD) snprintf(proc, sizeof proc, "/proc/%d/cwd", tid);
    else snprintf(proc, sizeof proc, "/proc/%d/fd/%d", tid, (int)dirfd);
    if (read_link(proc, base, sizeof base) < 0) return -1;
    snprintf(buf, size, "%s/%s", strcmp(base, "/") ? base : "", p);
    return 0;
}

static int open_writes(unsigned long flags) { return (flags & (O_WRONLY | O_RDWR | O_CREAT | O_TRUNC)) != 0; }

// At a syscall's entry: what it names (one or two paths), or nothing.
static void entry(pid_t tid, struct tstate *t) {
    unsigned long *a = t->args;
    t->op = -1; t->op2 = -1; t->path[0] = 0; t->path2[0] = 0;
    long cwd = AT_FDCWD;
#define ONE(op_, dirfd_, addr_) do { if (resolve(tid, (dirfd_), (addr_), t->path, sizeof t->path) == 0) t->op = (op_); } while (0)
#define TWO(op_, dirfd_, addr_) do { if (resolve(tid, (dirfd_), (addr_), t->path2, sizeof t->path2) == 0) t->op2 = (op_); } while (0)
    switch (t->nr) {
    case SYS_open: ONE(open_writes(a[1]) ? OP_WRITE : OP_OPEN, cwd, a[0]); break;
    case SYS_creat: ONE(OP_WRITE, cwd, a[0]); break;
    case SYS_openat: ONE(open_writes(a[2]) ? OP_WRITE : OP_OPEN, (int)a[0], a[1]); break;
    case SYS_openat2: {
        struct open_how how = {0};
        struct iovec l = { &how, sizeof how }, r = { (void *)a[2], sizeof how };
        int w = process_vm_readv(tid, &l, 1, &r, 1, 0) == (ssize_t)sizeof how && open_writes(how.flags);
        ONE(w ? OP_WRITE : OP_OPEN, (int)a[0], a[1]);
        break;
    }
    case SYS_stat: case SYS_lstat: case SYS_access: case SYS_statfs: case SYS_getxattr: case SYS_lgetxattr:
    case SYS_listxattr: case SYS_llistxattr:
        ONE(OP_STAT, cwd, a[0]); break;
    case SYS_newfstatat: case SYS_statx: case SYS_faccessat: case SYS_faccessat2:
        ONE(OP_STAT, (int)a[0], a[1]); break;
    case SYS_readlink: ONE(OP_READLINK, cwd, a[0]); break;
    case SYS_readlinkat: ONE(OP_READLINK, (int)a[0], a[1]); break;
    case SYS_execve: ONE(OP_EXEC, cwd, a[0]); break;
    case SYS_execveat: ONE(OP_EXEC, (int)a[0], a[1]); break;
    case SYS_chdir: ONE(OP_CHDIR, cwd, a[0]); break;
    case SYS_getdents64: case SYS_getdents: {
        char proc[64];
        snprintf(proc, sizeof proc, "/proc/%d/fd/%d", tid, (int)a[0]);
        if (read_link(proc, t->path, sizeof t->path) == 0) t->op = OP_LIST;
        break;
    }
    case SYS_mkdir: case SYS_rmdir: case SYS_unlink: case SYS_chmod: case SYS_chown: case SYS_lchown:
    case SYS_truncate: case SYS_utime: case SYS_utimes: case SYS_mknod: case SYS_setxattr: case SYS_lsetxattr:
        ONE(OP_WRITE, cwd, a[0]); break;
    case SYS_mkdirat: case SYS_unlinkat: case SYS_fchmodat: case SYS_fchownat: case SYS_mknodat:
        ONE(OP_WRITE, (int)a[0], a[1]); break;
    case SYS_utimensat: if (a[1]) ONE(OP_WRITE, (int)a[0], a[1]); break;
    case SYS_rename: ONE(OP_WRITE, cwd, a[0]); TWO(OP_WRITE, cwd, a[1]); break;
    case SYS_renameat: case SYS_renameat2: ONE(OP_WRITE, (int)a[0], a[1]); TWO(OP_WRITE, (int)a[2], a[3]); break;
    case SYS_link: ONE(OP_STAT, cwd, a[0]); TWO(OP_WRITE, cwd, a[1]); break;
    case SYS_linkat: ONE(OP_STAT, (int)a[0], a[1]); TWO(OP_WRITE, (int)a[2], a[3]); break;
    case SYS_symlink: ONE(OP_WRITE, cwd, a[1]); break;
    case SYS_symlinkat: ONE(OP_WRITE, (int)a[1], a[2]); break;
    default: break;
    }
#undef ONE
#undef TWO
}

// A socket call's family, type and address, read at entry (the address) and from the socket
// itself (its type, through a copy of the fd taken with pidfd_getfd).
static void net_record(char phase, pid_t tid, struct tstate *t, long rval) {
    int op = t->nr == SYS_connect ? OP_CONNECT : t->nr == SYS_bind ? OP_BIND : OP_LISTEN;
    int type = -1, named = 0;
    // pidfd_open wants a thread group leader: the thread's group.
    int tgid = void_tgid(tid);
    int pidfd = tgid > 0 ? (int)syscall(SYS_pidfd_open, tgid, 0) : -1;
    // Only a socket is copied (and closed again here): closing a copy of anything else (a FUSE
    // file served by another tracee) could wait on a process that waits on us.
    char link[64], what[64] = "";
    snprintf(link, sizeof link, "/proc/%d/fd/%d", tid, (int)t->args[0]);
    if (read_link(link, what, sizeof what) < 0 || strncmp(what, "socket:[", 8) != 0) {
        if (pidfd >= 0) close(pidfd);
        pidfd = -1;
    }
    if (pidfd >= 0) {
        int fd = (int)syscall(SYS_pidfd_getfd, pidfd, (int)t->args[0], 0);
        if (fd >= 0) {
            socklen_t l = sizeof type;
            if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &l) < 0) type = -1;
            if (op == OP_LISTEN) {
                struct sockaddr_storage ss;
                socklen_t sl = sizeof ss;
                if (getsockname(fd, (struct sockaddr *)&ss, &sl) == 0 && sl <= sizeof ss) {
                    memset(t->path, 0, sizeof t->path);
                    memcpy(t->path, &ss, sl);
                    t->args[2] = sl;
                    named = 1;
                }
            }
            close(fd);
        }
        close(pidfd);
    }
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof ss);
    socklen_t len = (socklen_t)t->args[2];
    if (len > sizeof ss) len = sizeof ss;
    if (op == OP_LISTEN) {
        if (!named) return;
        memcpy(&ss, t->path, len);
    }
    else {
        struct iovec l = { &ss, len }, r = { (void *)t->args[1], len };
        if (len == 0 || process_vm_readv(tid, &l, 1, &r, 1, 0) != (ssize_t)len) return;
    }
    char addr[4200] = "";
    const char *family = "other";
    if (ss.ss_family == AF_INET) {
        struct sockaddr_in *s = (struct sockaddr_in *)&ss;
        char b[64];
        inet_ntop(AF_INET, &s->sin_addr, b, sizeof b);
        snprintf(addr, sizeof addr, "%s:%u", b, ntohs(s->sin_port));
        family = "inet";
    } else if (ss.ss_family == AF_INET6) {
        struct sockaddr_in6 *s = (struct sockaddr_in6 *)&ss;
        char b[64];
        inet_ntop(AF_INET6, &s->sin6_addr, b, sizeof b);
        snprintf(addr, sizeof addr, "[%s]:%u", b, ntohs(s->sin6_port));
        family = "inet6";
    } else if (ss.ss_family == AF_UNIX) {
        struct sockaddr_un *s = (struct sockaddr_un *)&ss;
        size_t n = len > offsetof(struct sockaddr_un, sun_path) ? len - offsetof(struct sockaddr_un, sun_path) : 0;
        if (n > sizeof s->sun_path) n = sizeof s->sun_path;
        if (n > 0 && s->sun_path[0] == 0) { family = "unix-abstract"; snprintf(addr, sizeof addr, "@%.*s", (int)(n - 1), s->sun_path + 1); }
        else { family = "unix"; snprintf(addr, sizeof addr, "%.*s", (int)strnlen(s->sun_path, n), s->sun_path); }
    } else if (ss.ss_family == AF_UNSPEC) {
        family = "unspec";
    } else {
        snprintf(addr, sizeof addr, "%d", ss.ss_family);
    }
    emit("N\t%c\t%d\t%ld\t%ld\t%s\t%s\t%s\t", phase, tid, t->nr, rval, op_names[op], family,
            type == SOCK_STREAM ? "stream" : type == SOCK_DGRAM ? "dgram" : type == SOCK_SEQPACKET ? "seqpacket" : "other");
    put_escaped(addr);
    emit("\n");
}

// Records past this many bytes are dropped (a program that opens files without end must not
// fill the disk; voidoci reads 64 MiB back); a "T" line says so. The syscall counts are kept whole.
#define MAX_BYTES (48L << 20)

static volatile sig_atomic_t void_trace_interrupted;
int void_trace_was_interrupted(void) { return void_trace_interrupted != 0; }
// The init being traced, for the handler: SIGKILL through its pidfd (async-signal-safe), so an
// interrupt that lands just before the tracer's wait is not left waiting for the next event.
static volatile int traced_init_pidfd = -1;
static void on_interrupt(int sig) {
    (void)sig;
    void_trace_interrupted = 1;
    int fd = traced_init_pidfd;
    if (fd >= 0) syscall(424 /* pidfd_send_signal */, fd, SIGKILL, NULL, 0);
}

// SIGINT, SIGTERM and SIGHUP end a profile cleanly: the void is killed and deleted, the scratch
// directory removed (no SA_RESTART: the tracer's wait returns).
void void_trace_catch_interrupts(void) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_interrupt;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);
}

static void record_maps(char phase, pid_t tid) {
    // At an exec: every file the new image maps (the program, and the interpreter the kernel
    // loaded itself: a #! line's, the ELF's PT_INTERP), as the void sees them.
    char path[64], line[4600], seen[16][512];
    int nseen = 0;
    snprintf(path, sizeof path, "/proc/%d/maps", tid);
    FILE *f = fopen(path, "re");
    if (!f) return;
    while (fgets(line, sizeof line, f) && nseen < 16) {
        char *p = strchr(line, '/');
        if (!p) continue;
        p[strcspn(p, "\n")] = 0;
        if (strstr(p, " (deleted)")) continue;
        int dup = 0;
        for (int i = 0; i < nseen; i++) if (!strncmp(seen[i], p, sizeof seen[i] - 1)) dup = 1;
        if (dup) continue;
        snprintf(seen[nseen++], sizeof seen[0], "%s", p);
        emit("P\t%c\t%d\t%d\t0\tmapped\t", phase, tid, SYS_execve);
        put_escaped(p);
        emit("\n");
    }
    fclose(f);
}

static int pidfd_kill(int pidfd, pid_t pid) {
    if (pidfd >= 0) return (int)syscall(424 /* pidfd_send_signal */, pidfd, SIGKILL, NULL, 0);
    return kill(pid, SIGKILL);
}

int void_trace(pid_t init, const char *const *start_argv, const char *start_err, int out_fd, int timeout_seconds,
               int *init_status, int *start_status) {
    *init_status = -1;
    *start_status = -1;
    tids = calloc(MAX_TIDS, sizeof *tids);
    ntids = 0;
    int dupfd = fcntl(out_fd, F_DUPFD_CLOEXEC, 3);
    out = dupfd >= 0 ? fdopen(dupfd, "w") : NULL;
    if (!tids || !out) { free(tids); if (out) fclose(out); else if (dupfd >= 0) close(dupfd); errno = ENOMEM; return -1; }
    static unsigned long counts[2][MAX_NR];
    memset(counts, 0, sizeof counts);
    long overflow = 0, foreign = 0;
    long opts = PTRACE_O_TRACESYSGOOD | PTRACE_O_TRACEFORK | PTRACE_O_TRACEVFORK | PTRACE_O_TRACECLONE
              | PTRACE_O_TRACEEXEC | PTRACE_O_EXITKILL;
    // The init, by a pidfd: a signal never reaches a process that took its pid after it.
    int init_pidfd = (int)syscall(SYS_pidfd_open, init, 0);
    if (init_pidfd < 0 || ptrace(PTRACE_SEIZE, init, 0, (void *)opts) < 0 || ptrace(PTRACE_INTERRUPT, init, 0, 0) < 0) {
        int e = errno;
        if (init_pidfd >= 0) close(init_pidfd);
        fclose(out); free(tids); errno = e; return -1;
    }
    fcntl(init_pidfd, F_SETFD, FD_CLOEXEC);
    traced_init_pidfd = init_pidfd;
    state_of(init, 1);
    ngone = 0;
    bytes_written = 0;
    char phase = 'r';
    pid_t starter = -1;
    // The watchdog: kills the void's init (its pid namespace goes with it) when the program
    // outlives the timeout; it dies with us.
    pid_t parent = getpid();
    pid_t watchdog = fork();
    if (watchdog < 0) {
        // No watchdog, no trace: the init is killed (delete --force removes the rest).
        int e = errno;
        pidfd_kill(init_pidfd, init);
        traced_init_pidfd = -1;
        close(init_pidfd);
        fclose(out); free(tids); errno = e; return -1;
    }
    if (watchdog == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != parent) _exit(0);
        struct timespec ts = { timeout_seconds > 0 ? timeout_seconds : 300, 0 };
        while (nanosleep(&ts, &ts) < 0 && errno == EINTR) {}
        pidfd_kill(init_pidfd, init);
        _exit(0);
    }
    int killed = 0;          // the watchdog fired, or we were interrupted
    double ended = 0;        // when the init exited (or was killed): the rest gets 5 s
    for (;;) {
        if (void_trace_interrupted && !killed) {
            killed = 1;
            pidfd_kill(init_pidfd, init);
        }
        if (killed && !ended) {
            // Whatever is still here is killed: tracees are ours until their exit is reported.
            for (int i = 0; i < ntids; i++) if (tids[i].tid) {
                char path[64], buf[256] = "";
                snprintf(path, sizeof path, "/proc/%d/stat", tids[i].tid);
                int fd = open(path, O_RDONLY | O_CLOEXEC);
                if (fd >= 0) { ssize_t n = read(fd, buf, sizeof buf - 1); if (n > 0) buf[n] = 0; close(fd); }
                char *st = strrchr(buf, ')');
                emit("D\t%d\t%c\n", tids[i].tid, st && st[1] && st[2] ? st[2] : '?');
                // Not killed by tid (a slot may be stale): the init's pidfd kill takes the
                // whole pid namespace.
            }
            if (starter > 0) kill(starter, SIGKILL);
        }
        struct timespec now;
        clock_gettime(CLOCK_MONOTONIC, &now);
        double t_now = now.tv_sec + now.tv_nsec / 1e9;
        if ((*init_status != -1 || killed) && !ended) ended = t_now;
        // Done when the init has exited, every tracee we know of is gone and the start is
        // reaped; after the init, the rest get 5 s (a pid namespace dies with its init).
        if (ended) {
            int left = 0;
            for (int i = 0; i < ntids; i++) if (tids[i].tid) left++;
            if ((!left && starter < 0) || t_now - ended > 5) break;
        }
        int st;
        pid_t tid = waitpid(-1, &st, __WALL | (ended ? WNOHANG : 0));
        if (tid == 0) { usleep(1000); continue; }
        if (tid < 0) { if (errno == EINTR) continue; break; }
        if (tid == starter) {
            if (WIFEXITED(st) || WIFSIGNALED(st)) {
                *start_status = st;
                starter = -1;
                if (st != 0) pidfd_kill(init_pidfd, init);   // not started: it would wait for ever
            }
            continue;
        }
        if (tid == watchdog) { if (WIFEXITED(st) || WIFSIGNALED(st)) { killed = 1; watchdog = -1; } continue; }
        if (WIFEXITED(st) || WIFSIGNALED(st)) {
            struct tstate *t = state_of(tid, 0);
            if (t) t->tid = 0;
            mark_gone(tid);
            if (tid == init) *init_status = st;
            continue;
        }
        if (!WIFSTOPPED(st)) continue;
        int sig = WSTOPSIG(st), event = (unsigned)st >> 16;
        struct tstate *t = state_of(tid, 0);
        if (!t) t = state_of(tid, 1);   // a new tracee: its first stop can come before its parent's event
        if (!t) {
            // Past the table: its stops are still handled (signals delivered, group stops kept),
            // and its calls counted, without paths.
            overflow++;
            if (sig == (SIGTRAP | 0x80)) {
                struct __ptrace_syscall_info info;
                if (ptrace(PTRACE_GET_SYSCALL_INFO, tid, (void *)sizeof info, &info) > 0 && info.op == PTRACE_SYSCALL_INFO_ENTRY
                    && info.entry.nr < MAX_NR) counts[phase == 'p'][info.entry.nr]++;
                ptrace(PTRACE_SYSCALL, tid, 0, 0);
            } else if (event == PTRACE_EVENT_STOP && sig != SIGTRAP) {
                ptrace(PTRACE_LISTEN, tid, 0, 0);
            } else {
                ptrace(PTRACE_SYSCALL, tid, 0, (void *)(long)(event == 0 ? sig : 0));
            }
            continue;
        }
        int inject = 0;
        if (sig == (SIGTRAP | 0x80)) {
            struct __ptrace_syscall_info info;
            memset(&info, 0, sizeof info);
            if (ptrace(PTRACE_GET_SYSCALL_INFO, tid, (void *)sizeof info, &info) > 0) {
                if (info.op == PTRACE_SYSCALL_INFO_ENTRY) {
                    t->in_syscall = 1;
                    t->nr = (long)info.entry.nr;
                    for (int i = 0; i < 6; i++) t->args[i] = info.entry.args[i];
                    if (info.arch != AUDIT_ARCH_NATIVE) {
                        // Another architecture's numbers and arguments: counted apart, not read.
                        foreign++;
                        t->nr = -1;
                        t->op = t->op2 = -1;
                    } else {
                        if (t->nr >= 0 && t->nr < MAX_NR) counts[phase == 'p'][t->nr]++;
                        // What the tracer cannot follow: a clone that is not traced, io_uring's
                        // own operations, x32 and unknown numbers.
                        if (t->nr < 0 || t->nr >= MAX_NR || t->nr == 425 /* io_uring_setup */
                            || (t->nr == SYS_clone && (t->args[0] & 0x00800000 /* CLONE_UNTRACED */)))
                            foreign++;
                        entry(tid, t);
                    }
                } else if (info.op == PTRACE_SYSCALL_INFO_EXIT && t->in_syscall) {
                    t->in_syscall = 0;
                    long rval = (long)info.exit.rval;
                    char ph = t->nr == SYS_execve || t->nr == SYS_execveat ? (rval == 0 ? 'p' : phase) : phase;
                    if (bytes_written > MAX_BYTES) t->op = t->op2 = -1;
                    if (t->op >= 0) {
                        emit("P\t%c\t%d\t%ld\t%ld\t%s\t", ph, tid, t->nr, rval, op_names[t->op]);
                        put_escaped(t->path);
                        emit("\n");
                    }
                    if (t->op2 >= 0) {
                        emit("P\t%c\t%d\t%ld\t%ld\t%s\t", ph, tid, t->nr, rval, op_names[t->op2]);
                        put_escaped(t->path2);
                        emit("\n");
                    }
                    if ((t->nr == SYS_connect || t->nr == SYS_bind || t->nr == SYS_listen) && bytes_written <= MAX_BYTES) {
                        net_record(phase, tid, t, rval);
                    }
                }
            }
        } else if (event == PTRACE_EVENT_EXEC) {
            if (phase == 'r') phase = 'p';
            // A non-leader thread that execs takes the leader's id: its entry's path is kept.
            unsigned long former = 0;
            if (ptrace(PTRACE_GETEVENTMSG, tid, 0, &former) == 0 && (pid_t)former != tid) {
                struct tstate *f = state_of((pid_t)former, 0);
                if (f) { *t = *f; t->tid = tid; f->tid = 0; }
            }
            if (bytes_written <= MAX_BYTES) record_maps('p', tid);
        } else if (event == PTRACE_EVENT_STOP) {
            // The first stop (ours, or a new tracee's), or a group stop: the start begins once
            // the init is held.
            if (tid == init && starter < 0 && *start_status == -1 && !killed) {
                starter = fork();
                if (starter == 0) {
                    prctl(PR_SET_PDEATHSIG, SIGKILL);
                    if (getppid() != parent) _exit(127);
                    int devnull = open("/dev/null", O_RDWR);
                    int err = open(start_err, O_WRONLY | O_CREAT | O_TRUNC, 0600);
                    if (devnull >= 0) { dup2(devnull, 0); dup2(devnull, 1); }
                    if (err >= 0) dup2(err, 2);
                    execv(start_argv[0], (char *const *)start_argv);
                    _exit(127);
                }
            }
            if (sig != SIGTRAP) {   // a group stop: leave the tracee stopped as it asked
                ptrace(PTRACE_LISTEN, tid, 0, 0);
                continue;
            }
        } else if (event == PTRACE_EVENT_FORK || event == PTRACE_EVENT_VFORK || event == PTRACE_EVENT_CLONE) {
            unsigned long child = 0;
            if (ptrace(PTRACE_GETEVENTMSG, tid, 0, &child) == 0 && child && !is_gone((pid_t)child)
                && !state_of((pid_t)child, 0) && !state_of((pid_t)child, 1))
                overflow++;
        } else if (event == 0) {
            inject = sig;   // a signal for the tracee: delivered
        }
        ptrace(PTRACE_SYSCALL, tid, 0, (void *)(long)inject);
    }
    if (watchdog > 0) {
        kill(watchdog, SIGKILL);
        while (waitpid(watchdog, NULL, 0) < 0 && errno == EINTR) {}
    }
    if (starter > 0) {
        kill(starter, SIGKILL);
        while (waitpid(starter, NULL, 0) < 0 && errno == EINTR) {}
    }
    traced_init_pidfd = -1;
    close(init_pidfd);
    if (killed) emit("K\t%d\n", void_trace_interrupted ? 0 : timeout_seconds);
    if (bytes_written > MAX_BYTES) emit("T\t%ld\n", bytes_written);
    if (overflow) emit("O\t%ld\n", overflow);
    if (foreign) emit("A\t%ld\n", foreign);
    for (int p = 0; p < 2; p++)
        for (int i = 0; i < MAX_NR; i++)
            if (counts[p][i]) emit("S\t%c\t%d\t%lu\n", p ? 'p' : 'r', i, counts[p][i]);
    emit("X\t%d\n", *init_status);
    fclose(out);
    free(tids);
    return 0;
}
