#!/usr/bin/python3
"""tests/e2e/am_tool.py — what the adapter-metrics e2e tests need besides curl and promtool.

  am_tool.py om-check FILE         parse FILE with python3-prometheus-client's strict
                                   OpenMetrics parser; exit 1 naming the first problem
  am_tool.py value FILE SERIES     print the value of SERIES ('name' or 'name{a="b",...}',
                                   labels in any order) from a 0.0.4 text FILE; exit 1 if absent
  am_tool.py count FILE PREFIX     print how many samples' names start with PREFIX
  am_tool.py statsd HOST PORT LINE...       one UDP datagram per LINE
  am_tool.py statsd-tcp HOST PORT LINE...   the LINEs over one TCP connection
  am_tool.py flood HOST PORT N DISTINCT     N datagrams "flood.c,id=<i % DISTINCT>:1|c"
  am_tool.py promql URL QUERY      the value of an instant query's single result (or 'none')

Run with Debian's /usr/bin/python3: the OpenMetrics parser is Debian's
python3-prometheus-client.
"""
import json
import socket
import sys
import urllib.parse
import urllib.request


def parse_series(text):
    if "{" not in text:
        return text, {}
    name, rest = text.split("{", 1)
    labels = {}
    rest = rest.rstrip("}")
    for item in filter(None, rest.split(",")):
        k, v = item.split("=", 1)
        v = v[1:-1] if len(v) >= 2 and v[0] == v[-1] == '"' else v
        labels[k] = v.replace("\\\\", "\0").replace('\\"', '"').replace("\\n", "\n").replace("\0", "\\")
    return name, labels


def samples(path):
    from prometheus_client.parser import text_string_to_metric_families

    with open(path, encoding="utf-8") as f:
        text = f.read()
    for fam in text_string_to_metric_families(text):
        for s in fam.samples:
            yield s


def main(argv):
    cmd = argv[1]
    if cmd == "om-check":
        from prometheus_client.openmetrics.parser import text_string_to_metric_families

        with open(argv[2], encoding="utf-8") as f:
            text = f.read()
        try:
            n = sum(len(fam.samples) for fam in text_string_to_metric_families(text))
        except Exception as e:  # the parser's own message names the line
            print(f"OpenMetrics parser: {e}", file=sys.stderr)
            return 1
        print(n)
        return 0
    if cmd == "value":
        name, labels = parse_series(argv[3])
        for s in samples(argv[2]):
            if s.name == name and s.labels == labels:
                print(repr(s.value) if s.value != int(s.value) else int(s.value))
                return 0
        print(f"no sample {argv[3]}", file=sys.stderr)
        return 1
    if cmd == "count":
        print(sum(1 for s in samples(argv[2]) if s.name.startswith(argv[3])))
        return 0
    if cmd == "statsd":
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        for line in argv[4:]:
            sock.sendto(line.encode("utf-8", "surrogateescape"), (argv[2], int(argv[3])))
        return 0
    if cmd == "statsd-tcp":
        with socket.create_connection((argv[2], int(argv[3])), timeout=5) as sock:
            for line in argv[4:]:
                sock.sendall(line.encode("utf-8", "surrogateescape") + b"\n")
        return 0
    if cmd == "flood":
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        dest = (argv[2], int(argv[3]))
        n, distinct = int(argv[4]), int(argv[5])
        for i in range(n):
            sock.sendto(b"flood.c,id=%d:1|c" % (i % distinct), dest)
        return 0
    if cmd == "promql":
        url = argv[2] + "/api/v1/query?" + urllib.parse.urlencode({"query": argv[3]})
        with urllib.request.urlopen(url, timeout=5) as r:
            res = json.load(r)["data"]["result"]
        print(res[0]["value"][1] if len(res) == 1 else "none")
        return 0
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
