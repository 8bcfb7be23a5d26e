/* slowbody.c: writes a header block, then "line 1\n" .. "line 5\n" with a
 * 200 ms sleep before each line after the first, flushing stdout after the
 * headers and after every line, so a streaming host delivers the lines as
 * they are produced (about 800 ms in total). */
#include <stdio.h>
#include <time.h>

int main(void) {
    fputs("Content-Type: text/plain\n\n", stdout);
    fflush(stdout);
    for (int i = 1; i <= 5; i++) {
        if (i > 1) {
            struct timespec ts = { .tv_sec = 0, .tv_nsec = 200 * 1000000L };
            nanosleep(&ts, NULL);
        }
        printf("line %d\n", i);
        if (fflush(stdout) != 0)
            return 1;
    }
    return 0;
}
