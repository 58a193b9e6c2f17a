"""The grader's own pieces that need no kernel: collecting zips, the sandbox's command line and clean-up, feedback
without hidden tests, and the re-check's learner process on code that cheats."""

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import nbformat
import pytest

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "grader"))
import course  # noqa: E402
import sandbox  # noqa: E402
import verdict  # noqa: E402
from feedback import HideTestCode  # noqa: E402
from flags import MAX_MESSAGE, Flag  # noqa: E402
from gradebook import as_text  # noqa: E402
from intake import BadStudentName, check_name  # noqa: E402
from pipeline import Submission, tame_outputs  # noqa: E402

from lora_course import nbgrader_course  # noqa: E402

NOTEBOOK = "01_dataset_preparation"


def test_collect_takes_only_the_assignment_notebooks_out_of_each_zip(tmp_path, monkeypatch):
    monkeypatch.setenv("LORA_COURSE_GRADER_DIR", str(tmp_path / "work"))
    zips = tmp_path / "zips"
    zips.mkdir()
    with zipfile.ZipFile(zips / "alice.zip", "w") as archive:
        archive.writestr(f"handout/notebooks/{NOTEBOOK}/{NOTEBOOK}.ipynb", "{}")
        archive.writestr("../../escape.txt", "outside")
        archive.writestr(f"../{NOTEBOOK}.py", "not a notebook")
    (zips / "bob.zip").write_text("not a zip")
    for bad in ("=cmd|calc", "a,b", "*", "..", "new\nline", "x" * 65):
        with zipfile.ZipFile(zips / f"{bad}.zip", "w") as archive:
            archive.writestr(f"{NOTEBOOK}/{NOTEBOOK}.ipynb", "{}")
    assert course.collect(zips, [NOTEBOOK]) == ["alice"]
    assert Submission("alice", NOTEBOOK).submitted.read_text() == "{}"
    written = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*") if p.is_file())
    assert [path for path in written if not path.is_relative_to("zips")] == \
        [Path("work/submitted/alice") / NOTEBOOK / f"{NOTEBOOK}.ipynb"]


def test_student_names_are_checked_where_they_enter():
    for good in ("alice", "a.b-c_d", "ada@uni.edu", "x" * 64):
        assert check_name(good) == good
    for bad in ("=HYPERLINK(1)", "-x", "a b", "a,b", "a*", "..", ".hidden", "a/b", "x" * 65, ""):
        with pytest.raises(BadStudentName, match="letters, digits"):
            check_name(bad)


def test_grades_csv_cells_are_never_formulas():
    assert [as_text(cell) for cell in ("=HYPERLINK(\"x\")", "+1", "-1", "@SUM(A1)", "\tx", "ok", "10")] == \
        ["'=HYPERLINK(\"x\")", "'+1", "'-1", "'@SUM(A1)", "'\tx", "ok", "10"]
    assert Flag.from_json({"code": "=HYPERLINK(1)", "message": "m"}).code == "malformed-flag"


def test_a_lower_hard_memory_limit_is_refused_with_a_message_not_a_traceback():
    probe = (f"import resource, sys; sys.path.insert(0, {str(REPO / 'grader')!r})\n"
             "resource.setrlimit(resource.RLIMIT_AS, (4 << 30, 4 << 30))\n"
             "import limits, sandbox, release\n"
             "sandbox.limit_resources(); release.limit_own_memory()\n"
             "print(resource.getrlimit(resource.RLIMIT_AS)[1] >> 30, limits.memory_shortfall())\n")
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=False)
    assert done.returncode == 0 and done.stdout.startswith("4 this shell's hard address-space limit"), done.stderr


def test_the_sandbox_sees_no_network_no_instructor_files_and_runs_as_nobody(tmp_path):
    assert sandbox.unavailable_reason() is None
    work = tmp_path / "work"
    work.mkdir()
    sandbox.open_to_sandbox(work)
    solutions, data, git = str(REPO / "solutions"), str(REPO / "data" / "techco_support.jsonl"), str(REPO / ".git")
    probe = (f"import os, socket; print(os.getuid(), os.path.exists({solutions!r}), os.path.exists({data!r}), "
             f"os.path.exists({git!r})); "
             "open('made.txt', 'w').write('x'); socket.create_connection(('127.0.0.1', 9), timeout=2)")
    done = subprocess.run(sandbox.command([sys.executable, "-c", probe], work), capture_output=True, text=True,
                          preexec_fn=sandbox.limit_resources)
    assert done.stdout.split() == ["65534", "False", "True", "False"], done.stderr
    assert "ConnectionRefusedError" in done.stderr or "Network is unreachable" in done.stderr
    assert (work / "made.txt").read_text() == "x"


