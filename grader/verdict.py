"""The re-check: every hidden test again, its expected values and its pass/fail in this process, where no learner code
runs. The learner's code runs in a sandboxed child (learner.py) that only ever returns plain JSON.

nbgrader runs the hidden tests inside the learner's kernel, where learner code can read a test's locals from its
caller's frame, return an object equal to anything, rebind the helpers a test calls or patch the harness. Here a
hidden test (grader/hidden_tests/<assignment>.py) calls the learner's functions through `Learner.call`, gets numbers,
strings, lists and dicts back, and compares them with the reference implementation (the solution notebook's cells,
run here) on inputs it generates: every boundary the text states and `hypothesis` examples. What a test needs from a
training run (the adapter, the trainer's log, the report) it reads from the files the learner's kernel run wrote
(`Files`: regular files only, size-capped, as data) and recomputes what it can from them. A test's score is its points
if it raises nothing, else 0; the lower of this and the kernel's score counts (gradebook.record_result).
"""

import contextlib
import importlib.util
import json
import os
import select
import shutil
import stat
import subprocess
import sys
import tempfile
import time
from functools import cache
from pathlib import Path

import sandbox
from flags import MAX_MESSAGE, Flag
from limits import limits

from lora_course.nbgrader_course import SOURCE_DIR

GRADER = Path(__file__).resolve().parent
MAX_REPLY = 8 << 20
MAX_FILE = 64 << 20
SKIP = "skip"  # a release cell's {"lora_course": {"recheck": "skip"}}: a demonstration no hidden test calls


class LearnerFailed(AssertionError):
    """The learner's code raised, returned something that is not plain data, ran out of time or ended."""


def model(name: str | None = None) -> dict:
    """An argument that stands for the course's base model (or "tiny"), loaded in the learner's process."""
    return {"$model": name}


def learner_global(name: str) -> dict:
    """An argument that stands for one of the notebook's own globals (its tokenizer)."""
    return {"$global": name}


class Learner:
    """The submission's cells in a sandboxed child process, reached only by calls that return plain JSON."""

    def __init__(self, cells: list[str], work: Path, readable: list[Path], threads: int | None, unsandboxed: bool,
                 seconds: float):
        self.work = work
        argv = [sys.executable, str(GRADER / "learner.py")]
        if not unsandboxed:
            sandbox.open_to_sandbox(work)
            argv = sandbox.command(argv, work, readable=[*readable, GRADER / "learner.py"], threads=threads)
        self.deadline, self.call_seconds = time.monotonic() + seconds, limits().call_seconds
        self.process = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                        stderr=subprocess.DEVNULL, cwd=work, start_new_session=True,
                                        preexec_fn=None if unsandboxed else sandbox.limit_resources)
        self.buffer, self.next_id, self.failed_cells = b"", 0, []
        ready = self._send({"cells": cells}, expect=None, seconds=seconds)
        self.failed_cells = [n for n in ready.get("failed_cells", []) if isinstance(n, int)]

    def call(self, function: str, *args, stand_ins: dict | None = None, returns: tuple[str, ...] = (), **kwargs):
        """function(*args, **kwargs) in the learner's process; its value as plain data, or LearnerFailed.
        stand_ins: {helper: {text: value}}, the notebook's helpers answering from these tables during the call;
        returns: the type names the text allows for the value (a numpy integer arrives as a number otherwise)."""
        request = {"call": function, "args": list(args), "kwargs": kwargs, "stand_ins": stand_ins or {}}
        return self._value(request, function, returns)

    def get(self, name: str, *attributes: str):
        """A global of the notebook (and attributes of it) as plain data."""
        return self._value({"get": [name, *attributes]}, ".".join((name, *attributes)))

    def _value(self, request: dict, what: str, returns: tuple[str, ...] = ()):
        self.next_id += 1
        reply = self._send({"id": self.next_id, **request}, expect=self.next_id)
        if "error" in reply or "value" not in reply:
            raise LearnerFailed(f"{what}: {str(reply.get('error', 'no value'))[:200]}")
        if returns and reply.get("type") not in returns:
            raise AssertionError(f"{what} returned a {str(reply.get('type'))[:40]}, not a {' or '.join(returns)}")
        return reply["value"]

    def _send(self, request: dict, expect: int | None, seconds: float | None = None) -> dict:
        try:
            self.process.stdin.write((json.dumps(request) + "\n").encode())
            self.process.stdin.flush()
        except (BrokenPipeError, OSError):
            raise LearnerFailed("the learner's process has ended") from None
        deadline = min(self.deadline, time.monotonic() + (seconds or self.call_seconds))
        while True:  # lines that are not the answer to this request (learner code can write there too) are skipped
            try:
                reply = json.loads(self._line(deadline))
            except ValueError:
                continue
            if isinstance(reply, dict) and (reply.get("id") == expect if expect else reply.get("ready") is True):
                return reply

    def _line(self, deadline: float) -> bytes:
        stdout = self.process.stdout.fileno()
        while b"\n" not in self.buffer:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([stdout], [], [], left)[0]:
                self.close()
                raise LearnerFailed("the re-check ran out of time")
            chunk = os.read(stdout, 1 << 16)
            if not chunk:
                raise LearnerFailed("the learner's process has ended")
            self.buffer += chunk
            if len(self.buffer) > MAX_REPLY:
                self.close()
                raise LearnerFailed("a reply larger than 8 MB")
        line, _, self.buffer = self.buffer.partition(b"\n")
        return line

    def close(self) -> None:
        if self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, 9)
            self.process.wait()
        for stream in (self.process.stdin, self.process.stdout):
            with contextlib.suppress(OSError):
                stream.close()


