/* bigheader.c: a header block with one 2 MiB header line:
 *   "Content-Type: text/plain\nX-Big: " + 2 MiB of 'a' + "\n\nbig\n"
 * The response is otherwise valid, so a host that accepts it has no header
 * size limit. Exits 1 if a write fails. */
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
    static const char start[] = "Content-Type: text/plain\nX-Big: ";
    static const char end[] = "\n\nbig\n";
    memset(chunk, 'a', sizeof chunk);
    if (write_all(start, sizeof start - 1) != 0)
        return 1;
    for (int i = 0; i < (2 * 1024 * 1024) / (int)sizeof chunk; i++)
        if (write_all(chunk, sizeof chunk) != 0)
            return 1;
    if (write_all(end, sizeof end - 1) != 0)
        return 1;
    return 0;
}
