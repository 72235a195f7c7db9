/* ar_cmd.c — the table of Redis 7's commands and what each means for routing. */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "ar_cmd.h"

#define RO AR_CMD_READONLY
#define BLK AR_CMD_BLOCKING
#define ST AR_CMD_STATEFUL
#define PS AR_CMD_PUBSUB
#define MON AR_CMD_MONITOR
#define AU AR_CMD_AUTH
#define QU AR_CMD_QUIT

/* Commands whose flags depend on their arguments. */
enum refine { REF_NONE, REF_SELECT, REF_HELLO, REF_XREAD, REF_CLIENT, REF_MEMORY };

struct cmd {
    char name[24];
    unsigned char flags;
    unsigned char refine;
};

/* Every command of Redis 7.0 (COMMAND INFO), plus WAITAOF (7.2), sorted by strcmp for
 * bsearch. RO follows Redis' own "readonly" flag: for OBJECT and XINFO every subcommand but
 * HELP has it; XREAD gets it only without BLOCK and MEMORY only for USAGE (see refine). */
static const struct cmd table[] = {
    {"acl", 0, REF_NONE},
    {"append", 0, REF_NONE},
    {"asking", ST, REF_NONE},
    {"auth", AU | ST, REF_NONE},
    {"bgrewriteaof", 0, REF_NONE},
    {"bgsave", 0, REF_NONE},
    {"bitcount", RO, REF_NONE},
    {"bitfield", 0, REF_NONE},
    {"bitfield_ro", RO, REF_NONE},
    {"bitop", 0, REF_NONE},
    {"bitpos", RO, REF_NONE},
    {"blmove", BLK | ST, REF_NONE},
    {"blmpop", BLK | ST, REF_NONE},
    {"blpop", BLK | ST, REF_NONE},
    {"brpop", BLK | ST, REF_NONE},
    {"brpoplpush", BLK | ST, REF_NONE},
    {"bzmpop", BLK | ST, REF_NONE},
    {"bzpopmax", BLK | ST, REF_NONE},
    {"bzpopmin", BLK | ST, REF_NONE},
    {"client", 0, REF_CLIENT},
    {"cluster", 0, REF_NONE},
    {"command", 0, REF_NONE},
    {"config", 0, REF_NONE},
    {"copy", 0, REF_NONE},
    {"dbsize", RO, REF_NONE},
    {"debug", 0, REF_NONE},
    {"decr", 0, REF_NONE},
    {"decrby", 0, REF_NONE},
    {"del", 0, REF_NONE},
    {"discard", ST, REF_NONE},
    {"dump", RO, REF_NONE},
    {"echo", 0, REF_NONE},
    {"eval", 0, REF_NONE},
    {"eval_ro", RO, REF_NONE},
    {"evalsha", 0, REF_NONE},
    {"evalsha_ro", RO, REF_NONE},
    {"exec", ST, REF_NONE},
    {"exists", RO, REF_NONE},
    {"expire", 0, REF_NONE},
    {"expireat", 0, REF_NONE},
    {"expiretime", RO, REF_NONE},
    {"failover", 0, REF_NONE},
    {"fcall", 0, REF_NONE},
    {"fcall_ro", RO, REF_NONE},
    {"flushall", 0, REF_NONE},
    {"flushdb", 0, REF_NONE},
    {"function", 0, REF_NONE},
    {"geoadd", 0, REF_NONE},
    {"geodist", RO, REF_NONE},
    {"geohash", RO, REF_NONE},
    {"geopos", RO, REF_NONE},
    {"georadius", 0, REF_NONE},
    {"georadius_ro", RO, REF_NONE},
    {"georadiusbymember", 0, REF_NONE},
    {"georadiusbymember_ro", RO, REF_NONE},
    {"geosearch", RO, REF_NONE},
    {"geosearchstore", 0, REF_NONE},
    {"get", RO, REF_NONE},
    {"getbit", RO, REF_NONE},
    {"getdel", 0, REF_NONE},
    {"getex", 0, REF_NONE},
    {"getrange", RO, REF_NONE},
    {"getset", 0, REF_NONE},
    {"hdel", 0, REF_NONE},
    {"hello", 0, REF_HELLO},
    {"hexists", RO, REF_NONE},
    {"hget", RO, REF_NONE},
    {"hgetall", RO, REF_NONE},
    {"hincrby", 0, REF_NONE},
    {"hincrbyfloat", 0, REF_NONE},
    {"hkeys", RO, REF_NONE},
    {"hlen", RO, REF_NONE},
    {"hmget", RO, REF_NONE},
    {"hmset", 0, REF_NONE},
    {"hrandfield", RO, REF_NONE},
    {"hscan", RO, REF_NONE},
    {"hset", 0, REF_NONE},
    {"hsetnx", 0, REF_NONE},
    {"hstrlen", RO, REF_NONE},
    {"hvals", RO, REF_NONE},
    {"incr", 0, REF_NONE},
    {"incrby", 0, REF_NONE},
    {"incrbyfloat", 0, REF_NONE},
    {"info", 0, REF_NONE},
    {"keys", RO, REF_NONE},
    {"lastsave", 0, REF_NONE},
    {"latency", 0, REF_NONE},
    {"lcs", RO, REF_NONE},
    {"lindex", RO, REF_NONE},
    {"linsert", 0, REF_NONE},
    {"llen", RO, REF_NONE},
    {"lmove", 0, REF_NONE},
    {"lmpop", 0, REF_NONE},
    {"lolwut", RO, REF_NONE},
    {"lpop", 0, REF_NONE},
    {"lpos", RO, REF_NONE},
    {"lpush", 0, REF_NONE},
    {"lpushx", 0, REF_NONE},
    {"lrange", RO, REF_NONE},
    {"lrem", 0, REF_NONE},
    {"lset", 0, REF_NONE},
    {"ltrim", 0, REF_NONE},
    {"memory", 0, REF_MEMORY},
    {"mget", RO, REF_NONE},
    {"migrate", 0, REF_NONE},
    {"module", 0, REF_NONE},
    {"monitor", MON | ST, REF_NONE},
    {"move", 0, REF_NONE},
    {"mset", 0, REF_NONE},
    {"msetnx", 0, REF_NONE},
    {"multi", ST, REF_NONE},
    {"object", RO, REF_NONE},
    {"persist", 0, REF_NONE},
    {"pexpire", 0, REF_NONE},
    {"pexpireat", 0, REF_NONE},
    {"pexpiretime", RO, REF_NONE},
    {"pfadd", 0, REF_NONE},
    {"pfcount", RO, REF_NONE},
    {"pfdebug", 0, REF_NONE},
    {"pfmerge", 0, REF_NONE},
    {"pfselftest", 0, REF_NONE},
    {"ping", 0, REF_NONE},
    {"psetex", 0, REF_NONE},
    {"psubscribe", PS | ST, REF_NONE},
    {"psync", ST, REF_NONE},
    {"pttl", RO, REF_NONE},
    {"publish", 0, REF_NONE},
    {"pubsub", 0, REF_NONE},
    {"punsubscribe", ST, REF_NONE},
    {"quit", QU, REF_NONE},
    {"randomkey", RO, REF_NONE},
    {"readonly", ST, REF_NONE},
    {"readwrite", ST, REF_NONE},
    {"rename", 0, REF_NONE},
    {"renamenx", 0, REF_NONE},
    {"replconf", 0, REF_NONE},
    {"replicaof", 0, REF_NONE},
    {"reset", ST, REF_NONE},
    {"restore", 0, REF_NONE},
    {"restore-asking", 0, REF_NONE},
    {"role", 0, REF_NONE},
    {"rpop", 0, REF_NONE},
    {"rpoplpush", 0, REF_NONE},
    {"rpush", 0, REF_NONE},
    {"rpushx", 0, REF_NONE},
    {"sadd", 0, REF_NONE},
    {"save", 0, REF_NONE},
    {"scan", RO, REF_NONE},
    {"scard", RO, REF_NONE},
    {"script", 0, REF_NONE},
    {"sdiff", RO, REF_NONE},
    {"sdiffstore", 0, REF_NONE},
    {"select", 0, REF_SELECT},
    {"set", 0, REF_NONE},
    {"setbit", 0, REF_NONE},
    {"setex", 0, REF_NONE},
    {"setnx", 0, REF_NONE},
    {"setrange", 0, REF_NONE},
    {"shutdown", 0, REF_NONE},
    {"sinter", RO, REF_NONE},
    {"sintercard", RO, REF_NONE},
    {"sinterstore", 0, REF_NONE},
    {"sismember", RO, REF_NONE},
    {"slaveof", 0, REF_NONE},
    {"slowlog", 0, REF_NONE},
    {"smembers", RO, REF_NONE},
    {"smismember", RO, REF_NONE},
    {"smove", 0, REF_NONE},
    {"sort", 0, REF_NONE},
    {"sort_ro", RO, REF_NONE},
    {"spop", 0, REF_NONE},
    {"spublish", 0, REF_NONE},
    {"srandmember", RO, REF_NONE},
    {"srem", 0, REF_NONE},
    {"sscan", RO, REF_NONE},
    {"ssubscribe", PS | ST, REF_NONE},
    {"strlen", RO, REF_NONE},
    {"subscribe", PS | ST, REF_NONE},
    {"substr", RO, REF_NONE},
    {"sunion", RO, REF_NONE},
    {"sunionstore", 0, REF_NONE},
    {"sunsubscribe", ST, REF_NONE},
    {"swapdb", 0, REF_NONE},
    {"sync", ST, REF_NONE},
    {"time", 0, REF_NONE},
    {"touch", RO, REF_NONE},
    {"ttl", RO, REF_NONE},
    {"type", RO, REF_NONE},
    {"unlink", 0, REF_NONE},
    {"unsubscribe", ST, REF_NONE},
    {"unwatch", ST, REF_NONE},
    {"wait", BLK | ST, REF_NONE},
    {"waitaof", BLK | ST, REF_NONE},
    {"watch", ST, REF_NONE},
    {"xack", 0, REF_NONE},
    {"xadd", 0, REF_NONE},
    {"xautoclaim", 0, REF_NONE},
    {"xclaim", 0, REF_NONE},
    {"xdel", 0, REF_NONE},
    {"xgroup", 0, REF_NONE},
    {"xinfo", RO, REF_NONE},
    {"xlen", RO, REF_NONE},
    {"xpending", RO, REF_NONE},
    {"xrange", RO, REF_NONE},
    {"xread", 0, REF_XREAD},
    {"xreadgroup", 0, REF_XREAD},
    {"xrevrange", RO, REF_NONE},
    {"xsetid", 0, REF_NONE},
    {"xtrim", 0, REF_NONE},
    {"zadd", 0, REF_NONE},
    {"zcard", RO, REF_NONE},
    {"zcount", RO, REF_NONE},
    {"zdiff", RO, REF_NONE},
    {"zdiffstore", 0, REF_NONE},
    {"zincrby", 0, REF_NONE},
    {"zinter", RO, REF_NONE},
    {"zintercard", RO, REF_NONE},
    {"zinterstore", 0, REF_NONE},
    {"zlexcount", RO, REF_NONE},
    {"zmpop", 0, REF_NONE},
    {"zmscore", RO, REF_NONE},
    {"zpopmax", 0, REF_NONE},
    {"zpopmin", 0, REF_NONE},
    {"zrandmember", RO, REF_NONE},
    {"zrange", RO, REF_NONE},
    {"zrangebylex", RO, REF_NONE},
    {"zrangebyscore", RO, REF_NONE},
    {"zrangestore", 0, REF_NONE},
    {"zrank", RO, REF_NONE},
    {"zrem", 0, REF_NONE},
    {"zremrangebylex", 0, REF_NONE},
    {"zremrangebyrank", 0, REF_NONE},
    {"zremrangebyscore", 0, REF_NONE},
    {"zrevrange", RO, REF_NONE},
    {"zrevrangebylex", RO, REF_NONE},
    {"zrevrangebyscore", RO, REF_NONE},
    {"zrevrank", RO, REF_NONE},
    {"zscan", RO, REF_NONE},
    {"zscore", RO, REF_NONE},
    {"zunion", RO, REF_NONE},
    {"zunionstore", 0, REF_NONE},
};

