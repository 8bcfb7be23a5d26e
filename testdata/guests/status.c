/* status.c: header-parsing cases, chosen by QUERY_STRING:
 *   teapot     Status: 418 I'm a teapot + Content-Type, body "teapot\n"
 *   redirect   Location: https://example.com/x (client redirect, no body)
 *   local      Location: /hello (local redirect, RFC 3875 6.2.2)
 *   loop       Location: $SCRIPT_NAME?loop (a local redirect loop)
 *   cookies    two Set-Cookie lines + Content-Type, body "cookies\n"
 *   nostatus   X-Foo: bar, body "body" (no Content-Type/Location/Status:
 *              not a valid CGI response)
 *   badstatus  Status: abc (malformed status)
 *   badname    "Bad Name: x" (space in a header name) + Content-Type
 *   crlf       a valid response with CRLF line endings, body "body"
 *   stderr     writes "something to stderr\n" to stderr, then a normal
 *              response with body "ok\n"
 *   (other)    Content-Type: text/plain, body "ok\n" */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(void) {
    const char *q = getenv("QUERY_STRING");
    if (q == NULL)
        q = "";

    if (strcmp(q, "teapot") == 0) {
        fputs("Status: 418 I'm a teapot\nContent-Type: text/plain\n\nteapot\n", stdout);
    } else if (strcmp(q, "redirect") == 0) {
        fputs("Location: https://example.com/x\n\n", stdout);
    } else if (strcmp(q, "local") == 0) {
        fputs("Location: /hello\n\n", stdout);
    } else if (strcmp(q, "loop") == 0) {
        const char *sn = getenv("SCRIPT_NAME");
        printf("Location: %s?loop\n\n", sn != NULL ? sn : "");
    } else if (strcmp(q, "cookies") == 0) {
        fputs("Content-Type: text/plain\n"
              "Set-Cookie: a=1; Path=/\n"
              "Set-Cookie: b=2; Path=/\n"
              "\ncookies\n", stdout);
    } else if (strcmp(q, "nostatus") == 0) {
        fputs("X-Foo: bar\n\nbody", stdout);
    } else if (strcmp(q, "badstatus") == 0) {
        fputs("Status: abc\n\n", stdout);
    } else if (strcmp(q, "badname") == 0) {
        fputs("Bad Name: x\nContent-Type: text/plain\n\n", stdout);
    } else if (strcmp(q, "crlf") == 0) {
        fputs("Content-Type: text/plain\r\nX-A: b\r\n\r\nbody", stdout);
    } else if (strcmp(q, "stderr") == 0) {
        fputs("something to stderr\n", stderr);
        fflush(stderr);
        fputs("Content-Type: text/plain\n\nok\n", stdout);
    } else {
        fputs("Content-Type: text/plain\n\nok\n", stdout);
    }
    return 0;
}
