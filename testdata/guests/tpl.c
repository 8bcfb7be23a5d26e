/* tpl.c: a command-style interpreter for a toy template language, to test
 * [[interpreter]] without Ruby. Run as `tpl SCRIPT [ARG...]` (argv[1] is the
 * script's path), it copies the script to stdout, replacing ${NAME} with
 * the environment variable NAME (empty when unset) and ${N} with argv[N].
 * A script therefore holds its own CGI header block. A script it cannot
 * open is an error: a message on stderr and exit 1. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(int argc, char **argv) {
    if (argc < 2) {
        fputs("usage: tpl SCRIPT [ARG...]\n", stderr);
        return 2;
    }
    FILE *f = fopen(argv[1], "r");
    if (f == NULL) {
        fprintf(stderr, "tpl: cannot open %s\n", argv[1]);
        return 1;
    }
    char name[256];
    int c;
    while ((c = getc(f)) != EOF) {
        if (c != '$') {
            putchar(c);
            continue;
        }
        int d = getc(f);
        if (d != '{') {
            putchar('$');
            if (d != EOF)
                ungetc(d, f);
            continue;
        }
        size_t n = 0;
        while ((d = getc(f)) != EOF && d != '}' && n < sizeof name - 1)
            name[n++] = (char)d;
        name[n] = 0;
        const char *v = NULL;
        if (n > 0 && isdigit((unsigned char)name[0])) {
            int i = atoi(name);
            if (i < argc)
                v = argv[i];
        } else {
            v = getenv(name);
        }
        if (v != NULL)
            fputs(v, stdout);
    }
    fclose(f);
    return 0;
}
