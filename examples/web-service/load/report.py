#!/usr/bin/env python3
"""Turns load-test.sh's per-round CSV into the medians CSV and a markdown report.

    report.py RAW.csv OUT.csv OUT.md --label L --command C --load-before X --load-after Y
              --rounds N --duration S [--workers W] [--pin-service CPUS] [--pin-load CPUS]
              [--props "..."] [--commit ID]

Requests/s counts every answer, 503s included; points with non-2xx answers
are flagged. "CPU per request" divides the CPU time the service (or the
broker) used during the point by the requests answered: on a machine shared
with other work it is steadier than requests/s, which depends on how much
CPU the scheduler gave the service.
"""
import argparse
import csv
import os
import platform
import statistics
import subprocess

COLS = ["requests_per_s", "p50_ms", "p90_ms", "p99_ms", "max_ms", "non_2xx", "socket_errors",
        "requests", "service_cpu_pct", "broker_cpu_pct"]


def sh(cmd):
    try:
        return subprocess.run(cmd, shell=True, capture_output=True, text=True).stdout.strip()
    except OSError:
        return "?"


def medians(raw_path, out_path):
    rows = list(csv.DictReader(open(raw_path)))
    keys = []
    for r in rows:
        k = (r["variant"], int(r["connections"]))
        if k not in keys:
            keys.append(k)
    out = []
    with open(out_path, "w") as f:
        f.write("variant,connections," + ",".join(COLS) + "\n")
        for v, c in keys:
            pts = [r for r in rows if r["variant"] == v and int(r["connections"]) == c]
            med = {col: statistics.median(float(p[col]) for p in pts) for col in COLS}
            f.write(f"{v},{c}," + ",".join(f"{med[col]:g}" for col in COLS) + "\n")
            out.append((v, c, med))
    return out


def us_per_request(cpu_pct, rps):
    return cpu_pct / 100 / rps * 1e6 if rps > 0 else float("nan")


def report(points, a):
    variants, conns = [], []
    for v, c, _ in points:
        if v not in variants:
            variants.append(v)
        if c not in conns:
            conns.append(c)
    get = {(v, c): m for v, c, m in points}
    cpu = sh("grep -m1 'model name' /proc/cpuinfo | cut -d: -f2")
    mem_gb = round(int(open("/proc/meminfo").readline().split()[1]) / 1024 / 1024)
    o = [f"### Setup `{a.label}`", ""]
    o.append(f"- command: `{a.command}`")
    o.append(f"- machine: {os.cpu_count()} cores ({cpu}), {mem_gb} GB, Linux {platform.release()}; "
             "service, broker (tansu 0.6.0, memory storage) and wrk (2 threads) on the same machine")
    o.append(f"- service: release build, tokio workers {a.workers or 'one per core'}, CPUs {a.pin_service or 'any'}; "
             f"broker and wrk on CPUs {a.pin_load or 'any'}; producer properties: {a.props or 'the service defaults'}")
    o.append(f"- {a.rounds} round(s) of {a.duration} s per point (median shown), variants interleaved; "
             f"load average before {a.load_before}, after {a.load_after}; commit {a.commit}")
    o.append("")
    o.append("Requests/s (in brackets: relative to no-op at the same concurrency):")
    o.append("")
    o.append("| connections | " + " | ".join(variants) + " |")
    o.append("| ---: | " + " | ".join("---:" for _ in variants) + " |")
    for c in conns:
        base = get[("noop", c)]["requests_per_s"] if ("noop", c) in get else None
        cells = []
        for v in variants:
            m = get.get((v, c))
            if not m:
                cells.append("-")
                continue
            rps = m["requests_per_s"]
            cell = f"{rps:,.0f}"
            if base and v != "noop":
                cell += f" ({100 * (rps / base - 1):+.1f}%)"
            if m["non_2xx"] and m["requests"]:
                cell += f" **{100 * m['non_2xx'] / m['requests']:.0f}% non-2xx**"
            cells.append(cell)
        o.append(f"| {c} | " + " | ".join(cells) + " |")
    o.append("")
    o.append("Latency p50 / p99 (ms):")
    o.append("")
    o.append("| connections | " + " | ".join(variants) + " |")
    o.append("| ---: | " + " | ".join("---:" for _ in variants) + " |")
    for c in conns:
        cells = [f"{get[(v, c)]['p50_ms']:.2f} / {get[(v, c)]['p99_ms']:.2f}" if (v, c) in get else "-"
                 for v in variants]
        o.append(f"| {c} | " + " | ".join(cells) + " |")
    o.append("")
    o.append("CPU per request, µs (service + broker; wrk not counted):")
    o.append("")
    o.append("| connections | " + " | ".join(variants) + " |")
    o.append("| ---: | " + " | ".join("---:" for _ in variants) + " |")
    for c in conns:
        cells = []
        for v in variants:
            m = get.get((v, c))
            if not m:
                cells.append("-")
                continue
            s = us_per_request(m["service_cpu_pct"], m["requests_per_s"])
            b = us_per_request(m["broker_cpu_pct"], m["requests_per_s"])
            cells.append("-" if s != s else f"{s:.1f} + {b:.1f}")
        o.append(f"| {c} | " + " | ".join(cells) + " |")
    bad = [f"{v}@{c}" for (v, c), m in get.items() if m["non_2xx"] or m["socket_errors"]]
    o.append("")
    o.append("Every request was answered 2xx without socket errors." if not bad else
             "Points with non-2xx answers (503: producer buffer full) or socket errors: " + ", ".join(bad))
    return "\n".join(o) + "\n"


def main():
    p = argparse.ArgumentParser()
    p.add_argument("raw")
    p.add_argument("csv")
    p.add_argument("md")
    for flag in ["label", "command", "load-before", "load-after", "rounds", "duration", "workers",
                 "pin-service", "pin-load", "props", "commit"]:
        p.add_argument("--" + flag, default="")
    a = p.parse_args()
    text = report(medians(a.raw, a.csv), a)
    open(a.md, "w").write(text)
    print(text)


if __name__ == "__main__":
    main()
