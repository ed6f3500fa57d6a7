#!/usr/bin/env python3
"""report.py - turn the raw lines bench/run.sh collected into the table.

Input (one file, lines in any order):
  META key=value...                     machine, date, tool versions
  STATUS weft=built|not-built reason=...
  RESULT bench=B impl=I workers=N size=S units=U ns=T per=P   one per run
  CALLGRIND impl=I n1=A n2=B per=P      instructions per fib call
  NOTE text                             shown under the table (deduplicated)

Output: the table as markdown on stdout and in the --md file.  Each value is
the median over the rounds of that (benchmark, implementation, workers).
Ratios are weft / peer (below 1 means weft is faster).
"""
import argparse
import re
import statistics
import sys
from collections import OrderedDict, defaultdict

WORKERS = (1, 2)

# family -> (title, unit, weft variants [(short label, impl)], rows [(impl, label)])
TABLE1 = [
    ("fib", "fib(n), no cutoff", "ns/call",
     [("fj", "weft-fj"), ("task", "weft-task")],
     [("weft-fj", "weft `parallel_invoke2` (fork-join)"),
      ("weft-task", "weft task objects (`start_new` + `wait`)"),
      ("serial", "serial C (one thread)"),
      ("tbb", "oneTBB `task_group`"),
      ("omp-gcc", "OpenMP tasks, gcc + libgomp"),
      ("omp-clang", "OpenMP tasks, clang + LLVM libomp"),
      ("mono-task", "Mono TPL `Task.Run` + `Result`"),
      ("mono-invoke", "Mono TPL `Parallel.Invoke`")]),
    ("skynet", "skynet (10-way fan-out, depth d)", "ns/task",
     [("task", "weft-task"), ("invoke", "weft-invoke")],
     [("weft-task", "weft tasks (`start_new` + `wait_all`)"),
      ("weft-invoke", "weft `parallel_invoke` of 10"),
      ("serial", "serial C (one thread)"),
      ("tbb", "oneTBB `task_group`"),
      ("omp-gcc", "OpenMP tasks, gcc + libgomp"),
      ("omp-clang", "OpenMP tasks, clang + LLVM libomp"),
      ("mono-task", "Mono TPL `Task.Run` + `WaitAll`")]),
    ("nqueens", "nqueens(n), task per placement", "ns/task",
     [("task", "weft-task"), ("invoke", "weft-invoke")],
     [("weft-task", "weft tasks (`start_new` + `wait_all`)"),
      ("weft-invoke", "weft `parallel_invoke` per row"),
      ("serial", "serial C (one thread)"),
      ("tbb", "oneTBB `task_group`"),
      ("omp-gcc", "OpenMP tasks, gcc + libgomp"),
      ("omp-clang", "OpenMP tasks, clang + LLVM libomp"),
      ("mono-task", "Mono TPL `Task.Run` + `WaitAll`")]),
    ("pfor", "parallel for: sum of n doubles", "ns/element",
     [("", "weft")],
     [("weft", "weft `parallel_for_range`"),
      ("serial", "serial C (one thread)"),
      ("tbb", "oneTBB `parallel_reduce`"),
      ("omp-gcc", "OpenMP `parallel for reduction`, gcc"),
      ("omp-clang", "OpenMP `parallel for reduction`, clang"),
      ("mono-parallel-for", "Mono TPL `Parallel.For` + thread-local sums")]),
]

# Absolute targets per (family, impl): {workers: limit}
TARGETS1 = {
    ("fib", "weft-fj"): {1: 5.0, 2: 2.7},
    ("fib", "weft-task"): {1: 12.0, 2: 7.0},
}
# skynet: weft at most half of TBB's time (per worker count)
RATIO_TARGETS1 = {
    ("skynet", "weft-task"): ("tbb", 0.5),
    ("skynet", "weft-invoke"): ("tbb", 0.5),
}
CALLGRIND_ROWS = [
    ("weft-fj", "weft `parallel_invoke2`", 60.0),
    ("weft-task", "weft task objects", 120.0),
    ("serial", "serial C", None),
    ("tbb", "oneTBB `task_group`", None),
    ("omp-gcc", "OpenMP tasks, gcc + libgomp", None),
    ("omp-clang", "OpenMP tasks, clang + LLVM libomp", None),
]
MEM_TARGET = 128.0

