"""Medians of benchmarks/evloop/run.sh results as the markdown tables of
docs/native-event-loop.md. Usage: python3 benchmarks/evloop/summarize.py
[build/evloop/results.txt]"""
import statistics
import sys
from collections import defaultdict

FIELDS = {
    "idle": [("server_cpu_pct", "server CPU %", 3), ("client_cpu_pct", "client CPU %", 3),
             ("rss_per_conn_b", "RSS B/conn", 0)],
    "lockstep": [("deliveries_per_s", "deliveries/s", 0),
                 ("server_us_per_delivery", "server us/delivery", 2),
                 ("client_us_per_delivery", "client us/delivery", 2)],
    "free": [("deliveries_per_s", "deliveries/s", 0),
             ("server_us_per_delivery", "server us/delivery", 3),
             ("client_us_per_delivery", "client us/delivery", 3),
             ("frames_per_write", "frames/write", 0)],
    "trickle": [("server_cpu_pct", "server CPU %", 2),
                ("server_us_per_delivery", "server us/delivery", 1),
                ("client_us_per_delivery", "client us/delivery", 1)],
}


def main(path):
    runs = defaultdict(list)
    for line in open(path):
        if not line.startswith("result "):
            continue
        kv = dict(p.split("=", 1) for p in line.split()[1:])
        runs[(kv["mode"], int(kv["n"]), kv["loop"])].append(kv)
    for mode, fields in FIELDS.items():
        keys = sorted(k for k in runs if k[0] == mode)
        if not keys:
            continue
        print(f"\n### {mode}\n")
        print("| N | loop | " + " | ".join(f[1] for f in fields) + " | runs (first column) |")
        print("|---" * (len(fields) + 3) + "|")
        for _, n, loop in sorted(keys, key=lambda k: (k[1], ["poll", "uv", "ev"].index(k[2]))):
            rs = runs[(mode, n, loop)]
            cells = []
            for name, _, nd in fields:
                med = statistics.median(float(r[name]) for r in rs)
                cells.append(f"{med:,.{nd}f}")
            first = " ".join(f"{float(r[fields[0][0]]):,.{fields[0][2]}f}" for r in rs)
            bad = sum(r["complete"] != "1" for r in rs)
            print(f"| {n} | {loop} | " + " | ".join(cells) + f" | {first}"
                  + (f" ({bad} incomplete)" if bad else "") + " |")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "build/evloop/results.txt")
