"""One submission through grading, on the worker that grades it: checks on the file, nbgrader autograde with the
kernel in the sandbox against a private gradebook, then the re-check outside that kernel. The result is plain
JSON (`grade_task`); only the instructor's process writes the course gradebook (gradebook.record_result).

    python grader/course.py grade-task < request.json   # what an engine task runs; prints one JSON line
"""

import hashlib
import os
import re
import shutil
import stat
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import sandbox
import verdict
from feedback import HIDDEN
from flags import Flag
from limits import limits, memory_shortfall
from release import nbgrader, released_notebook

from lora_course.nbgrader_course import ASSIGNMENTS, COURSE_ID, GRADER_DIR_ENV, work_dir

GRADER = Path(__file__).resolve().parent


@dataclass(frozen=True)
class Submission:
    """A student's notebook for one assignment and every file grading keeps about it in the instructor folder."""
    student: str
    assignment: str
    work: Path = field(default_factory=work_dir)

    def folder(self, stage: str) -> Path:
        """submitted/, autograded/ (nbgrader's executed copy), rechecked/ (the re-check's), feedback/."""
        return self.work / stage / self.student / self.assignment

    @property
    def submitted(self) -> Path:
        return self.folder("submitted") / f"{self.assignment}.ipynb"

    @property
    def autograded(self) -> Path:
        return self.folder("autograded") / f"{self.assignment}.ipynb"

    def record(self, kind: str) -> Path:
        """flags/, timings/ and engine/results/ (the cache key), one JSON file per submission."""
        return self.work / kind / self.student / f"{self.assignment}.json"

    def cache_key(self, environment: str | None, unsandboxed: bool) -> str | None:
        """What a grade depends on: this and the student's earlier notebooks (exercise 3 reads exercise 2's run),
        the course and packages it was graded with (release.fingerprint), and whether it ran in the sandbox.
        None: never reused."""
        if environment is None:
            return None
        digest = hashlib.sha256(f"{environment} {unsandboxed}".encode())
        for earlier in ASSIGNMENTS[:ASSIGNMENTS.index(self.assignment) + 1]:
            path = Submission(self.student, earlier, self.work).submitted
            digest.update(earlier.encode() + (hashlib.sha256(path.read_bytes()).digest() if path.is_file() else b"-"))
        return digest.hexdigest()


def task_request(submission: Submission, tests: dict[str, float], release: Path, template: Path,
                 threads: int | None, unsandboxed: bool) -> dict:
    """Everything a worker needs to grade one submission, as plain JSON: it never opens the course's gradebook."""
    return {"student": submission.student, "assignment": submission.assignment, "threads": threads,
            "unsandboxed": unsandboxed, "course_py": str(GRADER / "course.py"), "work": str(submission.work),
            "release": str(release), "tests": tests, "template": str(template)}


def grade_task(request: dict) -> dict:
    """Worker side (this machine, or a Dask worker that sees the same instructor folder): nbgrader autograde with the
    kernel in the sandbox, against a private copy of the gradebook, then the re-check outside that kernel.

    Returns plain JSON: each test's score in the kernel and in the re-check, the written answers' auto-comments,
    the flags and the phase timings."""
    started = time.perf_counter()
    os.environ[GRADER_DIR_ENV] = request["work"]
    os.environ["NBGRADER_EXECUTION"] = "autograde"  # as nbgrader sets it for the kernel: the re-check runs the same
    submission = Submission(request["student"], request["assignment"], Path(request["work"]))
    threads, unsandboxed, tests = request["threads"], request["unsandboxed"], request["tests"]
    result = {"student": submission.student, "assignment": submission.assignment,
              "cache_key": request.get("cache_key"), "kernel": {}, "rechecked": dict.fromkeys(tests, 0.0),
              "comments": {}, "flags": [], "timings": {}, "slowest_cells": []}
    flags = submission_problems(submission, Path(request["release"]))
    if unsandboxed:
        flags.append(Flag("unsandboxed", "graded without the sandbox (--unsandboxed)"))
    elif shortfall := memory_shortfall():  # a cluster's worker with a lower hard limit than this machine's
        flags.append(Flag("memory-shortfall", shortfall))

    def finish() -> dict:
        result["flags"] = [flag.to_json() for flag in flags]
        return result

    if flags and not notebook_is_readable(submission.submitted):
        result["timings"]["prepare"] = time.perf_counter() - started
        return finish()
    submission.autograded.unlink(missing_ok=True)
    with tempfile.TemporaryDirectory(prefix=sandbox.PRIVATE_PREFIX) as private:
        private_gradebook = Path(private) / "gradebook.db"
        shutil.copyfile(request["template"], private_gradebook)
        result["timings"]["prepare"] = time.perf_counter() - started
        phase = time.perf_counter()
        done = run_nbgrader_autograde(submission, Path(private), threads, unsandboxed)
        copy_back(Path(private) / sandbox.SCRATCH, submission.folder("autograded"))
        result["timings"]["kernel"] = time.perf_counter() - phase
        try:
            result["kernel"], result["comments"] = kernel_results(f"sqlite:///{private_gradebook}", submission)
        except Exception:  # noqa: BLE001 - no submission row: nbgrader failed before grading
            flags.append(Flag("nbgrader-failed", f"nbgrader could not grade it: {(done.stderr or '')[-300:].strip()}"))
            return finish()
    if submission.autograded.is_symlink() or (submission.autograded.exists() and not submission.autograded.is_file()):
        flags.append(Flag("notebook-replaced", "the executed notebook's path holds a link or a special file: "
                                               "not read, removed"))
        submission.autograded.unlink()
    flags += kernel_run_problems(submission, done)
    if submission.autograded.exists():
        result["slowest_cells"] = slowest_cells(submission.autograded)
        if any(result["kernel"].get(grade_id) for grade_id in tests):
            phase = time.perf_counter()
            release = released_notebook(submission.assignment, Path(request["release"]))
            result["rechecked"], result["recheck_failures"], recheck_flags = verdict.recheck(
                submission, tests, release, threads, unsandboxed)
            result["timings"]["recheck"] = time.perf_counter() - phase
            flags += recheck_flags
        # else: no point to verify: the lower of the two scores is 0 whatever the re-check says
    for stage in ("autograded", "rechecked"):
        sandbox.remove_special_files(submission.folder(stage))
    return finish()


