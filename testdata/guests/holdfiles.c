/* holdfiles.c: takes resources, then ends in a chosen way (issue 9).
 *
 * Opens FILES files (env var, default 100) by opening HOLD_PATH (env var,
 * default /data/hello.txt) again and again, keeping each descriptor, and
 * touches MIB MiB of memory (env var, default 16). Then, by QUERY_STRING
 * (or argv[1] when given):
 *   sleep  sleeps 60 s (nanosleep: poll_oneoff on a clock)
 *   read   reads stdin to EOF, then answers
 *   write  writes a header block, then 64 KiB chunks forever; exits 1 when
 *          a write fails
 *   loop   spins forever
 *   trap   __builtin_trap (unreachable)
 *   exit3  exit(3)
 *   links  tries the link trick of issue 9 in /data: "A -> ." then
 *          "L -> A/A/A/A/A/A/../../../../../..", answering one line
 *          "symlink NAME: ok" or "symlink NAME: denied (strerror)" each
 *   other  answers "opened N errno E\n": N files opened, E the errno of the
 *          first open that failed (0 when none did)
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static long envnum(const char *name, long def) {
    const char *s = getenv(name);
    return s != NULL && *s != '\0' ? strtol(s, NULL, 10) : def;
}

int main(int argc, char **argv) {
    long files = envnum("FILES", 100), mib = envnum("MIB", 16);
    const char *path = getenv("HOLD_PATH");
    if (path == NULL || *path == '\0')
        path = "/data/hello.txt";
    long opened = 0;
    int firsterr = 0;
    for (long i = 0; i < files; i++) {
        int fd = open(path, O_RDONLY);
        if (fd < 0) {
            if (firsterr == 0)
                firsterr = errno;
            continue;
        }
        opened++;
    }
    volatile char *mem = malloc(mib << 20);
    if (mem != NULL)
        for (long i = 0; i < mib << 20; i += 4096)
            mem[i] = 1;

    const char *mode = argc > 1 ? argv[1] : getenv("QUERY_STRING");
    if (mode == NULL)
        mode = "";
    if (strcmp(mode, "sleep") == 0) {
        struct timespec ts = { .tv_sec = 60 };
        nanosleep(&ts, NULL);
    } else if (strcmp(mode, "read") == 0) {
        char buf[4096];
        long n = 0;
        ssize_t r;
        while ((r = read(0, buf, sizeof buf)) > 0)
            n += r;
        printf("Content-Type: text/plain\n\nread %ld\n", n);
        return 0;
    } else if (strcmp(mode, "write") == 0) {
        static char chunk[65536];
        memset(chunk, 'x', sizeof chunk);
        const char *hdr = "Content-Type: text/plain\n\n";
        if (write(1, hdr, strlen(hdr)) < 0)
            return 1;
        for (;;)
            if (write(1, chunk, sizeof chunk) < 0)
                return 1;
    } else if (strcmp(mode, "loop") == 0) {
        for (volatile int i = 0;; i++)
            ;
    } else if (strcmp(mode, "trap") == 0) {
        __builtin_trap();
    } else if (strcmp(mode, "exit3") == 0) {
        exit(3);
    } else if (strcmp(mode, "links") == 0) {
        static const char *links[][2] = {
            { ".", "/data/A" },
            { "A/A/A/A/A/A/../../../../../..", "/data/L" },
        };
        printf("Content-Type: text/plain\n\n");
        for (int i = 0; i < 2; i++) {
            if (symlink(links[i][0], links[i][1]) == 0)
                printf("symlink %s: ok\n", links[i][1]);
            else
                printf("symlink %s: denied (%s)\n", links[i][1], strerror(errno));
        }
        return 0;
    }
    printf("Content-Type: text/plain\n\nopened %ld errno %d\n", opened, firsterr);
    return 0;
}
