/* fuzz_sl_db.c — libFuzzer target: any bytes as a positions file. A failure is one line
 * naming a line; what parses is sorted and within limits, and once saved it loads back as
 * the same entries and saves again byte for byte the same. */
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "sl_db.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A private directory for the saves, on tmpfs when there is one (fsync is free there). */
static char dir[64], file[96];

static void cleanup(void)
{
    unlink(file);
    rmdir(dir);
}

static void init_dir(void)
{
    snprintf(dir, sizeof(dir), "%s/fuzz_sl_db_XXXXXX",
             access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp");
    if (mkdtemp(dir) == NULL) {
        abort();
    }
    snprintf(file, sizeof(file), "%s/positions", dir);
    atexit(cleanup);
}

static char *slurp(const char *path, size_t *len)
{
    struct stat st;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    char *p;

    if (fd < 0 || fstat(fd, &st) < 0 || (p = malloc((size_t)st.st_size + 1)) == NULL ||
        read(fd, p, (size_t)st.st_size) != st.st_size) {
        abort();
    }
    close(fd);
    *len = (size_t)st.st_size;
    return p;
}

static void check_entries(const struct sl_db *db)
{
    for (size_t i = 0; i < db->n; i++) {
        const struct sl_db_entry *e = &db->v[i];
        if (e->id.fp_len > SL_FP_MAX || (e->id.fp_len == 0 && e->id.fp_hash != SL_FNV_BASIS) ||
            e->path == NULL || strlen(e->path) > 4095 || e->seen) {
            abort();
        }
        if (i > 0 && (db->v[i - 1].id.dev > e->id.dev ||
                      (db->v[i - 1].id.dev == e->id.dev && db->v[i - 1].id.ino >= e->id.ino))) {
            abort(); /* sorted, no duplicates */
        }
    }
}

static void same_entries(const struct sl_db *a, const struct sl_db *b)
{
    if (a->n != b->n) {
        abort();
    }
    for (size_t i = 0; i < a->n; i++) {
        const struct sl_db_entry *x = &a->v[i], *y = &b->v[i];
        if (x->id.dev != y->id.dev || x->id.ino != y->id.ino || x->id.fp_len != y->id.fp_len ||
            x->id.fp_hash != y->id.fp_hash || x->offset != y->offset ||
            strcmp(x->path, y->path) != 0) {
            abort();
        }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct sl_db db, back;
    char err[512];
    char *text1, *text2;
    size_t len1, len2;

    if (dir[0] == '\0') {
        init_dir();
    }
    if (sl_db_open(&db, NULL, err, sizeof(err)) < 0) {
        abort();
    }
    err[0] = '\0';
    if (sl_db_parse(&db, "fuzz", (const char *)data, size, err, sizeof(err)) < 0) {
        size_t d = strspn(err + 5, "0123456789");
        if (strncmp(err, "fuzz:", 5) != 0 || d == 0 || strncmp(err + 5 + d, ": ", 2) != 0 ||
            err[5 + d + 2] == '\0' || strchr(err, '\n') != NULL || db.n != 0) {
            abort(); /* "NAME:LINE: why", one line, and nothing kept */
        }
        sl_db_close(&db);
        return 0;
    }
    check_entries(&db);
    if (db.dirty || (db.file = strdup(file)) == NULL) {
        abort();
    }
    db.dirty = true;
    if (sl_db_save(&db, err, sizeof(err)) < 0) {
        abort();
    }
    text1 = slurp(file, &len1);
    if (sl_db_open(&back, file, err, sizeof(err)) < 0) {
        abort(); /* what we write, we read */
    }
    same_entries(&db, &back);
    back.dirty = true;
    if (sl_db_save(&back, err, sizeof(err)) < 0) {
        abort();
    }
    text2 = slurp(file, &len2);
    if (len1 != len2 || memcmp(text1, text2, len1) != 0) {
        abort(); /* one way to write a database */
    }
    free(text1);
    free(text2);
    sl_db_close(&back);
    sl_db_close(&db);
    return 0;
}
