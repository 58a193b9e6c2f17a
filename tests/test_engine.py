"""The grading engine on real Dask clusters: a `dask scheduler` and two `dask worker` processes on 127.0.0.1 grade a
class of notebook-01 submissions exactly as the default in-process cluster does, a worker killed mid-task leaves
every student graded exactly once, and the engine refuses what it must (a remote scheduler without TLS, workers
with other packages). Unchanged submissions are not graded again."""

import csv
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import nbformat
import psutil
import pytest

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "grader"))
import course  # noqa: E402
import engine  # noqa: E402
import gradebook  # noqa: E402
from pipeline import Submission, task_request  # noqa: E402
from release import registered_release  # noqa: E402

from lora_course.nbgrader_course import GRADER_DIR_ENV, RELEASE_DIR, SOURCE_DIR  # noqa: E402

NOTEBOOK = "01_dataset_preparation"
pytestmark = pytest.mark.notebooks


@pytest.mark.parametrize("address, allowed", [
    ("tcp://10.1.2.3:8786", False), ("grader.example.org:8786", False), ("tcp://[2001:db8::1]:8786", False),
    ("tcp://127.0.0.1:8786", True), ("tcp://localhost:8786", True), ("tcp://[::1]:8786", True),
    ("tls://10.1.2.3:8786", True),
])
def test_a_remote_scheduler_needs_tls(address, allowed):
    if allowed:
        engine.refuse_insecure(address, allow_insecure=False)
    else:
        with pytest.raises(engine.EngineRefused, match="without TLS"):
            engine.refuse_insecure(address, allow_insecure=False)
        engine.refuse_insecure(address, allow_insecure=True)


def test_a_scheduler_file_with_a_remote_address_needs_tls_too(tmp_path):
    scheduler_file = tmp_path / "scheduler.json"
    scheduler_file.write_text(json.dumps({"address": "tcp://10.1.2.3:8786"}))
    with pytest.raises(engine.EngineRefused, match="without TLS"):
        engine.connect(str(scheduler_file), 1)


def test_the_command_line_refuses_a_remote_scheduler_without_tls(tmp_path):
    env = {**os.environ, GRADER_DIR_ENV: str(tmp_path / "work")}
    done = subprocess.run([sys.executable, str(REPO / "grader" / "course.py"), "autograde", "--only", NOTEBOOK,
                           "--scheduler", "tcp://192.0.2.1:8786"], env=env, capture_output=True, text=True)
    assert done.returncode == 2 and "without TLS" in done.stderr and "Traceback" not in done.stderr, done.stderr


def one_wrong() -> nbformat.NotebookNode:
    notebook = nbformat.read(SOURCE_DIR / NOTEBOOK / f"{NOTEBOOK}.ipynb", 4)
    for cell in notebook.cells:
        if cell.metadata.get("nbgrader", {}).get("grade_id") == "impl_validate_dataset":
            cell.source = "def validate_dataset(path):\n    return []"
    return notebook


def submit_class(work: Path) -> list[str]:
    os.environ[GRADER_DIR_ENV] = str(work)
    course.submit("ada", SOURCE_DIR, [NOTEBOOK])
    course.submit("bea", RELEASE_DIR, [NOTEBOOK])
    course.submit("cyd", SOURCE_DIR, [NOTEBOOK])
    wrong = Submission("dan", NOTEBOOK).submitted
    wrong.parent.mkdir(parents=True)
    nbformat.write(one_wrong(), wrong)
    return ["ada", "bea", "cyd", "dan"]


def grades_rows(work: Path) -> list[dict]:
    with (work / "grades.csv").open() as handle:
        return list(csv.DictReader(handle))


@pytest.fixture
def grader_env():
    saved = os.environ.get(GRADER_DIR_ENV)
    yield
    if saved is None:
        os.environ.pop(GRADER_DIR_ENV, None)
    else:
        os.environ[GRADER_DIR_ENV] = saved


@pytest.fixture
def dask_cluster(tmp_path):
    """A real scheduler and two one-thread workers on loopback, started as an instructor would start them."""
    dask = str(Path(sys.executable).with_name("dask"))
    scheduler_file = tmp_path / "scheduler.json"
    logs = tmp_path / "dask.log"
    with logs.open("w") as log:
        processes = [subprocess.Popen([dask, "scheduler", "--host", "127.0.0.1", "--port", "0", "--no-dashboard",
                                       "--scheduler-file", str(scheduler_file)], stdout=log, stderr=log)]
        deadline = time.monotonic() + 60
        while not scheduler_file.exists() and time.monotonic() < deadline:
            time.sleep(0.2)
        for _ in range(2):
            processes.append(subprocess.Popen([dask, "worker", "--scheduler-file", str(scheduler_file),
                                               "--host", "127.0.0.1", "--nthreads", "1", "--no-nanny",
                                               "--no-dashboard"], stdout=log, stderr=log))
    address = json.loads(scheduler_file.read_text())["address"]
    yield {"address": address, "scheduler_file": scheduler_file, "workers": processes[1:], "log": logs}
    for process in processes:
        for child in psutil.Process(process.pid).children(recursive=True) if process.poll() is None else []:
            child.kill()
        process.kill()
        process.wait()