def test_the_kernel_and_the_recheck_see_the_same_graded_run_mark(tmp_path, monkeypatch):
    """Demonstration cells shrink when graded (lora_course.grading.graded_run): the sandbox, which clears the
    environment, passes nbgrader's mark to the kernel, and the re-check, started without it, gets the same value."""
    def mark_inside() -> str:
        probe = [sys.executable, "-c", "import os; print(os.environ.get('NBGRADER_EXECUTION'))"]
        return subprocess.run(sandbox.command(probe, tmp_path), capture_output=True, text=True).stdout.strip()

    monkeypatch.setenv("NBGRADER_EXECUTION", "validate")
    assert mark_inside() == "validate"
    monkeypatch.delenv("NBGRADER_EXECUTION")
    assert mark_inside() == "autograde"


def test_links_and_special_files_left_by_learner_code_are_removed(tmp_path):
    (tmp_path / "outputs").mkdir()
    (tmp_path / "outputs" / "adapter.bin").write_bytes(b"weights")
    (tmp_path / "shadow").symlink_to("/etc/shadow")
    (tmp_path / "outputs" / "up").symlink_to(tmp_path.parent, target_is_directory=True)
    os.mkfifo(tmp_path / "pipe")
    sandbox.remove_special_files(tmp_path)
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["adapter.bin", "outputs"]


def test_feedback_names_the_failed_check_and_its_hint_but_not_the_hidden_code():
    cell = nbformat.v4.new_code_cell(
        "assert f(1) == 1\n### BEGIN HIDDEN TESTS\nassert f(2) == 4, 'f must square'\n### END HIDDEN TESTS\n",
        metadata={"nbgrader": {"grade": True, "solution": False, "grade_id": "test_f", "points": 2}})
    cell.outputs = [nbformat.v4.new_output("error", ename="AssertionError", evalue="f must square",
                                           traceback=["----> 3 assert f(2) == 4, 'f must square'"])]
    leak = nbformat.v4.new_code_cell("print(get_ipython().user_ns['In'][-2])")  # learner code quoting the test
    quoted = "assert f(2) == 4, 'f must square'"
    leak.outputs = [nbformat.v4.new_output("stream", name="stdout", text=f"mine\n{quoted}\n"),
                    nbformat.v4.new_output("display_data", data={"text/plain": f"x = {quoted}"})]
    notebook, _ = HideTestCode().preprocess(nbformat.v4.new_notebook(cells=[leak, cell]), {})
    leak, cell = notebook.cells
    assert "f(2)" not in cell.source and "assert f(1) == 1" in cell.source
    assert cell.outputs[0].traceback == ["test_f failed: AssertionError: f must square"]
    assert leak.outputs[0].text == "mine\n[a line of a hidden test: not shown]\n"
    assert leak.outputs[1].data["text/plain"] == "[a line of a hidden test: not shown]"


def test_executed_notebooks_show_learner_html_and_scripts_as_text(tmp_path):
    """What the formgrader and feedback render: no learner HTML, script or SVG runs in the instructor's browser."""
    from nbconvert import HTMLExporter

    payload = "<script>alert('grader')</script>"
    answer = nbformat.v4.new_markdown_cell(f"My answer {payload} <img src=x onerror=alert(1)>")
    raw = nbformat.v4.new_raw_cell(payload, metadata={"raw_mimetype": "text/html"})
    code = nbformat.v4.new_code_cell("display(...)")
    code.outputs = [nbformat.v4.new_output("display_data", data={"text/html": payload, "text/plain": "<HTML>"}),
                    nbformat.v4.new_output("display_data", data={"application/javascript": "alert('js')"}),
                    nbformat.v4.new_output("display_data", data={"text/markdown": f"# report {payload}"}),
                    nbformat.v4.new_output("display_data", data={"image/svg+xml": f"<svg>{payload}</svg>"}),
                    nbformat.v4.new_output("display_data", data={"image/png": "iVBORw0KGgo="})]
    path = tmp_path / "executed.ipynb"
    nbformat.write(nbformat.v4.new_notebook(cells=[answer, raw, code]), path)
    assert tame_outputs(path) == []
    tamed = nbformat.read(path, 4)
    assert [sorted(output.data) for output in tamed.cells[2].outputs] == [["text/plain"]] * 4 + [["image/png"]]
    assert tamed.cells[2].outputs[2].data["text/plain"] == f"# report {payload}"  # the report, as text
    html, _ = HTMLExporter(template_name="classic").from_filename(str(path))
    assert "alert(" in html and "<script>alert" not in html and "<img src=x" not in html and "<svg>" not in html


def learner(tmp_path, *cells: str) -> "verdict.Learner":
    return verdict.Learner(list(cells), tmp_path, [], threads=1, unsandboxed=False, seconds=60)


