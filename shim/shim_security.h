/* shim_security.h — a container's user, groups and capabilities, as Kubernetes sets them. */
#ifndef SHIM_SECURITY_H
#define SHIM_SECURITY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "shim_manifest.h"

#define SHIM_MAX_GROUPS 64

/* What a container's process becomes before it execs: plain data, no pointers, so that
 * the forked child can apply it without allocating. */
struct shim_sec_plan {
    bool set_uid, set_gid;
    uid_t uid;
    gid_t gid;
    gid_t groups[SHIM_MAX_GROUPS]; /* supplementalGroups (and runAsGroup), for setgroups */
    size_t ngroups;
    uint64_t caps;       /* the capability bounding set: bit N is capability N */
    bool no_new_privs;   /* allowPrivilegeEscalation: false */
    bool read_only_root; /* readOnlyRootFilesystem */
};

/* The capabilities a container runtime grants by default (containerd's and Docker's set):
 * CHOWN DAC_OVERRIDE FSETID FOWNER MKNOD NET_RAW SETGID SETUID SETFCAP SETPCAP
 * NET_BIND_SERVICE SYS_CHROOT KILL AUDIT_WRITE. */
uint64_t shim_security_default_caps(void);

/* The number of a capability named as Kubernetes writes it ("NET_ADMIN", no "CAP_"), or
 * -1. */
int shim_security_cap_number(const char *name);

/* Merges the pod's and the container's securityContext (the container's wins) into a plan:
 * uid and gid, supplemental groups, the default capabilities with drop then add applied
 * ("ALL" in drop empties the set; privileged grants every capability), no_new_privs unless
 * privilege escalation is allowed. Fails, as the kubelet does, when runAsNonRoot is true and
 * the container would run as root (podshim has no image user: no runAsUser means root). */
int shim_security_plan(const struct shim_pod *pod, const struct shim_container *c,
                       struct shim_sec_plan *out, char *err, size_t errsz);

/* In the container's child, after its mounts and just before exec: setgroups, setresgid,
 * drops what the plan leaves out of the bounding set, setresuid, no_new_privs. Root keeps
 * exactly the bounding set across exec; any other user keeps no capability. Only raw system
 * calls, which change the calling task alone: safe after fork and in a CLONE_VM child (an
 * exec probe's). Returns 0, or -1 with errno and *step naming the call. */
int shim_security_apply(const struct shim_sec_plan *plan, const char **step);

#endif
