/* stderrflood.c: floods stderr, then answers 200 text/plain "ok\n".
 * QUERY_STRING chooses the flood:
 *   newlines   8 MiB of bare "\n" (one write per 64 KiB)
 *   crlf       1 MiB of "\r\n"
 *   lines      5000 lines "line N\n"
 *   (other)    nothing */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void repeat(const char *unit, size_t unit_len, size_t total) {
    static char buf[64 << 10];
    size_t n = sizeof buf / unit_len * unit_len;
    for (size_t i = 0; i < n; i += unit_len)
        memcpy(buf + i, unit, unit_len);
    for (size_t done = 0; done < total; done += n)
        if (write(2, buf, n) < 0)
            return;
}

int main(void) {
    const char *q = getenv("QUERY_STRING");
    if (q == NULL)
        q = "";
    if (strcmp(q, "newlines") == 0) {
        repeat("\n", 1, 8 << 20);
    } else if (strcmp(q, "crlf") == 0) {
        repeat("\r\n", 2, 1 << 20);
    } else if (strcmp(q, "lines") == 0) {
        for (int i = 1; i <= 5000; i++)
            fprintf(stderr, "line %d\n", i);
    }
    fputs("Content-Type: text/plain\n\nok\n", stdout);
    return 0;
}