def test_learner_code_reaches_the_verdict_only_as_plain_data(tmp_path):
    """What a strong student tried inside one process, and what each becomes when only JSON crosses."""
    child = learner(tmp_path, """
import sys
class Anything:
    def __eq__(self, other):
        return True
class Float(float):
    def __eq__(self, other):
        return True
def anything():
    return Anything()
def float_subclass():
    return Float(2.5)
def callers_locals():
    frame, seen = sys._getframe(1), []
    while frame is not None:
        seen += [name for name in frame.f_locals if name in ("want", "expected")]
        frame = frame.f_back
    return seen
def square(x):
    return x * x
def numpy_int():
    import numpy
    return numpy.int64(2)
def patch_harness():
    frame = sys._getframe()
    while "plain" not in frame.f_globals:  # up to the harness that called this function
        frame = frame.f_back
    frame.f_globals["plain"] = lambda value, depth=0: 9  # the harness's own function, patched
""", "raise SystemExit  # a failing cell is noted and the rest still runs",
                    "%config InlineBackend.figure_format = 'png'\n"
                    "shown = display is not None and get_ipython() is not None")
    try:
        assert child.failed_cells == [1] and child.get("shown") is True  # magics and IPython's names work
        with pytest.raises(verdict.LearnerFailed, match="not plain data"):
            child.call("anything")
        value = child.call("float_subclass")
        assert type(value) is float and value == 2.5 and value != 3.0
        assert child.call("numpy_int") == 2  # a number as data, and its type's name for a text that demands one
        with pytest.raises(AssertionError, match="returned a int64, not a int"):
            child.call("numpy_int", returns=("int", "NoneType"))
        want = expected = 16  # noqa: F841 - what a frame-reading function would look for
        assert child.call("callers_locals") == []
        child.call("patch_harness")
        assert child.call("square", 4) == 9  # a patched harness changes the answer, never what a right one is
    finally:
        child.close()


def test_the_learner_process_is_sandboxed_and_stopped_when_it_runs_out_of_time(tmp_path):
    child = learner(tmp_path, "import os, socket\ndef whoami():\n    return os.getuid()\n"
                              "def forever():\n    while True:\n        pass\n")
    child.call_seconds = 5
    try:
        assert child.call("whoami") == sandbox.NOBODY
        with pytest.raises(verdict.LearnerFailed, match="out of time"):
            child.call("forever")
        assert child.process.poll() is not None
    finally:
        child.close()


def test_files_from_the_learners_run_are_read_only_when_regular_and_inside(tmp_path):
    folder = tmp_path / "alice" / NOTEBOOK
    (folder / "outputs").mkdir(parents=True)
    (folder / "outputs" / "run.json").write_text('{"loss": 1}')
    (folder / "link.json").symlink_to(folder / "outputs" / "run.json")
    (folder / "linked").symlink_to(folder / "outputs", target_is_directory=True)
    os.mkfifo(folder / "pipe")
    (tmp_path / "alice" / "02_lora_fine_tuning").mkdir()
    (tmp_path / "alice" / "02_lora_fine_tuning" / "x.txt").write_text("earlier exercise")
    files = verdict.Files(tmp_path / "alice", NOTEBOOK)
    assert files.json("outputs/run.json") == {"loss": 1}
    assert files.text("../02_lora_fine_tuning/x.txt") == "earlier exercise"
    for bad in ("link.json", "linked/run.json", "pipe", "../../etc/passwd", "missing.json", "outputs"):
        with pytest.raises(AssertionError):
            files.path(bad)
        assert not files.exists(bad)


def test_the_learner_runs_its_cells_up_to_the_graded_functions_without_tests_or_marked_demonstrations(tmp_path):
    def cell(source, **nbgrader):
        return nbformat.v4.new_code_cell(source, metadata={"nbgrader": nbgrader} if nbgrader else {})

    demo = cell("train_for_an_hour()")
    demo.metadata["lora_course"] = {"recheck": verdict.SKIP}
    release = nbformat.v4.new_notebook(cells=[cell("import json"), demo, cell("def f(): ...", grade_id="impl_f",
                                                                               solution=True)])
    theirs = nbformat.v4.new_notebook(cells=[
        cell("import json"), cell("train_for_an_hour()"), cell("helper = 1"),
        cell("def f(): return helper", grade_id="impl_f", solution=True),
        cell("assert f() == 1", grade_id="test_f", grade=True, points=1), cell("after = 1")])
    for name, notebook in (("release.ipynb", release), ("theirs.ipynb", theirs)):
        nbformat.write(notebook, tmp_path / name)
    assert verdict.cells_to_run(tmp_path / "theirs.ipynb", tmp_path / "release.ipynb", "impl_f") == [
        "import json", "helper = 1", "def f(): return helper"]


@pytest.mark.parametrize("assignment", nbgrader_course.ASSIGNMENTS)
def test_every_graded_test_has_its_hidden_test_outside_the_learners_process(assignment):
    from gradebook import code_points

    module = verdict.hidden_tests(assignment)
    assert set(module.TESTS) == set(code_points([assignment])[assignment])
    release = nbformat.read(REPO / "notebooks" / assignment / f"{assignment}.ipynb", 4)
    assert module.RUN_UNTIL in {c.metadata.get("nbgrader", {}).get("grade_id") for c in release.cells}


def test_flags_are_records_with_a_code():
    flag = Flag("kernel-died", "the kernel died")
    assert Flag.from_json(flag.to_json()) == flag and str(flag) == "kernel-died: the kernel died"
    assert Flag.from_json("a bare string").code == "malformed-flag"
    assert len(Flag.from_json({"code": "x", "message": "m" * 10_000}).message) == MAX_MESSAGE
