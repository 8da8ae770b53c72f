#!/usr/bin/env python3
"""Turns herald_bench's JSON lines into the comparison table and bench/results/latest.json.

    python3 bench/report.py bench/results/run-STAMP.jsonl [--out FILE]

Standard library only. Each input line is one (scenario, target) result from herald_bench.
"""
import argparse
import json
import math
import os
import platform
import sys
import time

ORDER = ["fanout", "latency", "idle", "many_topics", "publish", "reconnect", "scale", "smoke"]
TARGETS = ["herald", "nchan"]


def load(path):
    results = []
    with open(path) as f:
        for line in f:
            line = line.strip()
            if line:
                results.append(json.loads(line))
    return results


def ratio(h, n):
    if h is None or n is None:
        return "-"
    if isinstance(h, float) and math.isnan(h) or isinstance(n, float) and math.isnan(n):
        return "-"
    if n == 0:
        return "-" if h == 0 else "inf"
    return f"{h / n:.2f}"


def noise(result):
    """Share of a core that other programs took during the measured window."""
    server = result.get("metrics", {}).get("server", {})
    wall = server.get("wall_s") or 0
    return (server.get("others_user_cpu_s") or 0) / wall if wall else 0.0


def build_rows(results):
    by = {}
    for r in results:
        # run.sh may measure a pair twice when other programs disturbed the first run:
        # keep the least disturbed one (the later one on a tie).
        key = (r["scenario"], r["target"])
        if key not in by or noise(r) <= noise(by[key]):
            by[key] = r
    scenarios = sorted({s for s, _ in by}, key=lambda s: ORDER.index(s) if s in ORDER else 99)
    rows = []
    for s in scenarios:
        per_target = {t: by.get((s, t)) for t in TARGETS}
        metrics = []
        for t in TARGETS:
            r = per_target[t]
            if not r:
                continue
            for row in r["table"]:
                if row["metric"] not in metrics:
                    metrics.append(row["metric"])
        status = {t: (("OK" if r["ok"] else "FAILED") + (" (noisy)" if noise(r) > 0.1 else "")) if r else "-"
                  for t, r in per_target.items()}
        rows.append({"scenario": s, "metric": "verdict", "herald": status["herald"], "nchan": status["nchan"],
                     "ratio": "", "better": ""})
        for m in metrics:
            cells = {}
            values = {}
            better = ""
            for t in TARGETS:
                r = per_target[t]
                row = next((x for x in r["table"] if x["metric"] == m), None) if r else None
                cells[t] = row["display"] if row else "-"
                values[t] = row["value"] if row else None
                if row:
                    better = row["better"] or better
            rows.append({"scenario": s, "metric": m, "herald": cells["herald"], "nchan": cells["nchan"],
                         "ratio": ratio(values["herald"], values["nchan"]) if better or values["herald"] is not None else "-",
                         "better": better})
    return rows, by


def print_table(rows, by, out=sys.stdout):
    headers = ["scenario", "metric", "Herald", "nchan", "Herald/nchan"]
    table = [[r["scenario"], r["metric"] + (f"  [{r['better']}]" if r["better"] else ""), r["herald"], r["nchan"], r["ratio"]]
             for r in rows]
    widths = [max(len(headers[i]), *(len(str(row[i])) for row in table)) if table else len(headers[i]) for i in range(5)]
    line = "  ".join(h.ljust(widths[i]) if i < 2 else h.rjust(widths[i]) for i, h in enumerate(headers))
    print(line, file=out)
    print("-" * len(line), file=out)
    previous = None
    for row in table:
        scenario = row[0] if row[0] != previous else ""
        if previous is not None and row[0] != previous:
            print(file=out)
        previous = row[0]
        cells = [scenario, row[1], row[2], row[3], row[4]]
        print("  ".join(str(c).ljust(widths[i]) if i < 2 else str(c).rjust(widths[i]) for i, c in enumerate(cells)), file=out)
    order = lambda item: (ORDER.index(item[0][0]) if item[0][0] in ORDER else 99, item[0][1])
    problems = [(s, t, p) for (s, t), r in sorted(by.items(), key=order) for p in r.get("problems", [])]
    if problems:
        print("\nproblems:", file=out)
        for s, t, p in problems:
            print(f"  {s} / {t}: {p}", file=out)
    print("\n[higher]/[lower]: which way is better; ratio = Herald / nchan.", file=out)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("raw")
    ap.add_argument("--out")
    ap.add_argument("--elapsed", type=float)
    ap.add_argument("--quick", default="0")
    ap.add_argument("--command", default="")
    ap.add_argument("--herald-version", default="")
    ap.add_argument("--nchan-version", default="")
    args = ap.parse_args()

    results = load(args.raw)
    rows, by = build_rows(results)
    print_table(rows, by)
    if args.out:
        doc = {
            "meta": {
                "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                "command": args.command,
                "quick": args.quick == "1",
                "elapsed_s": args.elapsed,
                "herald": args.herald_version,
                "nchan": args.nchan_version,
                "kernel": platform.release(),
                "cores": os.cpu_count(),
                "pinning": "server on core 0 (herald --threads 1, nginx worker_processes 1), herald_bench on core 1",
                "raw": os.path.basename(args.raw),
            },
            "table": rows,
            "results": list(by.values()),
            "discarded": [r for r in results if all(r is not k for k in by.values())],
        }
        os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
        with open(args.out, "w") as f:
            json.dump(doc, f, indent=1)
            f.write("\n")
    return 0 if all(r["ok"] for r in by.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
