/* linger.c: writes a whole response with a Content-Length
 *   "Content-Type: text/plain\nContent-Length: 6\n\nhello\n",
 * flushes it, then keeps running for LINGER_MS milliseconds (env var,
 * default 1000) before exiting 0, as CPython does while it finalises after
 * a WSGI response (issue 14). A client that reads the 6 bytes and closes
 * got the whole response: the host must log a success. */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

int main(void) {
    long ms = 1000;
    const char *s = getenv("LINGER_MS");
    if (s != NULL && *s != '\0')
        ms = strtol(s, NULL, 10);
    fputs("Content-Type: text/plain\nContent-Length: 6\n\nhello\n", stdout);
    fflush(stdout);
    struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L };
    while (nanosleep(&ts, &ts) != 0) {
    }
    return 0;
}
