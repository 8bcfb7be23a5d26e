/* spin.c: a tight compute loop, for the deadline tests and benchmarks
 * (issue 13). Runs SPIN_N iterations (env var, default 300000000) of a
 * linear congruential step that the compiler cannot fold away, then prints
 * body "x=N\n". With a large SPIN_N it runs for minutes: only a deadline
 * stops it, at a loop back-edge. */
#include <stdio.h>
#include <stdlib.h>

int main(void) {
    const char *s = getenv("SPIN_N");
    unsigned long long n = s ? strtoull(s, NULL, 10) : 300000000ULL;
    unsigned x = 1;
    for (unsigned long long i = 0; i < n; i++) {
        x = x * 1103515245u + 12345u;
    }
    printf("Content-Type: text/plain\n\nx=%u\n", x);
    return 0;
}
