// Lists the functions of a static executable that one run of it executes, in the order they
// first run: a breakpoint (int3) on every function entry, each removed at its first hit.
// Follows the processes it clones (the void's init); stops following at execve.
//
// usage: trace-functions SYMBOLS OUT PROGRAM ARGS...
//   SYMBOLS: lines "ADDR NAME" (hex address of each function entry), e.g. from `nm`
//   OUT:     the functions hit, one "ADDR NAME" line each (hex address as in SYMBOLS), first
//            hit first
// Used by scripts/order/make-order.sh to produce the link order (scripts/order/voidoci.order).
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/user.h>
#include <sys/wait.h>
#include <unistd.h>

struct fn { uint64_t addr; char *name; };
static struct fn *fns;
static size_t nfns;
static uint8_t *hit;         // per function: recorded already
static FILE *out;

static int cmp(const void *a, const void *b) {
    uint64_t x = ((const struct fn *)a)->addr, y = ((const struct fn *)b)->addr;
    return x < y ? -1 : x > y;
}

static ssize_t find(uint64_t addr) {
    size_t lo = 0, hi = nfns;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (fns[mid].addr < addr) lo = mid + 1; else hi = mid;
    }
    return lo < nfns && fns[lo].addr == addr ? (ssize_t)lo : -1;
}

// Writes byte `b` at `addr` in `pid`, returning the byte that was there.
static int poke_byte(pid_t pid, uint64_t addr, uint8_t b, uint8_t *old) {
    uint64_t word_addr = addr & ~7ULL;
    errno = 0;
    long w = ptrace(PTRACE_PEEKTEXT, pid, (void *)word_addr, 0);
    if (errno) return -1;
    unsigned shift = (unsigned)(addr - word_addr) * 8;
    if (old) *old = (uint8_t)(w >> shift);
    w = (long)(((uint64_t)w & ~(0xffULL << shift)) | ((uint64_t)b << shift));
    return ptrace(PTRACE_POKETEXT, pid, (void *)word_addr, (void *)w) < 0 ? -1 : 0;
}

static uint8_t *orig;        // original first byte of each function

static size_t hits;

// A SIGTRAP stop at one of our breakpoints: record the function, put its original byte back in
// this process (a clone has its own copy) and step back onto it.
static void breakpoint(pid_t p) {
    struct user_regs_struct r;
    ptrace(PTRACE_GETREGS, p, 0, &r);
    ssize_t i = find(r.rip - 1);
    if (i < 0) return;
    poke_byte(p, fns[i].addr, orig[i], NULL);
    r.rip -= 1;
    ptrace(PTRACE_SETREGS, p, 0, &r);
    if (!hit[i]) { hit[i] = 1; hits++; fprintf(out, "%llx %s\n", (unsigned long long)fns[i].addr, fns[i].name); }
}

// The processes still traced (with breakpoints in their memory), besides the first.
static pid_t live[64];
static int nlive;
static void track(pid_t p) {
    for (int i = 0; i < nlive; i++) if (live[i] == p) return;
    if (nlive < 64) live[nlive++] = p;
}
static void untrack(pid_t p) {
    for (int i = 0; i < nlive; i++) if (live[i] == p) { live[i] = live[--nlive]; return; }
}

// When the traced program exits, what it cloned may live on (a created void's init waits for
// `start`): stop each, put every original byte back, and let it go untraced.
static void release_all(void) {
    for (int i = 0; i < nlive; i++) {
        pid_t p = live[i];
        int st;
        kill(p, SIGSTOP);
        while (waitpid(p, &st, __WALL) == p) {
            if (WIFEXITED(st) || WIFSIGNALED(st)) goto next;
            if (WIFSTOPPED(st) && WSTOPSIG(st) == SIGSTOP && (st >> 16) == 0) break;
            if (WIFSTOPPED(st) && WSTOPSIG(st) == SIGTRAP && (st >> 16) == 0) breakpoint(p);
            ptrace(PTRACE_CONT, p, 0, 0);
        }
        for (size_t k = 0; k < nfns; k++) poke_byte(p, fns[k].addr, orig[k], NULL);
        ptrace(PTRACE_DETACH, p, 0, 0);
    next:;
    }
    nlive = 0;
}

