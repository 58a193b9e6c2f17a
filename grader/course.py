"""Instructor commands around nbgrader: release, collect, autograde, feedback, the formgrader, grades.csv.

    python grader/course.py release                 # solutions/ -> notebooks/ (nbgrader generate_assignment)
    python grader/course.py collect ZIPS            # ZIPS/<student>.zip -> submitted/<student>/<NN_name>/
    python grader/course.py submit STUDENT DIR      # copy DIR/<NN_name>/<NN_name>.ipynb into submitted/
    python grader/course.py autograde [STUDENT]     # grade everyone submitted (or one), write grades.csv
        --workers 2                                 #   notebooks at once on this machine; they split the cores
        --scheduler tcp://host:8786                 #   on an existing Dask cluster (or a scheduler file; $SCHEDULER)
        --force                                     #   regrade submissions that have not changed since last time
        --unsandboxed                               #   only where the sandbox is unavailable (flagged)
    python grader/course.py feedback [STUDENT]      # HTML feedback under feedback/
    python grader/course.py demo                    # submit the reference solutions, autograde, print scores
    python grader/course.py formgrader              # JupyterLab + formgrader for the written answers
    ... --only 01_dataset_preparation               # any command, for some of the assignments

Each (student, notebook) is one task of the execution engine (engine.py, Dask): on its worker, `grade-task` runs
the submission in the sandbox (sandbox.py) with nbgrader writing a private gradebook, then runs its tests a second
time outside the learner's kernel (recheck.py), and returns JSON; the lower score of the two is recorded, by this
process only, and anything odd becomes a flag.
nbgrader exits 0 even when tests fail, so scores are always read back from the gradebook (nbgrader.api).
A brand-new instructor folder needs no set-up: autograde registers each assignment in the gradebook first.
"""

import argparse
import csv
import hashlib
import json
import os
import re
import secrets
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
import warnings
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import NoReturn

import engine
import sandbox

from lora_course.nbgrader_course import (
    ASSIGNMENTS,
    CELL_TIMEOUT_SECONDS,
    COURSE_ID,
    GRADER_DIR_ENV,
    RELEASE_DIR,
    RELEASE_DIR_ENV,
    SOURCE_DIR,
    exchange_dir,
    release_dir,
    work_dir,
)

