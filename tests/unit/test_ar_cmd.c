/* test_ar_cmd.c — table test of command flags and metric names, and arguments that refine them. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "ar_cmd.h"
#include "ar_resp.h"

#define RO AR_CMD_READONLY
#define BLK AR_CMD_BLOCKING
#define ST AR_CMD_STATEFUL
#define PS AR_CMD_PUBSUB
#define MON AR_CMD_MONITOR
#define AU AR_CMD_AUTH
#define QU AR_CMD_QUIT
#define UNK AR_CMD_UNKNOWN

/* Parses one inline command (quoting allowed) into m. */
static void parse(const char *line, struct ar_resp_msg *m)
{
    struct ar_resp_parser p;
    char buf[256];
    int n = snprintf(buf, sizeof(buf), "%s\r\n", line);

    assert_true(n > 0 && (size_t)n < sizeof(buf));
    ar_resp_init(&p, AR_RESP_COMMAND, NULL);
    assert_int_equal(ar_resp_feed(&p, buf, (size_t)n), (size_t)n);
    if (p.state != AR_RESP_DONE || p.msg.argc < 1) {
        fail_msg("'%s': state %d argc %lld (err '%s')", line, p.state, (long long)p.msg.argc,
                 p.err);
    }
    *m = p.msg;
}

