/* ar_topo_sub.c — the +switch-master subscription to each Sentinel, reconnected with a
 * back-off when it drops. The rules for letting go of a hiredis context are in
 * ar_topo_int.h. */
#include "ar_topo_int.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#define SUB_BACKOFF_MIN_MS 100
#define SUB_BACKOFF_MAX_MS 5000
#define SWITCH_CHANNEL "+switch-master"

static void sub_connect(struct ar_sub *s);

/* The subscription is gone: counted, and tried again after the back-off. */
static void sub_drop(struct ar_sub *s, bool free_ctx, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void sub_drop(struct ar_sub *s, bool free_ctx, const char *fmt, ...)
{
    redisAsyncContext *ac = s->ac;
    char detail[AR_TOPO_ERR_MAX], where[AR_TOPO_HOST_MAX + 16];
    struct timeval tv = ar_topo_tv(s->backoff_ms);
    va_list ap;

    s->ac = NULL;
    s->subscribed = false;
    if (ac != NULL) {
        ac->data = NULL;
        if (free_ctx) {
            redisAsyncFree(ac);
        }
    }
    va_start(ap, fmt);
    vsnprintf(detail, sizeof(detail), fmt, ap);
    va_end(ap);
    s->t->stats.sentinel_errors++;
    ar_topo_error(s->t, "sentinel %s: subscription: %s",
                  ar_topo_addr_str(&s->addr, where, sizeof(where)), detail);
    evtimer_add(s->timer, &tv);
    s->backoff_ms = s->backoff_ms * 2 < SUB_BACKOFF_MAX_MS ? s->backoff_ms * 2 : SUB_BACKOFF_MAX_MS;
}

/* "<master-name> <old-ip> <old-port> <new-ip> <new-port>": true when it is about ours. */
static bool switch_is_ours(const char *msg, const char *name)
{
    size_t n = strlen(name);
    int fields = 1;

    if (strncmp(msg, name, n) != 0 || msg[n] != ' ') {
        return false;
    }
    for (const char *s = msg + n; *s != '\0'; s++) {
        fields += *s == ' ';
    }
    return fields == 5;
}

/* The subscription a reply is for, or NULL when there is nothing more to do with it:
 * detached already, or the connection lost (a NULL reply). */
static struct ar_sub *sub_reply(redisAsyncContext *ac, const redisReply *r, const char *cmd)
{
    struct ar_sub *s = ac->data;

    if (s != NULL && r == NULL) {
        sub_drop(s, false, "%s: %s", cmd, ar_topo_lost_why(ac));
        return NULL;
    }
    return s;
}

static void on_sub_auth(redisAsyncContext *ac, void *reply, void *privdata)
{
    const redisReply *r = reply;
    struct ar_sub *s = sub_reply(ac, r, "AUTH");

    (void)privdata;
    if (s != NULL && r->type == REDIS_REPLY_ERROR) {
        sub_drop(s, true, "AUTH: %s", r->str);
    }
}

static void on_sub_message(redisAsyncContext *ac, void *reply, void *privdata)
{
    const redisReply *r = reply;
    struct ar_sub *s = sub_reply(ac, r, "SUBSCRIBE");

    (void)privdata;
    if (s == NULL) {
        return;
    }
    if (r->type != REDIS_REPLY_ARRAY || r->elements < 3 || !ar_topo_is_str(r->element[0])) {
        return;
    }
    if (strcmp(r->element[0]->str, "subscribe") == 0) {
        evtimer_del(s->timer);
        s->subscribed = true;
        s->backoff_ms = SUB_BACKOFF_MIN_MS;
    } else if (strcmp(r->element[0]->str, "message") == 0 && ar_topo_is_str(r->element[2]) &&
               switch_is_ours(r->element[2]->str, s->t->master_name)) {
        ar_topo_switched(s->t);
    }
}

static void on_sub_connect(const redisAsyncContext *ac, int status)
{
    struct ar_sub *s = ac->data;

    if (s != NULL && status != REDIS_OK) {
        sub_drop(s, false, "connect: %s", ar_topo_lost_why(ac));
    }
    /* Connected: the timer still runs until SUBSCRIBE is confirmed. */
}

static void on_sub_disconnect(const redisAsyncContext *ac, int status)
{
    struct ar_sub *s = ac->data;

    (void)status;
    if (s != NULL) {
        sub_drop(s, false, "%s", ar_topo_lost_why(ac));
    }
}

static void sub_connect(struct ar_sub *s)
{
    struct ar_topo *t = s->t;
    char err[AR_TOPO_ERR_MAX];
    struct timeval tv = ar_topo_tv(t->connect_timeout_ms);

    s->ac =
        ar_topo_connect(t->base, &s->addr, s, on_sub_connect, on_sub_disconnect, err, sizeof(err));
    if (s->ac == NULL) {
        sub_drop(s, false, "%s", err);
        return;
    }
    /* A dead peer that never closes is noticed by TCP keepalive, not by silence. */
    redisEnableKeepAlive(&s->ac->c);
    if (ar_topo_send_auth(s->ac, t->sentinel_user, t->sentinel_password, on_sub_auth) < 0 ||
        redisAsyncCommand(s->ac, on_sub_message, NULL, "SUBSCRIBE %s", SWITCH_CHANNEL) !=
            REDIS_OK) {
        sub_drop(s, true, "cannot queue SUBSCRIBE");
        return;
    }
    evtimer_add(s->timer, &tv);
}

static void on_sub_timer(evutil_socket_t fd, short what, void *arg)
{
    struct ar_sub *s = arg;

    (void)fd;
    (void)what;
    if (s->ac == NULL) {
        sub_connect(s);
    } else {
        sub_drop(s, true, "no SUBSCRIBE confirmation within %d ms", s->t->connect_timeout_ms);
    }
}

/* Sets up the subscription; it connects from the loop. */
int ar_sub_init(struct ar_sub *s, struct ar_topo *t, const struct ar_topo_addr *addr)
{
    struct timeval now = ar_topo_tv(0);

    memset(s, 0, sizeof(*s));
    s->t = t;
    s->addr = *addr;
    s->backoff_ms = SUB_BACKOFF_MIN_MS;
    s->timer = evtimer_new(t->base, on_sub_timer, s);
    if (s->timer == NULL) {
        return -1;
    }
    evtimer_add(s->timer, &now);
    return 0;
}

/* Closes the subscription; accepts a zeroed or half-built one. */
void ar_sub_fini(struct ar_sub *s)
{
    if (s->ac != NULL) {
        s->ac->data = NULL;
        redisAsyncFree(s->ac);
        s->ac = NULL;
    }
    if (s->timer != NULL) {
        event_free(s->timer);
        s->timer = NULL;
    }
}
