/* shim_volume.c — emptyDir, hostPath, configMap and secret volumes, and their mount points. */
#include "shim_volume.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include "pk_fs.h"

/* Writes the keys of a ConfigMap or Secret (all, or the volume's items) into dir. */
static int write_keys(const struct shim_volume *vol, const struct shim_kv *data, size_t ndata,
                      const char *dir, char *err, size_t errsz)
{
    size_t count = vol->nitems > 0 ? vol->nitems : ndata;

    for (size_t i = 0; i < count; i++) {
        const char *key = vol->nitems > 0 ? vol->items[i].key : data[i].key;
        const char *rel = vol->nitems > 0 ? vol->items[i].path : data[i].key;
        int mode =
            vol->nitems > 0 && vol->items[i].mode >= 0 ? vol->items[i].mode : vol->default_mode;
        const struct shim_kv *kv = NULL;
        char path[4096];

        for (size_t j = 0; j < ndata && kv == NULL; j++) {
            if (strcmp(data[j].key, key) == 0) {
                kv = &data[j];
            }
        }
        if (kv == NULL) {
            if (vol->optional) {
                continue;
            }
            snprintf(err, errsz, "volume \"%s\": key \"%s\" not found in %s \"%s\"", vol->name, key,
                     vol->type == SHIM_VOL_SECRET ? "secret" : "configmap", vol->source_name);
            return -1;
        }
        snprintf(path, sizeof(path), "%s/%s", dir, rel);
        char *slash = strrchr(path, '/');
        *slash = '\0';
        if (pk_mkdir_p(path, 0755) < 0) {
            snprintf(err, errsz, "volume \"%s\": mkdir %s: %s", vol->name, path, strerror(errno));
            return -1;
        }
        *slash = '/';
        if (pk_write_file(path, kv->value, kv->value_len, (mode_t)mode) < 0) {
            snprintf(err, errsz, "volume \"%s\": write %s: %s", vol->name, path, strerror(errno));
            return -1;
        }
    }
    return 0;
}

