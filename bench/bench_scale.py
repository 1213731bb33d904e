"""Grading at scale (issue 16): stock nbgrader, `--jobs 2` and a local Dask cluster; 5,000 synthetic
submissions through a Dask cluster, with the client's serial time and an Amdahl projection.

    .venv/bin/python bench/bench_scale.py                        # full size: the table, then 5,000
    .venv/bin/python bench/bench_scale.py --sizes 10 --stock-sizes 10 --synthetic 300   # reduced
    .venv/bin/python bench/bench_scale.py --skip-table --synthetic 5000 --json scale.json

**The table.** For each size N (default 10, 30, 200 notebooks per assignment; the samples of every
assignment with samples, round robin, as students <sample>_<k>), five identical course directories
are graded by the commands a user types (fresh processes, start-up included): `nbgrader autograde
A --force` per assignment; `autograder grade A --force` with `--jobs 2` and with `--dask-local 2`,
one command per assignment (and `--jobs 2` again with `autograder warm` running, at the
--separate-sizes); and `autograder grade A1 ... A7 --force` with `--jobs 2` and with
`--dask-local 2`, one command for every assignment (one start-up, one set of sandboxes or one
cluster). Stock nbgrader runs only at the --stock-sizes (default 10 and 30; at 200 per assignment
it would take over an hour): at the other sizes its time is projected linearly from its
per-notebook time, per assignment, at the largest size it ran, and the table marks it
"projected". Every score is compared cell by cell between the graders that ran.

**The synthetic batch.** --synthetic S submissions (default 5,000), spread evenly over the
assignments: each function of each submission is, at random (seeded), the correct sample's, the
buggy sample's or the untouched release stub, so the mistakes vary. A Dask scheduler and --workers
worker processes (default 2) are started with the `dask scheduler` and `dask worker` commands on
127.0.0.1, and every assignment is graded by one `autograder grade A1 ... A7 --scheduler ADDRESS`.
Measured from the grader's --json timings, summed over the assignments:

* throughput: notebooks per second of the commands' wall time;
* the client's serial time per notebook: its wall time less its fixed cost (start-up, references,
  waiting for the cluster) and less the time it sat waiting for workers, over the notebooks;
* a worker's time per notebook: the sandbox wall time the workers report (its follow-through
  answers included), over the notebooks;
* the client's peak memory: the grading process's maximum resident set (``os.wait4``; with
  --scheduler it has no child processes, so this is the client alone).

Projection (Amdahl): a notebook costs s seconds of serial client work and w seconds of a worker's;
the serial fraction is f = s / (s + w); W workers give a speed-up 1 / (f + (1 - f) / W) over one
worker's throughput 1 / (s + w). Because the client judges and records one notebook while the
workers run the next, the throughput can approach the pipelined bound 1 / max(s, w / W), also
printed; both ignore the fixed cost per run and the scheduler's own overhead per task.
"""
from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import nbformat  # noqa: E402

from autograder.authoring.samples import fill, read_sample, samples  # noqa: E402
from autograder.authoring.scores import score_rows  # noqa: E402
from autograder.course import assignments, notebooks, tool_env  # noqa: E402

AUTOGRADER = str(Path(sys.executable).with_name("autograder"))
DASK = str(Path(sys.executable).with_name("dask"))
FIXED = ("start-up (imports, nbgrader configuration)", "trusted test cells and references (once)")
# one command per assignment (--jobs 2; the same through a running `autograder warm`; Dask), one for all
OURS = ("jobs", "warm", "dask", "one", "dask_one")
SEPARATE = OURS[:3]


# ------------------------------------------------------------------------------------ courses

def new_course(path: Path) -> Path:
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir(parents=True)
    for folder in ("source", "templates"):
        shutil.copytree(ROOT / folder, path / folder)
    shutil.copy(ROOT / "nbgrader_config.py", path)
    return path


def generate(course: Path, a: str) -> None:
    subprocess.run([sys.executable, "-m", "nbgrader", "generate_assignment", a, "--force", "--log-level=ERROR"],
                   cwd=course, env=tool_env(), check=True)


