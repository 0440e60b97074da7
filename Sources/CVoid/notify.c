// org.voidoci.connect's system calls (Supervisor/ConnectBroker.swift): seccomp user notification
// (receive, answer, install an fd in the program), and the program's memory and fds read through
// its pid and pidfd. What is decided (is a destination listed) is Swift's; these only move bytes.
#define _GNU_SOURCE
#include "cvoid.h"
#include "internal.h"

#include <errno.h>
#include <linux/sockios.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/prctl.h>
#include <grp.h>
#include <linux/capability.h>
#include <sys/stat.h>
#include <unistd.h>

#ifndef SYS_pidfd_getfd
#define SYS_pidfd_getfd 438
#endif
#ifndef SECCOMP_GET_NOTIF_SIZES
#define SECCOMP_GET_NOTIF_SIZES 3
#endif
#ifndef SECCOMP_FILTER_FLAG_NEW_LISTENER
#define SECCOMP_FILTER_FLAG_NEW_LISTENER (1UL << 3)
#endif

const uint32_t VOID_SECCOMP_FILTER_FLAG_NEW_LISTENER = SECCOMP_FILTER_FLAG_NEW_LISTENER;
const uint32_t VOID_AUDIT_ARCH_NATIVE = 0xC000003E;   // AUDIT_ARCH_X86_64

// The kernel's size of struct seccomp_notif may grow: asked once, and a buffer that large used.
static size_t notif_size;

int void_notif_recv(int fd, struct void_notif *out) {
    if (notif_size == 0) {
        struct seccomp_notif_sizes sz;
        if (syscall(SYS_seccomp, SECCOMP_GET_NOTIF_SIZES, 0, &sz) < 0) return -1;
        notif_size = sz.seccomp_notif > sizeof(struct seccomp_notif) ? sz.seccomp_notif : sizeof(struct seccomp_notif);
    }
    char buf[notif_size];
    memset(buf, 0, notif_size);   // the kernel wants it zeroed
    if (ioctl(fd, SECCOMP_IOCTL_NOTIF_RECV, buf) < 0) return -1;
    struct seccomp_notif *n = (struct seccomp_notif *)buf;
    out->id = n->id;
    out->pid = (int32_t)n->pid;
    out->nr = n->data.nr;
    out->arch = n->data.arch;
    for (int i = 0; i < 6; i++) out->args[i] = n->data.args[i];
    return 0;
}

int void_notif_respond(int fd, uint64_t id, int64_t val, int32_t err) {
    struct seccomp_notif_resp r = {.id = id, .val = err ? -1 : val, .error = err ? -err : 0, .flags = 0};
    return ioctl(fd, SECCOMP_IOCTL_NOTIF_SEND, &r);
}

// Lets the call go on as the program made it (only where nothing outside the void can be
// reached whatever the program changes meanwhile).
int void_notif_continue(int fd, uint64_t id) {
    struct seccomp_notif_resp r = {.id = id, .val = 0, .error = 0, .flags = SECCOMP_USER_NOTIF_FLAG_CONTINUE};
    return ioctl(fd, SECCOMP_IOCTL_NOTIF_SEND, &r);
}

int void_notif_valid(int fd, uint64_t id) { return ioctl(fd, SECCOMP_IOCTL_NOTIF_ID_VALID, &id) == 0; }

int void_notif_setfd(int fd, uint64_t id, int srcfd, int target, int cloexec) {
    struct seccomp_notif_addfd a = {
        .id = id, .flags = SECCOMP_ADDFD_FLAG_SETFD, .srcfd = (uint32_t)srcfd, .newfd = (uint32_t)target,
        .newfd_flags = cloexec ? O_CLOEXEC : 0,
    };
    return ioctl(fd, SECCOMP_IOCTL_NOTIF_ADDFD, &a);
}

int void_pidfd_getfd(int pidfd, int fd) { return (int)syscall(SYS_pidfd_getfd, pidfd, fd, 0); }

ssize_t void_mem_read(pid_t pid, uint64_t addr, void *buf, size_t len) {
    struct iovec local = {.iov_base = buf, .iov_len = len};
    struct iovec remote = {.iov_base = (void *)(uintptr_t)addr, .iov_len = len};
    return process_vm_readv(pid, &local, 1, &remote, 1, 0);
}

