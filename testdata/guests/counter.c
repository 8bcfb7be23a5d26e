/* counter.c: increments a global counter that lives in linear memory and
 * prints "count=N". Every fresh instance starts from zeroed memory, so a host
 * that gives each request its own instance always gets "count=1". */
#include <stdio.h>

volatile int counter; /* global, in .bss: starts at 0 in every new instance */

int main(void) {
    counter = counter + 1;
    printf("Content-Type: text/plain\n\ncount=%d\n", counter);
    return 0;
}