#define TABLE_LEN (sizeof(table) / sizeof(table[0]))

static int cmd_compare(const void *key, const void *elem)
{
    return strcmp(key, ((const struct cmd *)elem)->name);
}

static const struct cmd *lookup(const struct ar_resp_msg *msg)
{
    /* A cut name, or one with a NUL inside, is no command's. */
    if (msg->argc < 1 || msg->name_len >= AR_RESP_NAME_MAX || strlen(msg->name) != msg->name_len) {
        return NULL;
    }
    return bsearch(msg->name, table, TABLE_LEN, sizeof(table[0]), cmd_compare);
}

/* Whether argument i (after the name) was sent and kept. */
static bool has_arg(const struct ar_resp_msg *msg, int i)
{
    return i < AR_RESP_ARGS && i + 1 < msg->argc;
}

/* Whether argument i is word, ignoring ASCII case (word is upper case). */
static bool arg_is(const struct ar_resp_msg *msg, int i, const char *word)
{
    size_t n = strlen(word);

    if (!has_arg(msg, i) || msg->arg_len[i] != n) {
        return false;
    }
    for (size_t j = 0; j < n; j++) {
        char c = msg->arg[i][j];

        if ((c >= 'a' && c <= 'z' ? c - ('a' - 'A') : c) != word[j]) {
            return false;
        }
    }
    return true;
}

