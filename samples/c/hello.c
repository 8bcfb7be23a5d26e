/*
 * hello.c - the smallest useful CGI program, in C, compiled to WASI.
 *
 * A CGI response is just text on stdout: header lines, one blank line,
 * then the body. The request arrives as environment variables (here
 * QUERY_STRING) and, for requests with a body, on stdin.
 *
 * Build: see build.sh (clang --target=wasm32-wasi).
 */
#include <stdio.h>
#include <stdlib.h>

int main(void) {
    /* QUERY_STRING is always set by a CGI server, but may be empty;
       guard against NULL anyway so the program also runs standalone. */
    const char *qs = getenv("QUERY_STRING");
    if (qs == NULL)
        qs = "";

    printf("Content-Type: text/plain; charset=utf-8\n");
    printf("\n"); /* end of the header block */
    printf("Hello from C, compiled to WASI\n");
    printf("QUERY_STRING=%s\n", qs);
    return 0;
}