static const struct {
    const char *line;
    unsigned flags;
    const char *metric; /* NULL: "unknown" */
} table[] = {
    {"GET k", RO, "get"},
    {"get k", RO, "get"},
    {"SET k v", 0, "set"},
    {"MGET a b", RO, "mget"},
    {"hgetall h", RO, "hgetall"},
    {"ZRANGE z 0 -1", RO, "zrange"},
    {"georadius_ro g 1 2 3 km", RO, "georadius_ro"},
    {"GEORADIUS g 1 2 3 km", 0, "georadius"},
    {"sort_ro l", RO, "sort_ro"},
    {"SORT l", 0, "sort"},
    {"eval_ro s 0", RO, "eval_ro"},
    {"EVAL s 0", 0, "eval"},
    {"restore-asking k 0 x", 0, "restore-asking"},
    {"PING", 0, "ping"},
    /* SELECT: only another database than 0 changes the connection. */
    {"select 0", 0, "select"},
    {"SELECT 1", ST, "select"},
    {"select 15", ST, "select"},
    {"select 00", ST, "select"},
    {"select", 0, "select"},
    /* HELLO: RESP3, AUTH or SETNAME. */
    {"hello", 0, "hello"},
    {"hello 2", 0, "hello"},
    {"HELLO 3", ST, "hello"},
    {"hello 2 AUTH user pass", AU | ST, "hello"},
    {"hello 2 auth user pass setname n", AU | ST, "hello"},
    {"hello 2 setname n", ST, "hello"},
    {"hello 2 setname auth", ST, "hello"},
    {"hello 2 setname n auth u p", AU | ST, "hello"},
    {"hello 3 auth u p setname n", AU | ST, "hello"},
    {"hello 2 nonsense", 0, "hello"},
    /* XREAD and XREADGROUP: blocking only with BLOCK among the options. */
    {"xread count 1 streams s 0", RO, "xread"},
    {"XREAD BLOCK 0 STREAMS s $", BLK | ST, "xread"},
    {"xread count 1 block 10 streams s 0", BLK | ST, "xread"},
    {"xread streams block 0", RO, "xread"},
    {"xread count 1 count 2 streams s 0", BLK | ST, "xread"},
    {"xread", RO, "xread"},
    {"xreadgroup group g c block 0 streams s >", BLK | ST, "xreadgroup"},
    {"XREADGROUP GROUP g c STREAMS s >", 0, "xreadgroup"},
    {"xreadgroup block 0 group g c streams s >", BLK | ST, "xreadgroup"},
    {"xreadgroup group g c count 1 block 0 streams s >", BLK | ST, "xreadgroup"},
    {"xreadgroup group g c count 1 streams s >", BLK | ST, "xreadgroup"},
    /* CLIENT: the subcommands that change this connection. */
    {"client setname x", ST, "client"},
    {"CLIENT TRACKING on", ST, "client"},
    {"client reply off", ST, "client"},
    {"client no-evict on", ST, "client"},
    {"Client No-Touch on", ST, "client"},
    {"client caching yes", ST, "client"},
    {"client list", 0, "client"},
    {"client info", 0, "client"},
    {"client id", 0, "client"},
    {"client getname", 0, "client"},
    {"client kill id 1", 0, "client"},
    {"client", 0, "client"},
    /* Connection state, transactions, pub/sub, MONITOR, blocking. */
    {"multi", ST, "multi"},
    {"EXEC", ST, "exec"},
    {"discard", ST, "discard"},
    {"watch k", ST, "watch"},
    {"unwatch", ST, "unwatch"},
    {"reset", ST, "reset"},
    {"readonly", ST, "readonly"},
    {"readwrite", ST, "readwrite"},
    {"asking", ST, "asking"},
    {"auth p", AU | ST, "auth"},
    {"AUTH u p", AU | ST, "auth"},
    {"subscribe a b", PS | ST, "subscribe"},
    {"psubscribe c*", PS | ST, "psubscribe"},
    {"ssubscribe c", PS | ST, "ssubscribe"},
    {"unsubscribe", ST, "unsubscribe"},
    {"punsubscribe", ST, "punsubscribe"},
    {"sunsubscribe", ST, "sunsubscribe"},
    {"publish c m", 0, "publish"},
    {"monitor", MON | ST, "monitor"},
    {"quit", QU, "quit"},
    {"blpop k 0", BLK | ST, "blpop"},
    {"brpop k 0", BLK | ST, "brpop"},
    {"brpoplpush a b 0", BLK | ST, "brpoplpush"},
    {"blmove a b left right 0", BLK | ST, "blmove"},
    {"blmpop 0 1 k left", BLK | ST, "blmpop"},
    {"bzpopmin z 0", BLK | ST, "bzpopmin"},
    {"bzpopmax z 0", BLK | ST, "bzpopmax"},
    {"bzmpop 0 1 z min", BLK | ST, "bzmpop"},
    {"wait 1 0", BLK | ST, "wait"},
    {"waitaof 1 0 0", BLK | ST, "waitaof"},
    {"sync", ST, "sync"},
    {"psync ? -1", ST, "psync"},
    /* Containers with read-only subcommands. */
    {"memory usage k", RO, "memory"},
    {"MEMORY USAGE k", RO, "memory"},
    {"memory stats", 0, "memory"},
    {"object encoding k", RO, "object"},
    {"xinfo stream s", RO, "xinfo"},
    {"config get x", 0, "config"},
    /* Not commands: still forwarded, counted as "unknown". */
    {"foo", UNK, NULL},
    {"ge k", UNK, NULL},
    {"getx k", UNK, NULL},
    {"\"\"", UNK, NULL},
    {"\"get\\x00\" k", UNK, NULL},
    {"georadiusbymember_ro_and_then_some_more", UNK, NULL},
    {"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", UNK, NULL},
    {"zzz", UNK, NULL},
};

static void test_table(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(table) / sizeof(table[0]); i++) {
        struct ar_resp_msg m;
        const char *want = table[i].metric ? table[i].metric : "unknown";
        unsigned f;

        parse(table[i].line, &m);
        f = ar_cmd_flags(&m);
        if (f != table[i].flags || strcmp(ar_cmd_metric_name(&m), want) != 0) {
            fail_msg("table[%zu] '%s': flags 0x%x metric '%s', want 0x%x '%s'", i, table[i].line, f,
                     ar_cmd_metric_name(&m), table[i].flags, want);
        }
    }
}

