"""Run the corpus of bad, faulty and hostile submissions (tests/corpus) through a grader and
tabulate what each submission got against what it deserves.

    .venv/bin/python bench/corpus_outcomes.py --stock [--only NAME ...] [--json FILE]
    .venv/bin/python bench/corpus_outcomes.py --ours --json FILE
    .venv/bin/python bench/corpus_outcomes.py --markdown docs/robustness.md --stock-json A --ours-json B

--stock grades one submission at a time with stock `nbgrader autograde` (per-cell timeout 30 s),
under an address-space limit of 4 GiB, a file-size limit of 1 GiB, a private HOME and a 10-minute
wall clock per submission: some entries are hostile, and stock nbgrader runs them unprotected.

Issue 18's attacks (tests/corpus/attacks, every class, all assignments), with the markers planted:

    .venv/bin/python bench/corpus_outcomes.py --attacks --ours --json ours.json
    .venv/bin/python bench/corpus_outcomes.py --attacks --stock --json stock.json [--only NAME ...]
    .venv/bin/python bench/corpus_outcomes.py --attacks-markdown table.md --stock-json stock.json --ours-json ours.json

--attacks --ours grades each assignment's attacks in one batch with the witness, as
tests/test_attacks.py does (then `nbgrader generate_feedback`), and records the batch's time and
the grading parent's peak resident memory. --attacks --stock grades each attack with stock
`nbgrader autograde` in a course of its own, beside the witness (so that an attack that stops the
batch shows as the witness's lost grade), under the limits above and a 4-minute wall clock.
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
from corpus.attacks import CLASSES, all_attacks  # noqa: E402
from corpus.building import WITNESS, full, grader_env, leaks, plant_markers, submit_witness  # noqa: E402


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


# ------------------------------------------------------------------ issue 18's attacks
BUILT: Path | None = None       # --built: a course built before (read only), instead of building one


def built_course(workdir: Path) -> Path:
    """Every assignment built with real nbgrader commands, as the tests' built_course fixture."""
    from autograder.authoring.build import build
    from conftest import ASSIGNMENTS, copy_course
    if BUILT is not None:
        return BUILT
    course = workdir / "built"
    build(ASSIGNMENTS, copy_course(course), quiet=True)
    return course


def _attack_course(built: Path, target: Path, attacks) -> Path:
    shutil.copytree(built, target, symlinks=True)
    plant_markers(target)
    for attack in attacks:
        attack.build(target, attack.name)
    submit_witness(target, attacks[0].assignment)
    return target


