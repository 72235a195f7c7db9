/* shim_volume.h — a pod's volumes on the host, and each container's bind mounts of them. */
#ifndef SHIM_VOLUME_H
#define SHIM_VOLUME_H

#include <stdbool.h>
#include <stddef.h>

#include "shim_manifest.h"
#include "shim_spawn.h"

/* The pod's volumes, made under DIR/volumes/NAME (hostPath volumes point at the host).
 * Everything here is owned and undone by shim_volumes_teardown. */
struct shim_volumes {
    size_t n;
    struct {
        const char *name; /* borrowed from the manifest */
        char *path;       /* the host directory (or file) the volume is */
        bool tmpfs;       /* we mounted a tmpfs there */
        bool owned;       /* we made it: removed at teardown */
    } * v;
    char **made; /* mount points we created on the host, removed at teardown (deepest last) */
    size_t nmade;
    char record[1100]; /* DIR/mountpoints: the same list on disk, for a stale cleanup */
};

/* Makes every volume of m's pod under dir: emptyDir directories (mode 0777; a tmpfs of
 * sizeLimit for medium Memory), configMap and secret files (a secret on a tmpfs, never
 * on disk), and checks hostPath types (creating DirectoryOrCreate and FileOrCreate).
 * A ConfigMap or Secret that the file does not hold is an error unless optional.
 * Returns 0, or -1 with err naming the volume; what was made is still torn down by
 * shim_volumes_teardown. */
int shim_volumes_setup(struct shim_volumes *vols, const struct shim_manifest *m, const char *dir,
                       char *err, size_t errsz);

/* The binds for container c, in mount order, with subPath directories made in their
 * volume and, on_host (a container on the host's root), mount points made when missing
 * and remembered for teardown (in an image directory, spawning makes them). *out is
 * malloc'd, its strings too: free with shim_binds_free. Returns 0 or -1 with err. */
int shim_volumes_binds(struct shim_volumes *vols, const struct shim_container *c, bool on_host,
                       struct shim_bind **out, size_t *n, char *err, size_t errsz);
void shim_binds_free(struct shim_bind *b, size_t n);

/* Unmounts our tmpfs, removes what we made (volume directories, mount points). Safe
 * on a zeroed or half-set-up struct, and twice. */
void shim_volumes_teardown(struct shim_volumes *vols);

/* Cleans up after a supervisor that died: unmounts everything below dir, removes the
 * empty mount points listed in dir/mountpoints, then dir itself. */
void shim_volumes_cleanup_stale(const char *dir);

#endif
