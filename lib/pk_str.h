/* pk_str.h — string helpers the daemons share. */
#ifndef PK_STR_H
#define PK_STR_H

#include <stdbool.h>
#include <stddef.h>

#define PK_EDIT_MAX 256 /* longer strings are SIZE_MAX apart */

/* The edit distance between a and b, counting a swap of two neighbours as one edit ("prot"
 * is 1 from "port"), ignoring ASCII case with fold_case: for "did you mean" messages. */
size_t pk_edit_distance(const char *a, const char *b, bool fold_case);

#endif