/* Every command of Redis 7.0 (COMMAND INFO of redis-server 7.0.15), and WAITAOF. */
/* clang-format off */
static const char *const all_names[] = {
    "acl", "append", "asking", "auth", "bgrewriteaof", "bgsave", "bitcount", "bitfield",
    "bitfield_ro", "bitop", "bitpos", "blmove", "blmpop", "blpop", "brpop", "brpoplpush",
    "bzmpop", "bzpopmax", "bzpopmin", "client", "cluster", "command", "config", "copy",
    "dbsize", "debug", "decr", "decrby", "del", "discard", "dump", "echo", "eval", "eval_ro",
    "evalsha", "evalsha_ro", "exec", "exists", "expire", "expireat", "expiretime", "failover",
    "fcall", "fcall_ro", "flushall", "flushdb", "function", "geoadd", "geodist", "geohash",
    "geopos", "georadius", "georadius_ro", "georadiusbymember", "georadiusbymember_ro",
    "geosearch", "geosearchstore", "get", "getbit", "getdel", "getex", "getrange", "getset",
    "hdel", "hello", "hexists", "hget", "hgetall", "hincrby", "hincrbyfloat", "hkeys", "hlen",
    "hmget", "hmset", "hrandfield", "hscan", "hset", "hsetnx", "hstrlen", "hvals", "incr",
    "incrby", "incrbyfloat", "info", "keys", "lastsave", "latency", "lcs", "lindex", "linsert",
    "llen", "lmove", "lmpop", "lolwut", "lpop", "lpos", "lpush", "lpushx", "lrange", "lrem",
    "lset", "ltrim", "memory", "mget", "migrate", "module", "monitor", "move", "mset", "msetnx",
    "multi", "object", "persist", "pexpire", "pexpireat", "pexpiretime", "pfadd", "pfcount",
    "pfdebug", "pfmerge", "pfselftest", "ping", "psetex", "psubscribe", "psync", "pttl",
    "publish", "pubsub", "punsubscribe", "quit", "randomkey", "readonly", "readwrite", "rename",
    "renamenx", "replconf", "replicaof", "reset", "restore", "restore-asking", "role", "rpop",
    "rpoplpush", "rpush", "rpushx", "sadd", "save", "scan", "scard", "script", "sdiff",
    "sdiffstore", "select", "set", "setbit", "setex", "setnx", "setrange", "shutdown", "sinter",
    "sintercard", "sinterstore", "sismember", "slaveof", "slowlog", "smembers", "smismember",
    "smove", "sort", "sort_ro", "spop", "spublish", "srandmember", "srem", "sscan",
    "ssubscribe", "strlen", "subscribe", "substr", "sunion", "sunionstore", "sunsubscribe",
    "swapdb", "sync", "time", "touch", "ttl", "type", "unlink", "unsubscribe", "unwatch",
    "wait", "waitaof", "watch", "xack", "xadd", "xautoclaim", "xclaim", "xdel", "xgroup",
    "xinfo", "xlen", "xpending", "xrange", "xread", "xreadgroup", "xrevrange", "xsetid",
    "xtrim", "zadd", "zcard", "zcount", "zdiff", "zdiffstore", "zincrby", "zinter",
    "zintercard", "zinterstore", "zlexcount", "zmpop", "zmscore", "zpopmax", "zpopmin",
    "zrandmember", "zrange", "zrangebylex", "zrangebyscore", "zrangestore", "zrank", "zrem",
    "zremrangebylex", "zremrangebyrank", "zremrangebyscore", "zrevrange", "zrevrangebylex",
    "zrevrangebyscore", "zrevrank", "zscan", "zscore", "zunion", "zunionstore",
};
/* clang-format on */

