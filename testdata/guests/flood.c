/* flood.c: writes a CGI header block, then 64 KiB chunks of 'x' to stdout
 * forever. It stops (exit 1) only when a write to stdout fails, e.g. because
 * the host closed or capped stdout; otherwise the host has to stop it. */
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
    if (write_all(hdr, sizeof hdr - 1) != 0)
        return 1;
    memset(chunk, 'x', sizeof chunk);
    for (;;) {
        if (write_all(chunk, sizeof chunk) != 0)
            return 1;
    }
}
