/* nul.c: a header value containing a NUL byte:
 *   "Content-Type: text/plain\nX-Nul: a\0b\n\nbody\n"
 * A host must not pass the NUL through into an HTTP header. */
#include <unistd.h>

int main(void) {
    static const char out[] = "Content-Type: text/plain\nX-Nul: a\0b\n\nbody\n";
    const char *p = out;
    size_t n = sizeof out - 1; /* not strlen: the NUL is part of the output */
    while (n > 0) {
        ssize_t w = write(1, p, n);
        if (w <= 0)
            return 1;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}