/* Redis 7's "readonly" flag, and OBJECT and XINFO whose subcommands have it. */
static const char *const readonly_names[] = {
    "bitcount",      "bitfield_ro", "bitpos",      "dbsize",         "dump",
    "eval_ro",       "evalsha_ro",  "exists",      "expiretime",     "fcall_ro",
    "geodist",       "geohash",     "geopos",      "georadius_ro",   "georadiusbymember_ro",
    "geosearch",     "get",         "getbit",      "getrange",       "hexists",
    "hget",          "hgetall",     "hkeys",       "hlen",           "hmget",
    "hrandfield",    "hscan",       "hstrlen",     "hvals",          "keys",
    "lcs",           "lindex",      "llen",        "lolwut",         "lpos",
    "lrange",        "mget",        "object",      "pexpiretime",    "pfcount",
    "pttl",          "randomkey",   "scan",        "scard",          "sdiff",
    "sinter",        "sintercard",  "sismember",   "smembers",       "smismember",
    "sort_ro",       "srandmember", "sscan",       "strlen",         "substr",
    "sunion",        "touch",       "ttl",         "type",           "xinfo",
    "xlen",          "xpending",    "xrange",      "xread",          "xrevrange",
    "zcard",         "zcount",      "zdiff",       "zinter",         "zintercard",
    "zlexcount",     "zmscore",     "zrandmember", "zrange",         "zrangebylex",
    "zrangebyscore", "zrank",       "zrevrange",   "zrevrangebylex", "zrevrangebyscore",
    "zrevrank",      "zscan",       "zscore",      "zunion",
};

static bool is_readonly(const char *name)
{
    for (size_t i = 0; i < sizeof(readonly_names) / sizeof(readonly_names[0]); i++) {
        if (strcmp(readonly_names[i], name) == 0) {
            return true;
        }
    }
    return false;
}

/* Each name, in lower and upper case, is found, named for metrics by itself, and read-only
 * exactly when Redis says so. */
static void test_every_command(void **state)
{
    (void)state;
    assert_int_equal(sizeof(all_names) / sizeof(all_names[0]), 241);
    for (size_t i = 0; i < sizeof(all_names) / sizeof(all_names[0]); i++) {
        char upper[64];
        struct ar_resp_msg m;
        unsigned f;

        for (size_t j = 0; j <= strlen(all_names[i]); j++) {
            char c = all_names[i][j];

            upper[j] = c >= 'a' && c <= 'z' ? c - ('a' - 'A') : c;
        }
        for (int round = 0; round < 2; round++) {
            parse(round == 0 ? all_names[i] : upper, &m);
            f = ar_cmd_flags(&m);
            if ((f & UNK) != 0 || strcmp(ar_cmd_metric_name(&m), all_names[i]) != 0 ||
                ((f & RO) != 0) != is_readonly(all_names[i])) {
                fail_msg("'%s': flags 0x%x metric '%s'", all_names[i], f, ar_cmd_metric_name(&m));
            }
        }
    }
}

/* A message from a multibulk: the name and arguments are binary, not only words. */
static void test_multibulk(void **state)
{
    static const char in[] = "*3\r\n$6\r\nSeLeCt\r\n$1\r\n0\r\n$1\r\n9\r\n";
    struct ar_resp_parser p;

    (void)state;
    ar_resp_init(&p, AR_RESP_COMMAND, NULL);
    assert_int_equal(ar_resp_feed(&p, in, sizeof(in) - 1), sizeof(in) - 1);
    assert_int_equal(p.state, AR_RESP_DONE);
    assert_int_equal(ar_cmd_flags(&p.msg), 0);
    assert_string_equal(ar_cmd_metric_name(&p.msg), "select");
    /* "0" followed by a NUL is not "0". */
    p.msg.arg_len[0] = 2;
    assert_int_equal(ar_cmd_flags(&p.msg), ST);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_table),
        cmocka_unit_test(test_every_command),
        cmocka_unit_test(test_multibulk),
    };

    return cmocka_run_group_tests_name("ar_cmd", tests, NULL, NULL);
}
