"""The grader's own pieces that need no kernel: collecting zips, the sandbox's command line and clean-up, feedback
without hidden tests, and the re-check harness on a notebook that cheats (run here as a plain process)."""

import json
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
from feedback import HideTestCode  # noqa: E402
from flags import MAX_MESSAGE, Flag  # noqa: E402
from gradebook import as_text  # noqa: E402
from intake import BadStudentName, check_name  # noqa: E402
from pipeline import Submission, read_report, tame_outputs  # noqa: E402

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


def run_recheck(cells: list[dict]) -> tuple[dict, list]:
    token = "t" * 32
    done = subprocess.run([sys.executable, str(REPO / "grader" / "recheck.py")], capture_output=True, text=True,
                          input=json.dumps({"token": token, "cells": cells}))
    lines = [json.loads(line[33:]) for line in done.stdout.splitlines() if line.startswith(token)]
    return {p["grade_id"]: p["score"] for p in lines if "grade_id" in p}, [f for p in lines for f in p.get("flags", [])]


def test_the_recheck_ignores_ipython_hooks_and_undoes_patched_builtins():
    wrap = ("get_ipython().input_transformers_post.append(lambda lines: ['try:\\n'] + ['    ' + l for l in lines]"
            " + ['\\nexcept BaseException:\\n    pass\\n'])")
    cells = [{"kind": "code", "grade_id": None, "points": 0, "source": wrap},
             {"kind": "code", "grade_id": None, "points": 0, "source": "import builtins\nbuiltins.len = lambda x: 3"},
             {"kind": "test", "grade_id": "test_fails", "points": 2, "source": "assert len([1]) == 3"},
             {"kind": "test", "grade_id": "test_passes", "points": 1, "source": "assert len([1]) == 1"},
             {"kind": "test", "grade_id": "test_partial", "points": 4, "source": "1.5"},
             {"kind": "test", "grade_id": "test_stderr", "points": 1,
              "source": "import sys\nprint('warning', file=sys.stderr)"}]
    scores, flags = run_recheck(cells)
    assert scores == {"test_fails": 0.0, "test_passes": 1, "test_partial": 1.5, "test_stderr": 0.0}
    assert {"code": "input-transformer", "message": "an IPython input or AST transformer was installed"} in flags
    assert {"code": "patched-builtins", "message": "patched builtins: len"} in flags


def test_the_recheck_reports_nothing_for_a_notebook_that_exits_early():
    cells = [{"kind": "code", "grade_id": None, "points": 0, "source": "import os\nos._exit(0)"},
             {"kind": "test", "grade_id": "test_a", "points": 1, "source": "pass"}]
    assert run_recheck(cells) == ({}, [])


def test_a_malformed_recheck_report_becomes_flags_not_a_crash():
    lines = ['{"grade_id": "test_a", "score": 2}', "[1, 2]", "not json", '{"grade_id": ["x"], "score": 1}',
             '{"grade_id": "test_zzz", "score": 1}', '{"grade_id": "test_b", "score": "4"}',
             '{"grade_id": "test_a", "score": 2}', '{"refused": {"nested": 1}}',
             '{"flags": [{"code": "trace-hook", "message": "a trace or profile hook was set"}, 7, {"code": 1}]}']
    results, flags, finished = read_report(lines, ["test_a", "test_b", "test_c"])
    assert results == {"test_a": 0.0, "test_b": 0.0, "test_c": None} and finished
    assert [flag.code for flag in flags] == ["recheck-garbled", "recheck-garbled", "recheck-garbled",
                                             "recheck-garbled", "recheck-twice", "recheck-refused", "trace-hook",
                                             "malformed-flag", "malformed-flag"]


def test_flags_are_records_with_a_code():
    flag = Flag("kernel-died", "the kernel died")
    assert Flag.from_json(flag.to_json()) == flag and str(flag) == "kernel-died: the kernel died"
    assert Flag.from_json("a bare string").code == "malformed-flag"
    assert len(Flag.from_json({"code": "x", "message": "m" * 10_000}).message) == MAX_MESSAGE