ssize_t void_mem_write(pid_t pid, uint64_t addr, const void *buf, size_t len) {
    struct iovec local = {.iov_base = (void *)buf, .iov_len = len};
    struct iovec remote = {.iov_base = (void *)(uintptr_t)addr, .iov_len = len};
    return process_vm_writev(pid, &local, 1, &remote, 1, 0);
}

// The cookie of the network namespace a socket was made in (SO_NETNS_COOKIE), or 0.
uint64_t void_socket_netns_cookie(int sock) {
    uint64_t cookie = 0;
    socklen_t len = sizeof cookie;
    return getsockopt(sock, SOL_SOCKET, 71, &cookie, &len) == 0 ? cookie : 0;
}

// Socket options a program may set before connect, carried over to the socket made outside:
// each one whose value on `from` differs from a fresh socket's (`to`, just made) is set on `to`.
struct sockopt_name { int level, name; };
static const struct sockopt_name carried[] = {
    {SOL_SOCKET, SO_KEEPALIVE}, {SOL_SOCKET, SO_LINGER}, {SOL_SOCKET, SO_OOBINLINE},
    {SOL_SOCKET, SO_SNDBUF}, {SOL_SOCKET, SO_RCVBUF}, {SOL_SOCKET, SO_RCVLOWAT},
    {SOL_SOCKET, SO_RCVTIMEO_OLD}, {SOL_SOCKET, SO_SNDTIMEO_OLD}, {SOL_SOCKET, SO_PRIORITY},
    {SOL_SOCKET, SO_BROADCAST}, {SOL_SOCKET, SO_REUSEADDR}, {SOL_SOCKET, SO_TIMESTAMP_OLD},
    {SOL_SOCKET, SO_PASSCRED},
    {IPPROTO_TCP, TCP_NODELAY}, {IPPROTO_TCP, TCP_MAXSEG}, {IPPROTO_TCP, TCP_KEEPIDLE},
    {IPPROTO_TCP, TCP_KEEPINTVL}, {IPPROTO_TCP, TCP_KEEPCNT}, {IPPROTO_TCP, TCP_USER_TIMEOUT},
    {IPPROTO_TCP, TCP_CONGESTION}, {IPPROTO_TCP, TCP_NOTSENT_LOWAT}, {IPPROTO_TCP, TCP_FASTOPEN_CONNECT},
    {IPPROTO_TCP, TCP_WINDOW_CLAMP}, {IPPROTO_TCP, TCP_QUICKACK},
    {IPPROTO_IP, IP_TOS}, {IPPROTO_IP, IP_TTL}, {IPPROTO_IP, IP_RECVERR}, {IPPROTO_IP, IP_MTU_DISCOVER},
    {IPPROTO_IP, IP_PKTINFO}, {IPPROTO_IP, IP_RECVTOS}, {IPPROTO_IP, IP_RECVTTL},
    {IPPROTO_IPV6, IPV6_V6ONLY}, {IPPROTO_IPV6, IPV6_TCLASS}, {IPPROTO_IPV6, IPV6_UNICAST_HOPS},
    {IPPROTO_IPV6, IPV6_RECVERR}, {IPPROTO_IPV6, IPV6_MTU_DISCOVER}, {IPPROTO_IPV6, IPV6_RECVPKTINFO},
};

// How many options were carried over; -1 with errno when one that differs could not be set.
int void_copy_sockopts(int from, int to, int family) {
    int copied = 0;
    for (size_t i = 0; i < sizeof carried / sizeof carried[0]; i++) {
        int level = carried[i].level;
        if (level == IPPROTO_IP && family != AF_INET) continue;
        if (level == IPPROTO_IPV6 && family != AF_INET6) continue;
        if (level == IPPROTO_TCP && family == AF_UNIX) continue;
        char a[64], b[64];
        socklen_t la = sizeof a, lb = sizeof b;
        memset(a, 0, sizeof a);
        memset(b, 0, sizeof b);
        if (getsockopt(from, level, carried[i].name, a, &la) < 0) continue;   // not this kind of socket
        if (getsockopt(to, level, carried[i].name, b, &lb) < 0) continue;
        if (la == lb && memcmp(a, b, la) == 0) continue;
        if (level == SOL_SOCKET && (carried[i].name == SO_SNDBUF || carried[i].name == SO_RCVBUF) && la == sizeof(int)) {
            int v;
            memcpy(&v, a, sizeof v);
            v /= 2;   // the kernel doubles what is set and reports the doubled value
            memcpy(a, &v, sizeof v);
        }
        if (level == IPPROTO_TCP && carried[i].name == TCP_CONGESTION) la = (socklen_t)strnlen(a, la);
        if (setsockopt(to, level, carried[i].name, a, la) < 0) return -1;
        copied++;
    }
    return copied;
}

