"""The gate a Dask worker passes before it gets a notebook: a Dask worker plugin.

Every worker of the cluster runs its ``setup``, those there when a command starts and those that
join later (a restarted worker, a lab machine added mid-batch): the checks of
``distributed.probe_worker`` (the client's course code; bubblewrap under --require-sandbox), then,
only if they pass, a Dask resource named for those checks. Each grading task asks for one unit of
it, so the scheduler never gives a notebook to a worker that did not pass: it would fail it, and
the failure would become that student's grade. Imported by the client only once dask is (its
connecting thread), and by reference on the workers.
"""
from __future__ import annotations

import asyncio
import logging

from distributed import WorkerPlugin

from .distributed import probe_worker

log = logging.getLogger("distributed.worker")


def gate_name(require_sandbox: bool, code: str) -> str:
    """The resource a worker holds once it passed: same code, and a sandbox when one is required."""
    return f"autograder-{code[:16]}" + ("-sandboxed" if require_sandbox else "")


class Gate(WorkerPlugin):
    def __init__(self, require_sandbox: bool, code: str):
        self.require_sandbox, self.code = require_sandbox, code
        self.name = gate_name(require_sandbox, code)     # registering the same gate again replaces it

    async def setup(self, worker):
        # the checks start this worker's sandboxes: off the worker's event loop
        probe = await asyncio.get_running_loop().run_in_executor(
            None, lambda: probe_worker(self.require_sandbox, self.code, worker))
        if probe.get("refused"):
            log.warning("this worker will not grade notebooks: %s", probe["refused"])
            return
        await worker.set_resources(**{self.name: probe["threads"]})
