#!/usr/bin/env python3
"""tests/e2e/resp_client.py — a raw-socket RESP client, and the ambassador-redis tests' drivers.

Standard library only. Endpoints are HOST:PORT, [V6ADDR]:PORT or unix:/path.

    compare REFERENCE TARGET [--only NAMES] [--auth USER:PASS --default-pass P]
        Runs the scenario table on each endpoint and compares the raw reply bytes, byte
        for byte. The first difference is printed with the scenario and step; exit 1.
        --auth runs the AUTH scenarios instead (the servers must have requirepass P and
        the ACL user USER with password PASS).
    concurrent TARGET [--clients 200] [--ops 200]
        CLIENTS threads, each OPS SET/GET pairs on its own keys; each must read back only
        its own values.
    garbage REFERENCE TARGET [--table garbage|limits]
        Protocol garbage and oversized input on fresh connections: the target must reply
        exactly what the reference (redis-server) replies, and close only that client,
        while a well-behaved client keeps working on the target. --table limits: input
        at the edges of --proto-max-bulk-len 4194304 --client-query-buffer-limit 1048576.
    writer TARGET|--sentinel HOST:PORT[,...] --master-name NAME --prefix P --acked FILE
           [--replicated] [--stop-file F] [--seconds S]
        Writes RPUSH seq / INCR continuously, reconnecting and retrying on errors and
        error replies, until the stop file exists or S seconds passed; records the
        acknowledged writes in FILE and prints a JSON summary (acked, errors, reconnects,
        longest_gap_ms between acknowledgements...). With --sentinel it finds the master
        itself, as a Sentinel client would: a baseline for the ambassador.
        --replicated: a write counts as acknowledged only once every replica the master had
        before it has it (INFO replication, the write, then WAIT n). Redis replicates
        asynchronously and SENTINEL FAILOVER does not wait for the replica it promotes, so
        a plain +OK may be lost by Redis itself; with this, and min-replicas-to-write on the
        first master equal to its number of replicas, Redis loses nothing acknowledged, and
        what is missing afterwards was lost by the proxy in between.
    verify-writes ENDPOINT --prefix P --acked FILE
        Every write the writer recorded as acknowledged is present on ENDPOINT, and the
        counter is at least the highest value acknowledged.
    backpressure TARGET --key K --count N --pid PID --limit BYTES [--seconds S]
        Pipelines N GETs of the big value K without reading, samples PID's VmRSS, and fails
        when it grew by more than 2 x BYTES; a second client must keep being served.
    hold ENDPOINT N --ready-file F [--seconds S]
        Opens N connections, PINGs on each, touches F, then holds them idle.
    session ENDPOINT
        One connection: a command per stdin line (shell-like quoting), each reply printed
        on one line with \\r\\n and control bytes escaped; "(closed)" if the peer closes.
"""

import argparse
import hashlib
import json
import os
import random
import re
import socket
import sys
import threading
import time

TIMEOUT = 10.0  # seconds for any single reply; every wait in here is bounded


class RespError(Exception):
    """The peer sent something that is not RESP, or closed in the middle of a reply."""


def parse_endpoint(text):
    """HOST:PORT, [V6]:PORT or unix:/path -> (family, address)."""
    if text.startswith("unix:"):
        return socket.AF_UNIX, text[5:]
    if text.startswith("["):
        host, _, port = text[1:].partition("]:")
        return socket.AF_INET6, (host, int(port))
    host, _, port = text.rpartition(":")
    return socket.AF_INET, (host, int(port))


def encode(*args):
    """A command as a RESP multibulk: str, bytes and int arguments."""
    out = [b"*%d\r\n" % len(args)]
    for a in args:
        if isinstance(a, str):
            a = a.encode()
        elif isinstance(a, int):
            a = b"%d" % a
        out.append(b"$%d\r\n%s\r\n" % (len(a), a))
    return b"".join(out)


class Conn:
    """One connection. reply() returns exactly one complete reply, as the raw bytes sent."""

    def __init__(self, endpoint, timeout=TIMEOUT):
        family, addr = parse_endpoint(endpoint)
        self.sock = socket.socket(family, socket.SOCK_STREAM)
        self.sock.settimeout(timeout)
        self.sock.connect(addr)
        if family != socket.AF_UNIX:
            self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = bytearray()
        self.pos = 0

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def sendraw(self, data):
        self.sock.sendall(data)

    def send(self, *args):
        self.sock.sendall(encode(*args))

    def call(self, *args):
        self.send(*args)
        return self.reply()

    def _fill(self):
        data = self.sock.recv(1 << 20)
        if not data:
            raise RespError("connection closed by peer")
        self.buf += data

    def _line(self):
        while True:
            i = self.buf.find(b"\r\n", self.pos)
            if i >= 0:
                line = bytes(self.buf[self.pos:i])
                self.pos = i + 2
                return line
            self._fill()

    def _skip(self, n):
        """Skips a payload of n bytes and its CRLF."""
        while len(self.buf) < self.pos + n + 2:
            self._fill()
        if self.buf[self.pos + n:self.pos + n + 2] != b"\r\n":
            raise RespError("payload not followed by CRLF")
        self.pos += n + 2

    def _aggregate(self, count, per):
        if count == b"?":  # streamed: values until "."
            while True:
                while self.buf.find(b"\r\n", self.pos) < 0:
                    self._fill()
                if self.buf[self.pos:self.pos + 3] == b".\r\n":
                    self.pos += 3
                    return
                self._value()
        for _ in range(int(count) * per):
            self._value()

    def _value(self):
        line = self._line()
        if not line:
            raise RespError("empty type line")
        t, rest = line[:1], line[1:]
        if t in b"+-:_,#(":
            return
        if t in b"$!=":
            if rest == b"?":  # streamed string: ;N chunks until ;0
                while True:
                    chunk = self._line()
                    if chunk[:1] != b";":
                        raise RespError("bad streamed chunk %r" % chunk[:20])
                    n = int(chunk[1:])
                    if n == 0:
                        return
                    self._skip(n)
            n = int(rest)
            if n >= 0:
                self._skip(n)
            return
        if t in b"*~>":
            if rest != b"?" and int(rest) < 0:
                return
            self._aggregate(rest, 1)
            return
        if t in b"%|":
            self._aggregate(rest, 2)
            if t == b"|":  # an attribute belongs to the value after it
                self._value()
            return
        raise RespError("unknown type byte %r" % t)

    def reply(self, timeout=None):
        """The next complete reply (a push counts as one), as raw bytes."""
        if timeout is not None:
            self.sock.settimeout(timeout)
        start = self.pos
        try:
            self._value()
        except (RespError, OSError):
            self.pos = start
            raise
        finally:
            if timeout is not None:
                self.sock.settimeout(TIMEOUT)
        raw = bytes(self.buf[start:self.pos])
        del self.buf[:self.pos]
        self.pos = 0
        return raw

    def drain_until_close(self, timeout, idle=None):
        """(bytes received until the peer closed, closed?) within timeout seconds; with idle,
        gives up (closed? False) once nothing has come for idle seconds."""
        out = bytes(self.buf[self.pos:])
        self.buf.clear()
        self.pos = 0
        deadline = time.monotonic() + timeout
        last = time.monotonic()
        self.sock.settimeout(0.05)
        try:
            while time.monotonic() < deadline:
                if idle is not None and time.monotonic() - last > idle:
                    break
                try:
                    data = self.sock.recv(1 << 16)
                except socket.timeout:
                    continue
                except (ConnectionResetError, BrokenPipeError):
                    return out, True
                if not data:
                    return out, True
                out += data
                last = time.monotonic()
            return out, False
        finally:
            self.sock.settimeout(TIMEOUT)


