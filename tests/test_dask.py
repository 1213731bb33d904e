"""`autograder grade` on Dask (grade/distributed.py): a local cluster of two worker processes on
loopback gives the same scores and messages as `--jobs 2`, cell by cell; a worker killed with
SIGKILL mid-batch still ends with every submission graded once, with the same scores; a worker
without bubblewrap is refused under --require-sandbox, and one that joins mid-batch gets no notebook.

One assignment (ps1), its samples plus copies: 12 submissions per batch."""
from __future__ import annotations

import json
import logging
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import nbformat
import pytest

from autograder.authoring.samples import fill, read_sample, samples
from autograder.authoring.scores import score_rows
from autograder.course import notebooks, tool_env

pytestmark = pytest.mark.xdist_group("dask")

A = "ps1_rnn_forward"
COPIES = 4
AUTOGRADER = str(Path(sys.executable).with_name("autograder"))


def grade(course: Path, *args: str) -> subprocess.CompletedProcess:
    """`autograder grade A ...` as a user runs it, in the course directory."""
    return subprocess.run([AUTOGRADER, "grade", A, "--force", "--quiet", *args], cwd=course, env=tool_env(),
                          capture_output=True, text=True, timeout=300)


def recorded_outputs(course: Path) -> dict:
    """student -> grade_id -> the outputs recorded in every autograded test cell."""
    found = {}
    for folder in sorted((course / "autograded").iterdir()):
        for path in notebooks(folder / A):
            for cell in nbformat.read(path, as_version=4).cells:
                meta = cell.metadata.get("nbgrader", {})
                if cell.cell_type == "code" and meta.get("grade") and not meta.get("solution"):
                    found.setdefault(folder.name, {})[meta["grade_id"]] = cell.outputs
    return found


@pytest.fixture(scope="module")
def course(built_course, tmp_path_factory) -> Path:
    """The built course with every sample of A submitted COPIES times (<sample>_<k>)."""
    base = tmp_path_factory.mktemp("dask") / "course"
    shutil.copytree(built_course, base)
    for sample in samples(A):
        answers = read_sample(sample)
        for k in range(COPIES):
            target = base / "submitted" / f"{sample.stem}_{k}" / A
            target.mkdir(parents=True)
            for nb in notebooks(base / "release" / A):
                nbformat.write(fill(nbformat.read(nb, as_version=4), answers), target / nb.name)
    return base


@pytest.fixture(scope="module")
def by_jobs(course, tmp_path_factory) -> Path:
    """The batch graded on this machine with --jobs 2: what the Dask runs must equal."""
    local = tmp_path_factory.mktemp("jobs") / "course"
    shutil.copytree(course, local)
    result = grade(local, "--jobs", "2")
    assert result.returncode == 0, result.stdout + result.stderr
    return local


def copy_of(course: Path, tmp_path: Path) -> Path:
    shutil.copytree(course, tmp_path / "course")
    return tmp_path / "course"


def test_local_cluster_gives_the_scores_of_jobs_2_cell_by_cell(course, by_jobs, tmp_path):
    ours = copy_of(course, tmp_path)
    result = grade(ours, "--dask-local", "2", "--json", str(tmp_path / "report.json"))
    assert result.returncode == 0, result.stdout + result.stderr
    expected = score_rows(A, by_jobs)
    assert len(expected) == len(samples(A)) * COPIES
    assert score_rows(A, ours) == expected
    assert recorded_outputs(ours) == recorded_outputs(by_jobs)
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["sandbox"] == "bubblewrap on 2 Dask worker(s)" or report["sandbox_warning"]
    assert [w["worker"].startswith("tcp://127.0.0.1:") for w in report["sandbox_prewarm"]] == [True, True]
    assert sorted(s["student"] for s in report["students"]) == sorted(expected)


@pytest.fixture
def cluster():
    from distributed import LocalCluster
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                      dashboard_address=None, silence_logs=logging.ERROR) as c:
        yield c


def _kill_a_busy_worker(address: str, killed: dict, stop: threading.Event) -> None:
    """Once a first notebook is graded, SIGKILL a worker process while it runs a notebook."""
    from distributed import Client
    with Client(address, timeout="30s") as client:
        pids, seen = client.run(os.getpid), 0
        while not stop.is_set():
            states = client.run_on_scheduler(_task_states)
            seen = max(seen, len(states))
            finished = len(states) < seen or "memory" in states.values()     # results taken, or waiting
            busy = {w: keys for w, keys in client.processing().items() if any("grade-" in k for k in keys)}
            if busy and finished:
                worker, keys = sorted(busy.items())[0]
                os.kill(pids[worker], signal.SIGKILL)
                killed.update(worker=worker, keys=list(keys), left=len(states))
                return
            time.sleep(0.02)