def _peak_rss_mb(proc: subprocess.Popen) -> float:
    """The peak resident memory (VmHWM) of ``proc`` itself (not its sandboxes), polled to its end."""
    peak = 0
    while proc.poll() is None:
        try:
            for line in Path(f"/proc/{proc.pid}/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    peak = max(peak, int(line.split()[1]))
        except (OSError, ValueError):
            pass
        time.sleep(0.05)
    return round(peak / 1024, 1)


def run_attacks_ours(names: list[str], workdir: Path) -> dict:
    """Each assignment's attacks in one `autograder grade --jobs 2` batch beside the witness."""
    built = built_course(workdir)
    chosen = [a for a in all_attacks() if not names or a.name in names]
    results, batches = {}, {}
    for assignment in sorted({a.assignment for a in chosen}):
        attacks = [a for a in chosen if a.assignment == assignment]
        course = _attack_course(built, workdir / assignment / "course", attacks)
        home = workdir / assignment / "home"
        home.mkdir()
        env = grader_env(home)
        start = time.perf_counter()
        proc = subprocess.Popen([sys.executable, "-m", "autograder", "grade", assignment, "--jobs", "2",
                                 "--timeout", "60", "--quiet", "--json", str(course / "ours.json")], cwd=course,
                                env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        peak = _peak_rss_mb(proc)
        seconds = time.perf_counter() - start
        subprocess.run([sys.executable, "-m", "nbgrader", "generate_feedback", assignment, "--force",
                        "--log-level=ERROR"], cwd=course, env=env, capture_output=True)
        report = {s["student"]: s for s in json.loads((course / "ours.json").read_text())["students"]}
        batches[assignment] = {"seconds": round(seconds, 1), "peak_rss_mb": peak, "exit": proc.returncode,
                               "witness": (report.get(WITNESS) or {}).get("score"), "full": full(assignment)}
        print(f"ours {assignment}: {len(attacks)} attacks + witness in {seconds:.1f} s, parent peak {peak} MB",
              flush=True)
        for attack in attacks:
            student = attack.student or attack.name
            got = report.get(student, {})
            results[attack.name] = {"score": got.get("score"), "status": got.get("status"),
                                    "problems": [p[:160] for p in got.get("problems", [])],
                                    "leaks": leaks(course, [student]),
                                    "check": attack.check(course, got) if attack.check else []}
    return {"attacks": results, "batches": batches}


def run_attacks_stock(names: list[str], workdir: Path, out: Path | None = None) -> dict:
    """Each attack in a course of its own beside the witness, with stock `nbgrader autograde`;
    the results so far are written to ``out`` after each entry (a long run can be stopped)."""
    built = built_course(workdir)
    results = {}
    for attack in [a for a in all_attacks() if not names or a.name in names]:
        course = _attack_course(built, workdir / attack.name / "course", [attack])
        home = workdir / attack.name / "home"
        home.mkdir()
        cmd = ["prlimit", f"--as={4 * 2**30}", f"--fsize={2**30}", "--", "timeout", "-s", "KILL", "240",
               sys.executable, "-m", "nbgrader", "autograde", attack.assignment, "--force",
               "--Execute.timeout=30", "--log-level=ERROR"]
        start = time.perf_counter()
        proc = subprocess.run(cmd, cwd=course, env=grader_env(home), capture_output=True, text=True,
                              errors="replace")
        seconds = time.perf_counter() - start
        rows = score_rows(attack.assignment, course)
        others = [s for s in rows if s not in (WITNESS, "marker_student")]
        got = rows.get(others[0]) if others else None
        score = None if not got else sum(v for k, v in got.items() if v is not None and k.startswith("test_"))
        witness = rows.get(WITNESS)
        wscore = None if not witness else sum(v for k, v in witness.items() if v is not None and k.startswith("test_"))
        tail = [l for l in (proc.stderr or "").splitlines() if l.strip()][-1:] if proc.returncode else []
        results[attack.name] = {"score": score, "exit": proc.returncode, "seconds": round(seconds, 1),
                                "witness": wscore, "error": tail[0][:160] if tail else None,
                                "leaks": leaks(course)}
        print(f"{attack.name:30s} deserved {attack.deserved:5g}  stock {score!s:>6}  witness {wscore!s:>5}  "
              f"exit {proc.returncode:4d}  {seconds:6.1f} s  leaks {len(results[attack.name]['leaks'])}", flush=True)
        shutil.rmtree(workdir / attack.name, ignore_errors=True)
        if out:
            out.write_text(json.dumps({"attacks": results}, indent=1))
    return {"attacks": results}


def attacks_markdown(stock: dict, ours: dict) -> str:
    """The tables of docs/robustness.md for issue 18: one per class, then the batches."""
    s_all, o_all = stock.get("attacks", {}), ours.get("attacks", {})
    out, bad = [], {"stock": 0, "ours": 0}

    def shown(r: dict, attack, who: str) -> str:
        if not r:
            return "not run"
        score = r.get("score")
        text = "no score recorded" if score is None else f"{score:g}"
        if score is not None and score > attack.deserved:
            bad[who] += 1
            text = f"**{text} (undeserved)**"
        if who == "stock" and r.get("witness") is not None and r["witness"] < full(attack.assignment):
            text += f" · witness got {r['witness']:g}"
        if who == "stock" and r.get("witness") is None:
            text += " · **witness not graded**"
        why = r.get("error") or "; ".join(r.get("problems") or [])
        if r.get("check"):          # the entry's own post-condition (e.g. active HTML in its feedback) failed
            bad[who] += 1
            why = "**" + "; ".join(r["check"])[:160] + "** " + why
        return " · ".join(x for x in [text, why.replace("|", "/").replace("\n", " ")[:200]] if x)

    for cls, title in CLASSES.items():
        attacks = [a for a in all_attacks() if a.cls == cls]
        if not attacks:
            continue
        out += [f"\n### Class {cls}: {title}\n", "| entry | assignment | what | deserved | ours | stock | leaks (ours / stock) | stock time |",
                "|---|---|---|---|---|---|---|---|"]
        for a in attacks:
            s, o = s_all.get(a.name, {}), o_all.get(a.name, {})
            kinds = sorted({l.rsplit(": ", 1)[-1] for l in s.get("leaks", [])})
            leak = (f"{len(o.get('leaks', [])) if o else '-'} / {len(s.get('leaks', [])) if s else '-'}"
                    + (f" ({', '.join(kinds)})" if kinds else ""))
            secs = f"{s['seconds']:g} s" if s else "-"
            out.append(f"| `{a.name}` | {a.assignment} | {a.what} | {a.deserved:g} | {shown(o, a, 'ours')} | "
                       f"{shown(s, a, 'stock')} | {leak} | {secs} |")
    batches = ours.get("batches", {})
    if batches:
        out += ["\n### `autograder grade` batches (the attacks of one assignment beside the witness)\n",
                "| assignment | seconds | parent's peak memory (MB) | witness |", "|---|---|---|---|"]
        for name, b in sorted(batches.items()):
            out.append(f"| {name} | {b['seconds']:g} | {b['peak_rss_mb']:g} | {b['witness']:g} of {b['full']:g} |")
    head = f"Undeserved points: stock nbgrader {bad['stock']} entries, autograder grade {bad['ours']}.\n"
    return head + "\n".join(out) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--stock", action="store_true", help="grade with stock nbgrader autograde")
    parser.add_argument("--ours", action="store_true", help="grade with autograder grade")
    parser.add_argument("--only", nargs="*", default=[], help="corpus entry names")
    parser.add_argument("--json", type=Path, help="write the results here")
    parser.add_argument("--markdown", type=Path, help="write a side-by-side table from --stock-json and --ours-json")
    parser.add_argument("--stock-json", type=Path)
    parser.add_argument("--ours-json", type=Path)
    parser.add_argument("--attacks", action="store_true", help="issue 18's attacks instead of the ps1 corpus")
    parser.add_argument("--attacks-markdown", type=Path, help="write the attack tables from --stock-json and --ours-json")
    parser.add_argument("--built", type=Path, help="with --attacks: a course built before with every assignment")
    args = parser.parse_args()
    global BUILT
    BUILT = args.built
    if args.attacks_markdown:
        table = attacks_markdown(json.loads(args.stock_json.read_text()), json.loads(args.ours_json.read_text()))
        args.attacks_markdown.write_text(table)
        return 0
    if args.attacks:
        with tempfile.TemporaryDirectory(prefix="attacks-") as tmp:
            results = (run_attacks_stock(args.only, Path(tmp), args.json) if args.stock
                       else run_attacks_ours(args.only, Path(tmp)))
        if args.json:
            args.json.write_text(json.dumps(results, indent=1))
        return 0
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
