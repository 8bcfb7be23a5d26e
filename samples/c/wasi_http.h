/* wasi_http.h: outbound HTTP for C guests of wasigate (and of WAGI), over
 * the wasi_experimental_http host functions (issue 16). The ABI is the one
 * deislabs/wasi-experimental-http publishes (witx/wasi_experimental_http.witx):
 * pointers and lengths are 32-bit, results come back through pointers, and
 * every function returns one of the WASI_HTTP_* codes below.
 *
 * Headers travel as "name:value" lines, each ending in "\n".
 * Build: clang --target=wasm32-wasi -O2 app.c wasi_http.c -o app.wasm */
#ifndef WASI_HTTP_H
#define WASI_HTTP_H

#include <stddef.h>
#include <stdint.h>

/* http_error, in the witx enum's order. */
enum {
    WASI_HTTP_SUCCESS = 0,
    WASI_HTTP_INVALID_HANDLE = 1,
    WASI_HTTP_MEMORY_NOT_FOUND = 2,
    WASI_HTTP_MEMORY_ACCESS_ERROR = 3,
    WASI_HTTP_BUFFER_TOO_SMALL = 4,
    WASI_HTTP_HEADER_NOT_FOUND = 5,
    WASI_HTTP_UTF8_ERROR = 6,
    WASI_HTTP_DESTINATION_NOT_ALLOWED = 7, /* not in allowed_hosts, a private address, a redirect elsewhere */
    WASI_HTTP_INVALID_METHOD = 8,
    WASI_HTTP_INVALID_ENCODING = 9, /* a header line that is not name:value */
    WASI_HTTP_INVALID_URL = 10,
    WASI_HTTP_REQUEST_ERROR = 11,   /* the upstream failed or timed out */
    WASI_HTTP_RUNTIME_ERROR = 12,   /* wasigate: the response body is over the cap */
    WASI_HTTP_TOO_MANY_SESSIONS = 13 /* wasigate: over the requests per run, or the tenant's concurrency */
};

typedef uint32_t wasi_http_handle;

/* The raw host functions. */
#define WASI_HTTP_IMPORT(name) \
    __attribute__((import_module("wasi_experimental_http"), import_name(name)))

WASI_HTTP_IMPORT("req")
uint32_t wasi_http_req(const char *url, size_t url_len, const char *method, size_t method_len,
                       const char *headers, size_t headers_len, const void *body, size_t body_len,
                       uint16_t *status, wasi_http_handle *handle);
WASI_HTTP_IMPORT("close")
uint32_t wasi_http_close(wasi_http_handle handle);
WASI_HTTP_IMPORT("header_get")
uint32_t wasi_http_header_get(wasi_http_handle handle, const char *name, size_t name_len,
                              char *value, size_t value_len, size_t *written);
WASI_HTTP_IMPORT("headers_get_all")
uint32_t wasi_http_headers_get_all(wasi_http_handle handle, char *buf, size_t buf_len, size_t *written);
WASI_HTTP_IMPORT("body_read")
uint32_t wasi_http_body_read(wasi_http_handle handle, void *buf, size_t buf_len, size_t *written);

/* A response: the status and the handle to read it through. */
typedef struct {
    uint16_t status;
    wasi_http_handle handle;
} wasi_http_response;

/* wasi_http_request sends a request; headers ("name:value\n" lines) may be
 * NULL, body may be NULL with body_len 0. Close the response when done. */
uint32_t wasi_http_request(const char *method, const char *url, const char *headers,
                           const void *body, size_t body_len, wasi_http_response *resp);

/* wasi_http_header copies the first value of a response header into buf as
 * a NUL-terminated string. */
uint32_t wasi_http_header(const wasi_http_response *resp, const char *name, char *buf, size_t buf_len);

/* wasi_http_read_all reads the whole body into a malloc'd buffer (NUL
 * appended, not counted in *len); free it. */
uint32_t wasi_http_read_all(const wasi_http_response *resp, char **out, size_t *len);

/* wasi_http_strerror names a code, for messages. */
const char *wasi_http_strerror(uint32_t code);

#endif