TABLE2 = [
    ("chain-async", "continuation chain, `continue_with` default options", "ns/link", 40.0),
    ("chain-sync", "continuation chain, `EXECUTE_SYNCHRONOUSLY`", "ns/link", 40.0),
    ("pingpong", "ping-pong through promises (2 long-running tasks)", "ns/hop", None),
    ("fanout", "fan-out of trivial tasks + `when_all`", "ns/task", 30.0),
    ("whenany", "`when_any` over 1000 pending tasks", "ns/call", None),
    ("cancel", "cancel queued tasks (token, cancel, `wait_all`)", "ns/task", None),
    ("roundtrip", "external `task_run` + `task_wait` round trip", "ns/round trip", 5000.0),
]

RESULT_RE = re.compile(r"(\w+)=(\S+)")


def parse(path):
    results = defaultdict(list)   # (bench, impl, workers) -> [per]
    sizes = {}                     # (bench, impl) -> size
    callgrind = {}
    meta = OrderedDict()
    notes = OrderedDict()
    status = {}
    cancel_ran = defaultdict(list)  # (impl, workers) -> [(ran, n)]
    with open(path, encoding="utf-8") as f:
        for line in f:
            line = line.rstrip("\n")
            kind, _, rest = line.partition(" ")
            if kind == "RESULT":
                kv = dict(RESULT_RE.findall(rest))
                key = (kv["bench"], kv["impl"], int(kv["workers"]))
                results[key].append(float(kv["per"]))
                sizes[(kv["bench"], kv["impl"])] = kv["size"]
            elif kind == "CALLGRIND":
                kv = dict(RESULT_RE.findall(rest))
                callgrind[kv["impl"]] = kv
            elif kind == "META":
                k, _, v = rest.partition("=")
                meta[k] = v
            elif kind == "STATUS":
                k, _, v = rest.partition("=")
                status[k] = v
            elif kind == "NOTE" and rest.startswith("cancel-ran "):
                kv = dict(RESULT_RE.findall(rest))
                cancel_ran[(kv["impl"], int(kv["workers"]))].append(
                    (int(kv["ran"]), int(kv["n"])))
            elif kind == "NOTE":
                notes[rest] = True
    # "cancel: some tasks ran before the cancel": one note per implementation
    for (impl, w), runs in sorted(cancel_ran.items()):
        total = len(results.get(("cancel", impl, w), [])) or len(runs)
        lo, hi = min(r for r, _ in runs), max(r for r, _ in runs)
        span = f"{lo:,}" if lo == hi else f"{lo:,} to {hi:,}"
        notes[f"{impl} cancel, {w} worker(s): in {len(runs)} of {total} round(s) "
              f"{span} of {runs[0][1]:,} tasks ran before the cancel, so more "
              f"threads than the {w} worker(s) were running tasks (the check "
              f"is canceled + ran = n)"] = True
    return results, sizes, callgrind, meta, notes, status


def fmt(v):
    if v is None:
        return "—"
    if v >= 1000:
        return f"{v:,.0f}"
    if v >= 100:
        return f"{v:.0f}"
    if v >= 10:
        return f"{v:.1f}"
    return f"{v:.2f}"


def fmt_ratio(r):
    if r is None:
        return "—"
    if r >= 10:
        return f"{r:.0f}x"
    if r >= 1:
        return f"{r:.2f}x"
    return f"{r:.3f}x" if r < 0.1 else f"{r:.2f}x"