def test_a_dask_cluster_grades_a_class_like_the_default_engine(tmp_path, grader_env, dask_cluster):
    names = submit_class(tmp_path / "local")
    local = {s.student: s for s in course.autograde(None, [NOTEBOOK], workers=2)}
    submit_class(tmp_path / "cluster")
    on_cluster = {s.student: s for s in course.autograde(None, [NOTEBOOK], scheduler=dask_cluster["address"])}
    assert sorted(local) == sorted(on_cluster) == names
    assert local["ada"].auto == local["ada"].max_auto == local["cyd"].auto > 0
    assert local["bea"].auto == 0 and 0 < local["dan"].auto < local["dan"].max_auto
    assert grades_rows(tmp_path / "local") == grades_rows(tmp_path / "cluster")
    assert {s.student: s.auto for s in local.values()} == {s.student: s.auto for s in on_cluster.values()}


def test_a_worker_killed_mid_task_leaves_every_student_graded_exactly_once(tmp_path, grader_env, dask_cluster):
    names = submit_class(tmp_path / "work")
    gradebook.register([NOTEBOOK])
    template, tests = gradebook.template(), gradebook.code_points([NOTEBOOK])[NOTEBOOK]
    requests = [task_request(Submission(name, NOTEBOOK), tests, registered_release(NOTEBOOK), template, 1, False)
                for name in names]
    recorded, killed = [], []

    def kill_a_busy_worker():
        """Like a machine that dies: the worker and everything it started, once it is grading."""
        deadline = time.monotonic() + 120
        while not killed and time.monotonic() < deadline:
            for worker in dask_cluster["workers"]:
                children = psutil.Process(worker.pid).children(recursive=True)
                if any("grade-task" in " ".join(c.cmdline()) for c in children if c.is_running()):
                    for process in children + [psutil.Process(worker.pid)]:
                        process.send_signal(signal.SIGKILL)
                    killed.append(worker.pid)
                    break
            time.sleep(0.05)

    killer = threading.Thread(target=kill_a_busy_worker)
    killer.start()
    engine.grade(engine.by_student(requests), lambda result: recorded.append(gradebook.record_result(result)),
                 scheduler=str(dask_cluster["scheduler_file"]))
    killer.join()
    assert killed, "no worker was caught grading"
    assert sorted(score.student for score in recorded) == names  # each exactly once, none lost
    assert {score.student for score in recorded if score.auto == score.max_auto} == {"ada", "cyd"}
    assert all(not score.flags for score in recorded if score.student in ("ada", "cyd")), recorded


def test_workers_with_other_packages_are_refused(tmp_path, dask_cluster):
    """A third worker whose environment has one more package (on its PYTHONPATH, which its grading processes
    inherit) than this machine's: grading refuses to start and names it."""
    extra = tmp_path / "site"
    (extra / "only_here-1.0.dist-info").mkdir(parents=True)
    (extra / "only_here-1.0.dist-info" / "METADATA").write_text("Metadata-Version: 2.1\nName: only-here\n"
                                                                 "Version: 1.0\n")
    dask = str(Path(sys.executable).with_name("dask"))
    odd = subprocess.Popen([dask, "worker", "--scheduler-file", str(dask_cluster["scheduler_file"]), "--host",
                            "127.0.0.1", "--nthreads", "1", "--no-nanny", "--no-dashboard"],
                           env={**os.environ, "PYTHONPATH": str(extra)}, stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL)
    try:
        client = engine.connect(dask_cluster["address"], 1)
        client.wait_for_workers(3, timeout=60)
        client.upload_file(engine.__file__)
        with pytest.raises(engine.EngineRefused, match="only-here==1.0"):
            engine.check_workers(client)
        client.close()
    finally:
        odd.kill()
        odd.wait()


def test_the_default_cluster_listens_on_loopback_only():
    client = engine.connect(None, 2)
    try:
        listening = [c.laddr.ip for c in psutil.Process().net_connections() if c.status == psutil.CONN_LISTEN]
        assert all(ip in ("127.0.0.1", "::1") for ip in listening), listening
    finally:
        client.close()
        client.cluster.close()


def test_unchanged_submissions_are_not_graded_again(tmp_path, grader_env, capsys):
    os.environ[GRADER_DIR_ENV] = str(tmp_path / "work")
    course.submit("ada", SOURCE_DIR, [NOTEBOOK])
    course.submit("bea", RELEASE_DIR, [NOTEBOOK])
    first = {s.student: s.auto for s in course.autograde(None, [NOTEBOOK], progress=True)}
    kernel_runs = lambda: {p.parents[1].name: p.stat().st_mtime_ns  # noqa: E731
                           for p in (tmp_path / "work" / "autograded").glob(f"*/{NOTEBOOK}/{NOTEBOOK}.ipynb")}
    before = kernel_runs()
    wrong = Submission("bea", NOTEBOOK).submitted
    nbformat.write(one_wrong(), wrong)  # bea hands in again; ada does not
    capsys.readouterr()
    second = {s.student: s.auto for s in course.autograde(None, [NOTEBOOK], progress=True)}
    output = capsys.readouterr().out
    assert "unchanged since last graded: ada" in output and "unchanged since last graded: bea" not in output
    assert kernel_runs()["ada"] == before["ada"] and kernel_runs()["bea"] != before["bea"]
    assert second["ada"] == first["ada"] > 0 and first["bea"] == 0 < second["bea"]
    forced = {s.student: s.auto for s in course.autograde(None, [NOTEBOOK], force=True)}
    assert forced == second and kernel_runs()["ada"] != before["ada"]
    assert [row["student"] for row in grades_rows(tmp_path / "work")] == ["ada", "bea"]