/* HELLO [protover [AUTH user pass] [SETNAME name]]: RESP3, AUTH and SETNAME change the
 * connection. Options past the kept arguments cannot be seen: assume they do. */
static unsigned hello_flags(const struct ar_resp_msg *msg)
{
    unsigned f = 0;
    int i = 1;

    if (arg_is(msg, 0, "3")) {
        f |= ST;
    }
    while (i + 1 < msg->argc) {
        if (i >= AR_RESP_ARGS) {
            f |= ST;
            break;
        }
        if (arg_is(msg, i, "AUTH")) {
            f |= AU | ST;
            i += 3;
        } else if (arg_is(msg, i, "SETNAME")) {
            f |= ST;
            i += 2;
        } else {
            break; /* a syntax error: the server answers at once */
        }
    }
    return f;
}

/* XREAD and XREADGROUP block only with BLOCK, which comes among the options before STREAMS.
 * Returns 1 (BLOCK), 0 (no BLOCK, or a syntax error the server answers at once) or -1 (the
 * options go on past the kept arguments). */
static int xread_blocks(const struct ar_resp_msg *msg)
{
    int i = 0;

    while (i + 1 < msg->argc) {
        if (i >= AR_RESP_ARGS) {
            return -1;
        }
        if (arg_is(msg, i, "BLOCK")) {
            return 1;
        } else if (arg_is(msg, i, "STREAMS")) {
            return 0;
        } else if (arg_is(msg, i, "COUNT")) {
            i += 2;
        } else if (arg_is(msg, i, "GROUP")) {
            i += 3;
        } else if (arg_is(msg, i, "NOACK")) {
            i += 1;
        } else {
            return 0;
        }
    }
    return 0;
}

