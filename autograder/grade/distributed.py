"""Grading on a Dask cluster: ``DaskPool``, a stand-in for ``SandboxPool`` whose jobs run on Dask workers.

``autograder grade ASSIGNMENT --scheduler tcp://HOST:8786`` (or ``--dask-local N``, a cluster of N
worker processes on 127.0.0.1 that the command starts and stops) grades as a local batch does,
with one difference: each submitted notebook's job (its steps, its own folder's files and the
assignment's) goes to one Dask task, and the worker that runs it runs it in a ``SandboxPool`` of
its own (bubblewrap, as on this machine), answers its follow-through stubs itself (it has the
package and torch) and returns the ``RunResult``: the parsed frames of the sandbox's stream, the
same plain values a local pool gives. The client keeps everything else: nbgrader's converter,
the judging against its references, and every write to the gradebook and ``autograded/``.

* The case inputs go to every worker once (``Client.scatter(..., broadcast=True)``); a worker that
  joins later fetches them from a peer. A worker keeps one sandbox pool and one memo of
  follow-through answers per set of inputs (per assignment), the last two.
* A worker that dies mid-batch costs nothing: Dask's scheduler runs its tasks again elsewhere
  (and recomputes results it held), and the client records each notebook once, when
  ``GradingSession`` takes its outcome.
* Every worker is probed before grading (``Client.run``): the course package must be the same
  code as the client's, and under ``--require-sandbox`` a worker without a working bubblewrap
  refuses the run. A worker that joins later passes the same checks before it gets a notebook
  (``worker_gate``: a worker plugin, and a Dask resource every task asks for); one that fails them
  gets none, and says why in its log.
"""
from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict, deque
from concurrent.futures import Future

from ..sandbox.command import SandboxError, sandbox_command
from ..sandbox.pool import START_TIMEOUT, SandboxPool
from ..course import code_digest
from .options import GraderError
from .session import import_references_soon

KEPT_INPUTS = 2          # sandbox pools (sets of case inputs) a worker keeps warm
CONNECT_TIMEOUT = 30.0   # seconds to reach the scheduler (a wrong address fails fast)
RETRIES = 2              # a task whose worker raised (not died: Dask reschedules those itself) runs again


# --------------------------------------------------------------------------------------- client