def copy_back(scratch: Path, folder: Path) -> None:
    """What the sandboxed kernel wrote (its scratch folder) into the submission's autograded folder, where the same
    student's next exercise reads it: folders and regular files only, never a link or a special file, and never over
    what nbgrader wrote (the executed notebook)."""
    if not scratch.is_dir() or not folder.is_dir():  # unsandboxed, or nbgrader removed a failed run's folder
        return
    for root, folders, files in os.walk(scratch):
        target = folder / Path(root).relative_to(scratch)
        for name in folders:
            if not (Path(root) / name).is_symlink() and not (target / name).exists():
                (target / name).mkdir()
        for name in files:
            source, destination = Path(root) / name, target / name
            if destination.exists() or destination.is_symlink() or not stat.S_ISREG(source.lstat().st_mode):
                continue
            try:
                with open(os.open(source, os.O_RDONLY | os.O_NOFOLLOW), "rb") as reading, \
                        open(os.open(destination, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644),
                             "wb") as writing:
                    shutil.copyfileobj(reading, writing)
            except OSError:  # a name that is a folder on one side and a file on the other: not copied
                continue


def kernel_run_problems(submission: Submission, done: subprocess.CompletedProcess) -> list[Flag]:
    """What went wrong in nbgrader's run, read from its exit and the executed notebook (cut if it floods)."""
    stderr, problems = done.stderr or "", []
    if done.returncode == -9:
        problems.append(Flag("notebook-timeout",
                             f"the notebook ran past {limits().notebook_seconds} s and was stopped"))
    if submission.autograded.exists():
        return problems + tame_outputs(submission.autograded)
    if re.search(r"DeadKernel|Kernel died", stderr):
        problems.append(Flag("kernel-died", "the kernel died (os._exit, a crash, or the memory cap): "
                                            "no executed notebook"))
    elif "Timeout waiting" in stderr:
        problems.append(Flag("cell-timeout", f"a cell ran past {limits().cell_seconds} s: no executed notebook"))
    else:
        problems.append(Flag("not-executed", f"nbgrader wrote no executed notebook: {stderr[-200:].strip()}"))
    return problems


def kernel_results(url: str, submission: Submission) -> tuple[dict, dict]:
    """What nbgrader's autograde wrote to a (private) gradebook: auto scores per graded cell, auto-comments."""
    from nbgrader.api import Gradebook

    with Gradebook(url, course_id=COURSE_ID) as gradebook:
        notebook = gradebook.find_submission_notebook(submission.assignment, submission.assignment,
                                                      submission.student)
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


ACTIVE = ("text/html", "application/javascript", "text/javascript", "image/svg+xml", "text/markdown")
HTML_TAG = re.compile(r"<\s*[A-Za-z!/?]")


