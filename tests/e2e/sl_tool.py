#!/usr/bin/env python3
"""sl_tool.py — what the sidecar-log end-to-end tests drive it with: numbered log lines
written with rotation (rename+create, copytruncate, truncate in place), sinks on loopback
(TCP, HTTP, a fake Elasticsearch _bulk), and a checker that counts lines by number.

Every line written is "<tag> <n> <padding>" with n from 1, so a checker can say which
numbers are missing and which came twice, whatever order or wrapping (JSON) they came in.

  write PATH TAG N [--rotate-bytes B] [--keep K] [--mode rename|copytruncate|truncate]
        [--no-final-newline] [--pace-every M --pace-ms T]
  check FILE TAG N [--json FIELD] [--dups-max D] [--expect-order]
  tcp-sink PORT OUT            appends every line received to OUT (a record per line)
  http-sink PORT OUT [--fail-first K]   answers 503 K times, then 200 and appends the body
  es-sink PORT OUT [--429-first K] [--reject WORD]
        a _bulk endpoint: the first K items answered 429 (once each), items whose document
        holds WORD answered 400 (mapping error), ids seen before 409; others 201, stored
        in OUT as one document per line
Only 127.0.0.1 is ever used.
"""
import argparse
import http.server
import json
import os
import re
import socket
import socketserver
import sys
import threading
import time


def line_of(tag, n):
    text = f"{tag} {n:08d} "
    return text + "x" * (116 - len(text)) + "\n"  # ~117 bytes with the newline


def cmd_write(a):
    written = 0
    pace = 0
    with_nl = not a.no_final_newline
    f = open(a.path, "a")
    for n in range(1, a.n + 1):
        s = line_of(a.tag, n)
        if n == a.n and not with_nl:
            s = s[:-1]
        f.write(s)
        written += len(s)
        pace += 1
        if a.pace_every and pace >= a.pace_every:
            f.flush()
            time.sleep(a.pace_ms / 1000)
            pace = 0
        if a.rotate_bytes and written >= a.rotate_bytes and n < a.n:
            f.flush()
            rotate(a, f)
            if a.mode == "rename":
                f.close()
                f = open(a.path, "a")
            written = 0
    f.close()


def rotate(a, f):
    # In place (copytruncate, truncate), lines not yet read when the file is cut are gone
    # for any shipper: the pause gives it time to read them, as a real app's pace would.
    if a.mode != "rename":
        time.sleep(a.rotate_pause_ms / 1000)
    if a.mode == "rename":
        for k in range(a.keep - 1, 0, -1):
            if os.path.exists(f"{a.path}.{k}"):
                os.replace(f"{a.path}.{k}", f"{a.path}.{k + 1}")
        os.replace(a.path, f"{a.path}.1")
    elif a.mode == "copytruncate":
        with open(a.path, "rb") as src, open(f"{a.path}.1", "wb") as dst:
            dst.write(src.read())
        os.truncate(a.path, 0)
    else:  # truncate in place
        os.truncate(a.path, 0)
    # a shipper that follows the file must see the change before the next write lands
    time.sleep(a.rotate_pause_ms / 1000)


def numbers_in(path, tag, field):
    pat = re.compile(re.escape(tag) + r" (\d{8}) ")
    nums = []
    with open(path, "rb") as f:
        for raw in f:
            text = raw.decode("utf-8", "replace")
            if field:
                try:
                    obj = json.loads(text)
                except ValueError:
                    continue
                text = str(obj.get(field, ""))
            for m in pat.finditer(text):
                nums.append(int(m.group(1)))
    return nums


def cmd_check(a):
    nums = numbers_in(a.file, a.tag, a.json)
    seen = {}
    for n in nums:
        seen[n] = seen.get(n, 0) + 1
    missing = [n for n in range(1, a.n + 1) if n not in seen]
    dups = sum(c - 1 for c in seen.values())
    extra = [n for n in seen if n < 1 or n > a.n]
    problems = []
    if missing:
        problems.append(f"{len(missing)} missing (first {missing[:5]})")
    if dups > a.dups_max:
        problems.append(f"{dups} duplicates (at most {a.dups_max} allowed)")
    if extra:
        problems.append(f"unexpected numbers {extra[:5]}")
    if a.expect_order and nums != sorted(nums):
        problems.append("out of order")
    print(f"{a.tag}: {len(nums)} lines, {len(seen)} distinct of {a.n}, {dups} duplicates")
    if problems:
        print(f"{a.tag}: " + "; ".join(problems))
        sys.exit(1)