GRADER = Path(__file__).resolve().parent
REPO = GRADER.parent
# nbgrader's gradebook runs the `alembic` command, which lives next to this Python (the venv may not be on PATH).
os.environ["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"
# The course's id, assignments, folders (work_dir(), release_dir()) and per-cell timeout: lora_course.nbgrader_course,
# which nbgrader_config.py reads too.
NOTEBOOK_SECONDS = int(os.environ.get("LORA_COURSE_NOTEBOOK_SECONDS", 1800))  # per run; each cell: CELL_TIMEOUT_SECONDS
MAX_NOTEBOOK_MB = 50  # a submitted notebook, in a learner's zip
MAX_OUTPUT_KB = 512   # one output of an executed notebook
NBGRADER_MEMORY_GB = 6  # the instructor-side nbgrader process holds every output the kernel sends
DEMO_INPUTS = ("solutions", "src", "data", "grader", "pyproject.toml", "Makefile")  # what `make demo` runs on


def nbgrader(*args: str, release_into: Path | None = None, env=None, timeout=None) -> subprocess.CompletedProcess:
    """Run an nbgrader command with this course's config; returns its output for the caller to report."""
    work_dir().mkdir(parents=True, exist_ok=True)  # nbgrader changes into it first
    command = [str(Path(sys.executable).with_name("nbgrader")), *args]
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", **(env or {})}
    if release_into is not None:
        env[RELEASE_DIR_ENV] = str(release_into)  # read by nbgrader_config.py (release_dir())
    return subprocess.run(command, cwd=GRADER, env=env, capture_output=True, text=True, check=False, timeout=timeout,
                          preexec_fn=limit_own_memory)


def limit_own_memory() -> None:
    """A soft cap: a kernel that floods output makes nbgrader fail (flagged), not the grading machine."""
    import resource

    resource.setrlimit(resource.RLIMIT_AS, (NBGRADER_MEMORY_GB << 30, resource.RLIM_INFINITY))


def release(assignments=ASSIGNMENTS) -> None:
    """solutions/ -> the release folder (notebooks/ unless $LORA_COURSE_RELEASE_DIR); also fills the gradebook."""
    for assignment in assignments:
        generate(assignment, release_dir())


def register(assignments=ASSIGNMENTS) -> None:
    """Make sure the gradebook knows each assignment as it is now in solutions/.

    nbgrader autograde refuses an assignment the gradebook has never seen, and only generate_assignment records
    one (its notebooks, graded cells and checksums). A new instructor folder (a clean clone, a new term) has an
    empty gradebook, so this generates into a private folder, leaving the committed release alone, and does it
    again whenever the source notebook changes.
    """
    for assignment in assignments:
        if not registered(assignment):
            generate(assignment, work_dir() / "release")


def generate(assignment: str, into: Path) -> None:
    done = nbgrader("generate_assignment", assignment, "--force", release_into=into)
    if done.returncode != 0 or not released_notebook(assignment, into).exists():
        raise RuntimeError(f"generate_assignment {assignment} failed:\n{done.stderr[-3000:]}")
    save_as_jupyterlab(released_notebook(assignment, into))
    stamp = registration_stamp(assignment)
    stamp.parent.mkdir(parents=True, exist_ok=True)
    stamp.write_text(source_digest(assignment))


KERNELSPEC = {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"}


def kernel_language_info() -> dict:
    """The `language_info` the course's python3 kernel sends (ipykernel's own dict, as in its kernel_info_reply)."""
    from ipykernel.ipkernel import IPythonKernel

    return json.loads(json.dumps(IPythonKernel.language_info))


def save_as_jupyterlab(path: Path) -> None:
    """Write a released notebook as JupyterLab would save it, so that opening it (or Validate, which saves first)
    changes nothing: the kernel's full `language_info` (JupyterLab replaces a partial one when the kernel starts,
    which marks the notebook modified), the kernelspec, no outputs, nbformat's layout (indent 1, sorted keys,
    UTF-8 unescaped, trailing newline: what Jupyter server writes). The Python version is that of the environment
    the release is made in, the course's; a learner on another patch release sees only that one field updated."""
    import nbformat

    notebook = nbformat.read(path, as_version=4)
    notebook.metadata["kernelspec"] = dict(KERNELSPEC)
    notebook.metadata["language_info"] = kernel_language_info()
    for cell in notebook.cells:
        if cell.cell_type == "code":
            cell.execution_count, cell.outputs = None, []
    nbformat.write(notebook, path)


def registered(assignment: str) -> bool:
    from nbgrader.api import Gradebook, MissingEntry

    stamp = registration_stamp(assignment)
    if not stamp.exists() or stamp.read_text() != source_digest(assignment):
        return False
    with Gradebook(gradebook_url(), course_id=COURSE_ID) as gradebook:
        try:
            gradebook.find_notebook(assignment, assignment)
        except MissingEntry:
            return False
    return True


def registration_stamp(assignment: str) -> Path:
    """The digest of the source notebook the gradebook was last filled from."""
    return work_dir() / "registered" / f"{assignment}.sha256"


def source_digest(assignment: str) -> str:
    return hashlib.sha256((SOURCE_DIR / assignment / f"{assignment}.ipynb").read_bytes()).hexdigest()


def released_notebook(assignment: str, folder: Path | None = None) -> Path:
    return (folder or release_dir()) / assignment / f"{assignment}.ipynb"


def gradebook_url() -> str:
    return f"sqlite:///{work_dir() / 'gradebook.db'}"


def submit(student: str, source: Path, assignments=ASSIGNMENTS) -> None:
    """Place a learner's notebooks where nbgrader expects submissions (what `nbgrader collect` would do)."""
    for assignment in assignments:
        notebook = Path(source) / assignment / f"{assignment}.ipynb"
        target = work_dir() / "submitted" / student / assignment
        shutil.rmtree(target, ignore_errors=True)
        target.mkdir(parents=True)
        shutil.copy(notebook, target)


def collect(folder: Path, assignments=ASSIGNMENTS) -> list[str]:
    """Learners' zip files (`<student>.zip`, e.g. their handout folder zipped) -> submitted/<student>/.

    Only the assignment notebooks are taken out (by name, wherever they lie in the zip, at most MAX_NOTEBOOK_MB
    each); nothing else in a zip is extracted, so a crafted path cannot write outside submitted/."""
    collected = []
    for archive in sorted(Path(folder).glob("*.zip")):
        student = archive.stem
        try:
            with zipfile.ZipFile(archive) as zipped:
                members = {Path(info.filename).name: info for info in zipped.infolist() if not info.is_dir()}
                for assignment in assignments:
                    info = members.get(f"{assignment}.ipynb")
                    target = submitted_notebook(student, assignment)
                    if info is None or info.file_size > MAX_NOTEBOOK_MB << 20:
                        continue
                    target.parent.mkdir(parents=True, exist_ok=True)
                    target.write_bytes(zipped.read(info))
        except zipfile.BadZipFile:
            print(f"skipped {archive.name}: not a zip file", file=sys.stderr)
            continue
        collected.append(student)
    return collected


@dataclass
class Score:
    assignment: str
    auto: float          # points from autograded test cells (the lower of the kernel's and the re-check's)
    max_auto: float
    max_manual: float    # written answers, graded by a person in the formgrader
    seconds: float       # autograde wall time: executing the notebook (twice: kernel, re-check) dominates it
    student: str = ""
    flags: tuple[str, ...] = ()


def students() -> list[str]:
    """Everyone with a folder under submitted/ (what `collect` or `submit` put there)."""
    folder = work_dir() / "submitted"
    return sorted(p.name for p in folder.iterdir() if p.is_dir()) if folder.exists() else []


def autograde(student: str | None = None, assignments=ASSIGNMENTS, workers: int = 1, unsandboxed: bool = False,
              scheduler: str | None = None, force: bool = False, allow_insecure: bool = False,
              progress: bool = False) -> list[Score]:
    """Grade one student, or everyone under submitted/: one Dask task per (student, notebook), `workers` at once on
    an in-process LocalCluster, or on the cluster at `scheduler`. Each task gets cores // workers threads: two torch
    processes that each think they own the machine run ~10x slower than one.

    A submission graded before, unchanged (same notebooks up to this one, same release and environment), keeps its
    recorded score without running again unless `force`. Each student's notebooks run in course order (exercise 3
    reuses exercise 2's adapter); students run side by side."""
    if not unsandboxed and (reason := sandbox.unavailable_reason()):
        raise SandboxUnavailable(reason)
    register(assignments)
    prepare_models()
    everyone = [student] if student else students()
    # this machine's cores shared by its slots; on a cluster each worker shares its own (engine.run_task)
    threads = None if scheduler else max(1, (os.cpu_count() or 1) // max(1, workers))
    template = gradebook_template()
    environment = fingerprint()
    scores, requests = [], []
    for name in everyone:
        for assignment in assignments:
            key = cache_key(name, assignment, environment, unsandboxed)
            cached = None if force else cached_score(name, assignment, key)
            if cached is not None:
                scores.append(cached)
            else:
                requests.append({**task_request(name, assignment, threads, unsandboxed, template), "cache_key": key})
    for score in scores if progress else ():
        print(f"unchanged since last graded: {score.student} {score.assignment} {score.auto:g} / {score.max_auto:g}",
              flush=True)

    total = len(scores) + len(requests)

    def record_and_report(result: dict) -> Score:
        scores.append(record_result(result))
        score = scores[-1]
        if progress:
            print(engine.progress_line(len(scores), total, score.student, score.assignment,
                                       f"{score.auto:g} / {score.max_auto:g}", score.seconds), flush=True)
        return score

    engine.grade(engine.by_student(requests), record_and_report, scheduler, max(1, workers), allow_insecure)
    write_grades_csv()
    return sorted(scores, key=lambda s: (everyone.index(s.student), assignments.index(s.assignment)))


def cache_key(student: str, assignment: str, environment: str | None, unsandboxed: bool) -> str | None:
    """What a grade depends on: this and the student's earlier notebooks (exercise 3 reads exercise 2's run), the
    release and code it was graded with, the packages, and whether it ran in the sandbox. None: never cached."""
    if environment is None:
        return None
    digest = hashlib.sha256(f"{environment} {unsandboxed}".encode())
    for earlier in ASSIGNMENTS[:ASSIGNMENTS.index(assignment) + 1]:
        path = submitted_notebook(student, earlier)
        digest.update(earlier.encode() + (hashlib.sha256(path.read_bytes()).digest() if path.is_file() else b"-"))
    return digest.hexdigest()


def result_file(student: str, assignment: str) -> Path:
    return work_dir() / "engine" / "results" / student / f"{assignment}.json"


def cached_score(student: str, assignment: str, key: str | None) -> Score | None:
    """The recorded score of a submission graded before with the same key, if the gradebook still holds it."""
    try:
        if key is None or json.loads(result_file(student, assignment).read_text()).get("cache_key") != key:
            return None
        return read_score(student, assignment)
    except Exception:  # noqa: BLE001 - no file, not JSON, not in the gradebook: grade it
        return None


def prepare_models() -> None:
    """Convert every base model the notebooks load (the bundled SmolLM2, its bf16 copy, `tiny`) before grading: the
    sandbox sees the model cache read-only, so a notebook cannot build a missing one there."""
    code = ("from lora_course.models import prepare_model; "
            "prepare_model(); prepare_model(bf16=True); prepare_model('tiny')")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"preparing the base models failed:\n{done.stderr[-2000:]}")


class SandboxUnavailable(RuntimeError):
    def __str__(self):
        return (f"Cannot grade in isolation: {self.args[0]}. Learner code would run with the instructor's rights, "
                "network and files. Install bubblewrap, or pass --unsandboxed to grade without isolation anyway.")


def task_request(student: str, assignment: str, threads: int | None, unsandboxed: bool, template: Path) -> dict:
    """Everything a worker needs to grade one submission, as plain JSON: it never opens the course's gradebook."""
    return {"student": student, "assignment": assignment, "threads": threads, "unsandboxed": unsandboxed,
            "course_py": str(Path(__file__).resolve()), "work": str(work_dir()),
            "release": str(registered_release(assignment)), "tests": code_points(assignment),
            "template": str(template)}


def grade_task(request: dict) -> dict:
    """Worker side (this machine, or a Dask worker that sees the same instructor folder): nbgrader autograde with the
    kernel in the sandbox, against a private copy of the gradebook, then the re-check outside that kernel.

    Returns plain JSON: each test's score in the kernel and in the re-check, the written answers' auto-comments,
    the flags and the phase timings. Only record_result, in the instructor's process, writes the course gradebook."""
    started = time.perf_counter()
    student, assignment, threads, unsandboxed = (request[k] for k in ("student", "assignment", "threads",
                                                                     "unsandboxed"))
    os.environ[GRADER_DIR_ENV] = request["work"]
    os.environ["NBGRADER_EXECUTION"] = "autograde"  # as nbgrader sets it for the kernel: the re-check runs the same
    tests = request["tests"]
    result = {"student": student, "assignment": assignment, "cache_key": request.get("cache_key"), "kernel": {},
              "rechecked": dict.fromkeys(tests, 0.0), "comments": {}, "flags": [], "timings": {}, "slowest_cells": []}
    flags = result["flags"]
    flags += submission_problems(student, assignment, Path(request["release"]))
    if unsandboxed:
        flags.append("graded unsandboxed")
    if flags and not notebook_is_readable(submitted_notebook(student, assignment)):
        result["timings"]["prepare"] = time.perf_counter() - started
        return result
    executed = autograded_notebook(student, assignment)
    executed.unlink(missing_ok=True)
    with tempfile.TemporaryDirectory(prefix=sandbox.PRIVATE_PREFIX) as private:
        private_gradebook = Path(private) / "gradebook.db"
        shutil.copyfile(request["template"], private_gradebook)
        result["timings"]["prepare"] = time.perf_counter() - started
        phase = time.perf_counter()
        done = run_nbgrader_autograde(student, assignment, Path(private), threads, unsandboxed)
        result["timings"]["kernel"] = time.perf_counter() - phase
        try:
            result["kernel"], result["comments"] = kernel_results(f"sqlite:///{private_gradebook}", student,
                                                                  assignment)
        except Exception:  # noqa: BLE001 - no submission row: nbgrader failed before grading
            flags.append(f"nbgrader could not grade it: {(done.stderr or '')[-300:].strip()}")
            return result
    kernel_scores = result["kernel"]
    if done.returncode == -9:
        flags.append(f"the notebook ran past {NOTEBOOK_SECONDS} s and was stopped")
    if not executed.exists():
        stderr = done.stderr or ""
        flags.append("the kernel died (os._exit, a crash, or the memory cap): no executed notebook"
                     if re.search(r"DeadKernel|Kernel died", stderr) else
                     f"a cell ran past {CELL_TIMEOUT_SECONDS} s: no executed notebook"
                     if "Timeout waiting" in stderr else
                     f"nbgrader wrote no executed notebook: {stderr[-200:].strip()}")
    else:
        flags += cap_outputs(executed)
        result["slowest_cells"] = slowest_cells(executed)
        if any(kernel_scores.get(grade_id) for grade_id in tests):
            phase = time.perf_counter()
            result["rechecked"], recheck_flags = recheck(student, assignment, tests, threads, unsandboxed)
            result["timings"]["recheck"] = time.perf_counter() - phase
            flags += recheck_flags
        # else: no point to verify: the lower of the two scores is 0 whatever the re-check says
    for folder in ("autograded", "rechecked"):
        sandbox.remove_special_files(work_dir() / folder / student / assignment)
    return result


def kernel_results(url: str, student: str, assignment: str) -> tuple[dict, dict]:
    """What nbgrader's autograde wrote to a (private) gradebook: auto scores per graded cell, auto-comments."""
    from nbgrader.api import Gradebook

    with Gradebook(url, course_id=COURSE_ID) as gradebook:
        notebook = gradebook.find_submission_notebook(assignment, assignment, student)
        return ({grade.name: grade.auto_score for grade in notebook.grades},
                {comment.name: comment.auto_comment for comment in notebook.comments})


def slowest_cells(executed: Path, count: int = 5) -> list[dict]:
    """The kernel run's slowest cells, from the timings nbclient records in each cell's metadata."""
    import nbformat
    from dateutil.parser import isoparse

    cells = []
    for number, cell in enumerate(nbformat.read(executed, 4).cells):
        timing = cell.get("metadata", {}).get("execution", {})
        try:
            start, end = isoparse(timing["iopub.execute_input"]), isoparse(timing["shell.execute_reply"])
            seconds = (end - start).total_seconds()
        except (KeyError, TypeError, ValueError):
            continue
        grade_id = cell.metadata.get("nbgrader", {}).get("grade_id")
        cells.append({"cell": number, "grade_id": grade_id, "seconds": round(seconds, 2)})
    return sorted(cells, key=lambda c: -c["seconds"])[:count]


def record_result(result: dict) -> Score:
    """The instructor's process alone: the lower of the kernel's and the re-check's score per test, written to the
    course gradebook with the written answers' comments, the flags and the phase timings."""
    started = time.perf_counter()
    student, assignment = result["student"], result["assignment"]
    if "error" in result:  # the worker could not grade it (not the learner's code: that is caught in grade_task)
        result = {**result, "kernel": {}, "rechecked": dict.fromkeys(code_points(assignment), 0.0), "comments": {},
                  "flags": [f"grading failed on the worker: {result['error']}"], "timings": {}, "slowest_cells": []}
    flags = list(result["flags"])
    kernel, rechecked = result["kernel"], result["rechecked"]
    final = {}
    for grade_id, again in rechecked.items():
        kernel_score = kernel.get(grade_id) or 0.0  # None: nbgrader never ran the test
        if again is None:
            flags.append(f"{grade_id}: the re-check never reached this test")
        elif kernel and again != kernel_score:
            flags.append(f"{grade_id}: {kernel_score:g} points in the learner's kernel, {again:g} when re-checked")
        final[grade_id] = min(kernel_score, again or 0.0)
    record(student, assignment, final, flags, kernel, result["comments"])
    timings = {**result["timings"], "record": time.perf_counter() - started}
    cached = result_file(student, assignment)
    cached.parent.mkdir(parents=True, exist_ok=True)
    cached.write_text(json.dumps({"cache_key": None if "error" in result else result.get("cache_key"),
                                  "flags": flags}))
    save_timings(student, assignment, timings, result["slowest_cells"])
    score = read_score(student, assignment, sum(timings.values()))
    return Score(**{**score.__dict__, "student": student, "flags": tuple(flags)})


def cap_outputs(path: Path) -> list[str]:
    """Cut any output over MAX_OUTPUT_KB in the executed notebook (nbgrader limits lines, not characters), so the
    formgrader, feedback and the gradebook's readers never load a flood."""
    import nbformat

    if path.stat().st_size <= MAX_OUTPUT_KB << 10:
        return []
    notebook, cut = nbformat.read(path, 4), 0
    for cell in notebook.cells:
        for output in cell.get("outputs", []):
            for holder, key in [(output, "text"), *[(output.get("data", {}), mime) for mime in output.get("data", {})]]:
                value = holder.get(key)
                if isinstance(value, str) and len(value) > MAX_OUTPUT_KB << 10:
                    cut += len(value)
                    holder[key] = (value[:MAX_OUTPUT_KB << 10]
                                   + f"\n[... output cut by the grader: {len(value):,} characters]")
    path.chmod(0o644)
    nbformat.write(notebook, path)
    return [f"output cut: {cut / 1e6:.1f} MB over the {MAX_OUTPUT_KB} KB limit per output"] if cut else []


def autograded_notebook(student: str, assignment: str) -> Path:
    return work_dir() / "autograded" / student / assignment / f"{assignment}.ipynb"


def submitted_notebook(student: str, assignment: str) -> Path:
    return work_dir() / "submitted" / student / assignment / f"{assignment}.ipynb"


def notebook_is_readable(path: Path) -> bool:
    import nbformat

    try:
        nbformat.read(path, 4)
        return True
    except Exception:  # noqa: BLE001 - missing, not JSON, not a notebook: all mean "nothing to run"
        return False


def submission_problems(student: str, assignment: str, release: Path) -> list[str]:
    """What is wrong with the file itself: missing, not a notebook, locked (test) cells edited or deleted."""
    import nbformat

    path = submitted_notebook(student, assignment)
    if not path.exists():
        return [f"no submission: {path.relative_to(work_dir())} is missing"]
    try:
        submitted = nbformat.read(path, 4)
    except Exception as error:  # noqa: BLE001
        return [f"not a readable notebook ({type(error).__name__}: {str(error)[:120]})"]
    released = nbformat.read(released_notebook(assignment, release), 4)
    theirs = {cell.metadata.get("nbgrader", {}).get("grade_id"): cell.source for cell in submitted.cells}
    problems = []
    for cell in released.cells:
        meta = cell.metadata.get("nbgrader", {})
        if meta.get("locked") and meta.get("grade_id"):
            if meta["grade_id"] not in theirs:
                problems.append(f"locked cell {meta['grade_id']} was deleted")
            elif without_hidden_tests(theirs[meta["grade_id"]]) != without_hidden_tests(cell.source):
                problems.append(f"locked cell {meta['grade_id']} was edited (the original was graded)")
    return problems


def without_hidden_tests(source: str) -> str:
    """A test cell as learners see it (what nbgrader's ClearHiddenTests leaves)."""
    from feedback import HIDDEN

    return HIDDEN.sub("", source).strip()


def registered_release(assignment: str) -> Path:
    """The release the gradebook was filled from: the private one when autograde registered it, else notebooks/."""
    private = work_dir() / "release"
    return private if released_notebook(assignment, private).exists() else release_dir()


def maximum_points(assignment: str) -> tuple[float, float]:
    from nbgrader.api import Gradebook

    with Gradebook(gradebook_url(), course_id=COURSE_ID) as gradebook:
        notebook = gradebook.find_notebook(assignment, assignment)
        return notebook.max_code_score, notebook.max_written_score


def run_nbgrader_autograde(student: str, assignment: str, private: Path, threads: int,
                           unsandboxed: bool) -> subprocess.CompletedProcess:
    """The kernel nbgrader starts is the sandboxed one (a `python3` kernelspec first on JUPYTER_PATH); it talks to
    nbgrader over Unix sockets in a private runtime folder, since it has no network."""
    env = {"LORA_COURSE_SANDBOX_THREADS": str(threads), "OMP_NUM_THREADS": str(threads)}
    args = ["autograde", assignment, "--student", student, "--force",
            f"--CourseDirectory.db_url=sqlite:///{private / 'gradebook.db'}"]
    if not unsandboxed:
        runtime = private / sandbox.RUNTIME
        runtime.mkdir()
        env.update(JUPYTER_PATH=str(sandbox.kernelspec(private / "jupyter")), JUPYTER_RUNTIME_DIR=str(runtime))
        args += ["--KernelManager.transport=ipc", f"--KernelManager.connection_file={runtime / 'kernel.json'}"]
    try:
        return nbgrader(*args, env=env, timeout=NOTEBOOK_SECONDS)
    except subprocess.TimeoutExpired as stopped:
        return subprocess.CompletedProcess(stopped.cmd, -9, "", str(stopped.stderr or ""))


def recheck(student: str, assignment: str, points: dict[str, float], threads: int,
            unsandboxed: bool) -> tuple[dict, list[str]]:
    """Run the autograded notebook's cells again in a fresh process (recheck.py) in a fresh copy of the folder.

    Returns {grade_id: score or None if never reached} for every auto-graded test, and the flags it raised."""
    import nbformat

    executed = nbformat.read(autograded_notebook(student, assignment), 4)
    cells = []
    for cell in executed.cells:
        grade_id = cell.metadata.get("nbgrader", {}).get("grade_id")
        if cell.cell_type == "code":
            kind = "test" if grade_id in points else "code"
            cells.append({"kind": kind, "grade_id": grade_id, "points": points.get(grade_id, 0), "source": cell.source})
    token = secrets.token_hex(16)
    request = json.dumps({"token": token, "cells": cells})
    copy = work_dir() / "rechecked" / student / assignment
    shutil.rmtree(copy, ignore_errors=True)
    copy.parent.mkdir(parents=True, exist_ok=True)
    shutil.copytree(work_dir() / "submitted" / student / assignment, copy, symlinks=True)
    argv = [sys.executable, str(GRADER / "recheck.py")]
    if not unsandboxed:
        sandbox.open_to_sandbox(copy)
        argv = sandbox.command(argv, copy, readable=[copy.parent, GRADER / "recheck.py"], threads=threads)
    flags, code = [], None
    # Its output goes to a file, which the sandbox's file-size cap bounds: learner code can write to that channel too.
    with tempfile.TemporaryFile("w+", errors="replace") as stdout, tempfile.TemporaryFile("w+b") as stderr:
        try:
            code = subprocess.run(argv, input=request.encode(), stdout=stdout, stderr=stderr, cwd=copy,
                                  timeout=NOTEBOOK_SECONDS,
                                  preexec_fn=None if unsandboxed else sandbox.limit_resources).returncode
        except subprocess.TimeoutExpired:
            flags.append(f"the re-check ran past {NOTEBOOK_SECONDS} s and was stopped")
        stdout.seek(0)
        lines = [line.rstrip("\n") for line in stdout if line.startswith(token + " ")]
        stderr.seek(max(0, stderr.seek(0, os.SEEK_END) - 200))
        error = stderr.read().decode(errors="replace").strip()
    results = {cell["grade_id"]: None for cell in cells if cell["kind"] == "test"}
    finished = False
    for line in lines:
        try:
            payload = json.loads(line[len(token) + 1:])
        except ValueError:
            flags.append("a garbled line in the re-check's report")
            continue
        if "refused" in payload:
            flags.append(payload["refused"])
        elif "flags" in payload:
            flags += payload["flags"]
            finished = True
        elif results.get(payload.get("grade_id"), 0.0) is None:
            results[payload["grade_id"]] = payload.get("score", 0.0)
        else:
            flags.append(f"the re-check reported {payload.get('grade_id')} twice")
            results[payload.get("grade_id")] = 0.0
    if not finished and code is not None:
        flags.append(f"the re-check stopped early (exit code {code}): sys.exit, os._exit or a crash in learner code"
                     + (f" ({error})" if error else ""))
    return results, flags


def code_points(assignment: str) -> dict[str, float]:
    """The auto-graded test cells of an assignment and their points, as registered in the gradebook."""
    from nbgrader.api import Gradebook

    with Gradebook(gradebook_url(), course_id=COURSE_ID) as gradebook:
        return {cell.name: cell.max_score for cell in gradebook.find_notebook(assignment, assignment).grade_cells
                if cell.cell_type == "code"}


def record(student: str, assignment: str, final: dict[str, float], flags: list[str], kernel: dict | None = None,
           comments: dict | None = None) -> None:
    """Write one submission to the course gradebook (created if new): the scores this process decided on for the
    tests, the kernel's for what a person grades (None: written answers), nbgrader's auto-comments, the flag."""
    from nbgrader.api import Gradebook
    from sqlalchemy.exc import SAWarning

    kernel, comments = kernel or {}, comments or {}
    with Gradebook(gradebook_url(), course_id=COURSE_ID) as gradebook, warnings.catch_warnings():
        warnings.simplefilter("ignore", SAWarning)  # nbgrader's add_submission builds rows before adding them
        gradebook.update_or_create_student(student)
        gradebook.update_or_create_submission(assignment, student)
        notebook = gradebook.find_submission_notebook(assignment, assignment, student)
        for grade in notebook.grades:
            grade.auto_score = final[grade.name] if grade.name in final else kernel.get(grade.name)
            # nbgrader's own rule (SaveAutoGrades): a person looks at it if they scored it before or nothing did
            grade.needs_manual_grade = grade.manual_score is not None or grade.auto_score is None
        for comment in notebook.comments:
            if comment.name in comments:
                comment.auto_comment = comments[comment.name]
        notebook.flagged = bool(flags)
        gradebook.db.commit()
    save_flags(student, assignment, flags)


def gradebook_template() -> Path:
    """The course gradebook without any student: what each grading task copies for nbgrader autograde to write,
    so that nbgrader never writes the course gradebook itself (a worker may be another machine)."""
    from nbgrader.api import Gradebook

    template = work_dir() / "engine" / "gradebook-template.db"
    template.parent.mkdir(parents=True, exist_ok=True)
    scratch = template.with_suffix(".tmp")
    with sqlite3.connect(work_dir() / "gradebook.db") as source, sqlite3.connect(scratch) as copy:
        source.backup(copy)
    with Gradebook(f"sqlite:///{scratch}", course_id=COURSE_ID) as gradebook:
        for student in list(gradebook.students):
            gradebook.remove_student(student.id)
    scratch.replace(template)
    return template


def save_timings(student: str, assignment: str, phases: dict, slowest: list[dict]) -> None:
    path = work_dir() / "timings" / student / f"{assignment}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"phases": {k: round(v, 2) for k, v in phases.items()}, "slowest_cells": slowest},
                               indent=1))