def decode(raw):
    """A complete RESP2 reply as Python values: bytes, int, None, lists; an error as
    RespError (for the few places that need values, not bytes)."""
    def value(i):
        j = raw.index(b"\r\n", i)
        t, rest = raw[i:i + 1], raw[i + 1:j]
        if t == b"+":
            return rest, j + 2
        if t == b"-":
            raise RespError(rest.decode(errors="replace"))
        if t == b":":
            return int(rest), j + 2
        if t == b"$":
            n = int(rest)
            return (None, j + 2) if n < 0 else (raw[j + 2:j + 2 + n], j + 4 + n)
        if t == b"*":
            n = int(rest)
            if n < 0:
                return None, j + 2
            out, k = [], j + 2
            for _ in range(n):
                v, k = value(k)
                out.append(v)
            return out, k
        raise RespError("decode: type %r" % t)
    return value(0)[0]


# ---- the comparison table ---------------------------------------------------------------

class Ctx:
    """What a scenario gets: fresh connections, keys under this run's prefix, and rec()."""

    def __init__(self, endpoint, prefix, scenario, auth=None, default_pass=None):
        self.endpoint = endpoint
        self.prefix = prefix + scenario + ":"
        self.auth = auth
        self.default_pass = default_pass
        self.records = []
        self.conns = []

    def conn(self):
        c = Conn(self.endpoint)
        self.conns.append(c)
        return c

    def k(self, name):
        """A key (or channel) of this scenario in this run."""
        return self.prefix + name

    def rec(self, label, raw):
        self.records.append((label, raw))

    def do(self, c, label, *args):
        """Sends one command on c and records its reply under label."""
        self.rec(label, c.call(*args))

    def close(self):
        for c in self.conns:
            c.close()
        self.conns = []


def wait_blocked(c, deadline_s=3.0):
    """Until INFO clients counts a blocked client (best effort; the bytes compared do not
    depend on it, it only makes the wake-up path the one exercised)."""
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline:
        m = re.search(rb"blocked_clients:(\d+)", c.call("INFO", "clients"))
        if m and int(m.group(1)) > 0:
            return
        time.sleep(0.01)


MEGA = bytes(range(256)) * 4096  # 1 MiB with every byte value, \r, \n and NUL included
BINARY = b"a\r\nb\x00c\r\n\x00\xff$3\r\n*1\r\n"


def sc_strings(x):
    c = x.conn()
    k = x.k
    x.do(c, "set", "SET", k("s"), "hello")
    x.do(c, "get", "GET", k("s"))
    x.do(c, "append", "APPEND", k("s"), " world")
    x.do(c, "getrange", "GETRANGE", k("s"), 0, 4)
    x.do(c, "getrange-neg", "GETRANGE", k("s"), -5, -1)
    x.do(c, "setrange", "SETRANGE", k("s"), 6, "redis")
    x.do(c, "strlen", "STRLEN", k("s"))
    x.do(c, "incr", "INCR", k("n"))
    x.do(c, "incrby", "INCRBY", k("n"), 41)
    x.do(c, "decr", "DECR", k("n"))
    x.do(c, "incrbyfloat", "INCRBYFLOAT", k("f"), "1.5")
    x.do(c, "incr-notint", "INCR", k("s"))
    x.do(c, "mset", "MSET", k("m1"), "v1", k("m2"), "v2")
    x.do(c, "mget", "MGET", k("m1"), k("missing"), k("m2"))
    x.do(c, "setnx", "SETNX", k("m1"), "other")
    x.do(c, "set-nx-nil", "SET", k("m1"), "x", "NX")
    x.do(c, "set-xx-get", "SET", k("m1"), "v1b", "XX", "GET")
    x.do(c, "getdel", "GETDEL", k("m2"))
    x.do(c, "exists", "EXISTS", k("m1"), k("m2"), k("s"))
    x.do(c, "expire", "EXPIRE", k("m1"), 100)
    x.do(c, "ttl", "TTL", k("m1"))
    x.do(c, "persist", "PERSIST", k("m1"))
    x.do(c, "ttl-none", "TTL", k("m1"))
    x.do(c, "set-binary", "SET", k("bin"), BINARY)
    x.do(c, "get-binary", "GET", k("bin"))
    x.do(c, "set-empty", "SET", k("empty"), "")
    x.do(c, "get-empty", "GET", k("empty"))
    x.do(c, "set-1mb", "SET", k("mega"), MEGA)
    x.do(c, "get-1mb", "GET", k("mega"))
    x.do(c, "strlen-1mb", "STRLEN", k("mega"))
    x.do(c, "getrange-1mb", "GETRANGE", k("mega"), 500000, 500100)
    x.do(c, "type", "TYPE", k("s"))
    x.do(c, "echo", "ECHO", BINARY)
    x.do(c, "ping-msg", "PING", "hi")


def sc_lists(x):
    c = x.conn()
    k = x.k("l")
    x.do(c, "rpush", "RPUSH", k, "a", "b", "c")
    x.do(c, "lpush", "LPUSH", k, "z", BINARY)
    x.do(c, "lrange", "LRANGE", k, 0, -1)
    x.do(c, "lindex", "LINDEX", k, 1)
    x.do(c, "llen", "LLEN", k)
    x.do(c, "linsert", "LINSERT", k, "BEFORE", "b", "a2")
    x.do(c, "lset", "LSET", k, 0, "first")
    x.do(c, "lrem", "LREM", k, 0, "a")
    x.do(c, "lpos", "LPOS", k, "c")
    x.do(c, "lpop", "LPOP", k)
    x.do(c, "rpop-count", "RPOP", k, 2)
    x.do(c, "lmove", "LMOVE", k, x.k("l2"), "LEFT", "RIGHT")
    x.do(c, "lrange-2", "LRANGE", x.k("l2"), 0, -1)
    x.do(c, "rpush-many", "RPUSH", k, *[str(i) for i in range(200)])
    x.do(c, "ltrim", "LTRIM", k, 10, 20)
    x.do(c, "lrange-after-trim", "LRANGE", k, 0, -1)
    x.do(c, "lpop-missing", "LPOP", x.k("nolist"))
    x.do(c, "lindex-out", "LINDEX", k, 1000)


def sc_hashes(x):
    c = x.conn()
    k = x.k("h")
    x.do(c, "hset", "HSET", k, "a", "1", "b", "2", "bin", BINARY)
    x.do(c, "hget", "HGET", k, "a")
    x.do(c, "hmget", "HMGET", k, "a", "nofield", "bin")
    x.do(c, "hgetall", "HGETALL", k)
    x.do(c, "hincrby", "HINCRBY", k, "a", 10)
    x.do(c, "hincrbyfloat", "HINCRBYFLOAT", k, "b", "0.25")
    x.do(c, "hsetnx", "HSETNX", k, "a", "x")
    x.do(c, "hdel", "HDEL", k, "bin", "nofield")
    x.do(c, "hexists", "HEXISTS", k, "a")
    x.do(c, "hlen", "HLEN", k)
    x.do(c, "hkeys", "HKEYS", k)
    x.do(c, "hvals", "HVALS", k)
    x.do(c, "hstrlen", "HSTRLEN", k, "b")
    x.do(c, "hgetall-missing", "HGETALL", x.k("nohash"))