static unsigned client_flags(const struct ar_resp_msg *msg)
{
    static const char *const stateful[] = {"SETNAME",  "TRACKING", "REPLY",
                                           "NO-EVICT", "NO-TOUCH", "CACHING"};

    for (size_t i = 0; i < sizeof(stateful) / sizeof(stateful[0]); i++) {
        if (arg_is(msg, 0, stateful[i])) {
            return ST;
        }
    }
    return 0;
}

unsigned ar_cmd_flags(const struct ar_resp_msg *msg)
{
    const struct cmd *c = lookup(msg);
    unsigned f;

    if (c == NULL) {
        return AR_CMD_UNKNOWN;
    }
    f = c->flags;
    switch (c->refine) {
    case REF_SELECT:
        if (has_arg(msg, 0) && !arg_is(msg, 0, "0")) {
            f |= ST;
        }
        break;
    case REF_HELLO:
        f |= hello_flags(msg);
        break;
    case REF_XREAD:
        /* Undecided: treated as blocking, so that no timeout cuts a wait short. */
        if (xread_blocks(msg) != 0) {
            f |= BLK | ST;
        } else if (strcmp(c->name, "xread") == 0) {
            f |= RO;
        }
        break;
    case REF_CLIENT:
        f |= client_flags(msg);
        break;
    case REF_MEMORY:
        if (arg_is(msg, 0, "USAGE")) {
            f |= RO;
        }
        break;
    default:
        break;
    }
    return f;
}

const char *ar_cmd_metric_name(const struct ar_resp_msg *msg)
{
    const struct cmd *c = lookup(msg);

    return c != NULL ? c->name : "unknown";
}
