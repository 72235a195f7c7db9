/* fuzz_conf.c — libFuzzer target: any bytes as a config file, and as flag values. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "pk_conf.h"

struct fconf {
    bool b;
    long long n;
    uint64_t size;
    int64_t ms;
    char *s;
    struct pk_strv list;
    int e;
    char *nested;
    long long deep;
};

static const char *const choices[] = {"a", "b", NULL};

static const struct pk_conf_key keys[] = {
    {.name = "b", .type = PK_CONF_BOOL, .offset = offsetof(struct fconf, b), .def = "false"},
    {.name = "n",
     .type = PK_CONF_INT,
     .offset = offsetof(struct fconf, n),
     .def = "1",
     .min = -5,
     .max = 1000},
    {.name = "size", .type = PK_CONF_SIZE, .offset = offsetof(struct fconf, size), .def = "1Ki"},
    {.name = "ms", .type = PK_CONF_DURATION, .offset = offsetof(struct fconf, ms), .def = "1s"},
    {.name = "s", .type = PK_CONF_STRING, .offset = offsetof(struct fconf, s)},
    {.name = "list", .type = PK_CONF_LIST, .offset = offsetof(struct fconf, list), .def = "x"},
    {.name = "e",
     .type = PK_CONF_ENUM,
     .offset = offsetof(struct fconf, e),
     .def = "a",
     .choices = choices},
    {.name = "web.listen", .type = PK_CONF_STRING, .offset = offsetof(struct fconf, nested)},
    {.name = "a.b.c", .type = PK_CONF_INT, .offset = offsetof(struct fconf, deep)},
    {.name = NULL},
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct pk_conf c;
    struct fconf f;
    char *text;

    memset(&f, 0, sizeof(f));
    pk_conf_init(&c);
    if (pk_conf_add(&c, keys, &f) < 0) {
        abort(); /* the defaults above are valid */
    }
    if (pk_conf_load_buffer(&c, "fuzz.yaml", (const char *)data, size) < 0 &&
        (c.err[0] == '\0' || strchr(c.err, '\n') != NULL)) {
        abort(); /* every failure says why, on one line */
    }

    /* The same bytes as the text of each flag. */
    text = malloc(size + 1);
    if (text != NULL) {
        memcpy(text, data, size);
        text[size] = '\0';
        for (const struct pk_conf_key *k = keys; k->name != NULL; k++) {
            c.err[0] = '\0';
            pk_conf_set(&c, 0, k, text, true);
        }
        free(text);
    }
    pk_conf_release(&c);
    return 0;
}
