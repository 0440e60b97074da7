// cp's argument parsing, alone: bundles/cp/cp.sh runs it in a void that is granted nothing (no
// file, no /proc, no network), so whatever the user's arguments hold, they are parsed where they
// can touch nothing. Usage as cp's: cp-args [-n] [-v] [--] SRC DST. It prints the decision, one
// field per line, for cp.sh to carry out: the mode (`copy`, or `no-clobber` for -n), `verbose`
// or `quiet`, SRC, DST. Exit 2, with the reason on stderr, for anything it does not accept.
#include <stdio.h>
#include <string.h>

static int bad(const char *why, const char *what) {
    fprintf(stderr, "cp: %s%s%s\nusage: cp [-n] [-v] [--] SRC DST\n", why, what ? ": " : "", what ? what : "");
    return 2;
}

int main(int argc, char **argv) {
    int noclobber = 0, verbose = 0, i = 1;
    for (; i < argc && argv[i][0] == '-' && argv[i][1] != '\0'; i++) {
        if (strcmp(argv[i], "--") == 0) { i++; break; }
        for (const char *o = argv[i] + 1; *o; o++) {
            if (*o == 'n') noclobber = 1;
            else if (*o == 'v') verbose = 1;
            else return bad("unknown option", argv[i]);
        }
    }
    if (argc - i != 2) return bad(argc - i < 2 ? "missing operand" : "too many operands", NULL);
    for (int k = i; k < argc; k++) {
        if (argv[k][0] == '\0') return bad("empty operand", NULL);
        if (strchr(argv[k], '\n')) return bad("an operand holds a newline", NULL);
    }
    printf("%s\n%s\n%s\n%s\n", noclobber ? "no-clobber" : "copy", verbose ? "verbose" : "quiet", argv[i], argv[i + 1]);
    return fflush(stdout) == 0 ? 0 : 1;
}
