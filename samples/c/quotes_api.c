/* quotes_api.c: the stub API of the outbound HTTP sample (issue 16). The
 * sample site serves it at /api/quotes so that samples/outbound/quotes
 * and quotes.rs have an API to call without leaving the machine. */
#include <stdio.h>

int main(void) {
    printf("Content-Type: application/json\n"
           "Cache-Control: no-store\n\n"
           "[{\"text\":\"Simplicity is prerequisite for reliability.\",\"author\":\"Edsger W. Dijkstra\"},"
           "{\"text\":\"Make it work, make it right, make it fast.\",\"author\":\"Kent Beck\"},"
           "{\"text\":\"A little copying is better than a little dependency.\",\"author\":\"Go Proverbs\"}]\n");
    return 0;
}