def sc_sets(x):
    # Sets of strings are hash tables in Redis 7.0, iterated in an order that depends on the
    # server's random hash seed: only intsets (sorted) are listed as they come; string
    # sets are compared through SORT ... ALPHA and counts.
    c = x.conn()
    k = x.k
    x.do(c, "sadd-ints", "SADD", k("si"), 5, 3, 9, 1, 3)
    x.do(c, "smembers-ints", "SMEMBERS", k("si"))
    x.do(c, "sadd-strings", "SADD", k("ss"), "pear", "apple", "fig", BINARY)
    x.do(c, "sort-alpha", "SORT", k("ss"), "ALPHA")
    x.do(c, "sismember", "SISMEMBER", k("ss"), "fig")
    x.do(c, "smismember", "SMISMEMBER", k("ss"), "fig", "kiwi", "pear")
    x.do(c, "scard", "SCARD", k("ss"))
    x.do(c, "srem", "SREM", k("ss"), "fig", "kiwi")
    x.do(c, "sadd-2", "SADD", k("ss2"), "apple", "plum")
    x.do(c, "sintercard", "SINTERCARD", 2, k("ss"), k("ss2"))
    x.do(c, "sdiffstore", "SDIFFSTORE", k("sd"), k("ss"), k("ss2"))
    x.do(c, "sort-diff", "SORT", k("sd"), "ALPHA")
    x.do(c, "smove", "SMOVE", k("ss2"), k("ss"), "plum")
    x.do(c, "sinter-ints", "SINTER", k("si"), k("si"))


def sc_zsets(x):
    c = x.conn()
    k = x.k("z")
    x.do(c, "zadd", "ZADD", k, "1.5", "a", "2", "b", "-3", "c", "+inf", "top")
    x.do(c, "zrange-withscores", "ZRANGE", k, 0, -1, "WITHSCORES")
    x.do(c, "zrangebyscore", "ZRANGEBYSCORE", k, "(1", "+inf", "WITHSCORES", "LIMIT", 0, 2)
    x.do(c, "zrevrange", "ZREVRANGE", k, 0, 1)
    x.do(c, "zscore", "ZSCORE", k, "a")
    x.do(c, "zscore-inf", "ZSCORE", k, "top")
    x.do(c, "zmscore", "ZMSCORE", k, "a", "none", "c")
    x.do(c, "zincrby", "ZINCRBY", k, "2", "a")
    x.do(c, "zrank", "ZRANK", k, "a")
    x.do(c, "zcount", "ZCOUNT", k, "-inf", "2")
    x.do(c, "zpopmin", "ZPOPMIN", k, 2)
    x.do(c, "zadd-incr", "ZADD", k, "INCR", "0.1", "b")
    x.do(c, "zunionstore", "ZUNIONSTORE", x.k("zu"), 2, k, k, "WEIGHTS", 1, 2)
    x.do(c, "zrange-union", "ZRANGE", x.k("zu"), 0, -1, "WITHSCORES")
    x.do(c, "zadd-badfloat", "ZADD", k, "abc", "x")


def sc_streams(x):
    c = x.conn()
    k = x.k("st")
    x.do(c, "xadd-1", "XADD", k, "1-1", "f", "v", "bin", BINARY)
    x.do(c, "xadd-2", "XADD", k, "1-2", "f", "w")
    x.do(c, "xadd-3", "XADD", k, "2-0", "a", "1", "b", "2")
    x.do(c, "xadd-smaller", "XADD", k, "1-5", "f", "x")
    x.do(c, "xlen", "XLEN", k)
    x.do(c, "xrange", "XRANGE", k, "-", "+")
    x.do(c, "xrevrange", "XREVRANGE", k, "+", "-", "COUNT", 1)
    x.do(c, "xread", "XREAD", "COUNT", 2, "STREAMS", k, "0")
    x.do(c, "xread-none", "XREAD", "STREAMS", k, "2-0")
    x.do(c, "xgroup", "XGROUP", "CREATE", k, "g", "0")
    x.do(c, "xreadgroup", "XREADGROUP", "GROUP", "g", "c1", "COUNT", 2, "STREAMS", k, ">")
    x.do(c, "xpending", "XPENDING", k, "g")
    x.do(c, "xack", "XACK", k, "g", "1-1")
    x.do(c, "xdel", "XDEL", k, "1-2")
    x.do(c, "xtrim", "XTRIM", k, "MAXLEN", 1)
    x.do(c, "xrange-after", "XRANGE", k, "-", "+")


LUA_NESTED = ("return {1, {2, 'a', {KEYS[1]}}, redis.call('get', KEYS[1]), 3.7, {err='inner'},"
              " ARGV[1]}")
LUA_FUNC = ("#!lua name=ambe2e\nredis.register_function('ambe2e_echo',"
            " function(keys, args) return {keys[1], args[1]} end)")


def sc_scripting(x):
    c = x.conn()
    k = x.k("lua")
    x.do(c, "set", "SET", k, "value")
    x.do(c, "eval-nested", "EVAL", LUA_NESTED, 1, k, BINARY)
    x.do(c, "script-load", "SCRIPT", "LOAD", LUA_NESTED)
    x.do(c, "evalsha", "EVALSHA", hashlib.sha1(LUA_NESTED.encode()).hexdigest(), 1, k, "arg")
    x.do(c, "evalsha-missing", "EVALSHA", "0" * 40, 0)
    x.do(c, "eval-error-reply", "EVAL", "return redis.error_reply('MYERR custom')", 0)
    x.do(c, "eval-status-reply", "EVAL", "return redis.status_reply('FINE')", 0)
    x.do(c, "eval-bad-command", "EVAL", "return redis.call('nosuchcommand')", 0)
    x.do(c, "eval-syntax", "EVAL", "return (", 0)
    x.do(c, "eval-ro", "EVAL_RO", "return redis.call('get', KEYS[1])", 1, k)
    x.do(c, "eval-double", "EVAL", "return {double=1.5}", 0)
    x.do(c, "function-load", "FUNCTION", "LOAD", "REPLACE", LUA_FUNC)
    x.do(c, "fcall", "FCALL", "ambe2e_echo", 1, k, "arg")
    x.do(c, "function-delete", "FUNCTION", "DELETE", "ambe2e")