class Reuse(socketserver.ThreadingTCPServer):
    allow_reuse_address = True
    daemon_threads = True


def cmd_tcp_sink(a):
    lock = threading.Lock()
    out = open(a.out, "ab", buffering=0)

    class H(socketserver.StreamRequestHandler):
        def handle(self):
            for line in self.rfile:
                with lock:
                    out.write(line)

    Reuse(("127.0.0.1", a.port), H).serve_forever()


def cmd_http_sink(a):
    state = {"fails": a.fail_first}
    lock = threading.Lock()

    class H(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args):
            pass

        def do_POST(self):
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            with lock:
                if state["fails"] > 0:
                    state["fails"] -= 1
                    code = 503
                else:
                    code = 200
                    with open(a.out, "ab") as f:
                        f.write(body)
            self.send_response(code)
            self.send_header("Content-Length", "0")
            self.end_headers()

    http.server.ThreadingHTTPServer(("127.0.0.1", a.port), H).serve_forever()


def cmd_es_sink(a):
    state = {"throttle": a.first_429, "ids": set(), "throttled": set()}
    lock = threading.Lock()

    class H(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args):
            pass

        def do_POST(self):
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            lines = body.decode().splitlines()
            items, errors = [], False
            with lock, open(a.out, "a") as f:
                for i in range(0, len(lines) - 1, 2):
                    action = json.loads(lines[i])["create"]
                    doc = lines[i + 1]
                    _id = action["_id"]
                    if _id in state["ids"]:
                        status = 409
                    elif a.reject and a.reject in doc:
                        status = 400
                    elif state["throttle"] > 0 and _id not in state["throttled"]:
                        state["throttle"] -= 1
                        state["throttled"].add(_id)
                        status = 429
                    else:
                        status = 201
                        state["ids"].add(_id)
                        f.write(doc + "\n")
                    item = {"_index": action["_index"], "_id": _id, "status": status}
                    if status >= 300:
                        errors = True
                        item["error"] = {"type": {409: "version_conflict_engine_exception",
                                                  400: "mapper_parsing_exception",
                                                  429: "es_rejected_execution_exception"}[status],
                                         "reason": "test"}
                    items.append({"create": item})
            out = json.dumps({"took": 1, "errors": errors, "items": items}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(out)))
            self.end_headers()
            self.wfile.write(out)

    http.server.ThreadingHTTPServer(("127.0.0.1", a.port), H).serve_forever()


def main():
    p = argparse.ArgumentParser()
    sub = p.add_subparsers(dest="cmd", required=True)
    w = sub.add_parser("write")
    w.add_argument("path")
    w.add_argument("tag")
    w.add_argument("n", type=int)
    w.add_argument("--rotate-bytes", type=int, default=0)
    w.add_argument("--keep", type=int, default=5)
    w.add_argument("--mode", choices=["rename", "copytruncate", "truncate"], default="rename")
    w.add_argument("--rotate-pause-ms", type=int, default=0)
    w.add_argument("--no-final-newline", action="store_true")
    w.add_argument("--pace-every", type=int, default=0)
    w.add_argument("--pace-ms", type=int, default=1)
    c = sub.add_parser("check")
    c.add_argument("file")
    c.add_argument("tag")
    c.add_argument("n", type=int)
    c.add_argument("--json", default="")
    c.add_argument("--dups-max", type=int, default=0)
    c.add_argument("--expect-order", action="store_true")
    t = sub.add_parser("tcp-sink")
    t.add_argument("port", type=int)
    t.add_argument("out")
    h = sub.add_parser("http-sink")
    h.add_argument("port", type=int)
    h.add_argument("out")
    h.add_argument("--fail-first", type=int, default=0)
    e = sub.add_parser("es-sink")
    e.add_argument("port", type=int)
    e.add_argument("out")
    e.add_argument("--429-first", dest="first_429", type=int, default=0)
    e.add_argument("--reject", default="")
    a = p.parse_args()
    {"write": cmd_write, "check": cmd_check, "tcp-sink": cmd_tcp_sink,
     "http-sink": cmd_http_sink, "es-sink": cmd_es_sink}[a.cmd](a)


if __name__ == "__main__":
    main()
