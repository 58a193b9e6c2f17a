"""Submissions that try to cheat or break the grader, graded as a class with the real grader (sandbox, nbgrader,
re-check) on notebook 01. Each attack is the untouched release notebook plus one change, so an honest version of it
earns 0 points: any point it gets is over-scored. Next to them sit an honest full solution and an untouched release,
whose scores must not move whatever their classmates do.
"""

import csv
import html
import json
import os
import re
import socket
import stat
import sys
import threading
from pathlib import Path

import nbformat
import pytest

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "grader"))
import course  # noqa: E402
import sandbox  # noqa: E402
from limits import limits  # noqa: E402
from pipeline import Submission  # noqa: E402

NOTEBOOK = "01_dataset_preparation"
pytestmark = pytest.mark.notebooks

# Code placed at the top of the first solution cell. {listener} is a TCP port on the grading host; {grader} the
# instructor folder; {repo} the repository.
ATTACKS = {
    "input_transformer": """
def wrap(lines):
    return ["try:\\n"] + ["    " + line for line in lines] + ["\\nexcept BaseException:\\n    pass\\n"]
get_ipython().input_transformers_post.append(wrap)
""",
    "ast_transformer": """
import ast
class NoAsserts(ast.NodeTransformer):
    def visit_Assert(self, node):
        return ast.Pass()
get_ipython().ast_transformers.append(NoAsserts())
def validate_dataset(path):
    return []
""",
    "gradebook_write": """
import sqlite3
db = sqlite3.connect("{grader}/gradebook.db")
db.execute("update grade set auto_score = 100")
db.commit()
""",
    "snoop": """
import glob
found = [p for pattern in ("{repo}/solutions/*/*.ipynb", "{repo}/.git/HEAD", "{grader}/gradebook.db",
                           "{grader}/submitted/*/*/*.ipynb", "{grader}/autograded/*/*/*.ipynb",
                           "{grader}/rechecked/*/*/*.ipynb", "{repo}/grader/hidden_tests/*.py", "/root/*")
         for p in glob.glob(pattern) if "/snoop/" not in p]
print("SNOOPED", found)
""",
    "network": """
import socket
try:
    socket.create_connection(("127.0.0.1", {listener}), timeout=3).sendall(b"leak")
    print("NETWORK connected")
except OSError as error:
    print("NETWORK refused", error)
""",
    "neighbour_write": """
import pathlib
for target in ("{grader}/submitted/reference/01_dataset_preparation/01_dataset_preparation.ipynb",
               "{grader}/autograded/reference/01_dataset_preparation/01_dataset_preparation.ipynb",
               "../reference_copy.txt"):
    try:
        pathlib.Path(target).write_text("{{}}")
        print("WROTE", target)
    except OSError as error:
        print("DENIED", target, error)
""",
    "sys_exit": "import sys\nsys.exit(0)\n",
    "os_exit": "import os\nos._exit(0)\n",
    "crash": "import ctypes\nctypes.string_at(0)\n",
    "patched_builtins": """
import builtins
builtins.all = lambda items: True
builtins.AssertionError = Warning
""",
    "trace_hook": """
import sys, threading
def skip(frame, event, arg):
    return None
sys.settrace(skip)
threading.settrace(skip)
""",
    "memory_bomb": "hog = []\nwhile True:\n    hog.append(bytearray(1 << 28))\n",
    "output_flood": "print('x' * 50_000_000)\n",
    "forged_report": """
for grade_id, points in (("test_validate_dataset_visible", 2), ("test_validate_dataset_hidden", 4),
                         ("test_dataset", 4)):
    print("0" * 32, '{{"grade_id": "%s", "score": %d, "error": null}}' % (grade_id, points))
print("0" * 32, '{{"flags": []}}')
""",
    "harness_memory": """
import gc
try:
    gc.get_objects()
except Exception as error:
    print("GC", error)
""",
    "notebook_symlink": """
import os
name = "01_dataset_preparation.ipynb"  # nbgrader, outside the sandbox, writes the executed notebook back here
os.symlink("{grader}/gradebook.db", "gradebook-link")  # nbgrader chmods every file it finds here, following links
for how in ("remove", "replace"):
    try:
        if how == "remove":
            os.remove(name)
            os.symlink("../../../escaped.ipynb", name)
        else:
            os.symlink("../../../escaped.ipynb", "link.ipynb")
            os.replace("link.ipynb", name)
        print("REPLACED", how)
    except OSError as error:
        print("LOCKED", how, type(error).__name__)
""",
    "script_output": """
from IPython.display import HTML, Javascript, Markdown, display
display(HTML("<script>document.title = 'owned'</script>"), Javascript("document.title = 'owned'"),
        Markdown("<script>document.title = 'owned'</script>"))
""",
    "hidden_test_echo": """
get_ipython().events.register("post_run_cell", lambda result: print(result.info.raw_cell))
""",
    "always_equal": """
class Anything:
    def __eq__(self, other):
        return True
    def __iter__(self):
        return iter(["line 2: x", "line 4: y"])
def validate_dataset(path):
    return Anything()
""",
    "caller_frame": """
import sys
def validate_dataset(path):
    frame = sys._getframe(1)
    while frame is not None:  # the expected values of whoever called: nbgrader's test cell, or a harness
        for name in ("want", "expected", "_expected", "expected_lines"):
            if name in frame.f_locals:
                return [f"line {{n}}: found" for n in frame.f_locals[name]]
        frame = frame.f_back
    return []
""",
    "rebound_helpers": """
import re, lora_course.grading, lora_course.dataset
real_findall = re.findall
re.findall = lambda pattern, text, flags=0: ["2", "4"] if "line" in pattern else real_findall(pattern, text, flags)
lora_course.grading.forbid = lambda *names: __import__("contextlib").nullcontext()
lora_course.dataset.validate_file = lambda *a, **k: type("Report", (), {{"ok": True, "warnings": [], "examples": []}})()
def validate_dataset(path):
    return []
""",
    "patched_harness": """
import os, sys
frame = sys._getframe()
while frame is not None and "answer" not in frame.f_globals:  # up to the re-check's learner-side server
    frame = frame.f_back
if frame is not None:  # make it answer [] to everything
    frame.f_globals["answer"] = lambda request, namespace, models: {{"id": request.get("id"), "value": []}}
    frame.f_globals["plain"] = lambda value, depth=0: []
for fd in range(3, 12):  # forged replies on every descriptor
    try:
        os.write(fd, b'{{"id": 1, "value": []}}\\n{{"id": 2, "value": ["line 2: x"]}}\\n')
    except OSError:
        pass
""",
    "formula_error": """
def wrap(lines):  # every cell in try/except in the kernel: the tests pass there
    return ["try:\\n"] + ["    " + line for line in lines] + ["\\nexcept BaseException:\\n    pass\\n"]
get_ipython().input_transformers_post.append(wrap)
import builtins
class Formula(Exception):
    def __str__(self):
        return '=HYPERLINK("http://evil.example","click")'
builtins.NotImplementedError = Formula  # the stub's error, in the re-check's reason, becomes a formula
""",
    "missing_data_file": """
import json
examples = [json.loads(line) for line in open("my_examples.jsonl", encoding="utf-8")]
""",
}
# Attacks on the file rather than on the code.
EDITS = ("edited_tests", "deleted_tests", "not_json", "no_notebook")
# Tricks added to an honest full solution: they change nothing the hidden tests decide, so the honest work keeps
# its points in both runs.
TRICKS = {
    "honest_trace_hook": "import sys\nsys.settrace(lambda frame, event, arg: None)\n",
    "honest_patched_builtin": "import builtins\n_all = all\nbuiltins.all = lambda items: _all(items)\n",
    "honest_gc_snoop": "import gc\ntry:\n    gc.get_objects()\nexcept Exception:\n    pass\n",
}