def write_submission(course: Path, a: str, student: str, text: dict[str, str]) -> None:
    target = course / "submitted" / student / a
    target.mkdir(parents=True, exist_ok=True)
    for name, body in text.items():
        (target / name).write_text(body)


def stage_round_robin(course: Path, a: str, n: int) -> None:
    """n submissions: the samples of ``a`` in turn, as <sample>_<k>."""
    generate(course, a)
    filled = {}
    for sample in samples(a):
        answers = read_sample(sample)
        filled[sample.stem] = {nb.name: nbformat.writes(fill(nbformat.read(nb, as_version=4), answers))
                               for nb in notebooks(course / "release" / a)}
    stems = sorted(filled)
    for i in range(n):
        stem = stems[i % len(stems)]
        write_submission(course, a, f"{stem}_{i // len(stems):04d}", filled[stem])


def stage_synthetic(course: Path, a: str, n: int, seed: int) -> None:
    """n submissions whose every function is, at random, the correct sample's (60 %), the buggy
    sample's (30 %) or the release stub (10 %); written answers from the correct sample."""
    generate(course, a)
    by_stem = {s.stem: read_sample(s) for s in samples(a)}
    correct, buggy = by_stem.get("sample_correct", {}), by_stem.get("sample_buggy", {})
    functions = sorted(k for k in correct if not k.startswith("answer") and k in buggy)
    rng, cache = random.Random(seed), {}
    releases = {nb.name: nbformat.read(nb, as_version=4) for nb in notebooks(course / "release" / a)}
    for i in range(n):
        choice = tuple(rng.choices("cbr", weights=(6, 3, 1))[0] for _ in functions)
        if choice not in cache:
            answers = {k: v for k, v in correct.items() if k not in functions}
            for name, c in zip(functions, choice):
                if c != "r":
                    answers[name] = (correct if c == "c" else buggy)[name]
            cache[choice] = {name: nbformat.writes(fill(nbformat.reads(nbformat.writes(nb), as_version=4), answers))
                             for name, nb in releases.items()}
        write_submission(course, a, f"synthetic_{i:05d}", cache[choice])


# ------------------------------------------------------------------------------------ running

def run(cmd: list[str], cwd: Path, env: dict | None = None) -> dict:
    """Wall seconds, exit code, peak resident memory (MB) of one command (and its reaped children)."""
    start = time.perf_counter()
    with open(cwd / ".bench-stderr", "w") as err:
        proc = subprocess.Popen(cmd, cwd=cwd, env=env or tool_env(), stdout=subprocess.DEVNULL, stderr=err)
        _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    out = {"seconds": time.perf_counter() - start, "exit": proc.returncode, "peak_mb": usage.ru_maxrss / 1024,
           "cpu_s": usage.ru_utime + usage.ru_stime}
    if proc.returncode:
        out["stderr"] = (cwd / ".bench-stderr").read_text()[-2000:]
        print(f"  {' '.join(cmd[:3])}: exit {proc.returncode}\n{out['stderr']}", file=sys.stderr)
    return out


def ours(course: Path, chosen: list[str], *flags: str, env: dict | None = None) -> dict:
    """`autograder grade A [B ...]`: one command; its timings per assignment."""
    report = course / ".bench-report.json"
    report.unlink(missing_ok=True)
    out = run([AUTOGRADER, "grade", *chosen, "--force", "--quiet", "--json", str(report), *flags], course, env)
    data = json.loads(report.read_text()) if report.exists() else {}
    data = {chosen[0]: data} if len(chosen) == 1 and data else data
    out["timings"] = {a: r["timings"] for a, r in data.items()}
    return out


def differences(a: str, left: Path, right: Path) -> int:
    x, y = score_rows(a, left), score_rows(a, right)
    return sum(x.get(s, {}).get(c, "absent") != y.get(s, {}).get(c, "absent")
               for s in set(x) | set(y) for c in set(x.get(s, {})) | set(y.get(s, {})))


# ------------------------------------------------------------------------------------ the table