def table(header, rows):
    widths = [len(h) for h in header]
    for r in rows:
        for i, c in enumerate(r):
            widths[i] = max(widths[i], len(c))
    out = ["| " + " | ".join(h.ljust(widths[i]) for i, h in enumerate(header)) + " |",
           "|" + "|".join("-" * (w + 2) for w in widths) + "|"]
    for r in rows:
        out.append("| " + " | ".join(c.ljust(widths[i]) for i, c in enumerate(r)) + " |")
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--raw", required=True)
    ap.add_argument("--md", required=True)
    a = ap.parse_args()
    results, sizes, callgrind, meta, notes, status = parse(a.raw)

    def med(bench, impl, w):
        # serial runs once per round; its one-thread time stands in both columns
        key = (bench, impl, 1 if impl == "serial" else w)
        v = results.get(key)
        return statistics.median(v) if v else None

    def nrounds():
        return max((len(v) for v in results.values()), default=0)

    weft_built = status.get("weft", "").startswith("built")
    lines = []
    lines.append("# weft benchmarks")
    lines.append("")
    for k in ("date", "machine", "cpus", "kernel", "compilers", "peers", "rounds"):
        if k in meta:
            lines.append(f"- {k}: {meta[k]}")
    if not weft_built:
        lines.append(f"- **weft: {status.get('weft', 'not built')}**: weft rows are empty")
    lines.append(f"- each value: median of {nrounds()} round(s); implementations alternate "
                 "within every round; ratio = weft / peer (below 1: weft is faster)")
    lines.append("")

    # ---- table 1 -------------------------------------------------------
    lines.append("## Issue #2: fork-join and task throughput, 1 and 2 workers")
    lines.append("")
    header = ["benchmark", "implementation", "size", "unit",
              "1 worker", "2 workers", "weft / this, 1 worker",
              "weft / this, 2 workers", "target"]
    ran = {k[0] for k in results}
    rows = []
    for fam, title, unit, variants, impls in TABLE1:
        if fam not in ran:
            continue
        for impl, label in impls:
            is_weft = impl.startswith("weft")
            vals = {w: med(fam, impl, w) for w in WORKERS}
            size = sizes.get((fam, impl), "—")
            if is_weft and not weft_built:
                size = "not built"
            ratio_cells = []
            for w in WORKERS:
                if is_weft or vals[w] is None:
                    ratio_cells.append("")
                    continue
                parts = []
                for short, wimpl in variants:
                    wv = med(fam, wimpl, w)
                    if wv is None:
                        continue
                    r = fmt_ratio(wv / vals[w])
                    parts.append(f"{short} {r}" if short else r)
                ratio_cells.append(", ".join(parts) if parts else "—")
            tgt = ""
            if (fam, impl) in TARGETS1:
                t = TARGETS1[(fam, impl)]
                bits = []
                for w in WORKERS:
                    v = vals[w]
                    state = "" if v is None else (" met" if v <= t[w] else " MISSED")
                    bits.append(f"{w}w <= {t[w]:g}{state}")
                tgt = "; ".join(bits)
            elif (fam, impl) in RATIO_TARGETS1:
                peer, lim = RATIO_TARGETS1[(fam, impl)]
                bits = []
                for w in WORKERS:
                    v, pv = vals[w], med(fam, peer, w)
                    state = "" if v is None or pv is None else (
                        " met" if v / pv <= lim else " MISSED")
                    bits.append(f"{w}w <= {lim:g} x {peer}{state}")
                tgt = "; ".join(bits)
            rows.append([title if impl == impls[0][0] else "", label, str(size), unit,
                         fmt(vals[1]), fmt(vals[2]), ratio_cells[0], ratio_cells[1], tgt])
    # callgrind rows (1 worker): instructions per fib call
    first = True
    for impl, label, lim in (CALLGRIND_ROWS if callgrind else []):
        cg = callgrind.get(impl)
        if cg is None and not impl.startswith("weft"):
            continue
        v = float(cg["per"]) if cg else None
        tgt = ""
        if lim is not None:
            tgt = f"1w <= {lim:g}" + ("" if v is None else (" met" if v <= lim else " MISSED"))
        size = f"fib {cg['n1']}..{cg['n2']}" if cg else ("not built" if not weft_built else "—")
        ratio = ""
        if not impl.startswith("weft") and v:
            parts = []
            for short, wimpl in (("fj", "weft-fj"), ("task", "weft-task")):
                wc = callgrind.get(wimpl)
                if wc:
                    parts.append(f"{short} {fmt_ratio(float(wc['per']) / v)}")
            ratio = ", ".join(parts) if parts else "—"
        rows.append(["instructions per fib call (callgrind)" if first else "", label, size,
                     "instr/call", fmt(v), "", ratio, "", tgt])
        first = False
    memv = med("mem", "weft", 1)
    if "mem" in ran or not weft_built:
        mem_tgt = f"<= {MEM_TARGET:g}"
        if memv is not None:
            mem_tgt += " met" if memv <= MEM_TARGET else " MISSED"
        mem_size = sizes.get(("mem", "weft"), "—" if weft_built else "not built")
        rows.append(["memory per task object (1e6 Created tasks held)",
                     "weft `task_create`", mem_size, "bytes/task (RSS)",
                     fmt(memv), "", "", "", mem_tgt])
    lines += table(header, rows)
    lines.append("")

    # ---- table 2 -------------------------------------------------------
    lines.append("## Issue #3: continuations, promises, composition, cancellation (weft vs Mono TPL)")
    lines.append("")
    header2 = ["benchmark", "unit", "size weft / Mono", "weft 1w", "Mono 1w", "weft / Mono 1w",
               "weft 2w", "Mono 2w", "weft / Mono 2w", "target"]
    rows2 = []
    for fam, title, unit, lim in TABLE2:
        if fam not in ran:
            continue
        wv = {w: med(fam, "weft", w) for w in WORKERS}
        mv = {w: med(fam, "mono", w) for w in WORKERS}
        ratio = {w: (wv[w] / mv[w] if wv[w] is not None and mv[w] else None) for w in WORKERS}
        tgt = ""
        if lim is not None:
            bits = [f"<= {lim:g}"]
            for w in WORKERS:
                if wv[w] is not None:
                    bits.append(f"{w}w " + ("met" if wv[w] <= lim else "MISSED"))
            tgt = " ".join(bits)
        size = f"{sizes.get((fam, 'weft'), 'not built' if not weft_built else '—')} / {sizes.get((fam, 'mono'), '—')}"
        rows2.append([title, unit, size, fmt(wv[1]), fmt(mv[1]), fmt_ratio(ratio[1]),
                      fmt(wv[2]), fmt(mv[2]), fmt_ratio(ratio[2]), tgt])
    if rows2:
        lines += table(header2, rows2)
        lines.append("")
    else:
        lines.append("(not run)")
        lines.append("")

    lines.append("## Notes")
    lines.append("")
    fixed = [
        "Units: fib counts every call of the naive recursion (2 fib(n+1) - 1); skynet and "
        "nqueens count every task (skynet: all 1 + 10 + ... + 10^d nodes; nqueens: every "
        "queen placement); every implementation spawns the same tasks (fib: fib(n-1) is the "
        "task, fib(n-2) runs in place).",
        "weft runs each issue #2 benchmark on `weft_pool_new(N)` with the root as a task on "
        "that pool; TBB uses `global_control` + `task_arena(N)`; OpenMP `omp_set_num_threads(N)`; "
        "Mono `ThreadPool.SetMinThreads/SetMaxThreads(N)`.",
        "Mono's 1-worker runs are under `taskset -c 0`: Mono refuses SetMaxThreads below "
        "Environment.ProcessorCount. Mono's pool may still add threads (see the NOTE lines).",
        "Mono runs smaller sizes where the full size would take minutes (size column); "
        "ns per unit is the comparable figure.",
        "Issue #3 drivers: weft drives from a root task on the default pool (configured to N "
        "workers); Mono drives from the Main thread, as the TPL documentation does (a blocked "
        "pool-thread driver deadlocks Mono's 1-thread pool). roundtrip is always from the main "
        "thread, pingpong uses two long-running tasks.",
        "Mono's synchronous chain is run as segments of 1,000 links: longer synchronous chains "
        "never complete in Mono 6.8 (the stack-guard fallback drops the rest of the chain).",
        "callgrind: instructions per call = (I(n2) - I(n1)) / (calls(n2) - calls(n1)) at 1 "
        "worker without warm-up, so start-up and pool creation cancel out.",
    ]
    for n in fixed:
        lines.append(f"- {n}")
    for n in notes:
        lines.append(f"- {n}")
    text = "\n".join(lines) + "\n"
    sys.stdout.write(text)
    with open(a.md, "w", encoding="utf-8") as f:
        f.write(text)


if __name__ == "__main__":
    main()