def sc_multi_exec(x):
    c = x.conn()
    k = x.k
    x.do(c, "multi", "MULTI")
    x.do(c, "queued-set", "SET", k("t"), "1")
    x.do(c, "queued-incr", "INCR", k("t"))
    x.do(c, "queued-get", "GET", k("t"))
    x.do(c, "queued-lpush", "LPUSH", k("t"), "x")  # a run-time error inside EXEC
    x.do(c, "exec", "EXEC")
    x.do(c, "multi-2", "MULTI")
    x.do(c, "queued-set-2", "SET", k("t"), "discarded")
    x.do(c, "discard", "DISCARD")
    x.do(c, "get-after-discard", "GET", k("t"))
    x.do(c, "multi-3", "MULTI")
    x.do(c, "queued-badarity", "GET")
    x.do(c, "exec-abort", "EXEC")
    x.do(c, "multi-4", "MULTI")
    x.do(c, "multi-nested", "MULTI")
    x.do(c, "discard-4", "DISCARD")
    x.do(c, "exec-without", "EXEC")
    x.do(c, "discard-without", "DISCARD")
    x.do(c, "multi-empty", "MULTI")
    x.do(c, "exec-empty", "EXEC")


def sc_watch(x):
    a, b = x.conn(), x.conn()
    k = x.k("w")
    x.do(a, "set", "SET", k, "1")
    x.do(a, "watch", "WATCH", k)
    x.do(a, "get", "GET", k)
    x.do(a, "multi", "MULTI")
    x.do(a, "queued", "INCR", k)
    x.do(b, "other-set", "SET", k, "100")
    x.do(a, "exec-aborted", "EXEC")
    x.do(a, "get-after", "GET", k)
    x.do(a, "watch-2", "WATCH", k)
    x.do(a, "unwatch", "UNWATCH")
    x.do(b, "other-set-2", "SET", k, "200")
    x.do(a, "multi-2", "MULTI")
    x.do(a, "queued-2", "INCR", k)
    x.do(a, "exec-ok", "EXEC")


def sc_blocking(x):
    a, b = x.conn(), x.conn()
    k = x.k("bl")
    a.send("BLPOP", k, 5)
    wait_blocked(b)
    x.do(b, "rpush-wakes", "RPUSH", k, "woken")
    x.rec("blpop-woken", a.reply())
    a.send("BLMOVE", k, x.k("bl2"), "LEFT", "RIGHT", 5)
    wait_blocked(b)
    x.do(b, "rpush-wakes-2", "RPUSH", k, "moved")
    x.rec("blmove-woken", a.reply())
    x.do(a, "blpop-timeout", "BLPOP", x.k("empty"), "0.1")
    x.do(a, "brpop-ready", "BRPOP", x.k("bl2"), 1)
    x.do(a, "bzpopmin-timeout", "BZPOPMIN", x.k("zempty"), "0.1")
    x.do(a, "xread-block-timeout", "XREAD", "BLOCK", 100, "STREAMS", x.k("noxs"), "0")


def sc_pubsub(x):
    a, b = x.conn(), x.conn()
    ch1, ch2 = x.k("ch1"), x.k("ch2")
    a.send("SUBSCRIBE", ch1, ch2)
    x.rec("subscribe-1", a.reply())
    x.rec("subscribe-2", a.reply())
    x.do(b, "publish", "PUBLISH", ch1, "hello")
    x.rec("message", a.reply())
    x.do(a, "ping-subscribed", "PING")
    x.do(a, "ping-subscribed-msg", "PING", "m")
    x.do(a, "get-refused", "GET", x.k("k"))
    x.do(a, "psubscribe", "PSUBSCRIBE", x.k("p*"))
    x.do(b, "publish-pattern", "PUBLISH", x.k("p1"), BINARY)
    x.rec("pmessage", a.reply())
    x.do(b, "publish-pattern-2", "PUBLISH", x.k("p2"), "two")
    x.rec("pmessage-2", a.reply())
    x.do(b, "numsub", "PUBSUB", "NUMSUB", ch1, ch2)
    a.send("UNSUBSCRIBE", ch1, ch2)
    x.rec("unsubscribe-1", a.reply())
    x.rec("unsubscribe-2", a.reply())
    x.do(a, "punsubscribe", "PUNSUBSCRIBE")
    x.do(a, "ping-after", "PING")
    x.do(a, "get-after", "GET", x.k("k"))
    x.do(b, "publish-nobody", "PUBLISH", ch1, "lost")


def sc_pubsub_resp3(x):
    a, b = x.conn(), x.conn()
    ch = x.k("ch3")
    x.do(a, "hello-3", "HELLO", 3)
    x.do(a, "subscribe", "SUBSCRIBE", ch)
    x.do(b, "publish", "PUBLISH", ch, "hello")
    x.rec("push-message", a.reply())
    x.do(a, "get-while-subscribed", "GET", x.k("nokey"))
    x.do(a, "ping-while-subscribed", "PING")
    x.do(a, "unsubscribe", "UNSUBSCRIBE", ch)
    x.do(a, "hello-2", "HELLO", 2)


def sc_tracking(x):
    a, b = x.conn(), x.conn()
    k = x.k("tr")
    x.do(b, "set", "SET", k, "1")
    x.do(a, "hello-3", "HELLO", 3)
    x.do(a, "tracking-on", "CLIENT", "TRACKING", "ON")
    x.do(a, "get", "GET", k)
    x.do(b, "set-invalidates", "SET", k, "2")
    x.rec("invalidate-push", a.reply())
    x.do(a, "tracking-off", "CLIENT", "TRACKING", "OFF")
    x.do(a, "hello-2", "HELLO", 2)


def sc_select(x):
    a = x.conn()
    k = x.k("db")
    x.do(a, "select-1", "SELECT", 1)
    x.do(a, "set-db1", "SET", k, "in-db-1")
    x.do(a, "get-db1", "GET", k)
    x.do(a, "select-0", "SELECT", 0)
    x.do(a, "get-db0", "GET", k)
    x.do(a, "select-1-again", "SELECT", 1)
    b = x.conn()  # a new client starts in db 0, whatever the others did
    x.do(b, "get-new-client", "GET", k)
    x.do(a, "get-db1-still", "GET", k)
    x.do(a, "del-db1", "DEL", k)
    x.do(a, "select-out-of-range", "SELECT", 16)
    x.do(a, "select-0-end", "SELECT", 0)


def sc_reset(x):
    a = x.conn()
    k = x.k("rs")
    x.do(a, "set-db0", "SET", k, "db0")
    x.do(a, "select-1", "SELECT", 1)
    x.do(a, "multi", "MULTI")
    x.do(a, "reset", "RESET")
    x.do(a, "exec-after-reset", "EXEC")
    x.do(a, "get-db0-after-reset", "GET", k)
    x.do(a, "subscribe", "SUBSCRIBE", x.k("rch"))
    x.do(a, "reset-subscribed", "RESET")
    x.do(a, "get-after-reset-2", "GET", k)