class DaskPool:
    """``SandboxPool``'s interface, as ``GradingSession`` and ``batch`` use it, over a Dask cluster.

    The connection (and a local cluster's start) runs in a thread from the start, in parallel with
    nbgrader's import and the references; ``wait_ready`` joins it and raises when a worker refuses.
    """

    answers_elsewhere = True        # the workers answer the follow-through stubs, not this process

    def __init__(self, scheduler: str | None = None, local_workers: int | None = None,
                 require_sandbox: bool = False):
        if not scheduler and not local_workers:
            raise GraderError("a Dask pool needs a scheduler address or a number of local workers")
        self.scheduler, self.local_workers, self.require_sandbox = scheduler, local_workers, require_sandbox
        self.client = self.cluster = self.inputs = self.gate = None
        self.jobs = local_workers or 0
        self.started = time.monotonic()
        self.ready_seconds: list[float] = []
        self.prewarm: list[dict] = []
        self.workers: dict[str, dict] = {}
        self.warning: str | None = None
        self.futures: deque = deque()       # in submission order; the done ones dropped from the left
        self.count = 0
        self.connected: Future = Future()
        threading.Thread(target=self._connect, name="dask-connect", daemon=True).start()

    def _connect(self) -> None:
        try:
            self.connected.set_result(self._open())
        except BaseException as e:      # reported by wait_ready, before anything is graded
            self.connected.set_exception(e)

    def _open(self) -> dict:
        from distributed import Client, LocalCluster
        if self.local_workers:
            self.cluster = LocalCluster(n_workers=self.local_workers, threads_per_worker=1, processes=True,
                                        host="127.0.0.1", dashboard_address=None, silence_logs=logging.CRITICAL)
            self.client = Client(self.cluster)
        else:
            self.client = Client(self.scheduler, timeout=f"{CONNECT_TIMEOUT:g}s")
        self.client.wait_for_workers(self.local_workers or 1, timeout=START_TIMEOUT)
        probes = self.client.run(probe_worker, self.require_sandbox, code_digest())
        if not any(p.get("refused") for p in probes.values()):
            from .worker_gate import Gate
            gate = Gate(self.require_sandbox, code_digest())
            self.client.register_plugin(gate)           # these workers, and every one that joins later
            self.gate = gate.name
        return probes

    def wait_ready(self, timeout: float = START_TIMEOUT) -> None:
        """Return once the cluster is up and every worker passed its probe; raise otherwise."""
        if self.workers:
            return
        try:
            probes = self.connected.result(timeout)
        except GraderError:
            raise
        except Exception as e:
            where = f"the Dask scheduler at {self.scheduler}" if self.scheduler else "a local Dask cluster"
            raise GraderError(f"cannot grade on {where}: {type(e).__name__}: {e}") from None
        refused = {addr: p["refused"] for addr, p in probes.items() if p.get("refused")}
        if refused:
            raise GraderError("Dask worker(s) refused: " + "; ".join(f"{a}: {why}" for a, why in sorted(refused.items())))
        self.workers = probes
        self.jobs = sum(p["threads"] for p in probes.values())
        self.prewarm = [dict(p, worker=a) for a, p in sorted(probes.items())]
        self.ready_seconds = [time.monotonic() - self.started] * len(probes)
        unsandboxed = sorted(a for a, p in probes.items() if p["warning"])
        if unsandboxed:
            self.warning = (f"{len(unsandboxed)} of {len(probes)} Dask worker(s) run learner code without "
                            f"bubblewrap ({unsandboxed[0]}: {probes[unsandboxed[0]]['warning']})")

    def describe(self) -> tuple[str, str | None]:
        """(where learner code ran, a warning when some of it was not sandboxed), for the report."""
        n = len(self.workers)
        return (f"bubblewrap on {n} Dask worker(s)" if not self.warning
                else "Dask workers, some NOT sandboxed"), self.warning

    def set_inputs(self, calls: dict, arrays: dict) -> None:
        """Every case's inputs, to every worker once (a worker that joins later fetches them)."""
        self.wait_ready()           # first: dask is imported by the connecting thread, and an import
        from dask.base import tokenize   # of it here at the same time can find it half-initialised
        key = tokenize(calls, arrays)
        [self.inputs] = self.client.scatter([(key, calls, arrays)], broadcast=True, hash=False)

    def submit(self, job: dict, payload: bytes = b"", answers=None, inputs: tuple | None = None):
        """One notebook's job, as a Dask task; its future gives the ``RunResult``. ``answers`` is
        the local pool's stub answerer: a worker makes its own (``run_job``). ``inputs`` (calls,
        arrays), one student's own hidden variants, travel with that student's task only."""
        self.count += 1
        future = self.client.submit(run_job, job, payload, self.inputs, self.require_sandbox, code_digest(), inputs,
                                    key=f"grade-{self.count}-{job['id']}-{self.inputs.key[:8]}", pure=False,
                                    retries=RETRIES, priority=-self.count,      # first submitted, first run
                                    resources={self.gate: 1})       # only a worker that passed the gate
        self.futures.append(future)
        return future

    def backlog(self) -> int:
        """Notebooks not graded yet, about (those before the first unfinished one are dropped)."""
        while self.futures and self.futures[0].done():
            self.futures.popleft()
        return len(self.futures)

    def hurry(self) -> None:
        """Every worker already runs: nothing to start."""

    def close(self) -> None:
        if self.cluster is not None:
            self._stop_local_workers()
        for closing in (self.client, self.cluster):
            if closing is not None:
                try:
                    closing.close()
                except Exception:
                    pass


    def _stop_local_workers(self) -> None:
        """Our own cluster's workers hold nothing more: SIGKILL them (their zygotes die with them)
        rather than wait seconds for interpreters that imported torch to tear down."""
        import os
        import signal

        import psutil
        for nanny in self.cluster.workers.values():
            nanny.auto_restart = False
        for probe in self.workers.values():
            try:
                if psutil.Process(probe["pid"]).ppid() == os.getpid():     # still our cluster's worker
                    os.kill(probe["pid"], signal.SIGKILL)
            except (psutil.Error, OSError):
                pass


