/* outbound.c: calls the wasi_experimental_http host functions (issue 16)
 * through samples/c/wasi_http.c, as the environment says:
 *   URL (required), METHOD (GET), HEADERS ("name:value\n" lines), BODY,
 *   COUNT (requests to make, 1), GET_HEADER (a response header to print),
 *   KEEP=1 (neither read the bodies nor close: the host must clean up).
 * Body lines, per request I:
 *   req I: rc=RC (NAME) status=S
 *   header NAME: VALUE | header NAME: rc=RC
 *   h name:value         (each line of headers_get_all)
 *   body rc=RC bytes=N
 *   body=TEXT            (the first 256 bytes when rc=0)
 *   close rc=RC
 * It always answers 200. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../samples/c/wasi_http.c"

static char big[64 * 1024];

static const char *env(const char *name, const char *def) {
    const char *v = getenv(name);
    return v ? v : def;
}

int main(void) {
    const char *url = env("URL", "");
    const char *method = env("METHOD", "GET");
    const char *headers = env("HEADERS", "");
    const char *body = env("BODY", "");
    const char *want = env("GET_HEADER", "");
    int count = atoi(env("COUNT", "1"));
    int keep = atoi(env("KEEP", "0"));
    printf("Content-Type: text/plain\n\n");
    for (int i = 1; i <= count; i++) {
        wasi_http_response resp = {0};
        uint32_t rc = wasi_http_request(method, url, headers, body, strlen(body), &resp);
        printf("req %d: rc=%u (%s) status=%u\n", i, rc, wasi_http_strerror(rc), resp.status);
        if (rc != WASI_HTTP_SUCCESS)
            continue;
        if (*want) {
            char v[256];
            uint32_t hr = wasi_http_header(&resp, want, v, sizeof v);
            if (hr == WASI_HTTP_SUCCESS)
                printf("header %s: %s\n", want, v);
            else
                printf("header %s: rc=%u\n", want, hr);
        }
        size_t n = 0;
        if (wasi_http_headers_get_all(resp.handle, big, sizeof big - 1, &n) == WASI_HTTP_SUCCESS) {
            big[n] = '\0';
            for (char *line = strtok(big, "\n"); line; line = strtok(NULL, "\n"))
                printf("h %s\n", line);
        }
        if (keep)
            continue;
        size_t total = 0, shown = 0;
        char first[257];
        uint32_t br;
        for (;;) {
            n = 0;
            br = wasi_http_body_read(resp.handle, big, sizeof big, &n);
            if (br != WASI_HTTP_SUCCESS || n == 0)
                break;
            if (shown < 256) {
                size_t k = n < 256 - shown ? n : 256 - shown;
                memcpy(first + shown, big, k);
                shown += k;
            }
            total += n;
        }
        first[shown] = '\0';
        printf("body rc=%u bytes=%zu\n", br, total);
        if (br == WASI_HTTP_SUCCESS)
            printf("body=%s\n", first);
        printf("close rc=%u\n", wasi_http_close(resp.handle));
    }
    return 0;
}
