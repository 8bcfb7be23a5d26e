/* env.c: the oracle guest. Prints a text/plain response whose body is
 *   env-KEY=VALUE        one line per environ entry, in environ order
 *   argv-I=VALUE         one line per argv entry, I from 0
 *   stdin=CONTENT        the whole of stdin, as read, followed by "\n"
 *   stdin-len=N          number of stdin bytes read
 * ("env-KEY=value" is the format Go's net/http/cgi tests use.) */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

extern char **environ;

int main(int argc, char **argv) {
    size_t cap = 4096, len = 0;
    char *in = malloc(cap);
    if (in == NULL)
        return 1;
    for (;;) {
        if (len == cap) {
            cap *= 2;
            char *p = realloc(in, cap);
            if (p == NULL)
                return 1;
            in = p;
        }
        ssize_t r = read(0, in + len, cap - len);
        if (r <= 0)
            break;
        len += (size_t)r;
    }

    fputs("Content-Type: text/plain\n\n", stdout);
    for (char **e = environ; e != NULL && *e != NULL; e++)
        printf("env-%s\n", *e);
    for (int i = 0; i < argc; i++)
        printf("argv-%d=%s\n", i, argv[i]);
    fputs("stdin=", stdout);
    fwrite(in, 1, len, stdout);
    printf("\nstdin-len=%zu\n", len);
    return 0;
}
