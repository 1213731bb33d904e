"""What Dask itself costs the grading client per notebook (issue 16: can one client feed 100 workers?).

    .venv/bin/python bench/bench_dask_overhead.py [--tasks 2000] [--per-task 1 4 16]

A local cluster of two worker processes on 127.0.0.1 runs a task that returns at once; each
notebook is a job header and a 70 KB payload (a submission's size), sent as a grading task sends
them, one notebook per task or several. Printed: the client process's CPU time per notebook
(submitting, the scheduler's messages, taking the results), the part of the client's serial time
per notebook that Dask adds whatever the grader does.
"""
from __future__ import annotations

import argparse
import logging
import os
import resource
import time


def echo(jobs):
    return [{"id": job["id"], "bytes": len(payload)} for job, payload in jobs]


def main() -> None:
    from distributed import Client, LocalCluster
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tasks", type=int, default=2000, help="notebooks per measurement")
    parser.add_argument("--per-task", type=int, nargs="*", default=[1, 4, 16], help="notebooks per task")
    args = parser.parse_args()
    payload = os.urandom(70_000)
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1", dashboard_address=None,
                      silence_logs=logging.ERROR) as cluster, Client(cluster) as client:
        client.submit(echo, [], pure=False).result()
        for per in args.per_task:
            before, started = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter()
            futures = [client.submit(echo, [({"id": i * per + j, "steps": list(range(50))}, payload)
                                            for j in range(per)], pure=False, key=f"echo-{per}-{i}")
                       for i in range(args.tasks // per)]
            assert sum(len(f.result()) for f in futures) == args.tasks // per * per
            after = resource.getrusage(resource.RUSAGE_SELF)
            cpu = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
            print(f"{per:3d} notebook(s) per task: client CPU {1e3 * cpu / args.tasks:.2f} ms per notebook, "
                  f"wall {1e3 * (time.perf_counter() - started) / args.tasks:.2f} ms per notebook")


if __name__ == "__main__":
    main()