def flags_file(student: str, assignment: str) -> Path:
    return work_dir() / "flags" / student / f"{assignment}.json"


def save_flags(student: str, assignment: str, flags: list[str]) -> None:
    path = flags_file(student, assignment)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(flags, indent=1))


def read_flags(student: str, assignment: str) -> list[str]:
    try:
        return json.loads(flags_file(student, assignment).read_text())
    except (OSError, ValueError):
        return []


def write_grades_csv() -> Path:
    """grades.csv in the grader folder: one row per student and assignment that has been through autograde."""
    path = work_dir() / "grades.csv"
    rows = []
    flagged = work_dir() / "flags"
    for student in sorted({p.name for p in flagged.iterdir()} if flagged.exists() else []):
        for assignment in ASSIGNMENTS:
            if not flags_file(student, assignment).exists():
                continue
            max_auto, max_manual = maximum_points(assignment)
            try:
                auto = read_score(student, assignment).auto
            except Exception:  # noqa: BLE001 - flagged before nbgrader could grade it
                auto = 0.0
            rows.append([student, assignment, f"{auto:g}", f"{max_auto:g}", f"{max_manual:g}",
                         "; ".join(read_flags(student, assignment))])
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["student", "assignment", "auto_score", "max_auto_score", "manual_max", "flags"])
        writer.writerows(rows)
    return path