def sc_resp3(x):
    a, b = x.conn(), x.conn()
    k = x.k
    x.do(a, "hello-3", "HELLO", 3)
    x.do(a, "hset", "HSET", k("h3"), "a", "1", "b", "2")
    x.do(a, "hgetall-map", "HGETALL", k("h3"))
    x.do(a, "zadd", "ZADD", k("z3"), "1.5", "a", "2", "b")
    x.do(a, "zscore-double", "ZSCORE", k("z3"), "a")
    x.do(a, "zrange-withscores", "ZRANGE", k("z3"), 0, -1, "WITHSCORES")
    x.do(a, "zincrby-double", "ZINCRBY", k("z3"), "0.5", "b")
    x.do(a, "get-null", "GET", k("nokey"))
    x.do(a, "mget-nulls", "MGET", k("nokey"), k("h3x"))
    x.do(a, "sadd", "SADD", k("s3"), 3, 1, 2)
    x.do(a, "smembers-set", "SMEMBERS", k("s3"))
    x.do(a, "blpop-timeout-null", "BLPOP", k("nolist"), "0.1")
    x.do(a, "xread-null", "XREAD", "STREAMS", k("nostream"), "0")
    x.do(a, "eval-map", "EVAL", "redis.setresp(3); return redis.call('hgetall', KEYS[1])", 1,
         k("h3"))
    x.do(a, "eval-double", "EVAL", "return {double=2.5}", 0)
    x.do(a, "eval-nil", "EVAL", "return redis.call('get', KEYS[1])", 1, k("nokey"))
    for t in ("string", "integer", "double", "bignum", "null", "array", "set", "map",
              "attrib", "verbatim", "true", "false"):
        x.do(a, "debug-protocol-" + t, "DEBUG", "PROTOCOL", t)
    # A push before the reply of the same command: two messages to read.
    a.send("DEBUG", "PROTOCOL", "push")
    x.rec("debug-protocol-push", a.reply())
    if x.records[-1][1].startswith(b">"):
        x.rec("debug-protocol-push-reply", a.reply())
    x.do(a, "watch", "WATCH", k("w3"))
    x.do(a, "multi", "MULTI")
    x.do(a, "queued", "INCR", k("w3"))
    x.do(b, "other-set", "SET", k("w3"), "5")
    x.do(a, "exec-aborted-null", "EXEC")
    x.do(a, "hello-2", "HELLO", 2)
    x.do(a, "hgetall-flat", "HGETALL", k("h3"))
    x.do(a, "zscore-bulk", "ZSCORE", k("z3"), "a")
    x.do(a, "hello-badproto", "HELLO", 4)


def sc_inline(x):
    a = x.conn()
    k = x.k("in")
    cases = [
        ("ping", b"PING\r\n"),
        ("set-quoted", b'SET ' + k.encode() + b' "a b"\r\n'),
        ("get", b"GET " + k.encode() + b"\r\n"),
        ("echo-escapes", b'ECHO "x\\ty\\x41\\n"\r\n'),
        ("echo-single-quotes", b"ECHO 'it\\'s'\r\n"),
        ("lf-only", b"EXISTS " + k.encode() + b" nokey\n"),
        ("empty-lines-then-ping", b"\r\n\r\nPING\r\n"),
        ("spaces", b"  ECHO    spaced   \r\n"),
        ("unknown-inline", b"NOSUCH a b\r\n"),
    ]
    for label, raw in cases:
        a.sendraw(raw)
        x.rec(label, a.reply())


def sc_pipeline(x):
    a = x.conn()
    k = x.k
    cmds = []
    for i in range(100):
        op = i % 5
        if op == 0:
            cmds.append(encode("SET", k("p%d" % i), "v%d" % i))
        elif op == 1:
            cmds.append(encode("INCR", k("pc")))
        elif op == 2:
            cmds.append(encode("GET", k("p%d" % (i - 2))))
        elif op == 3:
            cmds.append(encode("RPUSH", k("pl"), i))
        else:
            cmds.append(encode("LRANGE", k("pl"), 0, 2))
    a.sendraw(b"".join(cmds))
    x.rec("100-replies", b"".join(a.reply() for _ in range(100)))
    # Inline and multibulk mixed in one write.
    a.sendraw(b"PING\r\n" + encode("ECHO", "m") + b"GET " + k("p0").encode() + b"\r\n")
    x.rec("mixed-3-replies", b"".join(a.reply() for _ in range(3)))


def sc_errors(x):
    a = x.conn()
    k = x.k
    x.do(a, "unknown-command", "NOSUCHCOMMAND", k("a"), "b")
    x.do(a, "unknown-long-args", "NOSUCH", "x" * 200)
    x.do(a, "set-list", "RPUSH", k("list"), "x")
    x.do(a, "wrongtype", "GET", k("list"))
    x.do(a, "wrong-arity-get", "GET")
    x.do(a, "wrong-arity-set", "SET", k("a"))
    x.do(a, "syntax", "SET", k("a"), "v", "XX", "NX")
    x.do(a, "not-integer", "EXPIRE", k("a"), "soon")
    x.do(a, "overflow-set", "SET", k("big"), "9223372036854775807")
    x.do(a, "overflow", "INCR", k("big"))
    x.do(a, "unknown-subcommand", "CLIENT", "FOO")
    x.do(a, "object-missing", "OBJECT", "ENCODING", k("nokey"))
    x.do(a, "auth-no-password", "AUTH", "whatever")
    x.do(a, "auth-syntax", "AUTH", "a", "b", "c")
    x.do(a, "still-works", "PING")


def sc_misc(x):
    a = x.conn()
    k = x.k
    x.do(a, "set", "SET", k("m"), "v")
    x.do(a, "copy", "COPY", k("m"), k("m2"))
    x.do(a, "rename", "RENAME", k("m2"), k("m3"))
    x.do(a, "dump", "DUMP", k("m3"))
    x.do(a, "object-encoding", "OBJECT", "ENCODING", k("m3"))
    x.do(a, "getex", "GETEX", k("m3"), "PERSIST")
    x.do(a, "lcs", "LCS", k("m"), k("m3"))
    x.do(a, "del", "DEL", k("m"), k("m3"), k("nokey"))
    x.do(a, "unlink", "UNLINK", k("m2"))
    x.do(a, "setname", "CLIENT", "SETNAME", "ambe2e")
    x.do(a, "getname", "CLIENT", "GETNAME")
    x.do(a, "quit", "QUIT")
    rest, closed = a.drain_until_close(3.0)
    x.rec("after-quit", rest + (b" [closed]" if closed else b" [open]"))


SCENARIOS = [
    ("strings", sc_strings), ("lists", sc_lists), ("hashes", sc_hashes), ("sets", sc_sets),
    ("zsets", sc_zsets), ("streams", sc_streams), ("scripting", sc_scripting),
    ("multi_exec", sc_multi_exec), ("watch", sc_watch), ("blocking", sc_blocking),
    ("pubsub", sc_pubsub), ("pubsub_resp3", sc_pubsub_resp3), ("tracking", sc_tracking),
    ("select", sc_select), ("reset", sc_reset), ("resp3", sc_resp3), ("inline", sc_inline),
    ("pipeline", sc_pipeline), ("errors", sc_errors), ("misc", sc_misc),
]


