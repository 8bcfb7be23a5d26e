/* headers.c: response header blocks a guest should not send, chosen by
 * QUERY_STRING:
 *   hop        text/plain with every hop-by-hop field (Connection naming
 *              X-Private, Keep-Alive, Transfer-Encoding, TE, Trailer,
 *              Upgrade, Proxy-Authenticate, Proxy-Connection), X-Private,
 *              X-Request-Id: guest-id and X-Kept: yes; body "hop\n"
 *   cl-short   Content-Length: 100, body "short\n" (6 bytes)
 *   cl-long    Content-Length: 4, body "too long\n" (9 bytes)
 *   cl-none    Content-Length: 10, no body at all
 *   cl-right   Content-Length: 3, body "ok\n"
 *   (other)    text/plain, body "ok\n" */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(void) {
    const char *q = getenv("QUERY_STRING");
    if (q == NULL)
        q = "";
    if (strcmp(q, "hop") == 0) {
        fputs("Content-Type: text/plain\n"
              "Connection: close, X-Private\n"
              "X-Private: secret\n"
              "Keep-Alive: timeout=600\n"
              "Transfer-Encoding: chunked\n"
              "TE: trailers\n"
              "Trailer: X-T\n"
              "Upgrade: websocket\n"
              "Proxy-Authenticate: Basic\n"
              "Proxy-Connection: keep-alive\n"
              "X-Request-Id: guest-id\n"
              "X-Kept: yes\n"
              "\n"
              "hop\n",
              stdout);
    } else if (strcmp(q, "cl-short") == 0) {
        fputs("Content-Type: text/plain\nContent-Length: 100\n\nshort\n", stdout);
    } else if (strcmp(q, "cl-long") == 0) {
        fputs("Content-Type: text/plain\nContent-Length: 4\n\ntoo long\n", stdout);
    } else if (strcmp(q, "cl-none") == 0) {
        fputs("Content-Type: text/plain\nContent-Length: 10\n\n", stdout);
    } else if (strcmp(q, "cl-right") == 0) {
        fputs("Content-Type: text/plain\nContent-Length: 3\n\nok\n", stdout);
    } else {
        fputs("Content-Type: text/plain\n\nok\n", stdout);
    }
    return 0;
}