def read_score(student: str, assignment: str, seconds: float = 0.0) -> Score:
    from nbgrader.api import Gradebook

    with Gradebook(gradebook_url(), course_id=COURSE_ID) as gradebook:
        notebook = gradebook.find_submission_notebook(assignment, assignment, student)
        return Score(assignment, notebook.code_score, notebook.max_code_score, notebook.max_written_score, seconds,
                     student, tuple(read_flags(student, assignment)))


def grades(student: str, assignment: str) -> dict[str, float]:
    """Points per graded cell (grade_id -> score) for one submission."""
    from nbgrader.api import Gradebook

    with Gradebook(gradebook_url(), course_id=COURSE_ID) as gradebook:
        notebook = gradebook.find_submission_notebook(assignment, assignment, student)
        return {grade.name: grade.score for grade in notebook.grades}


def feedback(student: str, assignments=ASSIGNMENTS) -> None:
    for assignment in assignments:
        nbgrader("generate_feedback", assignment, "--student", student, "--force")


def table(scores: list[Score]) -> str:
    lines = [f"{'student':12} {'notebook':24} {'auto-graded':>12} {'written (manual)':>17} {'time':>8}  flags"]
    for s in scores:
        lines.append(f"{s.student[:12]:12} {s.assignment:24} {s.auto:>5g} / {s.max_auto:<5g} "
                     f"{'pending / ' + format(s.max_manual, 'g'):>17} {s.seconds:>6.0f} s  {len(s.flags) or ''}")
    total = sum(s.seconds for s in scores)
    lines.append(f"{'total':37} {sum(s.auto for s in scores):>5g} / {sum(s.max_auto for s in scores):<5g} "
                 f"{'':>17} {total:>6.0f} s")
    return "\n".join(lines)


