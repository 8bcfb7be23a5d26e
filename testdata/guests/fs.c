/* fs.c: filesystem probe. Prints a text/plain body with one line per probe:
 *   read PATH: ok FIRSTLINE         or  read PATH: denied (strerror)
 *       for each PATH in argv[1..], or, when there are no arguments, for each
 *       '&'-separated element of QUERY_STRING (plain paths, no %-decoding)
 *   write PATH: ok                  or  write PATH: denied (strerror)
 *       only when env WRITE_PATH is set: creates/truncates PATH and writes
 *       "written by fs.wasm\n" to it
 *   ls /data: NAME NAME ...         or  ls /data: denied (strerror)
 *       entries of /data (without . and ..), sorted by name
 * Exits 0 whatever the probes find. */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void probe_read(const char *path) {
    FILE *f = fopen(path, "r");
    if (f == NULL) {
        printf("read %s: denied (%s)\n", path, strerror(errno));
        return;
    }
    char line[256];
    if (fgets(line, sizeof line, f) == NULL) {
        if (ferror(f)) {
            printf("read %s: denied (%s)\n", path, strerror(errno));
            fclose(f);
            return;
        }
        line[0] = '\0';
    }
    line[strcspn(line, "\r\n")] = '\0';
    printf("read %s: ok %s\n", path, line);
    fclose(f);
}

static void probe_write(const char *path) {
    FILE *f = fopen(path, "w");
    if (f == NULL) {
        printf("write %s: denied (%s)\n", path, strerror(errno));
        return;
    }
    int bad = fputs("written by fs.wasm\n", f) < 0;
    int err = errno;
    if (fclose(f) != 0 && !bad) {
        bad = 1;
        err = errno;
    }
    if (bad)
        printf("write %s: denied (%s)\n", path, strerror(err));
    else
        printf("write %s: ok\n", path);
}

static int cmp(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void probe_ls(const char *dir) {
    DIR *d = opendir(dir);
    if (d == NULL) {
        printf("ls %s: denied (%s)\n", dir, strerror(errno));
        return;
    }
    char **names = NULL;
    size_t n = 0, cap = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        if (n == cap) {
            cap = cap ? cap * 2 : 16;
            char **p = realloc(names, cap * sizeof *names);
            if (p == NULL)
                break;
            names = p;
        }
        names[n] = strdup(e->d_name);
        if (names[n] != NULL)
            n++;
    }
    closedir(d);
    qsort(names, n, sizeof *names, cmp);
    printf("ls %s:", dir);
    for (size_t i = 0; i < n; i++) {
        printf(" %s", names[i]);
        free(names[i]);
    }
    printf("\n");
    free(names);
}

int main(int argc, char **argv) {
    fputs("Content-Type: text/plain\n\n", stdout);
    if (argc > 1) {
        for (int i = 1; i < argc; i++)
            probe_read(argv[i]);
    } else {
        const char *q = getenv("QUERY_STRING");
        char *copy = strdup(q != NULL ? q : "");
        if (copy != NULL) {
            char *save = NULL;
            for (char *p = strtok_r(copy, "&", &save); p != NULL;
                 p = strtok_r(NULL, "&", &save))
                probe_read(p);
            free(copy);
        }
    }
    const char *w = getenv("WRITE_PATH");
    if (w != NULL)
        probe_write(w);
    probe_ls("/data");
    return 0;
}
