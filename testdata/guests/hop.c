/* hop.c: internal redirects. Sleeps SLEEP_MS milliseconds (env var,
 * default 0), then by QUERY_STRING:
 *   n=K (K > 0)  "Location: SCRIPT_NAME?n=K-1": a chain of K more hops
 *   to=PATH      "Location: PATH"
 *   otherwise    "Content-Type: text/plain\n\nhop done\n" */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

int main(void) {
    long ms = 0;
    const char *s = getenv("SLEEP_MS");
    if (s != NULL && *s != '\0')
        ms = strtol(s, NULL, 10);
    if (ms > 0) {
        struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L };
        while (nanosleep(&ts, &ts) != 0) {
        }
    }
    const char *q = getenv("QUERY_STRING");
    const char *name = getenv("SCRIPT_NAME");
    if (q == NULL)
        q = "";
    if (name == NULL)
        name = "/";
    if (strncmp(q, "n=", 2) == 0 && strtol(q + 2, NULL, 10) > 0) {
        printf("Location: %s?n=%ld\n\n", name, strtol(q + 2, NULL, 10) - 1);
        return 0;
    }
    if (strncmp(q, "to=", 3) == 0) {
        printf("Location: %s\n\n", q + 3);
        return 0;
    }
    printf("Content-Type: text/plain\n\nhop done\n");
    return 0;
}
