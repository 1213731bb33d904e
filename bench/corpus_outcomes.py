"""Run the corpus of bad, faulty and hostile submissions (tests/corpus) through a grader and
tabulate what each submission got against what it deserves.

    .venv/bin/python bench/corpus_outcomes.py --stock [--only NAME ...] [--json FILE]
    .venv/bin/python bench/corpus_outcomes.py --ours --json FILE
    .venv/bin/python bench/corpus_outcomes.py --markdown docs/robustness.md --stock-json A --ours-json B

--stock grades one submission at a time with stock `nbgrader autograde` (per-cell timeout 30 s),
under an address-space limit of 4 GiB, a file-size limit of 1 GiB, a private HOME and a 10-minute
wall clock per submission: some entries are hostile, and stock nbgrader runs them unprotected.
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
sys.path.insert(0, str(ROOT / "tests"))

from autograder.course import tool_env  # noqa: E402
from autograder.authoring.scores import score_rows  # noqa: E402
from corpus.listener import Listener
from corpus.entries import A, ENTRIES, NETWORK_PORT, PWNED, build_submission  # noqa: E402


def _digest(paths) -> dict:
    out = {}
    for p in paths:
        p = Path(p)
        out[str(p)] = hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file() else None
    return out


def prepare_course(workdir: Path) -> Path:
    course = workdir / "course"
    course.mkdir(parents=True)
    shutil.copytree(ROOT / "source", course / "source")
    shutil.copy(ROOT / "nbgrader_config.py", course)
    subprocess.run([sys.executable, "-m", "nbgrader", "generate_assignment", A, "--force", "--log-level=ERROR"],
                   cwd=course, env=tool_env(), check=True)
    return course


def run_stock(names: list[str], workdir: Path) -> dict:
    course = prepare_course(workdir)
    home = workdir / "home"
    home.mkdir()
    env = {**tool_env(), "HOME": str(home), "IPYTHONDIR": str(home / ".ipython"), "MPLBACKEND": "Agg"}
    watched = [course / "nbgrader_config.py", Path.home() / ".bashrc"]
    results = {}
    for entry in ENTRIES:
        if names and entry.name not in names:
            continue
        build_submission(entry, course)
        PWNED.unlink(missing_ok=True)
        before = _digest(watched + sorted((course / "submitted").glob("*/*/*.ipynb")))
        listener = Listener(NETWORK_PORT) if entry.name == "network" else None
        start = time.perf_counter()
        cmd = ["prlimit", f"--as={4 * 2**30}", f"--fsize={2**30}", "--", "timeout", "-s", "KILL", "600",
               sys.executable, "-m", "nbgrader", "autograde", A, f"--student={entry.name}", "--force",
               "--Execute.timeout=30", "--log-level=ERROR"]
        proc = subprocess.run(cmd, cwd=course, env=env, capture_output=True, text=True, errors="replace")
        seconds = time.perf_counter() - start
        rows = score_rows(A, course)
        got = rows.get(entry.name)
        score = None if not got else sum(v for k, v in got.items() if v is not None and k.startswith("test_"))
        after = _digest(watched + sorted((course / "submitted").glob("*/*/*.ipynb")))
        side = [f"changed {Path(k).name}" for k in before if before[k] != after.get(k)]
        if (home / ".ipython/profile_default/startup/00-evil.py").exists():
            side.append("wrote an IPython start-up file")
            (home / ".ipython/profile_default/startup/00-evil.py").unlink()
        if PWNED.exists():
            side.append("pickle payload ran")
        if listener:
            listener.close()
            if listener.count:
                side.append(f"{listener.count} network connection(s)")
        tail = [l for l in (proc.stderr or "").splitlines() if l.strip()][-1:] if proc.returncode else []
        results[entry.name] = {
            "category": entry.category, "what": entry.what, "deserved": entry.deserved,
            "score": score, "exit": proc.returncode, "seconds": round(seconds, 1),
            "error": tail[0][:200] if tail else None, "side_effects": side,
        }
        print(f"{entry.name:28s} deserved {entry.deserved:5g}  stock {score!s:>6}  exit {proc.returncode:4d}  "
              f"{seconds:6.1f} s  {'; '.join(side)}", flush=True)
    return results


def run_ours(names: list[str], workdir: Path) -> dict:
    """The whole corpus in one batch with `autograder grade --jobs 2` (per-cell limit 10 s)."""
    course = prepare_course(workdir)
    home = workdir / "home"
    home.mkdir()
    chosen = [e for e in ENTRIES if not names or e.name in names]
    for entry in chosen:
        build_submission(entry, course)
    PWNED.unlink(missing_ok=True)
    listener = Listener(NETWORK_PORT)
    env = {**tool_env(), "HOME": str(home), "IPYTHONDIR": str(home / ".ipython")}
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "autograder", "grade", A, "--jobs", "2", "--timeout", "10",
                           "--quiet", "--json", str(workdir / "ours.json")], cwd=course, env=env,
                          capture_output=True, text=True)
    seconds = time.perf_counter() - start
    listener.close()
    report = {s["student"]: s for s in json.loads((workdir / "ours.json").read_text())["students"]}
    results = {}
    for entry in chosen:
        got = report.get(entry.name, {})
        results[entry.name] = {
            "category": entry.category, "what": entry.what, "deserved": entry.deserved,
            "score": got.get("score"), "status": got.get("status"),
            "problems": [p[:160] for p in got.get("problems", [])],
            "side_effects": (["pickle payload ran"] if PWNED.exists() else [])
            + ([f"{listener.count} network connection(s)"] if entry.name == "network" and listener.count else []),
        }
    print(f"ours: {len(chosen)} submissions in {seconds:.0f} s, exit {proc.returncode}")
    return results


def markdown(stock: dict, ours: dict) -> str:
    lines = ["| category | submission | what it does | deserved | stock `nbgrader autograde` | `autograder grade` |",
             "|---|---|---|---|---|---|"]
    counts = {"stock": 0, "ours": 0}
    for entry in ENTRIES:
        s, o = stock.get(entry.name, {}), ours.get(entry.name, {})

        def cell(r, who):
            if not r:
                return "not run"
            score = r.get("score")
            text = "no score recorded" if score is None else f"{score:g}"
            if score is not None and score > entry.deserved:
                counts[who] += 1
                text = f"**{text} (undeserved)**"
            why = r.get("error") or "; ".join(r.get("problems") or [])
            extra = "; ".join(r.get("side_effects") or [])
            return " · ".join(x for x in [text, why.replace("|", "/"), extra] if x)
        lines.append(f"| {entry.category} | `{entry.name}` | {entry.what} | {entry.deserved:g} | {cell(s, 'stock')} | "
                     f"{cell(o, 'ours')} |")
    head = (f"Undeserved points: stock nbgrader {counts['stock']} submissions, autograder grade {counts['ours']}.\n\n")
    return head + "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--stock", action="store_true", help="grade with stock nbgrader autograde")
    parser.add_argument("--ours", action="store_true", help="grade with autograder grade")
    parser.add_argument("--only", nargs="*", default=[], help="corpus entry names")
    parser.add_argument("--json", type=Path, help="write the results here")
    parser.add_argument("--markdown", type=Path, help="write a side-by-side table from --stock-json and --ours-json")
    parser.add_argument("--stock-json", type=Path)
    parser.add_argument("--ours-json", type=Path)
    args = parser.parse_args()
    if args.markdown:
        table = markdown(json.loads(args.stock_json.read_text()), json.loads(args.ours_json.read_text()))
        args.markdown.write_text(table)
        return 0
    with tempfile.TemporaryDirectory(prefix="corpus-") as tmp:
        results = run_stock(args.only, Path(tmp)) if args.stock else run_ours(args.only, Path(tmp))
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
