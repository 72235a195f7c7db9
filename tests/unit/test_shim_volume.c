/* test_shim_volume.c — volumes made on the host, binds for containers, and their teardown. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>

#include <cmocka.h>

#include "shim_manifest.h"
#include "shim_volume.h"

#define TMPFS_MAGIC 0x01021994

struct fixture {
    char dir[64];
    char doc[4096];
};

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    strcpy(f->dir, "/tmp/test_volume_XXXXXX");
    if (f == NULL || mkdtemp(f->dir) == NULL) {
        return -1;
    }
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", f->dir);
    if (system(cmd) != 0) {
        return -1;
    }
    free(f);
    return 0;
}

static struct shim_manifest *parse(const char *doc)
{
    struct shim_manifest *m = NULL;
    char err[SHIM_ERR_MAX];
    if (shim_manifest_parse("t.yaml", doc, strlen(doc), &m, err, sizeof(err)) < 0) {
        fail_msg("parse: %s", err);
    }
    return m;
}

static void read_file(const char *path, char *buf, size_t n)
{
    FILE *fp = fopen(path, "r");
    assert_non_null(fp);
    size_t r = fread(buf, 1, n - 1, fp);
    buf[r] = '\0';
    fclose(fp);
}

static void test_configmap_items_and_modes(void **state)
{
    struct fixture *f = *state;
    struct shim_volumes v;
    char err[512], path[256], buf[64];
    struct stat st;

    snprintf(f->doc, sizeof(f->doc),
             "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: cm}\ndata: {a: A, b: B}\n---\n"
             "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec:\n"
             "  volumes:\n"
             "  - {name: all, configMap: {name: cm, defaultMode: 0600}}\n"
             "  - name: some\n"
             "    configMap: {name: cm, items: [{key: b, path: deep/er/b.txt, mode: 0400}]}\n"
             "  - {name: host, hostPath: {path: %s/made, type: DirectoryOrCreate}}\n"
             "  - {name: scratch, emptyDir: {}}\n"
             "  containers:\n"
             "  - name: c\n    image: x\n    command: ['true']\n"
             "    volumeMounts:\n"
             "    - {name: scratch, mountPath: %s/mnt/a/b, subPath: s1}\n"
             "    - {name: all, mountPath: %s/mnt, readOnly: true}\n",
             f->dir, f->dir, f->dir);
    struct shim_manifest *m = parse(f->doc);
    (void)state;

    assert_int_equal(shim_volumes_setup(&v, m, f->dir, err, sizeof(err)), 0);
    snprintf(path, sizeof(path), "%s/volumes/all/a", f->dir);
    read_file(path, buf, sizeof(buf));
    assert_string_equal(buf, "A");
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    snprintf(path, sizeof(path), "%s/volumes/some/deep/er/b.txt", f->dir);
    read_file(path, buf, sizeof(buf));
    assert_string_equal(buf, "B");
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0400);
    snprintf(path, sizeof(path), "%s/volumes/some/a", f->dir);
    assert_int_equal(access(path, F_OK), -1); /* only the items asked for */
    snprintf(path, sizeof(path), "%s/made", f->dir);
    assert_int_equal(stat(path, &st), 0);
    assert_true(S_ISDIR(st.st_mode));
    snprintf(path, sizeof(path), "%s/volumes/scratch", f->dir);
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0777); /* emptyDir: any container user writes */

    /* Binds: parents first, subPath made, missing mount points made and remembered. */
    struct shim_bind *b;
    size_t n;
    assert_int_equal(shim_volumes_binds(&v, &m->pod->containers[0], true, &b, &n, err, sizeof(err)),
                     0);
    assert_int_equal(n, 2);
    snprintf(path, sizeof(path), "%s/mnt", f->dir);
    assert_string_equal(b[0].target, path);
    assert_true(b[0].read_only);
    snprintf(path, sizeof(path), "%s/volumes/scratch/s1", f->dir);
    assert_string_equal(b[1].source, path);
    assert_int_equal(stat(path, &st), 0);
    snprintf(path, sizeof(path), "%s/mnt/a/b", f->dir);
    assert_int_equal(stat(path, &st), 0);
    shim_binds_free(b, n);

    shim_volumes_teardown(&v);
    snprintf(path, sizeof(path), "%s/volumes/all", f->dir);
    assert_int_equal(access(path, F_OK), -1); /* ours: gone */
    snprintf(path, sizeof(path), "%s/mnt", f->dir);
    assert_int_equal(access(path, F_OK), -1); /* mount points we made: gone */
    snprintf(path, sizeof(path), "%s/made", f->dir);
    assert_int_equal(access(path, F_OK), 0); /* a hostPath is the host's: kept */
    shim_volumes_teardown(&v);               /* twice is fine */
    shim_manifest_free(m);
}

