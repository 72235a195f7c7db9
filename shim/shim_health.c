/* shim_health.c — postStart and preStop hooks, startup, readiness and liveness probes. */
#include "shim_health.h"

#include <signal.h>
#include <stdio.h>
#include <string.h>

#include <event2/event.h>

#include "pk_log.h"
#include "shim_probe.h"

enum { STARTUP, READINESS, LIVENESS };

static const char *pod_name(const struct shim_ctr *c)
{
    return c->pod->m->pod->name;
}

static struct shim_probe_target target(const struct shim_ctr *c)
{
    struct shim_probe_target t = {.netns_fd = c->pod->sandbox.net_fd,
                                  .container_pid = c->pid,
                                  .spec = c->spec,
                                  .cgroup = c->cg,
                                  .security = &c->security,
                                  .envp = c->env,
                                  .home_net_fd = c->pod->home_net_fd,
                                  .home_pid_fd = c->pod->home_pid_fd,
                                  .ctr_pid_fd = c->pid_fd};
    return t;
}

static void schedule(struct shim_probe_state *ps, int seconds)
{
    struct timeval tv = {seconds, 0};
    evtimer_add(ps->timer, &tv);
}

static void start_probe(struct shim_probe_state *ps)
{
    schedule(ps, ps->spec->initial_delay_seconds);
}

static void on_probe_result(void *arg, enum shim_probe_result r, const char *message);

static void on_probe_timer(evutil_socket_t fd, short what, void *arg)
{
    struct shim_probe_state *ps = arg;
    struct shim_ctr *c = ps->ctr;
    struct shim_probe_target t = target(c);
    char err[256];
    (void)fd;
    (void)what;

    if (c->pid <= 0) {
        return;
    }
    ps->run = shim_probe_start(c->pod->base, &ps->spec->handler, &t,
                               (int64_t)ps->spec->timeout_seconds * 1000, on_probe_result, ps, err,
                               sizeof(err));
    if (ps->run == NULL) {
        pk_log_warn("pod %s container %s: %s probe: %s", pod_name(c), c->spec->name, ps->kind, err);
        schedule(ps, ps->spec->period_seconds);
    }
}

static void begin_probes(struct shim_ctr *c)
{
    if (c->probes[STARTUP].spec != NULL && !c->started_ok) {
        start_probe(&c->probes[STARTUP]);
        return;
    }
    c->started_ok = true;
    c->ready = c->probes[READINESS].spec == NULL;
    if (c->probes[READINESS].spec != NULL) {
        start_probe(&c->probes[READINESS]);
    }
    if (c->probes[LIVENESS].spec != NULL) {
        start_probe(&c->probes[LIVENESS]);
    }
}

static long long kill_grace(const struct shim_probe_state *ps)
{
    return ps->spec->termination_grace_period >= 0 ? ps->spec->termination_grace_period
                                                   : ps->ctr->pod->m->pod->termination_grace_period;
}

static void on_probe_result(void *arg, enum shim_probe_result r, const char *message)
{
    struct shim_probe_state *ps = arg;
    struct shim_ctr *c = ps->ctr;
    bool passed = false;

    ps->run = NULL;
    if (r == SHIM_PROBE_SUCCESS) {
        ps->failures = 0;
        passed = ++ps->successes >= ps->spec->success_threshold;
    } else {
        ps->successes = 0;
        ps->failures++;
        pk_log_info("pod %s container %s: %s probe failed (%d/%d): %s", pod_name(c), c->spec->name,
                    ps->kind, ps->failures, ps->spec->failure_threshold, message);
    }
    if (ps == &c->probes[STARTUP]) {
        if (passed) {
            pk_log_info("pod %s container %s: started (startup probe passed)", pod_name(c),
                        c->spec->name);
            c->started_ok = true; /* before begin_probes, which would start it again */
            begin_probes(c);
            shim_pod_changed(c->pod);
            return; /* a startup probe stops once it passed */
        }
    } else if (ps == &c->probes[READINESS]) {
        bool was = c->ready;
        if (passed) {
            c->ready = true;
        } else if (ps->failures >= ps->spec->failure_threshold) {
            c->ready = false;
        }
        if (was != c->ready) {
            pk_log_info("pod %s container %s: %s", pod_name(c), c->spec->name,
                        c->ready ? "ready" : "not ready");
            shim_pod_changed(c->pod);
        }
    }
    if (ps != &c->probes[READINESS] && ps->failures >= ps->spec->failure_threshold) {
        char why[256];
        snprintf(why, sizeof(why), "%s probe failed: %s", ps->kind, message);
        shim_pod_kill_container(c, kill_grace(ps), why);
        return; /* no more attempts on this instance */
    }
    schedule(ps, ps->spec->period_seconds);
}

