"""The execution engine: one Dask task per (student, notebook), on this machine or on an existing cluster.

    engine.grade(requests, scheduler=None, slots=1)      # an in-process LocalCluster: `slots` tasks at once
    engine.grade(requests, scheduler="tcp://host:8786")  # a cluster someone started (dask-jobqueue, dask-gateway...)
    engine.grade(requests, scheduler="scheduler.json")   # ... or its scheduler file

A task is trusted orchestration: it runs `python grader/course.py grade-task` on the worker, which starts the
sandbox, and hands back that command's JSON. Learner code never runs in a Dask process, and a task never writes
the course gradebook: the caller records each result as it arrives, in its own process, exactly once (a task whose
worker died is run again elsewhere by the scheduler; only its one result reaches the caller). A student's notebooks
are chained (exercise 3 reads exercise 2's adapter), different students run side by side.

Workers must see the instructor folder and the course checkout at the same paths as this machine (a shared file
system, as on any Slurm or Kubernetes cluster with a home or project volume), run the course's environment (the
same packages: checked before grading), and have bubblewrap and the converted base model.
"""

import ipaddress
import json
import logging
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from urllib.parse import urlsplit

LOOPBACK = "127.0.0.1"


class EngineRefused(RuntimeError):
    """Grading cannot start on this cluster (an insecure remote scheduler, workers with other packages)."""


def run_task(request: dict, after=None) -> dict:
    """On the worker: grade one submission in a child process and return its JSON; never raises, so a student's
    later notebooks still run. `after` is the student's previous task, which Dask runs first."""
    started = time.perf_counter()
    if request.get("threads") is None:  # a cluster's worker: its cores, shared by the tasks it runs at once
        from distributed import get_worker

        request = {**request, "threads": max(1, (os.cpu_count() or 1) // get_worker().state.nthreads)}
    try:
        done = subprocess.run([sys.executable, request["course_py"], "grade-task"], input=json.dumps(request),
                              capture_output=True, text=True, check=False)
        lines = done.stdout.strip().splitlines()
        result = json.loads(lines[-1]) if done.returncode == 0 and lines else None
        problem = f"exit code {done.returncode}: {done.stderr.strip()[-400:]}"
    except (OSError, ValueError) as error:
        result, problem = None, f"{type(error).__name__}: {error}"
    if not isinstance(result, dict):
        result = {"student": request["student"], "assignment": request["assignment"], "error": problem}
    result["worker_seconds"] = time.perf_counter() - started
    return result


def installed_packages() -> list[str]:
    """What grading runs with on this machine: the distributions and the Python version a fresh interpreter of this
    environment sees (a process's own path can hold more: pytest's, setuptools' vendored packages)."""
    code = ("import importlib.metadata as m, platform\n"
            "for d in m.distributions(): print(d.metadata['Name'] + '==' + d.version)\n"
            "print('python==' + platform.python_version())")
    listed = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    return sorted(set(listed.split()))


def connect(scheduler: str | None, slots: int, allow_insecure: bool = False):
    """A Dask client: an in-process LocalCluster with `slots` one-thread workers (nothing to install or start), or
    the cluster at a scheduler address or scheduler file."""
    from distributed import Client, LocalCluster

    if scheduler is None:
        # Workers are threads of this process, talking in memory; Dask's HTTP endpoints (health, metrics) listen
        # on a random loopback port, with no dashboard.
        cluster = LocalCluster(n_workers=slots, threads_per_worker=1, processes=False, protocol="inproc",
                               dashboard_address=f"{LOOPBACK}:0", worker_dashboard_address=f"{LOOPBACK}:0",
                               scheduler_kwargs={"dashboard": False}, silence_logs=logging.ERROR)
        return Client(cluster)
    if scheduler.endswith(".json"):  # a scheduler file: the address the scheduler wrote into it
        refuse_insecure(json.loads(Path(scheduler).read_text())["address"], allow_insecure)
        client = Client(scheduler_file=scheduler, timeout="30s")
    else:
        refuse_insecure(scheduler, allow_insecure)
        client = Client(scheduler, timeout="30s")
    client.wait_for_workers(1, timeout=120)
    return client


def refuse_insecure(address: str, allow_insecure: bool) -> None:
    """Submissions and scores cross the network: a remote scheduler must use TLS (tls://) unless told otherwise."""
    parts = urlsplit(address if "://" in address else f"tcp://{address}")
    if parts.scheme == "tls" or allow_insecure:
        return
    try:
        local = ipaddress.ip_address(parts.hostname or "").is_loopback
    except ValueError:
        local = parts.hostname == "localhost"
    if not local:
        raise EngineRefused(f"{address} is a remote scheduler without TLS: students' work and scores would cross the "
                            "network in clear text. Use a tls:// address (dask's distributed.comm.tls settings), or "
                            "pass --insecure if this network is yours alone.")


def check_workers(client) -> None:
    """Every worker must grade with the packages this machine grades with (a different torch or nbgrader gives
    different scores); Dask's own versions are checked first."""
    client.get_versions(check=True)
    here = set(installed_packages())
    for worker, packages in client.run(installed_packages).items():
        differ = sorted(set(packages) ^ here)
        if differ:
            raise EngineRefused(f"worker {worker} has other packages than this machine: {', '.join(differ[:6])}"
                                + (" ..." if len(differ) > 6 else ""))


def grade(students: dict[str, list[dict]], record: Callable[[dict], object], scheduler: str | None = None,
          slots: int = 1, allow_insecure: bool = False) -> list:
    """Submit each student's requests as a chain of tasks and call `record` on each result as it arrives (in this
    process, once per task). Returns what `record` returned, in completion order."""
    from distributed import as_completed

    client = connect(scheduler, slots, allow_insecure)
    try:
        if scheduler is not None:
            client.upload_file(__file__)  # the scheduler and every worker, later ones too, import run_task from it
            check_workers(client)
        futures = []
        for name, requests in students.items():
            previous = None
            for request in requests:
                previous = client.submit(run_task, request, previous, key=f"grade-{name}-{request['assignment']}",
                                         pure=False)
                futures.append(previous)
        return [record(future.result()) for future in as_completed(futures)]
    finally:
        cluster = getattr(client, "cluster", None)
        client.close()
        if cluster is not None:
            cluster.close()


def progress_line(done: int, total: int, student: str, assignment: str, score: str, seconds: float) -> str:
    width = 20
    filled = round(width * done / max(1, total))
    return (f"[{'#' * filled}{'.' * (width - filled)}] {done:>{len(str(total))}}/{total}  {student[:16]:16} "
            f"{assignment:24} {score:>9}  {seconds:6.0f} s")


def by_student(requests: Iterable[dict]) -> dict[str, list[dict]]:
    chains: dict[str, list[dict]] = {}
    for request in requests:
        chains.setdefault(request["student"], []).append(request)
    return chains