static void test_errors(void **state)
{
    static const struct {
        const char *volumes;
        const char *err;
    } t[] = {
        {"  - {name: v, configMap: {name: nope}}\n", "volume \"v\": configmap \"nope\" not found"},
        {"  - {name: v, secret: {secretName: nope}}\n", "volume \"v\": secret \"nope\" not found"},
        {"  - {name: v, configMap: {name: nope, optional: true}}\n", NULL},
        {"  - {name: v, hostPath: {path: /proc/version, type: Directory}}\n",
         "volume \"v\": hostPath /proc/version is not of type Directory"},
        {"  - {name: v, hostPath: {path: /nonexistent/podkit, type: File}}\n",
         "volume \"v\": hostPath /nonexistent/podkit (type File): No such file or directory"},
        {"  - {name: v, hostPath: {path: /nonexistent/podkit}}\n", NULL}, /* no type: no check */
    };
    struct fixture *f = *state;

    for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
        struct shim_volumes v;
        char err[512] = "";
        snprintf(f->doc, sizeof(f->doc),
                 "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec:\n  volumes:\n%s"
                 "  containers: [{name: c, image: x, command: ['true']}]\n",
                 t[i].volumes);
        struct shim_manifest *m = parse(f->doc);
        int rc = shim_volumes_setup(&v, m, f->dir, err, sizeof(err));
        if (t[i].err == NULL ? rc != 0 : rc != -1 || strcmp(err, t[i].err) != 0) {
            fail_msg("t[%zu]: rc %d err '%s', want '%s'", i, rc, err, t[i].err ? t[i].err : "");
        }
        shim_volumes_teardown(&v);
        shim_manifest_free(m);
    }
}

static void test_tmpfs_volumes(void **state)
{
    struct fixture *f = *state;
    struct shim_volumes v;
    struct statfs sfs;
    char err[512], path[256], buf[64];

    if (geteuid() != 0) {
        skip(); /* mounting tmpfs needs root */
    }
    snprintf(f->doc, sizeof(f->doc),
             "apiVersion: v1\nkind: Secret\nmetadata: {name: s}\nstringData: {pw: hunter2}\n"
             "---\napiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec:\n  volumes:\n"
             "  - {name: mem, emptyDir: {medium: Memory, sizeLimit: 1Mi}}\n"
             "  - {name: sec, secret: {secretName: s}}\n"
             "  containers: [{name: c, image: x, command: ['true']}]\n");
    struct shim_manifest *m = parse(f->doc);

    assert_int_equal(shim_volumes_setup(&v, m, f->dir, err, sizeof(err)), 0);
    snprintf(path, sizeof(path), "%s/volumes/mem", f->dir);
    assert_int_equal(statfs(path, &sfs), 0);
    assert_int_equal(sfs.f_type, TMPFS_MAGIC);
    assert_int_equal((uint64_t)sfs.f_blocks * (uint64_t)sfs.f_bsize, 1024 * 1024);
    snprintf(path, sizeof(path), "%s/volumes/sec", f->dir);
    assert_int_equal(statfs(path, &sfs), 0);
    assert_int_equal(sfs.f_type, TMPFS_MAGIC); /* a secret never touches the disk */
    snprintf(path, sizeof(path), "%s/volumes/sec/pw", f->dir);
    read_file(path, buf, sizeof(buf));
    assert_string_equal(buf, "hunter2");
    shim_volumes_teardown(&v);
    snprintf(path, sizeof(path), "%s/volumes/mem", f->dir);
    assert_int_equal(access(path, F_OK), -1); /* unmounted and removed */
    shim_manifest_free(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_configmap_items_and_modes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tmpfs_volumes, setup, teardown),
    };
    return cmocka_run_group_tests_name("shim_volume", tests, NULL, NULL);
}