def release_notebook():
    return nbformat.read(REPO / "notebooks" / NOTEBOOK / f"{NOTEBOOK}.ipynb", 4)


def with_attack(code: str, notebook=None):
    notebook = notebook or release_notebook()
    cell = next(c for c in notebook.cells if c.metadata.get("nbgrader", {}).get("grade_id") == "impl_dataset")
    cell.source = code.strip() + "\n" + cell.source
    return notebook


def write_submission(student: str, notebook=None, text: str | None = None) -> None:
    path = Submission(student, NOTEBOOK).submitted
    path.parent.mkdir(parents=True, exist_ok=True)
    if text is not None:
        path.write_text(text)
    elif notebook is not None:
        nbformat.write(notebook, path)


@pytest.fixture(scope="module")
def listener():
    """A service on the grading host's loopback that records anyone who connects."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    server.settimeout(0.2)
    connections, stop = [], threading.Event()

    def accept():
        while not stop.is_set():
            try:
                connections.append(server.accept())
            except OSError:
                pass

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield server.getsockname()[1], connections
    stop.set()
    thread.join()
    server.close()


@pytest.fixture(scope="module")
def graded_class(tmp_path_factory, listener):
    """Grade the reference alone, then the whole class (two workers); returns both score sets."""
    root = tmp_path_factory.mktemp("adversarial")
    saved = {key: os.environ.get(key) for key in ("LORA_COURSE_GRADER_DIR", "LORA_COURSE_SANDBOX_MEMORY_GB")}
    os.environ["LORA_COURSE_GRADER_DIR"] = str(root / "work")
    os.environ["LORA_COURSE_SANDBOX_MEMORY_GB"] = "3"  # notebook 01 needs < 1 GB; the bomb stops at 3
    port, connections = listener
    grader = course.work_dir()
    course.submit("reference", REPO / "solutions", [NOTEBOOK])
    alone = {s.student: s for s in course.autograde("reference", [NOTEBOOK])}
    reference_files = {p: p.read_bytes() for p in (grader / "submitted" / "reference").rglob("*") if p.is_file()}
    write_submission("untouched", release_notebook())
    for name, code in TRICKS.items():
        write_submission(name, with_attack(code, nbformat.read(REPO / "solutions" / NOTEBOOK / f"{NOTEBOOK}.ipynb", 4)))
    for name, code in ATTACKS.items():
        write_submission(name, with_attack(code.format(listener=port, grader=grader, repo=REPO)))
    edited = release_notebook()
    for cell in edited.cells:
        if cell.metadata.get("nbgrader", {}).get("grade_id", "").startswith("test_"):
            cell.source = "pass"
    write_submission("edited_tests", edited)
    deleted = release_notebook()
    deleted.cells = [c for c in deleted.cells
                     if not c.metadata.get("nbgrader", {}).get("grade_id", "").startswith("test_")]
    write_submission("deleted_tests", deleted)
    write_submission("not_json", text="this is not a notebook {")
    (grader / "submitted" / "no_notebook" / NOTEBOOK).mkdir(parents=True)
    everyone = {s.student: s for s in course.autograde(None, [NOTEBOOK], workers=2)}
    course.feedback("hidden_test_echo", [NOTEBOOK])
    yield {"alone": alone, "class": everyone, "grader": grader, "connections": connections,
           "reference_files": reference_files}
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


def executed_text(grader: Path, student: str) -> str:
    """What the attack cell printed when nbgrader ran it."""
    path = grader / "autograded" / student / NOTEBOOK / f"{NOTEBOOK}.ipynb"
    if not path.exists():
        return ""
    cell = next(c for c in nbformat.read(path, 4).cells
                if c.metadata.get("nbgrader", {}).get("grade_id") == "impl_dataset")
    return "".join(output.get("text", "") + output.get("evalue", "") + output.get("ename", "")
                   for output in cell.outputs)


def test_no_attack_earns_a_point_and_the_class_scores_do_not_move(graded_class, summary):
    scores = graded_class["class"]
    attacks = [*ATTACKS, *EDITS]
    over = {name: scores[name].auto for name in attacks if scores[name].auto > 0}
    assert set(scores) == {"reference", "untouched", *attacks, *TRICKS}
    assert scores["reference"].auto == graded_class["alone"]["reference"].auto == scores["reference"].max_auto == 10
    assert scores["untouched"].auto == 0 and not scores["untouched"].flags
    assert not scores["reference"].flags
    reference_files = graded_class["reference_files"]
    assert all(path.read_bytes() == content for path, content in reference_files.items())
    assert not over, over
    summary.append(f"adversarial: {len(attacks)} attacks, {len(over)} over-scored, class scores unchanged")


def test_the_sandbox_hides_the_instructor_and_the_network(graded_class):
    grader = graded_class["grader"]
    assert "SNOOPED []" in executed_text(grader, "snoop")
    assert "NETWORK refused" in executed_text(grader, "network") and not graded_class["connections"]
    assert "WROTE" not in executed_text(grader, "neighbour_write")
    assert executed_text(grader, "neighbour_write").count("DENIED") == 3
    assert not (grader / "autograded" / "reference_copy.txt").exists()
    # the notebook nbgrader writes back cannot be swapped for a link out of the student's folder
    assert executed_text(grader, "notebook_symlink").count("LOCKED") == 2
    assert not list(grader.rglob("escaped.ipynb"))
    assert stat.S_IMODE((grader / "gradebook.db").stat().st_mode) != 0o444  # not chmodded through the link
    assert not list(grader.rglob("gradebook-link"))


def test_learner_output_is_shown_as_text_and_feedback_quotes_no_hidden_test(graded_class):
    grader = graded_class["grader"]
    executed = nbformat.read(grader / "autograded" / "script_output" / NOTEBOOK / f"{NOTEBOOK}.ipynb", 4)
    shown = {mime for cell in executed.cells for output in cell.get("outputs", []) for mime in output.get("data", {})}
    assert not shown & {"text/html", "application/javascript", "text/markdown"}, shown
    echoed = executed_text(grader, "hidden_test_echo")  # the echo hook ran in the kernel: test sources were printed
    source = nbformat.read(REPO / "solutions" / NOTEBOOK / f"{NOTEBOOK}.ipynb", 4)
    hidden = {line.strip() for cell in source.cells
              for region in re.findall(r"### BEGIN HIDDEN TESTS(.*?)### END HIDDEN TESTS", cell.source, re.S)
              for line in region.splitlines() if len(line.strip()) >= 10}
    feedback = html.unescape((grader / "feedback" / "hidden_test_echo" / NOTEBOOK / f"{NOTEBOOK}.html").read_text())
    assert hidden and "get_ipython" in echoed
    assert not [line for line in hidden if line in feedback], "hidden test lines in feedback"
    assert "[a line of a hidden test: not shown]" in feedback


def test_each_trick_is_flagged_for_the_instructor(graded_class):
    flags = {name: score.flags for name, score in graded_class["class"].items()}
    expected = {
        "input_transformer": ("recheck-differs", "points in the learner's kernel, 0 when re-checked"),
        "ast_transformer": ("recheck-differs", "points in the learner's kernel, 0 when re-checked"),
        "crash": ("kernel-died", ""),
        "os_exit": ("kernel-died", ""),
        "edited_tests": ("locked-cell-edited", "test_dataset"),
        "deleted_tests": ("locked-cell-deleted", "test_dataset"),
        "not_json": ("unreadable", ""),
        "no_notebook": ("no-submission", ""),
    }
    for name, (code, words) in expected.items():
        assert any(flag.code == code and words in flag.message for flag in flags[name]), (name, flags[name])
    assert any("HYPERLINK" in flag.message for flag in flags["formula_error"]), flags["formula_error"]
    with open(graded_class["grader"] / "grades.csv", newline="") as table:
        assert not [cell for row in csv.reader(table) for cell in row if cell[:1] in ("=", "+", "-", "@")]
    for name in TRICKS:  # the honest solution kept its points, and nothing differed between the two runs
        assert graded_class["class"][name].auto == 10 and not flags[name], (name, flags[name])
    rows = (graded_class["grader"] / "grades.csv").read_text().splitlines()
    assert rows[0] == "student,assignment,auto_score,max_auto_score,manual_max,flags"
    assert len(rows) == 1 + len(graded_class["class"])


def test_output_and_memory_are_capped(graded_class):
    grader = graded_class["grader"]
    flood = grader / "autograded" / "output_flood" / NOTEBOOK / f"{NOTEBOOK}.ipynb"
    assert flood.stat().st_size < 2 * limits().output_kb * 1024
    assert "output-cut" in {flag.code for flag in graded_class["class"]["output_flood"].flags}
    assert "MemoryError" in executed_text(grader, "memory_bomb")


def test_a_notebook_that_runs_forever_is_stopped(tmp_path, monkeypatch):
    monkeypatch.setenv("LORA_COURSE_GRADER_DIR", str(tmp_path / "work"))
    monkeypatch.setenv("LORA_COURSE_NOTEBOOK_SECONDS", "40")  # read by each grading process
    write_submission("forever", with_attack("while True:\n    pass\n"))
    (score,) = course.autograde("forever", [NOTEBOOK])
    assert score.auto == 0
    assert any(flag.code == "notebook-timeout" and "40 s" in flag.message for flag in score.flags), score.flags


def test_grading_refuses_without_a_sandbox_unless_told(tmp_path, monkeypatch):
    monkeypatch.setenv("LORA_COURSE_GRADER_DIR", str(tmp_path / "work"))
    monkeypatch.setattr(sandbox, "unavailable_reason", lambda: "bubblewrap is not installed")
    course.submit("reference", REPO / "solutions", [NOTEBOOK])
    with pytest.raises(course.SandboxUnavailable, match="--unsandboxed"):
        course.autograde("reference", [NOTEBOOK])
    (score,) = course.autograde("reference", [NOTEBOOK], unsandboxed=True)
    assert score.auto == score.max_auto and [flag.code for flag in score.flags] == ["unsandboxed"]
    recorded = json.loads(Submission("reference", NOTEBOOK).record("flags").read_text())
    assert [flag["code"] for flag in recorded] == ["unsandboxed"]
