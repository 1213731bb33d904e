"""The fixed cost of a repeat run and nbgrader's bookkeeping per notebook (issue 16, item 1).

    .venv/bin/python bench/bench_start.py [--assignment ps1_rnn_forward] [--copies 8] [--runs 3]

A throwaway course gets N copies of every sample of one assignment. `autograder grade --force
--jobs 2` then grades it once cold (the reference cache is written) and RUNS times warm, each in a
fresh process (``_probe`` below, a child of this script). Each run prints: seconds from the
interpreter's start to the first notebook handed to the sandbox pool (the fixed cost), the whole
wall time, the grading process's own CPU seconds (sandboxes excluded), SQL statements per
notebook, whether torch was imported, and a digest of every cell's score and message (identical
across runs, or something is wrong). Wall times follow the machine's load: compare runs made
side by side, and read the CPU seconds and statement counts, which hardly do.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))
sys.path.insert(0, str(ROOT))

from bench_grading import stage  # noqa: E402

from autograder.course import tool_env  # noqa: E402
from autograder.grade.session import FIRST_SENT  # noqa: E402

AUTOGRADER = str(Path(sys.executable).with_name("autograder"))

PROBE = r'''
import hashlib, json, os, resource, sys, time
ticks = float(open("/proc/self/stat").read().split()[21]) / os.sysconf("SC_CLK_TCK")
started = time.time() - (time.clock_gettime(time.CLOCK_MONOTONIC) - ticks)     # the process's start
import sqlalchemy
from sqlalchemy import event
from autograder.sandbox import pool
statements, first = [0], []
event.listen(sqlalchemy.engine.Engine, "before_cursor_execute", lambda *a: statements.__setitem__(0, statements[0] + 1))
submit = pool.SandboxPool.submit
def first_submit(self, *a, **k):
    if not first:
        first.append(time.time())
    return submit(self, *a, **k)
pool.SandboxPool.submit = first_submit
from autograder.cli import main
try:
    main(["grade", sys.argv[1], "--force", "--jobs", "2", "--quiet", "--json", sys.argv[2]])
except SystemExit:
    pass
usage = resource.getrusage(resource.RUSAGE_SELF)
report = json.load(open(sys.argv[2]))
cells = sorted((s["student"], c["grade_id"], c["score"], c["message"] or "")
               for s in report["students"] for n in s["notebooks"] for c in n["cells"])
n = sum(len(s["notebooks"]) for s in report["students"])
print(json.dumps({"first": first[0] - started, "wall": time.time() - started, "cpu": usage.ru_utime + usage.ru_stime,
                  "notebooks": n, "sql": statements[0] / max(n, 1), "torch": "torch" in sys.modules,
                  "cache": report.get("references", {}).get("cache"),
                  "scores": hashlib.sha1(repr(cells).encode()).hexdigest()[:12]}))
'''


def through_warm(course: Path, assignment: str, env: dict) -> dict:
    """`autograder grade` as typed, handed to a running `autograder warm`: the fixed cost from
    just before the command starts to the first notebook sent (the warm child's own clock)."""
    report = course / "report.json"
    started = time.time()
    subprocess.run([AUTOGRADER, "grade", assignment, "--force", "--jobs", "2", "--quiet", "--json", str(report)],
                   cwd=course, env=env, check=True)
    wall = time.time() - started
    data = json.loads(report.read_text())
    t = data["timings"]
    cells = sorted((s["student"], c["grade_id"], c["score"], c["message"] or "")
                   for s in data["students"] for n in s["notebooks"] for c in n["cells"])
    return {"first": t["started at (epoch seconds)"] + t[FIRST_SENT] - started, "wall": wall,
            "scores": hashlib.sha1(repr(cells).encode()).hexdigest()[:12]}


def probe(course: Path, assignment: str) -> dict:
    out = subprocess.run([sys.executable, "-c", PROBE, assignment, str(course / "report.json")], cwd=course,
                         capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--assignment", default="ps1_rnn_forward")
    parser.add_argument("--copies", type=int, default=8)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-start-"))
    try:
        course = work / "course"
        course.mkdir()
        shutil.copytree(ROOT / "source", course / "source")
        shutil.copytree(ROOT / "templates", course / "templates")
        shutil.copy(ROOT / "nbgrader_config.py", course)
        count = stage(course, args.assignment, args.copies)
        print(f"{args.assignment}: {count} submissions, `autograder grade --force --jobs 2`")
        for run in ["cold"] + [f"warm {i + 1}" for i in range(args.runs)]:
            r = probe(course, args.assignment)
            print(f"  {run:7} first notebook after {r['first']:5.2f} s, wall {r['wall']:5.2f} s, "
                  f"grader CPU {r['cpu']:5.2f} s, {r['sql']:.0f} SQL statements per notebook, "
                  f"torch imported: {r['torch']}, cache: {r['cache']}, scores {r['scores']}")
        env = {**tool_env(), "XDG_RUNTIME_DIR": str(work)}
        server = subprocess.Popen([AUTOGRADER, "warm", "--idle", "10"], env=env, stdout=subprocess.PIPE, text=True)
        try:
            server.stdout.readline()                   # it listens once it has said so
            for i in range(args.runs):
                r = through_warm(course, args.assignment, env)
                print(f"  warm grader {i + 1}: first notebook after {r['first']:5.2f} s, wall {r['wall']:5.2f} s, "
                      f"scores {r['scores']}")
        finally:
            subprocess.run([AUTOGRADER, "warm", "--stop"], env=env, capture_output=True)
            server.wait(timeout=30)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
