/* big.c: writes a CGI header block, then N bytes of 'x' in 64 KiB writes,
 * N from QUERY_STRING (default 64 MiB), and exits 0. Exits 1 as soon as a
 * stdout write fails. For a client that stops reading a large response. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char chunk[64 * 1024];

static int write_all(const char *p, size_t n) {
    while (n > 0) {
        ssize_t w = write(1, p, n);
        if (w <= 0)
            return -1;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

int main(void) {
    static const char hdr[] = "Content-Type: text/plain\n\n";
    long long n = 64LL << 20;
    const char *q = getenv("QUERY_STRING");
    if (q != NULL && *q != '\0')
        n = strtoll(q, NULL, 10);
    if (write_all(hdr, sizeof hdr - 1) != 0)
        return 1;
    memset(chunk, 'x', sizeof chunk);
    while (n > 0) {
        size_t k = n < (long long)sizeof chunk ? (size_t)n : sizeof chunk;
        if (write_all(chunk, k) != 0)
            return 1;
        n -= (long long)k;
    }
    return 0;
}
