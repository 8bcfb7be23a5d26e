/* sleep.c: sleeps SLEEP_MS milliseconds (env var, default 5000) using
 * nanosleep (WASI poll_oneoff with a clock subscription), then prints
 *   "Content-Type: text/plain\n\nslept N ms\n". */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

int main(void) {
    long ms = 5000;
    const char *s = getenv("SLEEP_MS");
    if (s != NULL && *s != '\0')
        ms = strtol(s, NULL, 10);
    if (ms < 0)
        ms = 0;
    struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L };
    while (nanosleep(&ts, &ts) != 0) {
        /* interrupted: continue with the remaining time */
    }
    printf("Content-Type: text/plain\n\nslept %ld ms\n", ms);
    return 0;
}
