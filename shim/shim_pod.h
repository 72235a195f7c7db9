/* shim_pod.h — one pod's supervisor: sandbox, containers, restarts, logs, termination. */
#ifndef SHIM_POD_H
#define SHIM_POD_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#include <event2/event.h>

#include "shim_crilog.h"
#include "shim_manifest.h"
#include "shim_sandbox.h"
#include "shim_security.h"
#include "shim_volume.h"

struct shim_cgroup;

/* Settings from the command line; borrowed for the pod's life. */
struct shim_opts {
    const char *root;       /* per-pod state lives in ROOT/NAMESPACE_NAME */
    const char *log_dir;    /* CRI logs in LOG_DIR/NAMESPACE_NAME_UID/CONTAINER/N.log */
    const char *pause_path; /* the pause binary */
    int64_t backoff_base_ms, backoff_max_ms;
    int64_t backoff_reset_ms; /* a container that ran this long starts back-off afresh */
    long long grace_override; /* seconds, or -1: the pod's terminationGracePeriodSeconds */
    bool keep_after_end;      /* a pod that ended stays visible (get, logs) until deleted */
    long long pids_limit;     /* pids.max of every container, 0: none (kubelet's podPidsLimit) */
    uint64_t log_max_bytes;
    int log_max_files;
};

enum shim_phase { SHIM_PENDING, SHIM_RUNNING, SHIM_SUCCEEDED, SHIM_FAILED };
enum shim_cstate { SHIM_WAITING, SHIM_CRUNNING, SHIM_TERMINATED };

/* How a container instance ended (state.terminated / lastState.terminated). */
struct shim_exit {
    bool set;
    int exit_code;
    int signal; /* 0 when it exited by itself */
    char reason[32];
    char message[256];
    struct timespec started, finished; /* wall clock */
};

struct shim_ctr;
struct shim_probe_run;

/* One probe of a container (startup, readiness or liveness) and its run of results. */
struct shim_probe_state {
    struct shim_ctr *ctr;          /* back pointer, borrowed */
    const struct shim_probe *spec; /* NULL when the container has no such probe */
    const char *kind;              /* "Startup", "Readiness", "Liveness" */
    struct event *timer;           /* the next attempt */
    struct shim_probe_run *run;    /* the attempt under way, or NULL */
    int successes, failures;       /* consecutive */
};

/* One container's state; owned by its pod. */
struct shim_ctr {
    struct shim_podrt *pod; /* back pointer, borrowed */
    const struct shim_container *spec;
    bool init;
    enum shim_cstate state;
    char reason[32];   /* waiting reason: ContainerCreating, PodInitializing, CrashLoopBackOff */
    char message[512]; /* why, for a waiting reason */
    pid_t pid;         /* the container's init (pause) or process; 0 when not running */
    int start_fd;      /* while the exec is not yet known to have worked: its result pipe */
    struct event *start_ev;
    struct timespec started;      /* wall clock, when running */
    struct timespec started_mono; /* for the back-off reset */
    struct shim_exit term;        /* when terminated */
    struct shim_exit last;        /* the previous instance, for lastState */
    int restarts;
    int64_t backoff_ms;  /* the next back-off */
    struct event *timer; /* restart after back-off */
    bool done;           /* finished for good: never starts again */
    bool ever_started;   /* ran at least once */
    bool term_sent;      /* stopping: SIGTERM was sent to this instance */
    /* Health (shim_health.c): hooks and probes of the current instance. */
    struct shim_probe_state probes[3]; /* startup, readiness, liveness */
    bool started_ok;                   /* postStart done and the startup probe passed */
    bool ready;                        /* readiness: passed, or no readiness probe */
    struct shim_probe_run *hook;       /* postStart or preStop under way */
    bool prestop_done;                 /* stopping: its preStop ran (or there is none) */
    struct event *kill_timer;          /* SIGKILL after a health-triggered stop's grace */
    char kill_reason[256];             /* why podshim stopped it: term.message */
    struct shim_cgroup *cg;            /* the current instance's cgroup, or NULL */
    struct shim_sec_plan security;     /* the current instance's, for exec probes and hooks */
    char **env;                        /* the current instance's environment, likewise */
    int pid_fd;                        /* its pid namespace, likewise; -1 when not running */
    /* The current instance's output: pipes read into its CRI log file. */
    int out_fd, err_fd;
    struct event *out_ev, *err_ev;
    struct shim_crilog *log;
};

