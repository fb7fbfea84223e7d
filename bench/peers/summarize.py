#!/usr/bin/env python3
"""summarize.py OUT: prints the results compare.sh wrote to OUT as Markdown
tables, the way docs/performance.md shows them. Reads only OUT/*.json."""
import glob
import json
import os
import sys


def load(out, name):
    path = os.path.join(out, name + ".json")
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def kib(n):
    return f"{n / 1024:.1f} KiB"


def idle(out):
    print("| server | conns | RSS before → after | RSS/conn (bench) | RSS/conn 5k→19k | connects/s |")
    print("|---|---:|---:|---:|---:|---:|")
    names = sorted({os.path.basename(p)[5:-5].rsplit("-", 1)[0] for p in glob.glob(os.path.join(out, "idle-*.json"))})
    for name in names:
        runs = {n: load(out, f"idle-{name}-{n}") for n in (1000, 5000, 19000)}
        for n, d in runs.items():
            if not d or "server_rss_after_bytes" not in d:
                continue
            slope = ""
            if n == 19000 and runs[5000]:
                slope = kib((d["server_rss_after_bytes"] - runs[5000]["server_rss_after_bytes"]) / 14000)
            print(f"| {name} | {n:,} | {d['server_rss_before_bytes'] / 2**20:.1f} → {d['server_rss_after_bytes'] / 2**20:.1f} MiB "
                  f"| {kib(d['server_rss_per_conn_bytes'])} | {slope} | {d['connects_per_s']:,.0f} |")


def phase_row(name, d):
    l = d["latency"]
    others = d.get("other_processes_cpu_s", 0)
    return (f"| {name} | {d['deliveries_per_s']:,.0f} | {l['p50_ms']:.2f} | {l['p99_ms']:.2f} | {d.get('server_cpu_s', 0):.2f} "
            f"| {d.get('server_cpu_s_per_million_deliveries', 0):.2f} | {d['bench_cpu_s']:.2f} | {others:.2f} | {d['lost']:,} |")


def fanout(out, prefix):
    print("| run | deliveries/s | p50 ms | p99 ms | server CPU s | server CPU s / M deliveries | bench CPU s | others' CPU s | lost |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for path in sorted(glob.glob(os.path.join(out, prefix + "*.json"))):
        name = os.path.basename(path)[:-5]
        d = load(out, name)
        if d and "latency" in d and "deliveries_per_s" in d:
            print(phase_row(name, d))


def ramp(out, prefix):
    print("| run | highest held msgs/s | deliveries/s | top step: server CPU | CPU s / M deliveries | bench CPU | p99 ms | stopped because |")
    print("|---|---:|---:|---:|---:|---:|---:|---|")
    for path in sorted(glob.glob(os.path.join(out, prefix + "*.json"))):
        name = os.path.basename(path)[:-5]
        d = load(out, name)
        if not d or "steps" not in d:
            continue
        held = [s for s in d["steps"] if s["held"]]
        top = held[-1] if held else d["steps"][0]
        pct = lambda cpu: f"{100 * cpu / top['elapsed_s']:.0f}%" if top["elapsed_s"] else "-"
        perm = top.get("server_cpu_s_per_million_deliveries")
        print(f"| {name} | {d['highest_held_rate']:,.0f} | {d['highest_held_deliveries_per_s']:,.0f} | {pct(top.get('server_cpu_s', 0))} "
              f"| {perm if perm is not None else '-'} "
              f"| {pct(top['bench_cpu_s'])} | {top['latency']['p99_ms']:.1f} | {d['stopped_because'][:120]} |")


def other(out):
    for path in sorted(glob.glob(os.path.join(out, "*send*.json"))):
        d = load(out, os.path.basename(path)[:-5])
        if d and "acked_per_s" in d:
            l = d["ack_latency"]
            print(f"- {os.path.basename(path)[:-5]}: {d['acked_per_s']:,.0f} acked msgs/s over {d['conns']} connections, "
                  f"ack p50 {l['p50_ms']:.1f} ms, p99 {l['p99_ms']:.1f} ms, server CPU {d.get('server_cpu_s', 0):.2f} s")
        elif d and "steps" in d:  # several depths in turn (--inflight 1,2,4)
            best = d.get("best")
            bound = f"p99 ≤ {d['p99_bound_ms']:g} ms" if d.get("p99_bound_ms") else "no p99 bound"
            held = f"{best['acked_per_s']:,.0f}/s at {best['inflight']} in flight" if best else "none"
            print(f"- {os.path.basename(path)[:-5]} ({d['conns']} connections, {bound}): best {held}")
            for st in d["steps"]:
                l = st["ack_latency"]
                print(f"  - {st['inflight']} in flight: {st['acked_per_s']:,.0f}/s, p50 {l['p50_ms']:.1f} ms, p99 {l['p99_ms']:.1f} ms"
                      + ("" if st["held"] else f" (did not hold: {st['reason']})"))
    for path in sorted(glob.glob(os.path.join(out, "storm*.json"))):
        d = load(out, os.path.basename(path)[:-5])
        if d and "resume_all_s" in d:
            print(f"- {os.path.basename(path)[:-5]}: {d['conns']:,} clients × {d['missed']} missed: all resumed in {d['resume_all_s']:.2f} s "
                  f"(p50 {d['resume']['p50_ms'] / 1000:.2f} s), lost {d['lost']}, duplicated {d['duplicated']}")
    for path in sorted(glob.glob(os.path.join(out, "probe-*.json"))):
        d = load(out, os.path.basename(path)[:-5])
        if d:
            print(f"- {os.path.basename(path)[:-5]}: p50 {d['p50_ms']} ms, p99 {d['p99_ms']} ms, lost {d['lost']}, duplicated {d['duplicated']}")


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: summarize.py OUT")
    out = sys.argv[1]
    print("## idle\n")
    idle(out)
    for prefix in ("fanout-", "growth-", "cluster-fanout-"):
        print(f"\n## {prefix.rstrip('-')}\n")
        fanout(out, prefix)
    for prefix in ("ramp-", "ceiling-", "fine-"):
        print(f"\n## {prefix.rstrip('-')}\n")
        ramp(out, prefix)
    print("\n## sends, storm, cluster probe\n")
    other(out)


if __name__ == "__main__":
    main()