def reference_problems(student: str, assignments=ASSIGNMENTS) -> list[str]:
    """Why an autograded set of reference solutions falls short: a missed point, or a test cell that wrote to
    stderr (a warning there would show in every learner's feedback, and nbgrader may score the cell 0)."""
    import nbformat

    problems = []
    for assignment in assignments:
        score = read_score(student, assignment)
        if not (score.max_auto > 0 and score.auto == score.max_auto and score.max_manual > 0):
            problems.append(f"{assignment}: {score.auto:g} / {score.max_auto:g} auto-graded points, "
                            f"{score.max_manual:g} manual: {grades(student, assignment)}")
        problems += [f"{assignment}: flagged: {flag}" for flag in read_flags(student, assignment)]
        executed = nbformat.read(work_dir() / "autograded" / student / assignment / f"{assignment}.ipynb", 4)
        for cell in executed.cells:
            nbgrader_meta = cell.metadata.get("nbgrader", {})
            if cell.cell_type == "code" and nbgrader_meta.get("grade"):
                stderr = [o.text for o in cell.outputs if o.output_type == "stream" and o.name == "stderr"]
                if stderr:
                    problems.append(f"{assignment}/{nbgrader_meta['grade_id']} wrote to stderr: {stderr}")
    return problems


def fingerprint() -> str | None:
    """What a demo's result depends on: the files it reads as they are now (tracked or new, not ignored) and the
    installed packages. None outside a git checkout (then nothing is taken as proven)."""
    try:
        listed = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard", "--",
                                 *DEMO_INPUTS], cwd=REPO, capture_output=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return None
    digest = hashlib.sha256()
    for name in sorted(set(filter(None, listed.split(b"\0")))):
        path = REPO / os.fsdecode(name)
        digest.update(name + b"\0" + (hashlib.sha256(path.read_bytes()).digest() if path.is_file() else b"-"))
    digest.update(" ".join(engine.installed_packages()).encode())  # what the cluster's workers are checked against
    return digest.hexdigest()


