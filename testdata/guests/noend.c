/* noend.c: writes "X-N: 1\n" header lines forever and never the blank line
 * that ends a CGI header block. Stops (exit 1) only when a write fails. */
#include <string.h>
#include <unistd.h>

static char chunk[7 * 4096];

int main(void) {
    for (size_t i = 0; i < sizeof chunk; i += 7)
        memcpy(chunk + i, "X-N: 1\n", 7);
    for (;;) {
        const char *p = chunk;
        size_t n = sizeof chunk;
        while (n > 0) {
            ssize_t w = write(1, p, n);
            if (w <= 0)
                return 1;
            p += w;
            n -= (size_t)w;
        }
    }
}
