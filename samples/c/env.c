/*
 * env.c - prints everything a CGI program receives from the host:
 * the environment (sorted, one KEY=value per line), the argument vector,
 * and the number of bytes of request body available on stdin.
 *
 * Useful to see exactly which CGI/1.1 meta-variables (RFC 3875) the
 * server sets, and how HTTP request headers become HTTP_* variables.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

extern char **environ;

/* qsort comparator for an array of C strings. */
static int cmpstr(const void *a, const void *b) {
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

int main(int argc, char **argv) {
    /* Copy the environ pointers so we can sort them without touching
       the real environment. */
    size_t n = 0;
    while (environ[n] != NULL)
        n++;
    char **vars = malloc((n + 1) * sizeof *vars);
    if (vars == NULL)
        return 1;
    memcpy(vars, environ, n * sizeof *vars);
    qsort(vars, n, sizeof *vars, cmpstr);

    printf("Content-Type: text/plain; charset=utf-8\n\n");
    for (size_t i = 0; i < n; i++)
        printf("%s\n", vars[i]);
    free(vars);

    for (int i = 0; i < argc; i++)
        printf("argv[%d]=%s\n", i, argv[i]);

    /* Drain stdin: the request body (if any). A CGI program should use
       CONTENT_LENGTH, but counting to EOF shows what the host delivered. */
    char buf[4096];
    size_t total = 0, got;
    while ((got = fread(buf, 1, sizeof buf, stdin)) > 0)
        total += got;
    printf("stdin-bytes=%zu\n", total);
    return 0;
}
