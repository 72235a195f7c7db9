/* test_fs_str.c — mkdir -p, whole files, and the "did you mean" distance. */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "pk_fs.h"
#include "pk_str.h"

static void test_mkdir_p(void **state)
{
    char dir[] = "/tmp/test_fs_XXXXXX", path[256];
    struct stat st;
    (void)state;

    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof(path), "%s/a/b/c", dir);
    assert_int_equal(pk_mkdir_p(path, 0750), 0);
    assert_int_equal(stat(path, &st), 0);
    assert_true(S_ISDIR(st.st_mode));
    assert_int_equal(pk_mkdir_p(path, 0750), 0); /* existing: fine */
    snprintf(path, sizeof(path), "%s/a/file", dir);
    assert_int_equal(pk_write_file(path, "x", 1, 0600), 0);
    snprintf(path, sizeof(path), "%s/a/file/sub", dir);
    assert_int_equal(pk_mkdir_p(path, 0750), -1);
    assert_int_equal(errno, ENOTDIR);
    char longp[5000];
    memset(longp, 'a', sizeof(longp) - 1);
    longp[0] = '/';
    longp[sizeof(longp) - 1] = '\0';
    assert_int_equal(pk_mkdir_p(longp, 0750), -1);
    assert_int_equal(errno, ENAMETOOLONG);
    snprintf(path, sizeof(path), "rm -rf %s", dir);
    assert_int_equal(system(path), 0);
}

static void test_write_file(void **state)
{
    char dir[] = "/tmp/test_fs_XXXXXX", path[256], link[256], buf[64];
    struct stat st;
    (void)state;

    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof(path), "%s/f", dir);
    mode_t old = umask(0077);
    assert_int_equal(pk_write_file(path, "hello world", 11, 0644), 0);
    umask(old);
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 07777, 0644);               /* exact, whatever the umask */
    assert_int_equal(pk_write_file(path, "bye", 3, 0600), 0); /* truncates */
    int fd = open(path, O_RDONLY);
    assert_int_equal(read(fd, buf, sizeof(buf)), 3);
    close(fd);
    assert_memory_equal(buf, "bye", 3);
    snprintf(link, sizeof(link), "%s/l", dir);
    assert_int_equal(symlink(path, link), 0);
    assert_int_equal(pk_write_file(link, "x", 1, 0600), -1); /* never through a symlink */
    assert_int_equal(errno, ELOOP);
    snprintf(path, sizeof(path), "rm -rf %s", dir);
    assert_int_equal(system(path), 0);
}

static void test_edit_distance(void **state)
{
    static const struct {
        const char *a, *b;
        bool fold;
        size_t want;
    } t[] = {
        {"", "", false, 0},
        {"port", "port", false, 0},
        {"prot", "port", false, 1},
        {"port", "ports", false, 1},
        {"port", "pot", false, 1},
        {"port", "sort", false, 1},
        {"base", "name", false, 2},
        {"abc", "", false, 3},
        {"Image", "image", false, 1},
        {"Image", "image", true, 0},
        {"IMAGE", "image", true, 0},
        {"ca", "abc", false, 3}, /* optimal string alignment, not full Damerau */
        {"volumeMount", "volumeMounts", true, 1},
    };
    char big[PK_EDIT_MAX + 2];
    (void)state;

    for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
        size_t d = pk_edit_distance(t[i].a, t[i].b, t[i].fold);
        if (d != t[i].want) {
            fail_msg("distance(%s, %s, %d) = %zu, want %zu", t[i].a, t[i].b, t[i].fold, d,
                     t[i].want);
        }
    }
    memset(big, 'x', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    assert_true(pk_edit_distance(big, "x", false) == SIZE_MAX);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_mkdir_p),
        cmocka_unit_test(test_write_file),
        cmocka_unit_test(test_edit_distance),
    };
    return cmocka_run_group_tests_name("fs_str", tests, NULL, NULL);
}