class Files:
    """The files a student's kernel runs wrote (autograded/<student>/), read as data: regular files only, no link
    anywhere on the path, at most 64 MB each. Paths are relative to the assignment's folder ("../02_…/x" reaches
    an earlier exercise)."""

    def __init__(self, student_folder: Path, assignment: str):
        self.root, self.assignment = student_folder, assignment

    def path(self, relative: str) -> Path:
        parts = Path(os.path.normpath(Path(self.assignment) / relative)).parts
        if not parts or parts[0] == ".." or Path(*parts).is_absolute():
            raise AssertionError(f"{relative}: outside the student's folder")
        current = self.root
        for part in parts:
            current = current / part
            mode = current.lstat().st_mode if os.path.lexists(current) else None
            if mode is None:
                raise AssertionError(f"{relative}: no such file (written by your notebook's run?)")
            if stat.S_ISLNK(mode):
                raise AssertionError(f"{relative}: a link, not read")
        if not stat.S_ISREG(mode) or current.lstat().st_size > MAX_FILE:
            raise AssertionError(f"{relative}: not a regular file of at most 64 MB")
        return current

    def exists(self, relative: str) -> bool:
        try:
            self.path(relative)
        except (AssertionError, OSError):
            return False
        return True

    def text(self, relative: str) -> str:
        return self.path(relative).read_text(encoding="utf-8")

    def json(self, relative: str):
        return json.loads(self.text(relative))


def load_adapter(files, folder: str):
    """The learner's adapter, from private copies of its two files (config as data, weights as safetensors)."""
    from peft import PeftModel

    from lora_course.models import load_base_model

    private = Path(tempfile.mkdtemp(prefix="lora-adapter-"))
    try:
        for name in ("adapter_config.json", "adapter_model.safetensors"):
            shutil.copyfile(files.path(f"{folder}/{name}"), private / name)
        base, tokenizer = load_base_model()
        model = PeftModel.from_pretrained(base, private)
    finally:
        shutil.rmtree(private, ignore_errors=True)
    model.eval()
    return model, tokenizer