def dask_pool_factory(scheduler: str | None, local_workers: int | None):
    """What ``batch.grade_assignment`` calls to make its pool (``pool_factory``)."""
    return lambda options: DaskPool(scheduler, local_workers, options.require_sandbox)


# --------------------------------------------------------------------------------------- worker

_STATE_LOCK = threading.Lock()
_STATE: "WorkerSide | None" = None


class WorkerSide:
    """One Dask worker process's side of the grading: its sandbox pools (one per set of case inputs)
    and their follow-through memos. Made by the probe (or the first task) and kept for the
    worker's life; a spare pool starts warming at once."""

    def __init__(self, require_sandbox: bool, threads: int):
        self.require_sandbox, self.threads = require_sandbox, max(1, threads)
        self.lock = threading.Lock()
        self.pools: OrderedDict = OrderedDict()          # inputs key -> (SandboxPool, memo)
        command, self.warning = sandbox_command(require_sandbox)   # raises under --require-sandbox
        self.kind = command.kind
        self.spare: SandboxPool | None = SandboxPool(command, self.threads)
        import_references_soon()        # while the sandbox warms: its stubs need them

    def pool(self, inputs) -> tuple[SandboxPool, dict]:
        key, calls, arrays = inputs
        with self.lock:
            if key not in self.pools:
                pool = self.spare or SandboxPool(sandbox_command(self.require_sandbox)[0], self.threads)
                self.spare = None
                pool.set_inputs(calls, arrays)
                self.pools[key] = (pool, {})
                while len(self.pools) > KEPT_INPUTS:
                    self.pools.popitem(last=False)[1][0].close()
            self.pools.move_to_end(key)
            return self.pools[key]

    def close(self) -> None:
        with self.lock:
            for pool in [p for p, _ in self.pools.values()] + ([self.spare] if self.spare else []):
                pool.close()
            self.pools.clear()
            self.spare = None


def _worker_side(require_sandbox: bool, threads: int | None = None) -> WorkerSide:
    global _STATE
    with _STATE_LOCK:
        if _STATE is None or _STATE.require_sandbox != require_sandbox:
            if _STATE is not None:
                _STATE.close()
            if threads is None:
                from distributed import get_worker
                threads = get_worker().state.nthreads
            _STATE = WorkerSide(require_sandbox, threads)
        return _STATE


def probe_worker(require_sandbox: bool, client_code: str, dask_worker=None) -> dict:
    """Run on every worker before grading (``Client.run``): whether it may grade, and how."""
    import os
    import socket
    if code_digest() != client_code:
        return {"refused": f"its course package differs from the client's (code {code_digest()} against "
                           f"{client_code}): install the same checkout on every worker"}
    try:
        side = _worker_side(require_sandbox, dask_worker.state.nthreads)
    except SandboxError as e:
        return {"refused": str(e)}
    return {"host": socket.gethostname(), "pid": os.getpid(), "threads": side.threads, "sandbox": side.kind,
            "warning": side.warning}


def run_job(job: dict, payload: bytes, inputs, require_sandbox: bool, client_code: str,
            student_inputs: tuple | None = None):
    """The Dask task: one notebook's job in this worker's sandbox pool; returns its ``RunResult``."""
    from ..sandbox.channel import ChannelBudget, ChannelLimits
    from .stubs import StubAnswers, StubBudget
    if code_digest() != client_code:
        raise SandboxError("this worker's course package differs from the client's")
    pool, memo = _worker_side(require_sandbox).pool(inputs)
    limits = job["limits"]
    budget = StubBudget(limits["stub_calls"], limits["stub_bytes"],      # one per notebook, over its runs
                        channel=ChannelBudget(ChannelLimits.from_limits(limits)))
    future = pool.submit(job, payload, lambda: StubAnswers(job["steps"], budget, memo), inputs=student_inputs)
    if pool.backlog():
        pool.hurry()
    return future.result()
