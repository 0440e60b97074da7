// A socket-activated echo server, as systemd starts one (sd_listen_fds(3)): it takes its
// listening sockets from fds 3.. when LISTEN_PID is its own pid, and answers each line of a
// stream connection, or each datagram, with what it got and what it was given:
//   "<name> fds=<LISTEN_FDS> pid=<LISTEN_PID>: <line>"
// Serves N messages (argv[1], default: forever; a connection passed as fd 3 is served once),
// then exits 0. No library beyond libc, so it
// runs in a void that holds nothing else (gcc -static -O2 -o activated-echo activated-echo.c).
#define _GNU_SOURCE
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define MAXFDS 16

int main(int argc, char **argv) {
    long left = argc > 1 ? strtol(argv[1], NULL, 10) : -1;
    const char *pid = getenv("LISTEN_PID"), *fds = getenv("LISTEN_FDS"), *names = getenv("LISTEN_FDNAMES");
    if (!pid || !fds || strtol(pid, NULL, 10) != (long)getpid()) {
        fprintf(stderr, "activated-echo: not socket-activated (LISTEN_PID=%s, pid %d)\n", pid ? pid : "", (int)getpid());
        return 2;
    }
    int n = (int)strtol(fds, NULL, 10);
    if (n < 1 || n > MAXFDS) { fprintf(stderr, "activated-echo: LISTEN_FDS=%s\n", fds); return 2; }
    char name[MAXFDS][256] = {{0}};
    for (int i = 0; i < n && names; i++) {
        const char *end = strchr(names, ':');
        size_t len = end ? (size_t)(end - names) : strlen(names);
        snprintf(name[i], sizeof name[i], "%.*s", (int)len, names);
        names = end ? end + 1 : NULL;
    }
    // Only the sockets among them (sd_is_socket): a preserved fd may be anything.
    struct pollfd p[MAXFDS];
    int type[MAXFDS], which[MAXFDS], k = 0;
    for (int i = 0; i < n; i++) {
        socklen_t tl = sizeof type[k];
        if (getsockopt(3 + i, SOL_SOCKET, SO_TYPE, &type[k], &tl) < 0) continue;
        p[k] = (struct pollfd){.fd = 3 + i, .events = POLLIN};
        which[k++] = i;
    }
    if (k == 0) { fprintf(stderr, "activated-echo: no socket among fds 3..%d\n", 2 + n); return 2; }
    while (left != 0) {
        if (poll(p, (nfds_t)k, -1) < 0) { if (errno == EINTR) continue; perror("poll"); return 1; }
        for (int j = 0; j < k && left != 0; j++) {
            if (!(p[j].revents & POLLIN)) continue;
            int i = which[j];
            char in[512], out[1024];
            if (type[j] == SOCK_DGRAM) {
                struct sockaddr_storage from;
                socklen_t fl = sizeof from;
                ssize_t got = recvfrom(p[j].fd, in, sizeof in - 1, 0, (struct sockaddr *)&from, &fl);
                if (got < 0) continue;
                in[got] = 0;
                int m = snprintf(out, sizeof out, "%s fds=%s pid=%s: %s", name[i], fds, pid, in);
                sendto(p[j].fd, out, (size_t)m, 0, (struct sockaddr *)&from, fl);
            } else {
                // A listening socket (org.voidoci.listen) is accepted on; a connected one (accept=fd,
                // systemd's Accept=yes) is the connection itself, served once.
                int listening = 0;
                socklen_t ll = sizeof listening;
                getsockopt(p[j].fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &ll);
                int c = listening ? accept4(p[j].fd, NULL, NULL, SOCK_CLOEXEC) : p[j].fd;
                if (c < 0) continue;
                if (!listening) p[j].fd = -1;
                ssize_t got = 0, r;
                while (got < (ssize_t)sizeof in - 1 && (r = read(c, in + got, sizeof in - 1 - (size_t)got)) > 0) {
                    got += r;
                    if (memchr(in, '\n', (size_t)got)) break;
                }
                in[got] = 0;
                int m = snprintf(out, sizeof out, "%s fds=%s pid=%s: %s", name[i], fds, pid, in);
                if (write(c, out, (size_t)m) < 0) perror("write");
                close(c);
            }
            if (left > 0) left--;
        }
    }
    return 0;
}