def _task_states(dask_scheduler=None) -> dict:
    return {k: t.state for k, t in dask_scheduler.tasks.items() if str(k).startswith("grade-")}


def test_a_worker_killed_mid_batch_costs_nothing(course, by_jobs, cluster, tmp_path):
    ours = copy_of(course, tmp_path)
    killed, stop = {}, threading.Event()
    killer = threading.Thread(target=_kill_a_busy_worker, args=(cluster.scheduler_address, killed, stop))
    killer.start()
    try:
        result = grade(ours, "--scheduler", cluster.scheduler_address, "--json", str(tmp_path / "report.json"))
    finally:
        stop.set()
        killer.join(timeout=30)
    assert killed, "no worker was killed while it graded"
    assert result.returncode == 0, result.stdout + result.stderr
    report = json.loads((tmp_path / "report.json").read_text())
    students = [s["student"] for s in report["students"]]
    assert sorted(students) == sorted(set(students)) == sorted(score_rows(A, by_jobs))   # each once
    assert all(s["status"] == "graded" for s in report["students"])
    assert score_rows(A, ours) == score_rows(A, by_jobs)
    assert recorded_outputs(ours) == recorded_outputs(by_jobs)
    for folder in (ours / "autograded").iterdir():
        assert [p.name for p in notebooks(folder / A)] == [f"{A}.ipynb"]


def test_a_worker_without_bubblewrap_is_refused_under_require_sandbox(tmp_path):
    from distributed import LocalCluster

    from autograder.grade.distributed import DaskPool
    from autograder.grade.options import GraderError
    with LocalCluster(n_workers=1, threads_per_worker=1, processes=True, host="127.0.0.1", dashboard_address=None,
                      silence_logs=logging.ERROR, env={"PATH": str(tmp_path)}) as no_bwrap:   # bwrap not on PATH
        pool = DaskPool(no_bwrap.scheduler_address, require_sandbox=True)
        try:
            with pytest.raises(GraderError, match=r"refused: tcp://127\.0\.0\.1:\d+: --require-sandbox: bubblewrap"):
                pool.wait_ready()
        finally:
            pool.close()


def test_a_worker_joining_mid_batch_without_bubblewrap_gets_no_notebook(course, by_jobs, tmp_path):
    """It would fail every notebook it took (no sandbox under --require-sandbox), and each failure
    would be that student's grade: the gate keeps notebooks from it."""
    from distributed import Client, LocalCluster
    ours = copy_of(course, tmp_path)
    (tmp_path / "bin").mkdir()
    with LocalCluster(n_workers=1, threads_per_worker=1, processes=True, host="127.0.0.1", dashboard_address=None,
                      silence_logs=logging.ERROR) as good, Client(good.scheduler_address, timeout="30s") as client:
        grading = subprocess.Popen([AUTOGRADER, "grade", A, "--force", "--quiet", "--require-sandbox", "--scheduler",
                                    good.scheduler_address, "--json", str(tmp_path / "report.json")],
                                   cwd=ours, env=tool_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        bad = None
        try:
            _until(lambda: client.run_on_scheduler(_task_states), "the batch's tasks")   # past the probe
            env = dict(tool_env(), PATH=str(tmp_path / "bin"))        # no bubblewrap on its PATH
            bad = subprocess.Popen([sys.executable, "-m", "distributed.cli.dask_worker", good.scheduler_address,
                                    "--nthreads", "1", "--no-nanny", "--host", "127.0.0.1"], env=env,
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            _until(lambda: len(client.scheduler_info()["workers"]) == 2, "the second worker")
            pending = [k for k, state in client.run_on_scheduler(_task_states).items() if state != "memory"]
            out, err = grading.communicate(timeout=300)
            held = {a: w["resources"] for a, w in client.scheduler_info()["workers"].items()}
        finally:
            grading.kill()
            if bad is not None:
                bad.kill()
                bad.wait()
    assert grading.returncode == 0, out + err
    assert pending, "the batch ended before the second worker joined"
    assert sorted(bool(r) for r in held.values()) == [False, True], held     # the gate: one worker holds it
    report = json.loads((tmp_path / "report.json").read_text())
    assert all(s["status"] == "graded" for s in report["students"])
    assert score_rows(A, ours) == score_rows(A, by_jobs)
    assert recorded_outputs(ours) == recorded_outputs(by_jobs)


def _until(condition, what: str, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"waited {timeout:.0f} s for {what}"
        time.sleep(0.05)
