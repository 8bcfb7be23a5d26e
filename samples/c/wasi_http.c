/* wasi_http.c: the convenience layer of wasi_http.h. */
#include "wasi_http.h"

#include <stdlib.h>
#include <string.h>

uint32_t wasi_http_request(const char *method, const char *url, const char *headers,
                           const void *body, size_t body_len, wasi_http_response *resp) {
    if (headers == NULL)
        headers = "";
    return wasi_http_req(url, strlen(url), method, strlen(method), headers, strlen(headers),
                         body, body_len, &resp->status, &resp->handle);
}

uint32_t wasi_http_header(const wasi_http_response *resp, const char *name, char *buf, size_t buf_len) {
    size_t n = 0;
    if (buf_len == 0)
        return WASI_HTTP_BUFFER_TOO_SMALL;
    uint32_t rc = wasi_http_header_get(resp->handle, name, strlen(name), buf, buf_len - 1, &n);
    if (rc != WASI_HTTP_SUCCESS)
        return rc;
    buf[n] = '\0';
    return WASI_HTTP_SUCCESS;
}

uint32_t wasi_http_read_all(const wasi_http_response *resp, char **out, size_t *len) {
    size_t cap = 4096, used = 0;
    char *buf = malloc(cap + 1);
    if (buf == NULL)
        return WASI_HTTP_RUNTIME_ERROR;
    for (;;) {
        if (cap - used < 4096) {
            char *more = realloc(buf, cap * 2 + 1);
            if (more == NULL) {
                free(buf);
                return WASI_HTTP_RUNTIME_ERROR;
            }
            buf = more;
            cap *= 2;
        }
        size_t n = 0;
        uint32_t rc = wasi_http_body_read(resp->handle, buf + used, cap - used, &n);
        if (rc != WASI_HTTP_SUCCESS) {
            free(buf);
            return rc;
        }
        if (n == 0)
            break;
        used += n;
    }
    buf[used] = '\0';
    *out = buf;
    *len = used;
    return WASI_HTTP_SUCCESS;
}

const char *wasi_http_strerror(uint32_t code) {
    static const char *names[] = {
        "success", "invalid handle", "memory not found", "memory access error",
        "buffer too small", "header not found", "invalid utf-8", "destination not allowed",
        "invalid method", "invalid encoding", "invalid url", "request error",
        "runtime error", "too many sessions",
    };
    if (code < sizeof names / sizeof names[0])
        return names[code];
    return "unknown error";
}