def table(sizes: list[int], stock_sizes: list[int], separate_sizes: list[int], chosen: list[str],
          work: Path, warm_cache: bool = False, repeat: bool = False,
          stock_known: dict | None = None) -> tuple[list[dict], dict]:
    """(the rows, stock nbgrader's seconds per notebook of each assignment). ``stock_known``: those
    seconds from an earlier run (--stock-from), the projection's basis where stock does not run."""
    rows, per_notebook = [], dict(stock_known or {})      # assignment -> stock seconds per notebook
    warm_env, server = start_warm(work) if set(sizes) & set(separate_sizes) else (None, None)
    try:
        _table(sizes, stock_sizes, separate_sizes, chosen, work, rows, per_notebook, warm_env, warm_cache, repeat)
        return rows, per_notebook
    finally:
        if server:
            subprocess.run([AUTOGRADER, "warm", "--stop"], env=warm_env, capture_output=True)
            server.wait(timeout=30)


def start_warm(work: Path) -> tuple[dict, subprocess.Popen]:
    """`autograder warm`, on a socket folder of its own (``XDG_RUNTIME_DIR``)."""
    (work / "xdg").mkdir(exist_ok=True)
    env = {**tool_env(), "XDG_RUNTIME_DIR": str(work / "xdg")}
    server = subprocess.Popen([AUTOGRADER, "warm", "--idle", "120"], env=env, stdout=subprocess.PIPE, text=True)
    server.stdout.readline()                 # it listens once it has said so
    return env, server


def _table(sizes, stock_sizes, separate_sizes, chosen, work, rows, per_notebook, warm_env, warm_cache, repeat) -> None:
    for n in sizes:
        separate = n in separate_sizes
        courses = {k: new_course(work / f"{k}-{n}") for k in ("stock",) + OURS}
        for a in chosen:
            stage_round_robin(courses["stock"], a, n)
        for k in OURS:
            shutil.rmtree(courses[k])
            shutil.copytree(courses["stock"], courses[k])
            if warm_cache:                 # references computed before the clock starts (a repeat run)
                ours(courses[k], chosen, "--student", "nobody-at-all")
        row = {"per_assignment": n, "notebooks": n * len(chosen), "stock_s": 0.0, "differences": 0,
               "stock_projected": n not in stock_sizes, **{f"{k}_s": 0.0 if separate else None for k in SEPARATE}}
        for a in chosen:
            if n in stock_sizes:
                t = run([sys.executable, "-m", "nbgrader", "autograde", a, "--force", "--log-level=ERROR"],
                        courses["stock"])["seconds"]
                per_notebook[a] = t / n
            else:
                t = per_notebook.get(a, float("nan")) * n
            row["stock_s"] += t
            if separate:
                row["jobs_s"] += ours(courses["jobs"], [a], "--jobs", "2")["seconds"]
                row["warm_s"] += ours(courses["warm"], [a], "--jobs", "2", env=warm_env)["seconds"]
                row["dask_s"] += ours(courses["dask"], [a], "--dask-local", "2")["seconds"]
            print(f"  {n}/assignment {a}: stock {t:.1f} s, totals so far {row}", flush=True)
        row["one_s"] = ours(courses["one"], chosen, "--jobs", "2")["seconds"]
        if repeat:          # the same again: references and follow-through answers now cached
            row["one_repeat_s"] = ours(courses["one"], chosen, "--jobs", "2")["seconds"]
        row["dask_one_s"] = ours(courses["dask_one"], chosen, "--dask-local", "2")["seconds"]
        ran = [k for k in OURS if row.get(f"{k}_s") is not None]
        for a in chosen:
            for k in ran[1:]:
                row["differences"] += differences(a, courses[ran[0]], courses[k])
            if n in stock_sizes:
                row["differences"] += differences(a, courses["stock"], courses[ran[0]])
        print(f"  {n}/assignment, one command each: {row}", flush=True)
        rows.append(row)
        for c in courses.values():
            shutil.rmtree(c, ignore_errors=True)


