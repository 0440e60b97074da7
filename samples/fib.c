// F(0)..F(30), one per line, on stdout: the void-process work's first sample. It needs nothing
// but its stdout, so its void is granted nothing (bundles/fib).
#include <stdio.h>

int main(void) {
    unsigned long a = 0, b = 1;
    for (int i = 0; i <= 30; i++) {
        printf("%lu\n", a);
        unsigned long next = a + b;
        a = b;
        b = next;
    }
    return fflush(stdout) == 0 ? 0 : 1;
}
