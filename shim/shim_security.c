/* shim_security.c — securityContext: the plan (pure) and its application (system calls). */
#include "shim_security.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

/* Linux capability numbers by name (linux/capability.h). */
static const char *const cap_names[] = {
    "CHOWN",
    "DAC_OVERRIDE",
    "DAC_READ_SEARCH",
    "FOWNER",
    "FSETID",
    "KILL",
    "SETGID",
    "SETUID",
    "SETPCAP",
    "LINUX_IMMUTABLE",
    "NET_BIND_SERVICE",
    "NET_BROADCAST",
    "NET_ADMIN",
    "NET_RAW",
    "IPC_LOCK",
    "IPC_OWNER",
    "SYS_MODULE",
    "SYS_RAWIO",
    "SYS_CHROOT",
    "SYS_PTRACE",
    "SYS_PACCT",
    "SYS_ADMIN",
    "SYS_BOOT",
    "SYS_NICE",
    "SYS_RESOURCE",
    "SYS_TIME",
    "SYS_TTY_CONFIG",
    "MKNOD",
    "LEASE",
    "AUDIT_WRITE",
    "AUDIT_CONTROL",
    "SETFCAP",
    "MAC_OVERRIDE",
    "MAC_ADMIN",
    "SYSLOG",
    "WAKE_ALARM",
    "BLOCK_SUSPEND",
    "AUDIT_READ",
    "PERFMON",
    "BPF",
    "CHECKPOINT_RESTORE",
};
#define NCAPS (sizeof(cap_names) / sizeof(cap_names[0]))

int shim_security_cap_number(const char *name)
{
    if (strncmp(name, "CAP_", 4) == 0) {
        name += 4;
    }
    for (size_t i = 0; i < NCAPS; i++) {
        if (strcmp(name, cap_names[i]) == 0) {
            return (int)i;
        }
    }
    return -1;
}

uint64_t shim_security_default_caps(void)
{
    static const char *const defaults[] = {
        "CHOWN",   "DAC_OVERRIDE", "FSETID",           "FOWNER",
        "MKNOD",   "NET_RAW",      "SETGID",           "SETUID",
        "SETFCAP", "SETPCAP",      "NET_BIND_SERVICE", "SYS_CHROOT",
        "KILL",    "AUDIT_WRITE"};
    uint64_t caps = 0;

    for (size_t i = 0; i < sizeof(defaults) / sizeof(defaults[0]); i++) {
        caps |= 1ull << shim_security_cap_number(defaults[i]);
    }
    return caps;
}

/* Applies a list of capability names to caps (add or remove); "ALL" means every one. */
static int apply_list(uint64_t *caps, char *const *names, size_t n, bool add, char *err,
                      size_t errsz)
{
    for (size_t i = 0; i < n; i++) {
        uint64_t bits;
        if (strcmp(names[i], "ALL") == 0) {
            bits = (1ull << NCAPS) - 1;
        } else {
            int nr = shim_security_cap_number(names[i]);
            if (nr < 0) {
                snprintf(err, errsz, "unknown capability %s", names[i]);
                return -1;
            }
            bits = 1ull << nr;
        }
        *caps = add ? *caps | bits : *caps & ~bits;
    }
    return 0;
}

int shim_security_plan(const struct shim_pod *pod, const struct shim_container *c,
                       struct shim_sec_plan *out, char *err, size_t errsz)
{
    const struct shim_security_context *ps = &pod->security, *cs = &c->security;
    long long uid = cs->run_as_user >= 0 ? cs->run_as_user : ps->run_as_user;
    long long gid = cs->run_as_group >= 0 ? cs->run_as_group : ps->run_as_group;
    int non_root = cs->run_as_non_root >= 0 ? cs->run_as_non_root : ps->run_as_non_root;

    memset(out, 0, sizeof(*out));
    if (non_root == 1 && uid <= 0) {
        snprintf(err, errsz,
                 "container has runAsNonRoot and image will run as root (pod: %s, "
                 "container: %s)",
                 pod->name, c->name);
        return -1;
    }
    out->set_uid = uid >= 0;
    out->uid = uid >= 0 ? (uid_t)uid : 0;
    out->set_gid = gid >= 0;
    out->gid = gid >= 0 ? (gid_t)gid : 0;
    if (ps->nsupplemental_groups > SHIM_MAX_GROUPS) {
        snprintf(err, errsz, "more than %d supplementalGroups", SHIM_MAX_GROUPS);
        return -1;
    }
    for (size_t i = 0; i < ps->nsupplemental_groups; i++) {
        out->groups[out->ngroups++] = (gid_t)ps->supplemental_groups[i];
    }
    if (cs->privileged == 1) {
        out->caps = (1ull << NCAPS) - 1;
    } else {
        out->caps = shim_security_default_caps();
        if (apply_list(&out->caps, cs->cap_drop, cs->ncap_drop, false, err, errsz) < 0 ||
            apply_list(&out->caps, cs->cap_add, cs->ncap_add, true, err, errsz) < 0) {
            return -1;
        }
    }
    out->no_new_privs = cs->allow_privilege_escalation == 0 && cs->privileged != 1;
    out->read_only_root = cs->read_only_root_fs == 1;
    return 0;
}

int shim_security_apply(const struct shim_sec_plan *plan, const char **step)
{
    /* Raw system calls, not libc's: libc's set*id change every thread of the process (by
     * signalling them), which in a CLONE_VM child would be the supervisor's threads. */
    /* Groups first, while we are still root; then the bounding set, which needs
     * CAP_SETPCAP; the user last, since it drops every capability of a non-root user. */
    if (plan->set_gid || plan->ngroups > 0) {
        gid_t groups[SHIM_MAX_GROUPS + 1];
        size_t n = 0;
        if (plan->set_gid) {
            groups[n++] = plan->gid;
        }
        memcpy(groups + n, plan->groups, plan->ngroups * sizeof(gid_t));
        n += plan->ngroups;
        if (syscall(SYS_setgroups, n, groups) < 0) {
            *step = "setgroups";
            return -1;
        }
    }
    if (plan->set_gid && syscall(SYS_setresgid, plan->gid, plan->gid, plan->gid) < 0) {
        *step = "setresgid";
        return -1;
    }
    for (unsigned cap = 0; cap < 64; cap++) {
        if (plan->caps & (1ull << cap)) {
            continue;
        }
        if (prctl(PR_CAPBSET_DROP, cap, 0L, 0L, 0L) < 0) {
            if (errno == EINVAL) {
                break; /* past the last capability this kernel knows */
            }
            *step = "drop a capability from the bounding set";
            return -1;
        }
    }
    if (plan->set_uid && syscall(SYS_setresuid, plan->uid, plan->uid, plan->uid) < 0) {
        *step = "setresuid";
        return -1;
    }
    if (plan->no_new_privs && prctl(PR_SET_NO_NEW_PRIVS, 1L, 0L, 0L, 0L) < 0) {
        *step = "set no_new_privs";
        return -1;
    }
    return 0;
}
