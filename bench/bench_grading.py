"""Throughput of `autograder grade` against stock `nbgrader autograde`, with every score compared.

    .venv/bin/python bench/bench_grading.py [--copies N] [--jobs 2] [--assignments ps1_rnn_forward ...]
    .venv/bin/python bench/bench_grading.py --ours-only      # only `autograder grade` (before/after a change)

For every assignment that has sample submissions (samples/<assignment>/*.py), a throwaway course
gets N copies of each sample as students (<sample>_<k>). Two identical copies of that course are
then graded, one with `nbgrader autograde ASSIGNMENT --force`, the other with
`autograder grade ASSIGNMENT --jobs J --force`, each as the command a user would type (a fresh
process per assignment, start-up included). The script prints both times, the ratio, whether the
two gradebooks agree on every cell of every student, and where `autograder grade`'s time went.
"""
from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import nbformat  # noqa: E402

from autograder.course import assignments, notebooks, tool_env  # noqa: E402
from autograder.authoring.samples import fill, read_sample, samples  # noqa: E402
from autograder.authoring.scores import score_rows  # noqa: E402


def stage(course: Path, assignment: str, copies: int) -> int:
    """generate_assignment, then N copies of every sample as submissions; returns the count."""
    subprocess.run([sys.executable, "-m", "nbgrader", "generate_assignment", assignment, "--force",
                    "--log-level=ERROR"], cwd=course, env=tool_env(), check=True)
    count = 0
    for sample in samples(assignment):
        answers = read_sample(sample)
        for k in range(copies):
            target = course / "submitted" / f"{sample.stem}_{k:02d}" / assignment
            target.mkdir(parents=True, exist_ok=True)
            for nb_path in notebooks(course / "release" / assignment):
                nbformat.write(fill(nbformat.read(nb_path, as_version=4), answers), target / nb_path.name)
            count += 1
    return count


def timed(cmd: list[str], cwd: Path) -> tuple[float, subprocess.CompletedProcess]:
    start = time.perf_counter()
    proc = subprocess.run(cmd, cwd=cwd, env=tool_env(), capture_output=True, text=True)
    return time.perf_counter() - start, proc


def compare(a: dict, b: dict) -> list[str]:
    """Every (student, cell) whose score differs between two score tables."""
    diffs = []
    for student in sorted(set(a) | set(b)):
        ra, rb = a.get(student, {}), b.get(student, {})
        for cell in sorted(set(ra) | set(rb)):
            if ra.get(cell, "absent") != rb.get(cell, "absent"):
                diffs.append(f"{student}/{cell}: stock {ra.get(cell, 'absent')}, ours {rb.get(cell, 'absent')}")
    return diffs


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--copies", type=int, default=10, help="copies of each sample submission (default 10)")
    parser.add_argument("--jobs", type=int, default=2, help="autograder grade --jobs (default 2)")
    parser.add_argument("--assignments", nargs="*", help="default: every assignment with samples")
    parser.add_argument("--keep", type=Path, help="keep the two course directories here")
    parser.add_argument("--json", type=Path, help="write the measurements here")
    parser.add_argument("--ours-only", action="store_true",
                        help="time only `autograder grade` (skip the minutes of stock nbgrader; scores not compared)")
    args = parser.parse_args()
    chosen = args.assignments or [a for a in assignments(ROOT) if samples(a)]
    work = Path(tempfile.mkdtemp(prefix="bench-grading-")) if not args.keep else args.keep
    work.mkdir(parents=True, exist_ok=True)
    stock_dir, ours_dir = work / "stock", work / "ours"
    for d in (stock_dir, ours_dir):
        shutil.rmtree(d, ignore_errors=True)
    stock_dir.mkdir()
    shutil.copytree(ROOT / "source", stock_dir / "source")
    shutil.copy(ROOT / "nbgrader_config.py", stock_dir)
    counts = {a: stage(stock_dir, a, args.copies) for a in chosen}
    shutil.copytree(stock_dir, ours_dir)
    autograder = str(Path(sys.executable).with_name("autograder"))

    rows, results = [], {}
    for a in chosen:
        if args.ours_only:
            t_stock, p_stock = float("nan"), subprocess.CompletedProcess([], 0, "", "")
        else:
            t_stock, p_stock = timed([sys.executable, "-m", "nbgrader", "autograde", a, "--force",
                                      "--log-level=ERROR"], stock_dir)
        report = work / f"{a}.json"
        t_ours, p_ours = timed([autograder, "grade", a, "--jobs", str(args.jobs), "--force", "--quiet",
                                "--json", str(report)], ours_dir)
        diffs = [] if args.ours_only else compare(score_rows(a, stock_dir), score_rows(a, ours_dir))
        timings = json.loads(report.read_text())["timings"] if report.exists() else {}
        results[a] = {"notebooks": counts[a], "stock_seconds": t_stock, "ours_seconds": t_ours,
                      "ratio": t_stock / t_ours, "stock_exit": p_stock.returncode, "ours_exit": p_ours.returncode,
                      "differences": diffs, "ours_timings": timings}
        rows.append((a, counts[a], t_stock, t_ours, diffs))
        if p_stock.returncode or p_ours.returncode:
            print(f"{a}: exit codes stock {p_stock.returncode}, ours {p_ours.returncode}\n"
                  f"{p_stock.stderr[-2000:]}\n{p_ours.stderr[-2000:]}", file=sys.stderr)

    print(f"\n{'assignment':18s} {'notebooks':>9s} {'nbgrader s':>11s} {'ours s':>8s} {'ratio':>7s}  scores")
    for a, n, ts, to, diffs in rows:
        same = "identical, cell by cell" if not diffs else f"{len(diffs)} DIFFERENCES"
        same = "not compared (--ours-only)" if args.ours_only else same
        print(f"{a:18s} {n:9d} {ts:11.1f} {to:8.2f} {ts / to:6.1f}x  {same}")
    total_n = sum(r[1] for r in rows)
    total_s, total_o = sum(r[2] for r in rows), sum(r[3] for r in rows)
    all_same = all(not r[4] for r in rows)
    print(f"{'all':18s} {total_n:9d} {total_s:11.1f} {total_o:8.2f} {total_s / total_o:6.1f}x  "
          f"{'not compared' if args.ours_only else 'every score identical' if all_same else 'SCORES DIFFER'}")
    print(f"throughput: nbgrader {total_n / total_s:.2f} notebooks/s, autograder grade --jobs {args.jobs} "
          f"{total_n / total_o:.1f} notebooks/s")
    for a, n, ts, to, diffs in rows:
        for d in diffs[:20]:
            print(f"  {a}: {d}")
    print("\nwhere `autograder grade` spent its time (seconds, summed over assignments):")
    parts: dict = {}
    for r in results.values():
        for k, v in r["ours_timings"].items():
            if isinstance(v, (int, float)) and "epoch" not in k:
                parts[k] = parts.get(k, 0.0) + v
    for k, v in parts.items():
        print(f"  {k:52s} {v:7.2f}")
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))
    if not args.keep:
        shutil.rmtree(work, ignore_errors=True)
    return 0 if all_same else 1


if __name__ == "__main__":
    sys.exit(main())