def sc_auth(x):
    user, password = x.auth
    a = x.conn()
    x.do(a, "ping-noauth", "PING")
    x.do(a, "get-noauth", "GET", x.k("a"))
    x.do(a, "auth-wrong", "AUTH", "wrong-password")
    x.do(a, "auth-default", "AUTH", x.default_pass)
    x.do(a, "whoami-default", "ACL", "WHOAMI")
    x.do(a, "auth-user", "AUTH", user, password)
    x.do(a, "whoami-user", "ACL", "WHOAMI")
    x.do(a, "auth-user-wrong", "AUTH", user, "wrong")
    x.do(a, "whoami-still-user", "ACL", "WHOAMI")
    x.do(a, "auth-default-2args", "AUTH", "default", x.default_pass)
    x.do(a, "whoami-default-2", "ACL", "WHOAMI")
    x.do(a, "auth-nouser", "AUTH", "nosuchuser", "x")
    x.do(a, "set", "SET", x.k("a"), "authed")
    b = x.conn()
    x.do(b, "hello-3-noauth", "HELLO", 3)
    x.do(b, "hello-3-auth-wrong", "HELLO", 3, "AUTH", user, "wrong")
    x.do(b, "hello-3-auth", "HELLO", 3, "AUTH", user, password)
    x.do(b, "get-resp3", "GET", x.k("a"))
    x.do(b, "whoami", "ACL", "WHOAMI")
    x.do(b, "hello-2", "HELLO", 2)
    c = x.conn()
    c.sendraw(b"AUTH " + x.default_pass.encode() + b"\r\nPING\r\n")
    x.rec("inline-auth", c.reply())
    x.rec("inline-ping", c.reply())


AUTH_SCENARIOS = [("auth", sc_auth)]

HELLO_ID = re.compile(rb"(\$2\r\nid\r\n):\d+\r\n")


def normalise(raw, prefix, placeholder):
    """Run-varying bytes replaced by fixed ones of the same length where lengths matter."""
    raw = raw.replace(prefix.encode(), placeholder.encode())
    return HELLO_ID.sub(rb"\1:ID\r\n", raw)


def cleanup(endpoint, prefix, auth=None, default_pass=None):
    """Deletes this run's keys in db 0 and 1 (best effort)."""
    try:
        c = Conn(endpoint)
    except OSError:
        return
    try:
        if auth:
            c.call("AUTH", auth[0], auth[1])
        for db in (1, 0):
            c.call("SELECT", db)
            cursor = b"0"
            for _ in range(1000):
                cursor, keys = decode(c.call("SCAN", cursor, "MATCH", prefix + "*", "COUNT", 1000))
                if keys:
                    c.call("UNLINK", *keys)
                if cursor == b"0":
                    break
    except (OSError, RespError, IndexError):
        pass
    finally:
        c.close()


def run_table(endpoint, prefix, placeholder, table, only, auth, default_pass):
    """[(scenario, [(label, normalised bytes)] or an exception text)]"""
    results = []
    for name, fn in table:
        if only and name not in only:
            continue
        x = Ctx(endpoint, prefix, name, auth, default_pass)
        try:
            fn(x)
            err = None
        except (OSError, RespError, ValueError) as e:
            err = "%s after step %d: %s: %s" % (
                name, len(x.records), type(e).__name__, e)
        finally:
            x.close()
        recs = [(label, normalise(raw, prefix, placeholder)) for label, raw in x.records]
        results.append((name, recs, err))
    cleanup(endpoint, prefix, auth, default_pass)
    return results


def show(raw, limit=300):
    text = repr(raw)
    return text if len(text) <= limit else text[:limit] + "... (%d bytes)" % len(raw)


def first_difference(a, b):
    for i, (x, y) in enumerate(zip(a, b)):
        if x != y:
            return i
    return min(len(a), len(b))


def cmd_compare(args):
    run = "%08x" % random.getrandbits(32)
    # Same length on both sides, so that bulk lengths around keys agree once normalised.
    pref_ref, pref_tgt = "ambe2e:%s:r:" % run, "ambe2e:%s:t:" % run
    placeholder = "ambe2e:" + "#" * 8 + ":#:"
    only = set(args.only.split(",")) if args.only else None
    if args.auth:
        user, _, password = args.auth.partition(":")
        table, auth, dp = AUTH_SCENARIOS, (user, password), args.default_pass
    else:
        table, auth, dp = SCENARIOS, None, None
    ref = run_table(args.reference, pref_ref, placeholder, table, only, auth, dp)
    tgt = run_table(args.target, pref_tgt, placeholder, table, only, auth, dp)
    failed = 0
    steps = 0
    for (name, rrecs, rerr), (_, trecs, terr) in zip(ref, tgt):
        if rerr:
            print("FAIL %s: the reference itself failed: %s" % (name, rerr))
            failed += 1
            continue
        bad = None
        for i, (rr, tr) in enumerate(zip(rrecs, trecs)):
            if rr != tr:
                bad = (i, rr, tr)
                break
        if bad is None and len(trecs) < len(rrecs):
            print("FAIL %s: the target stopped after step %d (%s) of %d: %s" % (
                name, len(trecs), trecs[-1][0] if trecs else "-", len(rrecs), terr))
            failed += 1
            continue
        if bad is not None:
            i, (label, rraw), (_, traw) = bad
            off = first_difference(rraw, traw)
            print("FAIL %s: step %d '%s' differs at byte %d" % (name, i + 1, label, off))
            print("  reference: %s" % show(rraw[max(0, off - 40):off + 200]))
            print("  target:    %s" % show(traw[max(0, off - 40):off + 200]))
            print("  (reference reply %d bytes, target reply %d bytes)" % (len(rraw), len(traw)))
            failed += 1
            continue
        if terr:
            print("FAIL %s: the target failed: %s" % (name, terr))
            failed += 1
            continue
        steps += len(rrecs)
        print("ok %s (%d replies)" % (name, len(rrecs)))
        if args.verbose:
            for label, raw in rrecs:
                print("    %-28s %s" % (label, show(raw, 160)))
    if failed:
        print("%d of %d scenarios differ" % (failed, len(ref)))
        return 1
    print("all %d scenarios identical (%d replies)" % (len(ref), steps))
    return 0


# ---- load: many clients at once ---------------------------------------------------------