// Whether fd `fd` of process `pid` is close-on-exec: 1, 0, or -1 (fdinfo unreadable).
int void_fd_cloexec(pid_t pid, int fd) {
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/fdinfo/%d", (int)pid, fd);
    int f = open(path, O_RDONLY | O_CLOEXEC);
    if (f < 0) return -1;
    char buf[512];
    ssize_t n = read(f, buf, sizeof buf - 1);
    close(f);
    if (n <= 0) return -1;
    buf[n] = 0;
    char *p = strstr(buf, "flags:");
    if (!p) return -1;
    unsigned long flags = strtoul(p + 6, NULL, 8);
    return (flags & O_CLOEXEC) ? 1 : 0;
}

// A message of the program's, read from its memory: sendmsg and sendmmsg are carried out by the
// supervisor on the socket it took from the program, with the destination it checked.
// Data is capped at `cap` bytes (what is sent of a stream then is a partial write).
int void_msg_read(pid_t pid, int pidfd, uint64_t addr, size_t cap, struct void_msg *m) {
    memset(m, 0, sizeof *m);
    struct msghdr h;
    if (void_mem_read(pid, addr, &h, sizeof h) != (ssize_t)sizeof h) { errno = EFAULT; return -1; }
    if (h.msg_name && h.msg_namelen > 0) {
        if (h.msg_namelen > sizeof m->name || h.msg_namelen < 2) { errno = EINVAL; return -1; }
        if (void_mem_read(pid, (uint64_t)(uintptr_t)h.msg_name, m->name, h.msg_namelen) != (ssize_t)h.msg_namelen) { errno = EFAULT; return -1; }
        m->namelen = h.msg_namelen;
    }
    if (h.msg_iovlen > 1024) { errno = EMSGSIZE; return -1; }
    struct iovec iov[h.msg_iovlen ? h.msg_iovlen : 1];
    if (h.msg_iovlen && void_mem_read(pid, (uint64_t)(uintptr_t)h.msg_iov, iov, h.msg_iovlen * sizeof(struct iovec))
                            != (ssize_t)(h.msg_iovlen * sizeof(struct iovec))) { errno = EFAULT; return -1; }
    size_t total = 0;
    for (size_t i = 0; i < h.msg_iovlen; i++) {
        if (iov[i].iov_len > cap - total) { m->truncated = 1; total = cap; break; }
        total += iov[i].iov_len;
    }
    m->data = malloc(total ? total : 1);
    if (!m->data) { errno = ENOMEM; return -1; }
    size_t at = 0;
    for (size_t i = 0; i < h.msg_iovlen && at < total; i++) {
        size_t len = iov[i].iov_len < total - at ? iov[i].iov_len : total - at;
        if (len && void_mem_read(pid, (uint64_t)(uintptr_t)iov[i].iov_base, m->data + at, len) != (ssize_t)len) {
            void_msg_free(m); errno = EFAULT; return -1;
        }
        at += len;
    }
    m->len = total;
    if (h.msg_control && h.msg_controllen > 0) {
        if (h.msg_controllen > sizeof m->control) { void_msg_free(m); errno = ENOBUFS; return -1; }
        if (void_mem_read(pid, (uint64_t)(uintptr_t)h.msg_control, m->control, h.msg_controllen) != (ssize_t)h.msg_controllen) {
            void_msg_free(m); errno = EFAULT; return -1;
        }
        m->controllen = h.msg_controllen;
        // Passed fds are the program's numbers: the supervisor's copies of them go instead.
        struct msghdr local = {.msg_control = m->control, .msg_controllen = m->controllen};
        for (struct cmsghdr *c = CMSG_FIRSTHDR(&local); c; c = CMSG_NXTHDR(&local, c)) {
            // Every header inside what was read (glibc checks only the one it returns next),
            // and nothing but passed fds: other control messages would be sent with the
            // supervisor's credentials (SCM_CREDENTIALS, SO_MARK, IP_PKTINFO).
            size_t at = (size_t)((uint8_t *)c - m->control);
            if (c->cmsg_len < CMSG_LEN(0) || c->cmsg_len > m->controllen - at) { void_msg_free(m); errno = EINVAL; return -1; }
            if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) { void_msg_free(m); errno = EOPNOTSUPP; return -1; }
            int n = (int)((c->cmsg_len - CMSG_LEN(0)) / sizeof(int));
            int *fds = (int *)CMSG_DATA(c);
            for (int k = 0; k < n; k++) {
                int own = void_pidfd_getfd(pidfd, fds[k]);
                if (own < 0 || m->nfds >= (int)(sizeof m->fds / sizeof m->fds[0])) {
                    if (own >= 0) close(own);
                    void_msg_free(m); errno = EBADF; return -1;
                }
                m->fds[m->nfds++] = own;
                fds[k] = own;
            }
        }
    }
    return 0;
}