def proof_path(work: Path | None = None) -> Path:
    return (work or work_dir()) / "demo-proof.json"


def write_proof(student: str, assignments) -> None:
    """Record that the reference solutions passed on exactly this code, so `make test` in the same checkout can
    check the demo's gradebook instead of executing all five notebooks again."""
    proof_path().write_text(json.dumps({"fingerprint": fingerprint(), "student": student,
                                        "assignments": list(assignments)}, indent=1))


def proven_student(assignments, work: Path | None = None) -> str | None:
    """The demo's student whose autograded reference solutions cover `assignments` on the code as it is now."""
    try:
        proof = json.loads(proof_path(work).read_text())
    except (OSError, ValueError):
        return None
    current = fingerprint()
    if current is None or proof.get("fingerprint") != current or not set(assignments) <= set(proof["assignments"]):
        return None
    return proof["student"]


def formgrader(arguments: list[str]) -> NoReturn:
    """JupyterLab for grading written answers, started so the formgrader's links work: nbgrader's config is read
    from this folder, and the server's root holds solutions/, the release and the instructor folder (its Edit and
    Preview links are paths relative to that root; outside it they are 404s).

    This process becomes JupyterLab (exec), so a stop signal reaches the server itself: as a child, it outlived a
    terminated `course.py formgrader` (one orphaned server per formgrader test run)."""
    root = os.path.commonpath([REPO, work_dir().resolve()])
    exchange_dir().mkdir(parents=True, exist_ok=True)  # nbgrader_config.py: c.Exchange.root
    command = [str(Path(sys.executable).with_name("jupyter")), "lab", f"--ServerApp.root_dir={root}", *arguments]
    if os.geteuid() == 0:  # a container or CI runner: Jupyter refuses root unless told
        command.append("--allow-root")
    os.chdir(GRADER)
    os.execv(command[0], command)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("command", choices=("release", "submit", "collect", "autograde", "feedback", "demo",
                                            "formgrader", "grade-task"))
    parser.add_argument("student", nargs="?", help="one student (autograde, feedback: default everyone submitted)")
    parser.add_argument("source", nargs="?", type=Path)
    parser.add_argument("--only", nargs="+", choices=ASSIGNMENTS, default=ASSIGNMENTS, metavar="ASSIGNMENT",
                        help="some of the assignments (default: all five)")
    parser.add_argument("--workers", type=int, default=1,
                        help="submissions graded at once on this machine; they share the cores (default 1)")
    parser.add_argument("--scheduler", default=os.environ.get("SCHEDULER") or None,
                        help="grade on an existing Dask cluster: tcp://host:8786, tls://..., or a scheduler file "
                             "(default: an in-process cluster of --workers slots)")
    parser.add_argument("--insecure", action="store_true", help="allow a remote scheduler without TLS")
    parser.add_argument("--force", action="store_true", help="regrade submissions that have not changed")
    parser.add_argument("--unsandboxed", action="store_true",
                        help="grade without isolation where the sandbox is unavailable (flagged on every row)")
    args, extra = parser.parse_known_args(argv)
    if args.command == "formgrader":
        return formgrader([a for a in [args.student, *extra] if a])
    if args.command == "grade-task":  # what an engine task runs on its worker: one request in, one JSON line out
        print(json.dumps(grade_task(json.load(sys.stdin))))
        return 0
    if extra:
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    assignments = [a for a in ASSIGNMENTS if a in args.only]
    if args.command == "release":
        release(assignments)
    elif args.command == "submit":
        submit(args.student or "reference", args.source or RELEASE_DIR, assignments)
    elif args.command == "collect":
        for student in collect(Path(args.student or "."), assignments):
            print(f"collected {student}")
    elif args.command in ("autograde", "demo"):
        student = args.student
        if args.command == "demo":
            student = student or "reference"
            proof_path().unlink(missing_ok=True)
            submit(student, SOURCE_DIR, assignments)
        try:
            scores = autograde(student, assignments, args.workers, args.unsandboxed, args.scheduler,
                               args.force or args.command == "demo", args.insecure, progress=True)
        except (SandboxUnavailable, engine.EngineRefused) as error:
            print(error, file=sys.stderr)
            return 2
        print(table(scores))
        print(f"\ngradebook: {work_dir() / 'gradebook.db'}; grades: {work_dir() / 'grades.csv'}")
        for score in scores:
            for flag in score.flags:
                print(f"FLAG {score.student}/{score.assignment}: {flag}")
        if args.command == "demo":
            problems = reference_problems(student, assignments)
            if problems:
                print("The reference solutions must get every auto-graded point, silently:", *problems,
                      sep="\n", file=sys.stderr)
                return 1
            write_proof(student, assignments)
    elif args.command == "feedback":
        for student in [args.student] if args.student else students():
            feedback(student, assignments)
            print(f"feedback: {work_dir() / 'feedback' / student}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