def tame_outputs(path: Path) -> list[Flag]:
    """Make the executed notebook safe for the instructor's browser and every reader after it, in one rewrite:
    outputs over the size limit are cut (nbgrader limits lines, not characters); outputs that a browser would run
    or render as HTML (HTML, JavaScript, SVG, Markdown) become text; HTML tags in Markdown cells (the written
    answers) are shown, not rendered; raw cells lose the format that would paste them into the page verbatim."""
    import nbformat

    most = limits().output_kb << 10
    notebook, cut, changed = nbformat.read(path, 4), 0, False
    for cell in notebook.cells:
        if cell.cell_type == "markdown" and HTML_TAG.search(cell.source):
            cell.source, changed = cell.source.replace("<", "&lt;"), True
        elif cell.cell_type == "raw" and {"format", "raw_mimetype"} & set(cell.metadata):
            cell.metadata.pop("format", None), cell.metadata.pop("raw_mimetype", None)
            changed = True
        for output in cell.get("outputs", []):
            data = output.get("data", {})
            if active := [mime for mime in ACTIVE if mime in data]:
                text = next(data[mime] for mime in ("text/markdown", "text/plain", *active) if mime in data)
                for mime in active:
                    del data[mime]
                data["text/plain"], changed = text, True
            for holder, key in [(output, "text"), *[(data, mime) for mime in data]]:
                value = holder.get(key)
                if isinstance(value, str) and len(value) > most:
                    cut += len(value)
                    holder[key] = value[:most] + f"\n[... output cut by the grader: {len(value):,} characters]"
    if changed or cut:
        path.chmod(0o644)
        nbformat.write(notebook, path)
    return [Flag("output-cut", f"{cut / 1e6:.1f} MB over the {limits().output_kb} KB limit per output")] if cut else []


def notebook_is_readable(path: Path) -> bool:
    import nbformat

    try:
        nbformat.read(path, 4)
        return True
    except Exception:  # noqa: BLE001 - missing, not JSON, not a notebook: all mean "nothing to run"
        return False


def submission_problems(submission: Submission, release: Path) -> list[Flag]:
    """What is wrong with the file itself: missing, not a notebook, locked (test) cells edited or deleted."""
    import nbformat

    if not submission.submitted.exists():
        return [Flag("no-submission", f"{submission.submitted.relative_to(submission.work)} is missing")]
    try:
        submitted = nbformat.read(submission.submitted, 4)
    except Exception as error:  # noqa: BLE001
        return [Flag("unreadable", f"not a readable notebook ({type(error).__name__}: {str(error)[:120]})")]
    released = nbformat.read(released_notebook(submission.assignment, release), 4)
    theirs = {cell.metadata.get("nbgrader", {}).get("grade_id"): cell.source for cell in submitted.cells}
    problems = []
    for cell in released.cells:
        meta = cell.metadata.get("nbgrader", {})
        if meta.get("locked") and meta.get("grade_id"):
            if meta["grade_id"] not in theirs:
                problems.append(Flag("locked-cell-deleted", f"locked cell {meta['grade_id']} was deleted"))
            elif without_hidden_tests(theirs[meta["grade_id"]]) != without_hidden_tests(cell.source):
                problems.append(Flag("locked-cell-edited",
                                     f"locked cell {meta['grade_id']} was edited (the original was graded)"))
    return problems


def without_hidden_tests(source: str) -> str:
    """A test cell as learners see it (what nbgrader's ClearHiddenTests leaves)."""
    return HIDDEN.sub("", source).strip()


def run_nbgrader_autograde(submission: Submission, private: Path, threads: int,
                           unsandboxed: bool) -> subprocess.CompletedProcess:
    """The kernel nbgrader starts is the sandboxed one (a `python3` kernelspec first on JUPYTER_PATH); it talks to
    nbgrader over Unix sockets in a private runtime folder, since it has no network."""
    env = {"LORA_COURSE_SANDBOX_THREADS": str(threads), "OMP_NUM_THREADS": str(threads)}
    args = ["autograde", submission.assignment, "--student", submission.student, "--force",
            f"--CourseDirectory.db_url=sqlite:///{private / 'gradebook.db'}"]
    if not unsandboxed:
        runtime = private / sandbox.RUNTIME
        runtime.mkdir()
        env.update(JUPYTER_PATH=str(sandbox.kernelspec(private / "jupyter")), JUPYTER_RUNTIME_DIR=str(runtime))
        args += ["--KernelManager.transport=ipc", f"--KernelManager.connection_file={runtime / 'kernel.json'}"]
    try:
        return nbgrader(*args, env=env, timeout=limits().notebook_seconds)
    except subprocess.TimeoutExpired as stopped:
        return subprocess.CompletedProcess(stopped.cmd, -9, "", str(stopped.stderr or ""))