@cache
def reference(assignment: str, *grade_ids: str) -> dict:
    """The solution notebook's cells with these grade ids, run here (never in a learner's process): the reference
    implementation a hidden test compares with. Cells run in order with the notebook's first (imports) cell before."""
    import nbformat

    cells = [cell for cell in nbformat.read(SOURCE_DIR / assignment / f"{assignment}.ipynb", 4).cells
             if cell.cell_type == "code"]
    chosen = [cells[0]] + [cell for cell in cells if cell.metadata.get("nbgrader", {}).get("grade_id") in grade_ids]
    namespace: dict = {"__name__": "reference"}
    with contextlib.redirect_stdout(sys.stderr):
        for cell in chosen:
            exec(compile(cell.source, f"<reference {assignment}>", "exec"), namespace)
    return namespace


def differential(strategy, check, examples: int = 60) -> None:
    """check(value) for `examples` values drawn from a hypothesis strategy, the same ones for every student."""
    from hypothesis import HealthCheck, Phase, given, settings

    @settings(max_examples=examples, derandomize=True, database=None, deadline=None, print_blob=False,
              phases=[Phase.explicit, Phase.generate], suppress_health_check=list(HealthCheck))
    @given(strategy)
    def run(value):
        check(value)

    run()


def hidden_tests(assignment: str):
    """grader/hidden_tests/<assignment without its number>.py: RUN_UNTIL and TESTS {grade_id: test(learner, files)}."""
    path = GRADER / "hidden_tests" / f"{assignment.split('_', 1)[1]}.py"
    spec = importlib.util.spec_from_file_location(f"hidden_tests.{path.stem}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def cells_to_run(notebook: Path, release: Path, run_until: str) -> list[str]:
    """The submission's code cells up to the one with grade id `run_until`, less its test cells and the release's
    demonstrations marked skip (matched on their source: an edited demonstration runs)."""
    import nbformat

    skipped = {cell.source for cell in nbformat.read(release, 4).cells
               if cell.metadata.get("lora_course", {}).get("recheck") == SKIP}
    cells = []
    for cell in nbformat.read(notebook, 4).cells:
        grader = cell.metadata.get("nbgrader", {})
        if cell.cell_type != "code" or cell.source in skipped or (grader.get("grade") and not grader.get("solution")):
            continue
        cells.append(cell.source)
        if grader.get("grade_id") == run_until:
            break
    return cells


def recheck(submission, points: dict[str, float], release: Path, threads: int | None,
            unsandboxed: bool) -> tuple[dict, dict, list[Flag]]:
    """Every test in `points` scored here: ({grade_id: score}, {grade_id: why it failed}, flags)."""
    if threads:  # this process measures too (perplexities, an adapter's answers): one slot's share of the cores
        import torch

        torch.set_num_threads(threads)
    module = hidden_tests(submission.assignment)
    copy = submission.folder("rechecked")
    shutil.rmtree(copy, ignore_errors=True)
    copy.parent.mkdir(parents=True, exist_ok=True)
    shutil.copytree(submission.folder("submitted"), copy, symlinks=True)
    sandbox.remove_special_files(copy)
    cells = cells_to_run(submission.submitted, release, module.RUN_UNTIL)
    files = Files(submission.folder("autograded").parent, submission.assignment)
    scores, failures, flags, learner = dict.fromkeys(points, 0.0), {}, [], None
    try:
        learner = Learner(cells, copy, [copy.parent], threads, unsandboxed, limits().notebook_seconds)
        with contextlib.redirect_stdout(sys.stderr):  # hypothesis reports; the worker's stdout is its one JSON line
            for grade_id in points:
                test = module.TESTS.get(grade_id)
                if test is None:
                    failures[grade_id] = "no hidden test in grader/hidden_tests for this cell"
                    continue
                try:
                    test(learner, files)
                    scores[grade_id] = float(points[grade_id])
                except Exception as error:  # noqa: BLE001 - a failed check, a learner error, a bad file: 0 points
                    failures[grade_id] = f"{type(error).__name__}: {error}"[:MAX_MESSAGE]
    except LearnerFailed as error:
        flags.append(Flag("recheck-stopped", str(error)[:MAX_MESSAGE]))
    finally:
        if learner is not None:
            learner.close()
    return scores, failures, flags