/* Called when the pod reaches a point the caller waits for. */
typedef void (*shim_pod_cb)(struct shim_podrt *p, void *arg);

/* A running pod. Everything is owned by it and freed by shim_pod_destroy. */
struct shim_podrt {
    struct event_base *base;      /* borrowed */
    struct shim_manifest *m;      /* owned */
    const struct shim_opts *opts; /* borrowed */
    char dir[1024];               /* the state directory */
    char log_dir[1024];           /* this pod's CRI log directory */
    char hostname[64];
    struct timespec created; /* wall clock */
    enum shim_phase phase;
    bool initialized; /* every init container succeeded */
    bool terminating; /* containers are being stopped (deletion, or the pod ended) */
    bool deleting;    /* shim_pod_terminate was asked: the pod goes away when stopped */
    bool torn_down;   /* sandbox and volumes are gone */
    bool finished;    /* on_finished ran: the state directory is gone */
    struct shim_sandbox sandbox;
    struct shim_volumes volumes;
    struct shim_ctr *ctrs; /* init containers first, then app containers */
    size_t nctrs, ninit;
    size_t next_init; /* the init container running or next to run */
    struct event *grace_timer;
    struct shim_portfwd **fwds;
    size_t nfwds;
    shim_pod_cb on_started;  /* every app container started once (or the pod ended) */
    shim_pod_cb on_finished; /* the pod is over and torn down */
    void *cb_arg;
    bool started_reported;
    char failure[512];            /* why the pod could not start or failed, for messages */
    int pause_fd;                 /* opts->pause_path opened O_PATH, for every container's init */
    int home_net_fd, home_pid_fd; /* the supervisor's own net and pid namespaces, which exec,
                                   * httpGet and tcpSocket handlers return to; or -1 */
    bool grace_extended;          /* the one-off 2 s for preStop hooks that overran was given */
    struct shim_cgroup *cgroup;   /* the pod's cgroup (NULL when cgroups are unusable) */
    struct shim_cgroup *pause_cg; /* pause's, below it (v2 keeps processes out of inner nodes) */
};

/* Creates the pod's state directory (refusing a pod of the same name that already has
 * one), resolves everything that can be checked before starting, and prepares the
 * containers' state. Takes ownership of m. Starts nothing. NULL with err on failure. */
struct shim_podrt *shim_pod_create(struct event_base *base, struct shim_manifest *m,
                                   const struct shim_opts *opts, char *err, size_t errsz);

/* Sets up volumes, starts the sandbox, the hostPort forwarders and the first containers.
 * Returns 0, or -1 with err (what was set up is torn down by shim_pod_destroy). */
int shim_pod_start(struct shim_podrt *p, char *err, size_t errsz);

/* Deletes the pod as Kubernetes does: SIGTERM to every container, SIGKILL after the grace
 * period (grace_s, or the pod's own when negative), then the sandbox, volumes and state;
 * on_finished follows. A pod that already ended (kept for get and logs) goes at once. */
void shim_pod_terminate(struct shim_podrt *p, long long grace_s);

/* Handles SIGCHLD: reaps every exited child and moves the pod on. */
void shim_pod_reap(struct shim_podrt *p);

/* For shim_health.c: moves the pod on after a change (a container became running or
 * ready, a hook ended). */
void shim_pod_changed(struct shim_podrt *p);

/* For shim_health.c: stops container c as a failed probe or hook does: SIGTERM, SIGKILL
 * after grace_s seconds; why goes into its terminated state's message. */
void shim_pod_kill_container(struct shim_ctr *c, long long grace_s, const char *why);

/* For shim_health.c: container c's instance is running (after postStart). */
void shim_pod_mark_running(struct shim_ctr *c);

/* Whether the pod is Ready: every app container and sidecar running and ready. */
bool shim_pod_ready(const struct shim_podrt *p);

/* Frees the pod. It must be torn down (on_finished ran) or never started. */
void shim_pod_destroy(struct shim_podrt *p);

/* Names used in status output. */
const char *shim_phase_name(enum shim_phase phase);

#endif
