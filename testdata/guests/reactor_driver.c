// reactor_driver: a guest of wasigate's init/run ABI (wasi/driver.go,
// issue 12), the shape of samples/python/driver.c without Python.
// wasigate_init records what it saw: its argv and INIT_VAR, the first
// line of /lib/data.txt (a read-only volume) and whether /data (writable)
// held secret.txt. INIT_FAIL makes it return 3; INIT_LEAK leaves a file
// open, INIT_LEAK_DIR the /lib folder itself. wasigate_run prints, as
// CGI, those records, counter++ (1 in every fresh instance), its own
// argv and HTTP_X read afresh from WASI, and a number from getentropy;
// then exits 0.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <fcntl.h>
#include <wasi/api.h>

static int initialized, counter;
static char init_args[256], init_var[64], lib[64], data[16];

static char **read_args(size_t *n) {
    size_t count, size;
    if (__wasi_args_sizes_get(&count, &size) != 0) return NULL;
    char **v = calloc(count + 1, sizeof(char *));
    char *buf = malloc(size ? size : 1);
    if (!v || !buf || __wasi_args_get((uint8_t **)v, (uint8_t *)buf) != 0) return NULL;
    *n = count;
    return v;
}

static const char *request_env(const char *name) {
    size_t count, size;
    if (__wasi_environ_sizes_get(&count, &size) != 0) return "-";
    char **v = calloc(count + 1, sizeof(char *));
    char *buf = malloc(size ? size : 1);
    if (!v || !buf || __wasi_environ_get((uint8_t **)v, (uint8_t *)buf) != 0) return "-";
    size_t k = strlen(name);
    for (size_t i = 0; i < count; i++)
        if (strncmp(v[i], name, k) == 0 && v[i][k] == '=') return v[i] + k + 1;
    return "-";
}

__attribute__((export_name("wasigate_init"))) int wasigate_init(void) {
    if (initialized) return 0;
    size_t n = 0;
    char **argv = read_args(&n);
    for (size_t i = 0; argv && i < n; i++) {
        strncat(init_args, argv[i], sizeof init_args - strlen(init_args) - 2);
        strcat(init_args, " ");
    }
    const char *v = getenv("INIT_VAR");
    snprintf(init_var, sizeof init_var, "%s", v ? v : "-");
    FILE *f = fopen("/lib/data.txt", "r");
    if (!f || !fgets(lib, sizeof lib, f)) strcpy(lib, "none\n");
    if (f) fclose(f);
    snprintf(data, sizeof data, "%s", access("/data/secret.txt", F_OK) == 0 ? "seen" : "empty");
    if (getenv("INIT_FAIL")) return 3;
    if (getenv("INIT_LEAK") && !fopen("/lib/data.txt", "r")) return 4;
    if (getenv("INIT_LEAK_DIR") && open("/lib", O_RDONLY) < 0) return 5;
    counter = 0;
    initialized = 1;
    return 0;
}

__attribute__((export_name("wasigate_run"))) void wasigate_run(void) {
    int rc = wasigate_init();
    if (rc) exit(rc);
    counter++;
    unsigned long long r = 0;
    if (getentropy(&r, sizeof r) != 0) r = 0;
    size_t n = 0;
    char **argv = read_args(&n);
    printf("Content-Type: text/plain\n\n");
    printf("counter=%d\ninit-args=%s\ninit-var=%s\nlib=%sdata=%s\n", counter, init_args, init_var, lib, data);
    printf("args=");
    for (size_t i = 0; argv && i < n; i++) printf("%s ", argv[i]);
    printf("\nx=%s\nrandom=%llu\n", request_env("HTTP_X"), r);
    fflush(stdout);
    exit(0);
}