ssize_t void_msg_send(int sock, const struct void_msg *m, const void *name, uint32_t namelen, int flags) {
    struct iovec iov = {.iov_base = m->data, .iov_len = m->len};
    struct msghdr h = {
        .msg_name = (void *)name, .msg_namelen = namelen, .msg_iov = &iov, .msg_iovlen = 1,
        .msg_control = m->controllen ? (void *)m->control : NULL, .msg_controllen = m->controllen,
    };
    return sendmsg(sock, &h, flags);
}

void void_msg_free(struct void_msg *m) {
    free(m->data);
    m->data = NULL;
    for (int k = 0; k < m->nfds; k++) close(m->fds[k]);
    m->nfds = 0;
}

// A connect the supervisor makes itself: `sock` (non-blocking), to `addr`. 0, or an errno
// (EINPROGRESS: poll for POLLOUT, then void_connect_result).
int void_connect(int sock, const void *addr, uint32_t len) {
    int r;
    do { r = connect(sock, (const struct sockaddr *)addr, len); } while (r < 0 && errno == EINTR);
    return r < 0 ? errno : 0;
}

int void_connect_result(int sock) {
    int err = 0;
    socklen_t l = sizeof err;
    if (getsockopt(sock, SOL_SOCKET, SO_ERROR, &err, &l) < 0) return errno;
    return err;
}

int void_sockopt_int(int sock, int level, int name) {
    int v = -1;
    socklen_t l = sizeof v;
    return getsockopt(sock, level, name, &v, &l) < 0 ? -1 : v;
}

// The filter of org.voidoci.connect, loaded by the child with a listener (VOID_DO_CONNECT_FILTER).
int void_load_listener_filter(const void *filter, uint16_t len) {
    struct sock_fprog prog = {.len = len, .filter = (struct sock_filter *)filter};
    return (int)syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, SECCOMP_FILTER_FLAG_NEW_LISTENER, &prog);
}

// The thread group of a thread (a notification names the calling thread): Tgid of
// /proc/TID/status, or -1.
int void_tgid(pid_t tid) {
    char path[64], buf[1024];
    snprintf(path, sizeof path, "/proc/%d/status", (int)tid);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return -1;
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n <= 0) return -1;
    buf[n] = 0;
    char *p = strstr(buf, "\nTgid:");
    return p ? (int)strtol(p + 6, NULL, 10) : -1;
}

// The connect supervisor, started as root, becomes the void's host ids with only
// CAP_SYS_PTRACE (to read the program's memory and take its fds), and no_new_privs: what it
// does for the program (connect to a unix path, socket options) is checked against the void's
// ids, not root's.
int void_become(uint32_t uid, uint32_t gid) {
    if (prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0) < 0) return -1;
    if (setgroups(0, NULL) < 0) return -1;
    if (syscall(SYS_setresgid, gid, gid, gid) < 0 || syscall(SYS_setresuid, uid, uid, uid) < 0) return -1;
    struct __user_cap_header_struct h = {.version = _LINUX_CAPABILITY_VERSION_3, .pid = 0};
    struct __user_cap_data_struct d[2];
    memset(d, 0, sizeof d);
    d[0].effective = d[0].permitted = 1u << CAP_SYS_PTRACE;
    if (syscall(SYS_capset, &h, d) < 0) return -1;
    for (int c = 0; c <= 63; c++) if (c != CAP_SYS_PTRACE) prctl(PR_CAPBSET_DROP, c, 0, 0, 0);
    return prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
}
