/* pk_str.c — edit distance for "did you mean". */
#include "pk_str.h"

#include <ctype.h>
#include <stdint.h>
#include <string.h>

size_t pk_edit_distance(const char *a, const char *b, bool fold_case)
{
    size_t la = strlen(a), lb = strlen(b);
    size_t rows[3][PK_EDIT_MAX + 1];
    size_t *prev2 = rows[0], *prev = rows[1], *cur = rows[2];

    if (la > PK_EDIT_MAX || lb > PK_EDIT_MAX) {
        return SIZE_MAX;
    }
#define CH(s, i) (fold_case ? tolower((unsigned char)(s)[i]) : (unsigned char)(s)[i])
    for (size_t j = 0; j <= lb; j++) {
        prev[j] = j;
    }
    for (size_t i = 1; i <= la; i++) {
        cur[0] = i;
        for (size_t j = 1; j <= lb; j++) {
            size_t best = prev[j - 1] + (CH(a, i - 1) != CH(b, j - 1));
            if (prev[j] + 1 < best) {
                best = prev[j] + 1;
            }
            if (cur[j - 1] + 1 < best) {
                best = cur[j - 1] + 1;
            }
            if (i > 1 && j > 1 && CH(a, i - 1) == CH(b, j - 2) && CH(a, i - 2) == CH(b, j - 1) &&
                prev2[j - 2] + 1 < best) {
                best = prev2[j - 2] + 1;
            }
            cur[j] = best;
        }
        size_t *t = prev2;
        prev2 = prev;
        prev = cur;
        cur = t;
    }
#undef CH
    return prev[lb];
}