def print_table(rows: list[dict], chosen: list[str]) -> None:
    print(f"\n| batch ({len(chosen)} assignments) | `nbgrader autograde` | `--jobs 2` | `--jobs 2`, warm grader "
          f"| `--dask-local 2` | one command, `--jobs 2` | one command, `--dask-local 2` | best vs stock | scores |")
    print("|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        stock = f"{r['stock_s']:.0f} s" + (" (projected)" if r["stock_projected"] else "")
        same = "identical, cell by cell" if not r["differences"] else f"{r['differences']} cells DIFFER"
        cols = " | ".join(f"{r[f'{k}_s']:.1f} s ({r['stock_s'] / r[f'{k}_s']:.1f}x)" if r.get(f"{k}_s") else "not run"
                          for k in OURS)
        best = r["stock_s"] / min(r[f"{k}_s"] for k in OURS if r.get(f"{k}_s"))
        print(f"| {r['per_assignment']} per assignment ({r['notebooks']}) | {stock} | {cols} | {best:.1f}x | {same} |")
    for r in rows:
        if r.get("one_repeat_s"):
            print(f"repeat run, one command, {r['per_assignment']} per assignment: {r['one_repeat_s']:.1f} s "
                  f"({r['stock_s'] / r['one_repeat_s']:.1f}x stock)")


# ------------------------------------------------------------------------------------ synthetic

def start_cluster(work: Path, workers: int) -> tuple[str, list[subprocess.Popen]]:
    """`dask scheduler` and `dask worker` on 127.0.0.1, as an instructor starts them on lab machines."""
    sfile = work / "scheduler.json"
    log = open(work / "dask.log", "w")
    scheduler = subprocess.Popen([DASK, "scheduler", "--host", "127.0.0.1", "--port", "0", "--no-dashboard",
                                  "--scheduler-file", str(sfile)], stdout=log, stderr=log, env=tool_env())
    for _ in range(600):
        if sfile.exists() and sfile.stat().st_size:
            break
        time.sleep(0.1)
    address = json.loads(sfile.read_text())["address"]
    worker = subprocess.Popen([DASK, "worker", address, "--nworkers", str(workers), "--nthreads", "1",
                               "--host", "127.0.0.1", "--no-dashboard"], stdout=log, stderr=log, env=tool_env())
    from distributed import Client
    with Client(address, timeout="60s") as client:
        client.wait_for_workers(workers, timeout=300)
    return address, [worker, scheduler]


def synthetic(total: int, chosen: list[str], workers: int, work: Path) -> dict:
    course = new_course(work / "synthetic")
    per = -(-total // len(chosen))
    staged = time.perf_counter()
    for i, a in enumerate(chosen):
        stage_synthetic(course, a, per, seed=i)
    print(f"  staged {per * len(chosen)} synthetic submissions in {time.perf_counter() - staged:.0f} s", flush=True)
    address, procs = start_cluster(work, workers)
    try:
        whole = ours(course, chosen, "--scheduler", address)       # one command for every assignment
        print(f"  {per * len(chosen)} in {whole['seconds']:.1f} s", flush=True)
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            try:
                p.wait(timeout=30)
            except subprocess.TimeoutExpired:
                p.kill()
    n = per * len(chosen)
    wall = whole["seconds"]
    runs = whole["timings"]
    t = lambda key: sum(float(r.get(key) or 0.0) for r in runs.values())  # noqa: E731
    fixed = sum(t(k) for k in FIXED)
    serial = t("total") - fixed - t("waiting for sandboxes")
    s, w = serial / n, t("sandbox wall (sum over notebooks)") / n
    f = s / (s + w)
    project = {W: {"amdahl": (1 / (s + w)) / (f + (1 - f) / W), "pipelined": 1 / max(s, w / W)} for W in (workers, 10, 100)}
    return {"notebooks": n, "workers": workers, "wall_s": wall, "throughput": n / wall,
            "fixed_s": fixed, "client_serial_s_per_nb": s, "client_cpu_s_per_nb": whole["cpu_s"] / n,
            "worker_s_per_nb": w, "serial_fraction": f, "client_peak_mb": whole["peak_mb"], "projected": project,
            "exit_codes": {"all": whole["exit"]}, "runs": runs}


def print_synthetic(r: dict) -> None:
    print(f"\n{r['notebooks']} synthetic notebooks on {r['workers']} Dask worker(s): {r['wall_s']:.0f} s, "
          f"{r['throughput']:.1f} notebooks/s (fixed cost {r['fixed_s']:.1f} s; {len(r['runs'])} assignments, "
          "one command)")
    print(f"  client's serial time per notebook  {1000 * r['client_serial_s_per_nb']:.1f} ms "
          f"(its CPU: {1000 * r['client_cpu_s_per_nb']:.1f} ms)")
    print(f"  a worker's time per notebook       {1000 * r['worker_s_per_nb']:.1f} ms")
    print(f"  serial fraction f = s / (s + w)    {r['serial_fraction']:.3f}  "
          f"(a client can feed about {1 / r['serial_fraction'] - 1:.0f} workers before it is the bottleneck)")
    print(f"  client's peak memory               {r['client_peak_mb']:.0f} MB")
    for W, p in r["projected"].items():
        print(f"  {W:3d} workers: Amdahl {p['amdahl']:6.1f} notebooks/s, pipelined bound {p['pipelined']:6.1f}")


def stock_from(path: Path, chosen: list[str]) -> dict:
    """Stock seconds per notebook per assignment from an earlier run's --json: its own figures, or
    (a file from before they were kept) its measured total spread evenly over the assignments."""
    earlier = json.loads(path.read_text())
    if earlier.get("stock_per_notebook"):
        return earlier["stock_per_notebook"]
    row = next(r for r in earlier["table"] if not r["stock_projected"])
    return {a: row["stock_s"] / row["notebooks"] for a in chosen}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="*", default=[10, 30, 200], help="notebooks per assignment")
    parser.add_argument("--stock-sizes", type=int, nargs="*", default=[10, 30],
                        help="sizes at which stock nbgrader runs (elsewhere: projected linearly)")
    parser.add_argument("--separate-sizes", type=int, nargs="*", default=[10, 30],
                        help="sizes at which one command per assignment runs too (elsewhere: one for all)")
    parser.add_argument("--assignments", nargs="*", help="default: every assignment with samples")
    parser.add_argument("--synthetic", type=int, default=5000, help="synthetic submissions (0: none)")
    parser.add_argument("--workers", type=int, default=2, help="Dask workers for the synthetic batch")
    parser.add_argument("--skip-table", action="store_true")
    parser.add_argument("--warm-cache", action="store_true",
                        help="compute each course's references before timing it (a repeat run: the reference cache "
                             "holds them); by default every run of ours is the course's first")
    parser.add_argument("--repeat", action="store_true",
                        help="grade the one-command course a second time (references and follow-through answers "
                             "cached): the repeat run")
    parser.add_argument("--stock-from", type=Path,
                        help="an earlier --json of this script: stock's seconds per notebook from it, for the "
                             "projection where stock does not run now")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    chosen = args.assignments or [a for a in assignments(ROOT) if samples(a)]
    work = Path(tempfile.mkdtemp(prefix="bench-scale-"))
    print(f"load average at start {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores", flush=True)
    results: dict = {"load_average_at_start": os.getloadavg()}
    try:
        if not args.skip_table:
            results["table"], results["stock_per_notebook"] = table(
                args.sizes, args.stock_sizes, args.separate_sizes, chosen, work, args.warm_cache, args.repeat,
                stock_from(args.stock_from, chosen) if args.stock_from else None)
        if args.synthetic:
            results["synthetic"] = synthetic(args.synthetic, chosen, args.workers, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    results["load_average_at_end"] = os.getloadavg()
    if "table" in results:
        print_table(results["table"], chosen)
    if "synthetic" in results:
        print_synthetic(results["synthetic"])
    print(f"load average at end {results['load_average_at_end'][0]:.1f}")
    if args.json:
        args.json.write_text(json.dumps(results, indent=1, default=str))
    bad = any(r["differences"] for r in results.get("table", [])) or any(
        results.get("synthetic", {}).get("exit_codes", {}).values())
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