int main(int argc, char **argv) {
    if (argc < 4) { fprintf(stderr, "usage: trace-functions SYMBOLS OUT PROGRAM ARGS...\n"); return 2; }
    FILE *sf = fopen(argv[1], "r");
    if (!sf) { perror(argv[1]); return 2; }
    size_t cap = 1 << 16;
    fns = malloc(cap * sizeof *fns);
    char line[8192];
    while (fgets(line, sizeof line, sf)) {
        char *sp = strchr(line, ' ');
        if (!sp) continue;
        *sp = 0;
        char *name = sp + 1;
        name[strcspn(name, "\n")] = 0;
        if (nfns == cap) fns = realloc(fns, (cap *= 2) * sizeof *fns);
        fns[nfns].addr = strtoull(line, 0, 16);
        fns[nfns].name = strdup(name);
        nfns++;
    }
    fclose(sf);
    qsort(fns, nfns, sizeof *fns, cmp);
    // One breakpoint per address (aliases share an entry).
    size_t k = 0;
    for (size_t i = 0; i < nfns; i++) if (k == 0 || fns[i].addr != fns[k - 1].addr) fns[k++] = fns[i];
    nfns = k;
    hit = calloc(nfns, 1);
    orig = calloc(nfns, 1);
    out = fopen(argv[2], "w");
    if (!out) { perror(argv[2]); return 2; }

    pid_t pid = fork();
    if (pid == 0) {
        ptrace(PTRACE_TRACEME, 0, 0, 0);
        execv(argv[3], argv + 3);
        _exit(127);
    }
    int st;
    if (waitpid(pid, &st, 0) < 0 || !WIFSTOPPED(st)) { fprintf(stderr, "trace-functions: %s did not start\n", argv[3]); return 2; }
    ptrace(PTRACE_SETOPTIONS, pid, 0, PTRACE_O_TRACECLONE | PTRACE_O_TRACEFORK |
           PTRACE_O_TRACEVFORK | PTRACE_O_TRACEEXEC);
    size_t armed = 0;
    for (size_t i = 0; i < nfns; i++) {
        if (poke_byte(pid, fns[i].addr, 0xcc, &orig[i]) == 0) armed++;
    }
    fprintf(stderr, "trace-functions: %zu breakpoints\n", armed);
    ptrace(PTRACE_CONT, pid, 0, 0);

    // Pids whose memory still holds breakpoints (the first process and what it cloned before
    // an execve). A process that execs has new memory: it is then just let go.
    int status = 0;
    for (;;) {
        pid_t p = waitpid(-1, &st, __WALL);
        if (p < 0) break;
        if (WIFEXITED(st) || WIFSIGNALED(st)) {
            untrack(p);
            if (p == pid) {
                status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
                release_all();   // e.g. a created void's init, waiting for `start`
                break;
            }
            continue;
        }
        track(p);
        if (!WIFSTOPPED(st)) continue;
        int sig = WSTOPSIG(st), event = st >> 16;
        if (event == PTRACE_EVENT_EXEC) { untrack(p); ptrace(PTRACE_DETACH, p, 0, 0); continue; }
        if (event) { ptrace(PTRACE_CONT, p, 0, 0); continue; }   // clone/fork: the new one stops on its own
        if (sig == SIGTRAP) {
            breakpoint(p);
            ptrace(PTRACE_CONT, p, 0, 0);
            continue;
        }
        if (sig == SIGSTOP) { ptrace(PTRACE_CONT, p, 0, 0); continue; }  // a new clone's first stop
        ptrace(PTRACE_CONT, p, 0, sig);
    }
    fclose(out);
    fprintf(stderr, "trace-functions: %zu functions ran; exit status %d\n", hits, status);
    return status;
}