def cmd_concurrent(args):
    run = "%08x" % random.getrandbits(32)
    errors = []
    done = [0]
    lock = threading.Lock()
    start_gate = threading.Barrier(args.clients)

    def client(cid):
        key = "ambe2e:%s:c%d" % (run, cid)
        try:
            c = Conn(args.target, timeout=30)
        except OSError as e:
            with lock:
                errors.append("client %d: connect: %s" % (cid, e))
            start_gate.abort()
            return
        try:
            start_gate.wait(timeout=30)
            for i in range(args.ops):
                value = b"%d:%d:%s" % (cid, i, os.urandom(6).hex().encode())
                r = c.call("SET", key, value)
                if r != b"+OK\r\n":
                    raise RespError("SET replied %s" % show(r, 80))
                r = c.call("GET", key)
                want = b"$%d\r\n%s\r\n" % (len(value), value)
                if r != want:
                    raise RespError("GET %d replied %s, not its own %s" % (i, show(r, 80), value))
            c.call("DEL", key)
            with lock:
                done[0] += 1
        except (OSError, RespError, threading.BrokenBarrierError) as e:
            with lock:
                errors.append("client %d: %s: %s" % (cid, type(e).__name__, e))
        finally:
            c.close()

    t0 = time.monotonic()
    threads = [threading.Thread(target=client, args=(i,)) for i in range(args.clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=300)
    dt = time.monotonic() - t0
    ops = done[0] * args.ops * 2
    print("%d of %d clients done, %d commands in %.1f s (%.0f/s)" % (
        done[0], args.clients, ops, dt, ops / dt if dt else 0))
    for e in errors[:10]:
        print("  " + e)
    return 0 if done[0] == args.clients and not errors else 1


# ---- garbage: Redis' protocol errors, one client at a time ------------------------------

GARBAGE = [
    ("invalid multibulk length", b"*abc\r\n"),
    ("negative bulk length", b"*1\r\n$-5\r\n"),
    ("inline over 64 KiB without newline", b"x" * 70000),
    ("bulk over proto-max-bulk-len", b"*1\r\n$600000000\r\n"),
    ("unbalanced quotes", b'SET k "a b\r\n'),
    ("unbalanced single quote", b"GET 'a\r\n"),
    ("text where a bulk header goes", b"*1\r\nfoo\r\n"),
    ("array where a bulk header goes", b"*1\r\n*1\r\n"),
    ("non-numeric bulk length", b"*1\r\n$abc\r\n"),
    ("multibulk count line over 64 KiB", b"*" + b"1" * 70000),
    ("bulk count line over 64 KiB", b"*1\r\n$" + b"1" * 70000),
    ("a good command, then garbage", b"PING\r\n*abc\r\n"),
]


# With --proto-max-bulk-len 4194304 --client-query-buffer-limit 1048576 on both sides:
# redis-server closes a client whose query buffer passes the limit without a reply.
LIMITS = [
    ("a bulk well under both limits", encode("ECHO", b"q" * 524288)),
    ("a bulk over client-query-buffer-limit", encode("ECHO", b"q" * 2097152)),
    ("a bulk header over proto-max-bulk-len", b"*2\r\n$4\r\nECHO\r\n$4194305\r\n"),
]


def probe_garbage(endpoint, data):
    """(bytes the server sent before closing, closed?) for data sent on a fresh connection;
    a connection still open 1.5 s after the last byte received counts as not closed."""
    c = Conn(endpoint)
    try:
        c.sendraw(data)
        return c.drain_until_close(5.0, idle=1.5)
    except (ConnectionResetError, BrokenPipeError):
        return b"", True
    finally:
        c.close()


def cmd_garbage(args):
    stop = threading.Event()
    good = {"ops": 0, "error": None}

    def well_behaved():
        try:
            c = Conn(args.target)
            key = "ambe2e:%08x:good" % random.getrandbits(32)
            while not stop.is_set():
                n = good["ops"] + 1
                r = c.call("SET", key, n)
                r2 = c.call("GET", key)
                if r != b"+OK\r\n" or r2 != b"$%d\r\n%d\r\n" % (len(str(n)), n):
                    raise RespError("got %s / %s" % (show(r, 60), show(r2, 60)))
                good["ops"] = n
                time.sleep(0.001)
            c.call("DEL", key)
            c.close()
        except (OSError, RespError) as e:
            good["error"] = "%s: %s" % (type(e).__name__, e)

    t = threading.Thread(target=well_behaved)
    t.start()
    failed = 0
    for name, data in (LIMITS if args.table == "limits" else GARBAGE):
        want = probe_garbage(args.reference, data)
        got = probe_garbage(args.target, data)
        if not want[1] and args.table == "garbage":
            print("FAIL %s: the reference did not close the connection (%s)"
                  % (name, show(want[0])))
            failed += 1
        elif got != want:
            print("FAIL %s:\n  reference: %s closed=%s\n  target:    %s closed=%s" % (
                name, show(want[0]), want[1], show(got[0]), got[1]))
            failed += 1
        else:
            print("ok %s: %s, %s" % (name, show(want[0], 100), "closed" if want[1] else "open"))
    time.sleep(0.2)
    stop.set()
    t.join(timeout=30)
    if good["error"] or good["ops"] == 0:
        print("FAIL the well-behaved client: %s after %d round trips"
              % (good["error"], good["ops"]))
        failed += 1
    else:
        print("ok the well-behaved client alongside: %d round trips, no error" % good["ops"])
    return 1 if failed else 0


# ---- failover: a writer that must lose nothing acknowledged -----------------------------

def sentinel_master(sentinels, name):
    """The master's "host:port" according to the first Sentinel that answers."""
    for s in sentinels:
        try:
            c = Conn(s, timeout=0.5)
            try:
                raw = c.call("SENTINEL", "get-master-addr-by-name", name)
            finally:
                c.close()
            addr = decode(raw)
            if addr:
                return "%s:%s" % (addr[0].decode(), addr[1].decode())
        except (OSError, RespError):
            continue
    return None


def cmd_writer(args):
    sentinels = args.sentinel.split(",") if args.sentinel else []
    prefix = args.prefix
    lkey, ckey = prefix + "seq", prefix + "counter"
    acked = open(args.acked, "w")
    stats = {"attempts": 0, "acked": 0, "errors": 0, "reconnects": 0, "error_replies": {},
             "not_replicated": 0, "longest_gap_ms": 0.0, "counter_went_back": 0,
             "last_counter": 0, "endpoints": [], "longest_gap_ended": None}
    seq = 0
    last_ack = time.monotonic()
    t_end = time.monotonic() + args.seconds
    conn = None

    def drop():
        nonlocal conn
        stats["reconnects"] += 1
        conn.close()
        conn = None

    def connect():
        endpoint = sentinel_master(sentinels, args.master_name) if sentinels else args.target
        if endpoint is None:
            raise OSError("no Sentinel knows the master")
        c = Conn(endpoint, timeout=2.0)
        if sentinels and decode(c.call("ROLE"))[0] != b"master":
            c.close()
            raise OSError("%s is not a master yet" % endpoint)
        if not stats["endpoints"] or stats["endpoints"][-1] != endpoint:
            stats["endpoints"].append(endpoint)
        return c

    while time.monotonic() < t_end and not (args.stop_file and os.path.exists(args.stop_file)):
        if conn is None:
            try:
                conn = connect()
            except (OSError, RespError):
                stats["errors"] += 1
                time.sleep(0.05)
                continue
        seq += 1
        stats["attempts"] += 1
        try:
            if args.replicated:
                # How many replicas the master has, asked before the write: see --replicated.
                info = conn.call("INFO", "replication")
                m = re.search(rb"connected_slaves:(\d+)", info)
                nrep = int(m.group(1)) if m else -1
            conn.sendraw(encode("RPUSH", lkey, seq) + encode("INCR", ckey))
            replies = [conn.reply(), conn.reply()]
            errs = [r for r in replies if r[:1] == b"-"]
            if args.replicated and not errs:
                if nrep < 0:
                    errs = [info]
                else:
                    replies.append(conn.call("WAIT", nrep, 500))
        except (OSError, RespError):
            stats["errors"] += 1
            drop()
            time.sleep(0.02)
            continue
        if errs:
            # -READONLY, -NOREPLICAS, -LOADING...: the master may have moved; a client
            # of the ambassador, like one of Sentinel, reconnects and tries again.
            stats["errors"] += 1
            word = errs[0][1:].split(b" ")[0].strip().decode(errors="replace")
            stats["error_replies"][word] = stats["error_replies"].get(word, 0) + 1
            drop()
            time.sleep(0.02)
            continue
        if args.replicated and decode(replies[2]) < nrep:
            stats["not_replicated"] += 1
            continue
        counter = decode(replies[1])
        if counter <= stats["last_counter"]:
            stats["counter_went_back"] += 1
        stats["last_counter"] = counter
        now = time.monotonic()
        if (now - last_ack) * 1000 > stats["longest_gap_ms"]:
            stats["longest_gap_ms"] = (now - last_ack) * 1000
            stats["longest_gap_ended"] = time.strftime("%H:%M:%S", time.localtime())
        last_ack = now
        stats["acked"] += 1
        acked.write("%d %d\n" % (seq, counter))
    if conn is not None:
        conn.close()
    acked.close()
    if (time.monotonic() - last_ack) * 1000 > stats["longest_gap_ms"]:
        stats["longest_gap_ms"] = (time.monotonic() - last_ack) * 1000
        stats["longest_gap_ended"] = "at the end"
    stats["longest_gap_ms"] = round(stats["longest_gap_ms"], 1)
    print(json.dumps(stats, sort_keys=True))
    return 1 if stats["counter_went_back"] or stats["acked"] == 0 else 0


def cmd_verify_writes(args):
    prefix = args.prefix
    c = Conn(args.endpoint, timeout=30)
    present = {int(v) for v in decode(c.call("LRANGE", prefix + "seq", 0, -1))}
    counter = int(decode(c.call("GET", prefix + "counter")) or 0)
    c.close()
    acked = [tuple(map(int, line.split())) for line in open(args.acked)]
    missing = [s for s, _ in acked if s not in present]
    top = max((v for _, v in acked), default=0)
    print("%d acknowledged writes, %d in the list on %s, %d missing; counter %d"
          " (highest acknowledged %d)"
          % (len(acked), len(present), args.endpoint, len(missing), counter, top))
    if missing:
        print("missing: %s%s" % (missing[:20], " ..." if len(missing) > 20 else ""))
    return 1 if missing or counter < top or not acked else 0


# ---- resources: backpressure and idle connections ---------------------------------------

def vmrss_kb(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def cmd_backpressure(args):
    flood = Conn(args.target, timeout=30)
    good = Conn(args.target)
    good.call("PING")
    flood.call("PING")
    base = vmrss_kb(args.pid)
    flood.sendraw(encode("GET", args.key) * args.count)
    peak = base
    worst_ms = 0.0
    t_end = time.monotonic() + args.seconds
    while time.monotonic() < t_end:
        peak = max(peak, vmrss_kb(args.pid))
        t0 = time.monotonic()
        r = good.call("PING")
        worst_ms = max(worst_ms, (time.monotonic() - t0) * 1000)
        if r != b"+PONG\r\n":
            print("FAIL the other client got %s" % show(r))
            return 1
        time.sleep(0.05)
    # Now read what comes: every reply (backpressure) or a close (an output limit).
    got = 0
    closed = False
    try:
        for _ in range(args.count):
            r = flood.reply(timeout=10)
            if not r.startswith(b"$"):
                print("flood client got %s" % show(r, 100))
                break
            got += 1
    except (OSError, RespError):
        closed = True
    flood.close()
    good.close()
    growth = (peak - base) * 1024
    print("RSS %d kB before, peak %d kB: grew %.1f MiB for %d x %d-byte replies (limit %.1f MiB);"
          " the flood client then read %d replies%s; the other client's slowest PING %.1f ms"
          % (base, peak, growth / 1048576, args.count, args.value_size, args.limit / 1048576, got,
             " and was closed" if closed else "", worst_ms))
    if growth > 2 * args.limit:
        print("FAIL RSS grew by more than 2 x --client-output-limit")
        return 1
    return 0


def cmd_hold(args):
    conns = []
    for i in range(args.n):
        c = Conn(args.endpoint, timeout=30)
        if c.call("PING") != b"+PONG\r\n":
            print("connection %d: no PONG" % i, file=sys.stderr)
            return 1
        conns.append(c)
    with open(args.ready_file, "w") as f:
        f.write("%d\n" % len(conns))
    deadline = time.monotonic() + args.seconds
    while time.monotonic() < deadline:
        time.sleep(0.1)
    return 0


def printable(raw):
    """A reply on one line: CR, LF and other control bytes as Python escapes (\\r\\n)."""
    return raw.decode("latin-1").encode("unicode_escape").decode("ascii")


def cmd_session(args):
    """One connection; each stdin line is a command (split like a shell line); each reply
    is printed on one line by printable(). A connection closed by the peer prints
    "(closed)" and ends the session."""
    import shlex
    c = Conn(args.endpoint)
    for line in sys.stdin:
        words = shlex.split(line)
        if not words:
            continue
        try:
            print(printable(c.call(*words)), flush=True)
        except (OSError, RespError):
            print("(closed)", flush=True)
            return 1
    c.close()
    return 0


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("compare")
    s.add_argument("reference")
    s.add_argument("target")
    s.add_argument("--only", help="comma-separated scenario names")
    s.add_argument("-v", "--verbose", action="store_true", help="print every reply")
    s.add_argument("--auth", help="USER:PASS of an ACL user: run the AUTH scenarios")
    s.add_argument("--default-pass", help="the servers' requirepass, with --auth")
    s = sub.add_parser("concurrent")
    s.add_argument("target")
    s.add_argument("--clients", type=int, default=200)
    s.add_argument("--ops", type=int, default=200)
    s = sub.add_parser("garbage")
    s.add_argument("reference")
    s.add_argument("target")
    s.add_argument("--table", choices=("garbage", "limits"), default="garbage")
    s = sub.add_parser("writer")
    s.add_argument("target", nargs="?")
    s.add_argument("--sentinel")
    s.add_argument("--master-name", default="mymaster")
    s.add_argument("--prefix", required=True)
    s.add_argument("--acked", required=True)
    s.add_argument("--replicated", action="store_true",
                   help="a write is acknowledged once on every replica of the master")
    s.add_argument("--stop-file")
    s.add_argument("--seconds", type=float, default=60)
    s = sub.add_parser("verify-writes")
    s.add_argument("endpoint")
    s.add_argument("--prefix", required=True)
    s.add_argument("--acked", required=True)
    s = sub.add_parser("backpressure")
    s.add_argument("target")
    s.add_argument("--key", required=True)
    s.add_argument("--value-size", type=int, default=1 << 20)
    s.add_argument("--count", type=int, default=64)
    s.add_argument("--pid", type=int, required=True)
    s.add_argument("--limit", type=int, required=True)
    s.add_argument("--seconds", type=float, default=3)
    s = sub.add_parser("hold")
    s.add_argument("endpoint")
    s.add_argument("n", type=int)
    s.add_argument("--ready-file", required=True)
    s.add_argument("--seconds", type=float, default=120)
    s = sub.add_parser("session")
    s.add_argument("endpoint")
    args = p.parse_args()
    if args.cmd == "writer" and not args.target and not args.sentinel:
        p.error("writer: a TARGET or --sentinel")
    commands = {"compare": cmd_compare, "concurrent": cmd_concurrent, "garbage": cmd_garbage,
                "writer": cmd_writer, "verify-writes": cmd_verify_writes,
                "backpressure": cmd_backpressure, "hold": cmd_hold, "session": cmd_session}
    return commands[args.cmd](args)


if __name__ == "__main__":
    sys.exit(main())
