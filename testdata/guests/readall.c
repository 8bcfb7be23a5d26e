/* readall.c: reads stdin to EOF and prints
 *   "Content-Type: text/plain\n\nread N bytes\n".
 * Exits 1 (after printing what it read so far) if a read fails. */
#include <stdio.h>
#include <unistd.h>

static char buf[64 * 1024];

int main(void) {
    unsigned long long total = 0;
    int status = 0;
    for (;;) {
        ssize_t r = read(0, buf, sizeof buf);
        if (r == 0)
            break;
        if (r < 0) {
            status = 1;
            break;
        }
        total += (unsigned long long)r;
    }
    printf("Content-Type: text/plain\n\nread %llu bytes\n", total);
    return status;
}