/* Checks (and for the *OrCreate types, makes) a hostPath volume's path. */
static int check_host_path(const struct shim_volume *vol, char *err, size_t errsz)
{
    struct stat st;
    const char *t = vol->host_type;
    int rc = stat(vol->path, &st);

    if (strcmp(t, "DirectoryOrCreate") == 0 && rc < 0 && errno == ENOENT) {
        if (pk_mkdir_p(vol->path, 0755) == 0) {
            return 0;
        }
    } else if (strcmp(t, "FileOrCreate") == 0 && rc < 0 && errno == ENOENT) {
        int fd = open(vol->path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
        if (fd >= 0) {
            close(fd);
            return 0;
        }
    } else if (t[0] == '\0') {
        return 0; /* no check, as Kubernetes does without a type */
    } else if (rc == 0) {
        bool ok = (strstr(t, "Directory") != NULL && S_ISDIR(st.st_mode)) ||
                  (strstr(t, "File") != NULL && S_ISREG(st.st_mode)) ||
                  (strcmp(t, "Socket") == 0 && S_ISSOCK(st.st_mode)) ||
                  (strcmp(t, "CharDevice") == 0 && S_ISCHR(st.st_mode)) ||
                  (strcmp(t, "BlockDevice") == 0 && S_ISBLK(st.st_mode));
        if (ok) {
            return 0;
        }
        snprintf(err, errsz, "volume \"%s\": hostPath %s is not of type %s", vol->name, vol->path,
                 t);
        return -1;
    }
    snprintf(err, errsz, "volume \"%s\": hostPath %s (type %s): %s", vol->name, vol->path, t,
             strerror(errno));
    return -1;
}

int shim_volumes_setup(struct shim_volumes *vols, const struct shim_manifest *m, const char *dir,
                       char *err, size_t errsz)
{
    const struct shim_pod *pod = m->pod;

    memset(vols, 0, sizeof(*vols));
    snprintf(vols->record, sizeof(vols->record), "%s/mountpoints", dir);
    vols->v = calloc(pod->nvolumes + 1, sizeof(*vols->v));
    if (vols->v == NULL) {
        snprintf(err, errsz, "out of memory");
        return -1;
    }
    for (size_t i = 0; i < pod->nvolumes; i++) {
        const struct shim_volume *vol = &pod->volumes[i];
        char path[4096];

        vols->v[i].name = vol->name;
        vols->n = i + 1;
        if (vol->type == SHIM_VOL_HOSTPATH) {
            vols->v[i].path = strdup(vol->path);
            if (vols->v[i].path == NULL || check_host_path(vol, err, errsz) < 0) {
                return -1;
            }
            continue;
        }
        snprintf(path, sizeof(path), "%s/volumes/%s", dir, vol->name);
        vols->v[i].path = strdup(path);
        if (vols->v[i].path == NULL) {
            snprintf(err, errsz, "out of memory");
            return -1;
        }
        if (pk_mkdir_p(path, 0755) < 0) {
            snprintf(err, errsz, "volume \"%s\": mkdir %s: %s", vol->name, path, strerror(errno));
            return -1;
        }
        vols->v[i].owned = true;
        if ((vol->type == SHIM_VOL_EMPTYDIR && vol->memory) || vol->type == SHIM_VOL_SECRET) {
            char opts[64] = "mode=0755";
            if (vol->size_limit > 0) {
                snprintf(opts, sizeof(opts), "mode=0755,size=%llu",
                         (unsigned long long)vol->size_limit);
            }
            if (mount("tmpfs", path, "tmpfs", MS_NOSUID | MS_NODEV, opts) < 0) {
                snprintf(err, errsz, "volume \"%s\": mount tmpfs on %s: %s", vol->name, path,
                         strerror(errno));
                return -1;
            }
            vols->v[i].tmpfs = true;
        }
        if (vol->type == SHIM_VOL_EMPTYDIR) {
            chmod(path, 0777); /* as the kubelet makes emptyDirs: any container user writes */
        } else if (vol->type == SHIM_VOL_CONFIGMAP) {
            const struct shim_configmap *cm = shim_manifest_configmap(m, vol->source_name);
            if (cm == NULL && !vol->optional) {
                snprintf(err, errsz, "volume \"%s\": configmap \"%s\" not found", vol->name,
                         vol->source_name);
                return -1;
            }
            if (cm != NULL && write_keys(vol, cm->data, cm->ndata, path, err, errsz) < 0) {
                return -1;
            }
        } else if (vol->type == SHIM_VOL_SECRET) {
            const struct shim_secret *sec = shim_manifest_secret(m, vol->source_name);
            if (sec == NULL && !vol->optional) {
                snprintf(err, errsz, "volume \"%s\": secret \"%s\" not found", vol->name,
                         vol->source_name);
                return -1;
            }
            if (sec != NULL && write_keys(vol, sec->data, sec->ndata, path, err, errsz) < 0) {
                return -1;
            }
        }
    }
    return 0;
}

static const char *volume_path(const struct shim_volumes *vols, const char *name)
{
    for (size_t i = 0; i < vols->n; i++) {
        if (strcmp(vols->v[i].name, name) == 0) {
            return vols->v[i].path;
        }
    }
    return NULL;
}

/* Makes target (a directory, or a file when source is not one) if it is missing, and
 * remembers what it made, outermost first. */
static int make_mount_point(struct shim_volumes *vols, const char *source, const char *target)
{
    struct stat st;
    char buf[4096];
    bool dir;

    if (lstat(target, &st) == 0) {
        return 0;
    }
    dir = stat(source, &st) < 0 || S_ISDIR(st.st_mode);
    snprintf(buf, sizeof(buf), "%s", target);
    /* Each missing ancestor is made and remembered, so teardown can take it away. */
    for (char *p = buf + 1;; p++) {
        bool last = *p == '\0';
        if (*p != '/' && !last) {
            continue;
        }
        *p = '\0';
        if (lstat(buf, &st) < 0) {
            int rc = (last && !dir) ? open(buf, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644)
                                    : mkdir(buf, 0755);
            if (rc < 0) {
                return -1;
            }
            if (last && !dir) {
                close(rc);
            }
            char **made = realloc(vols->made, (vols->nmade + 1) * sizeof(*made));
            if (made == NULL || (made[vols->nmade] = strdup(buf)) == NULL) {
                if (made != NULL) {
                    vols->made = made;
                }
                errno = ENOMEM;
                return -1;
            }
            vols->made = made;
            vols->nmade++;
            FILE *rec = fopen(vols->record, "ae");
            if (rec != NULL) {
                fprintf(rec, "%s\n", buf);
                fclose(rec);
            }
        }
        if (last) {
            return 0;
        }
        *p = '/';
    }
}

static int cmp_depth(const void *a, const void *b)
{
    const struct shim_bind *x = a, *y = b;
    size_t dx = 0, dy = 0;

    for (const char *p = x->target; *p; p++) {
        dx += *p == '/';
    }
    for (const char *p = y->target; *p; p++) {
        dy += *p == '/';
    }
    return dx < dy ? -1 : dx > dy;
}

int shim_volumes_binds(struct shim_volumes *vols, const struct shim_container *c, bool on_host,
                       struct shim_bind **out, size_t *n, char *err, size_t errsz)
{
    struct shim_bind *b = calloc(c->nmounts + 1, sizeof(*b));

    *out = b;
    *n = 0;
    if (b == NULL) {
        snprintf(err, errsz, "out of memory");
        return -1;
    }
    for (size_t i = 0; i < c->nmounts; i++) {
        const struct shim_mount *mnt = &c->mounts[i];
        const char *vpath = volume_path(vols, mnt->name);
        char source[4096];

        if (vpath == NULL) {
            snprintf(err, errsz, "volumeMounts[%zu]: no volume \"%s\"", i, mnt->name);
            return -1;
        }
        if (mnt->sub_path[0] != '\0') {
            snprintf(source, sizeof(source), "%s/%s", vpath, mnt->sub_path);
            struct stat st;
            if (stat(source, &st) < 0 && pk_mkdir_p(source, 0755) < 0) {
                snprintf(err, errsz, "subPath %s: %s", mnt->sub_path, strerror(errno));
                return -1;
            }
        } else {
            snprintf(source, sizeof(source), "%s", vpath);
        }
        if (on_host && make_mount_point(vols, source, mnt->mount_path) < 0) {
            snprintf(err, errsz, "mount point %s: %s", mnt->mount_path, strerror(errno));
            return -1;
        }
        b[i].source = strdup(source);
        b[i].target = mnt->mount_path;
        b[i].read_only = mnt->read_only;
        *n = i + 1;
        if (b[i].source == NULL) {
            snprintf(err, errsz, "out of memory");
            return -1;
        }
    }
    qsort(b, *n, sizeof(*b), cmp_depth);
    return 0;
}

void shim_binds_free(struct shim_bind *b, size_t n)
{
    for (size_t i = 0; i < n && b != NULL; i++) {
        free((char *)b[i].source);
    }
    free(b);
}

static int remove_entry(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
    (void)st;
    (void)ftw;
    if (type == FTW_DP) {
        rmdir(path);
    } else {
        unlink(path);
    }
    return 0;
}

void shim_volumes_teardown(struct shim_volumes *vols)
{
    /* Mount points go deepest first; only empty directories and empty files we made. */
    for (size_t i = vols->nmade; i-- > 0;) {
        struct stat st;
        if (lstat(vols->made[i], &st) == 0) {
            if (S_ISDIR(st.st_mode)) {
                rmdir(vols->made[i]);
            } else if (st.st_size == 0) {
                unlink(vols->made[i]);
            }
        }
        free(vols->made[i]);
    }
    free(vols->made);
    vols->made = NULL;
    vols->nmade = 0;
    for (size_t i = 0; i < vols->n; i++) {
        if (vols->v[i].tmpfs) {
            umount2(vols->v[i].path, MNT_DETACH);
        }
        if (vols->v[i].owned) {
            /* FTW_MOUNT: never follow into anything mounted below a volume. */
            nftw(vols->v[i].path, remove_entry, 16, FTW_DEPTH | FTW_PHYS | FTW_MOUNT);
        }
        free(vols->v[i].path);
    }
    free(vols->v);
    vols->v = NULL;
    vols->n = 0;
}

static int cmp_len_desc(const void *a, const void *b)
{
    size_t la = strlen(*(char *const *)a), lb = strlen(*(char *const *)b);
    return la < lb ? 1 : la > lb ? -1 : 0;
}

void shim_volumes_cleanup_stale(const char *dir)
{
    char line[4096], path[1200];
    char **mnts = NULL;
    size_t n = 0, dlen = strlen(dir);
    FILE *f = fopen("/proc/self/mountinfo", "re");

    /* Mounts below dir (tmpfs volumes), deepest first. mountinfo escapes spaces as
     * \040; podshim's own paths have none. */
    while (f != NULL && fgets(line, sizeof(line), f) != NULL) {
        char mp[4096];
        if (sscanf(line, "%*s %*s %*s %*s %4095s", mp) == 1 && strncmp(mp, dir, dlen) == 0 &&
            (mp[dlen] == '/' || mp[dlen] == '\0')) {
            char **m = realloc(mnts, (n + 1) * sizeof(*m));
            if (m == NULL || (m[n] = strdup(mp)) == NULL) {
                mnts = m != NULL ? m : mnts;
                break;
            }
            mnts = m;
            n++;
        }
    }
    if (f != NULL) {
        fclose(f);
    }
    qsort(mnts, n, sizeof(*mnts), cmp_len_desc);
    for (size_t i = 0; i < n; i++) {
        umount2(mnts[i], MNT_DETACH);
        free(mnts[i]);
    }
    free(mnts);
    /* Mount points made on the host, deepest (last made) first. */
    snprintf(path, sizeof(path), "%s/mountpoints", dir);
    struct shim_volumes vols;
    memset(&vols, 0, sizeof(vols));
    f = fopen(path, "re");
    while (f != NULL && fgets(line, sizeof(line), f) != NULL) {
        line[strcspn(line, "\n")] = '\0';
        char **made = realloc(vols.made, (vols.nmade + 1) * sizeof(*made));
        if (made == NULL || (made[vols.nmade] = strdup(line)) == NULL) {
            vols.made = made != NULL ? made : vols.made;
            break;
        }
        vols.made = made;
        vols.nmade++;
    }
    if (f != NULL) {
        fclose(f);
    }
    shim_volumes_teardown(&vols);
    nftw(dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS | FTW_MOUNT);
}