static void on_post_start(void *arg, enum shim_probe_result r, const char *message)
{
    struct shim_ctr *c = arg;

    c->hook = NULL;
    if (r != SHIM_PROBE_SUCCESS) {
        char why[256];
        snprintf(why, sizeof(why), "PostStartHookError: %s", message);
        pk_log_warn("pod %s container %s: %s", pod_name(c), c->spec->name, why);
        shim_pod_kill_container(c, 0, why);
        return;
    }
    shim_pod_mark_running(c);
    begin_probes(c);
    shim_pod_changed(c->pod);
}

int shim_health_init(struct shim_ctr *c)
{
    const struct shim_probe *specs[3] = {&c->spec->startup, &c->spec->readiness,
                                         &c->spec->liveness};
    static const char *const kinds[3] = {"Startup", "Readiness", "Liveness"};

    for (int i = 0; i < 3; i++) {
        struct shim_probe_state *ps = &c->probes[i];
        ps->ctr = c;
        ps->kind = kinds[i];
        ps->spec = specs[i]->set ? specs[i] : NULL;
        ps->timer = evtimer_new(c->pod->base, on_probe_timer, ps);
        if (ps->timer == NULL) {
            return -1;
        }
    }
    return 0;
}

void shim_health_started(struct shim_ctr *c)
{
    struct shim_probe_target t = target(c);
    char err[256];

    c->started_ok = false;
    c->ready = false;
    c->prestop_done = false;
    for (int i = 0; i < 3; i++) {
        c->probes[i].successes = c->probes[i].failures = 0;
    }
    if (c->spec->post_start.type == SHIM_HANDLER_NONE) {
        shim_pod_mark_running(c);
        begin_probes(c);
        return;
    }
    c->hook = shim_probe_start(c->pod->base, &c->spec->post_start, &t, 0, on_post_start, c, err,
                               sizeof(err));
    if (c->hook == NULL) {
        shim_pod_kill_container(c, 0, err);
    }
}

void shim_health_stopped(struct shim_ctr *c)
{
    for (int i = 0; i < 3; i++) {
        if (c->probes[i].timer != NULL) {
            evtimer_del(c->probes[i].timer);
        }
        if (c->probes[i].run != NULL) {
            shim_probe_cancel(c->probes[i].run);
            c->probes[i].run = NULL;
        }
    }
    if (c->hook != NULL) {
        shim_probe_cancel(c->hook);
        c->hook = NULL;
    }
    if (c->kill_timer != NULL) {
        evtimer_del(c->kill_timer);
    }
    c->ready = false;
}

static void on_pre_stop(void *arg, enum shim_probe_result r, const char *message)
{
    struct shim_ctr *c = arg;

    c->hook = NULL;
    c->prestop_done = true;
    if (r != SHIM_PROBE_SUCCESS) {
        pk_log_warn("pod %s container %s: preStop hook failed: %s", pod_name(c), c->spec->name,
                    message);
    }
    shim_pod_changed(c->pod); /* the stop goes on: this container's stop signal is next */
}

bool shim_health_prestop(struct shim_ctr *c)
{
    struct shim_probe_target t = target(c);
    char err[256];

    if (c->hook != NULL) {
        return true; /* under way */
    }
    if (c->prestop_done || c->spec->pre_stop.type == SHIM_HANDLER_NONE || c->pid <= 0) {
        c->prestop_done = true;
        return false;
    }
    /* Probes stop while the container is being stopped. */
    for (int i = 0; i < 3; i++) {
        evtimer_del(c->probes[i].timer);
        if (c->probes[i].run != NULL) {
            shim_probe_cancel(c->probes[i].run);
            c->probes[i].run = NULL;
        }
    }
    c->hook =
        shim_probe_start(c->pod->base, &c->spec->pre_stop, &t, 0, on_pre_stop, c, err, sizeof(err));
    if (c->hook == NULL) {
        pk_log_warn("pod %s container %s: preStop hook: %s", pod_name(c), c->spec->name, err);
        c->prestop_done = true;
        return false;
    }
    return true;
}

bool shim_health_hooks_running(const struct shim_podrt *p)
{
    for (size_t i = 0; i < p->nctrs; i++) {
        if (p->ctrs[i].hook != NULL && p->terminating) {
            return true;
        }
    }
    return false;
}

bool shim_health_reaped(struct shim_podrt *p, pid_t pid, int status)
{
    for (size_t i = 0; i < p->nctrs; i++) {
        struct shim_ctr *c = &p->ctrs[i];
        if (shim_probe_reaped(c->hook, pid, status)) {
            return true;
        }
        for (size_t k = 0; k < sizeof(c->probes) / sizeof(c->probes[0]); k++) {
            if (shim_probe_reaped(c->probes[k].run, pid, status)) {
                return true;
            }
        }
    }
    return false;
}

void shim_health_free(struct shim_ctr *c)
{
    shim_health_stopped(c);
    for (int i = 0; i < 3; i++) {
        if (c->probes[i].timer != NULL) {
            event_free(c->probes[i].timer);
            c->probes[i].timer = NULL;
        }
    }
    if (c->kill_timer != NULL) {
        event_free(c->kill_timer);
        c->kill_timer = NULL;
    }
}
