/* memhog.c: allocates 1 MiB chunks with malloc and touches every byte of
 * each chunk, until malloc returns NULL (the host's memory cap, or the
 * 4 GiB wasm32 limit). Then it prints
 *   "Content-Type: text/plain\n\nallocated N MiB\n"
 * and exits 0, so a host can check that its memory cap held. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CHUNK (1024 * 1024)

int main(void) {
    void *head = NULL; /* keep every chunk reachable (linked list) */
    unsigned long n = 0;
    for (;;) {
        void **p = malloc(CHUNK);
        if (p == NULL)
            break;
        memset(p, 0xA5, CHUNK);
        *p = head;
        head = p;
        n++;
    }
    /* use the list so the allocations cannot be optimised away */
    unsigned long walked = 0;
    for (void **p = head; p != NULL; p = *p)
        walked++;
    printf("Content-Type: text/plain\n\nallocated %lu MiB\n", walked);
    return walked == n ? 0 : 2;
}
