// reactor: a reactor (built with -mexec-model=reactor) whose _initialize
// sets up state, for snapshot isolation tests (issue 12). The constructor
// sets a counter to 0, seeds a PRNG and fills a 1 MiB table; the entry
// `serve` prints, as CGI, counter++ (1 in every fresh instance), a number
// from getentropy (random_get, per request), a number from the PRNG the
// init seeded (frozen into a snapshot, by design), the realtime clock in
// nanoseconds, and the environment (read lazily, see serve).
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>
#include <wasi/libc-environ.h>

static int counter = -1;
static uint64_t prng;
static uint32_t table[256 * 1024];
static int fd_leak = -1;

__attribute__((constructor)) static void init(void) {
    counter = 0;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    prng = (uint64_t)ts.tv_nsec * 6364136223846793005ULL + 1442695040888963407ULL;
    for (unsigned i = 0; i < sizeof table / sizeof table[0]; i++)
        table[i] = i * 2654435761u;
    (void)fd_leak;
}

static uint64_t next(void) {
    prng = prng * 6364136223846793005ULL + 1442695040888963407ULL;
    return prng >> 11;
}

__attribute__((export_name("serve"))) void serve(void) {
    uint64_t r = 0;
    if (getentropy(&r, sizeof r) != 0)
        r = 0;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    uint64_t sum = 0;
    for (unsigned i = 0; i < sizeof table / sizeof table[0]; i += 4096)
        sum += table[i];
    counter++;
    printf("Content-Type: text/plain\n\n");
    printf("counter=%d\n", counter);
    printf("random=%llu\n", (unsigned long long)r);
    printf("prng=%llu\n", (unsigned long long)next());
    printf("time=%lld\n", (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec);
    printf("table=%llu\n", (unsigned long long)sum);
    // Not `environ`: using it makes wasi-libc read the environment in a
    // constructor, during _initialize, which refuses the snapshot.
    for (char **e = __wasilibc_get_environ(); e && *e; e++)
        printf("env-%s\n", *e);
    fflush(stdout);
}
