"""The five notebooks as an nbgrader course, checked with real nbgrader commands, real kernels and the real
bundled model. Scores come from the gradebook (nbgrader.api), never from nbgrader's exit code.

Slow by nature (each solution notebook executes three times: nbgrader validate, nbval, autograde), so the
notebooks are executed in copies under a temporary folder: solutions/ and notebooks/ stay untouched.
"""

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from lora_course.nbgrader_course import ANSWER_STUB, RELEASE_DIR, RUN_ARTEFACTS, SOURCE_DIR
from lora_course.nbgrader_course import ASSIGNMENTS as ALL_ASSIGNMENTS

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "grader"))
import course  # noqa: E402
import gradebook  # noqa: E402
import release  # noqa: E402
from pipeline import Submission  # noqa: E402

DEMO_WORK = course.work_dir()  # where `make demo` graded (read before the fixture points work_dir elsewhere)
# COURSE_NOTEBOOKS=03_compare_models,05_mini_project checks a subset while you work on it (CI checks all five).
ASSIGNMENTS = tuple(os.environ.get("COURSE_NOTEBOOKS", ",".join(ALL_ASSIGNMENTS)).split(","))
pytestmark = pytest.mark.notebooks


def proven_student(work: Path) -> str | None:
    """`make demo`'s student when its gradebook in `work` proves the reference solutions on this code: each
    notebook submitted there is the one in solutions/ and was graded with the cache key it would get now (the
    course's files and packages, sandboxed; release.fingerprint). Then its results are checked instead of executing
    all five notebooks again (CI runs `make demo` just before `make test`)."""
    environment = release.fingerprint()
    for assignment in ALL_ASSIGNMENTS:
        submission = Submission("reference", assignment, work)
        try:
            recorded = json.loads(submission.record("engine/results").read_text())["cache_key"]
            same = submission.submitted.read_bytes() == (SOURCE_DIR / assignment / f"{assignment}.ipynb").read_bytes()
        except (OSError, ValueError, KeyError):
            return None
        if not same or recorded is None or recorded != submission.cache_key(environment, unsandboxed=False):
            return None
    return "reference"


@pytest.fixture(scope="module")
def grader_dir(tmp_path_factory):
    """A fresh instructor folder and release folder; the notebooks run on the bundled model, not `tiny`."""
    root = tmp_path_factory.mktemp("course")
    saved = {key: os.environ.get(key) for key in ("LORA_COURSE_GRADER_DIR", "LORA_COURSE_RELEASE_DIR",
                                                  "LORA_COURSE_MODEL")}
    os.environ.update(LORA_COURSE_GRADER_DIR=str(root / "work"), LORA_COURSE_RELEASE_DIR=str(root / "release"))
    os.environ.pop("LORA_COURSE_MODEL", None)
    yield root
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


def copy_tree(source: Path, target: Path) -> Path:
    """A copy without what earlier runs left in `source` (nbgrader leaves the same out of a release)."""
    shutil.copytree(source, target, ignore=shutil.ignore_patterns(*RUN_ARTEFACTS))
    return target


def notebook_paths(folder: Path, names=ASSIGNMENTS) -> list[Path]:
    return [folder / name / f"{name}.ipynb" for name in names]


def graded_cells(notebook) -> dict:
    return {c.metadata["nbgrader"]["grade_id"]: c for c in notebook.cells if "nbgrader" in c.metadata}


# --- release ---------------------------------------------------------------------------------------------------

def test_release_notebooks_are_generated_from_solutions_and_in_sync(grader_dir):
    release.release(ASSIGNMENTS)
    for name in ASSIGNMENTS:
        generated = nbformat.read(release.released_notebook(name), as_version=4)
        committed = nbformat.read(RELEASE_DIR / name / f"{name}.ipynb", as_version=4)
        assert [(c.cell_type, c.source, c.metadata.get("nbgrader")) for c in committed.cells] == \
               [(c.cell_type, c.source, c.metadata.get("nbgrader")) for c in generated.cells], \
               f"notebooks/{name} is out of date: run `make release` and commit"


@pytest.mark.parametrize("name", ASSIGNMENTS)
def test_release_holds_no_solutions_and_no_hidden_tests(name):
    source = nbformat.read(SOURCE_DIR / name / f"{name}.ipynb", as_version=4)
    release = nbformat.reads((RELEASE_DIR / name / f"{name}.ipynb").read_text(encoding="utf-8"), as_version=4)
    text = "\n".join(c.source for c in release.cells)
    for marker in ("BEGIN SOLUTION", "END SOLUTION", "BEGIN HIDDEN TESTS", "END HIDDEN TESTS"):
        assert marker not in text
    regions = r"### BEGIN (?:HIDDEN TESTS|SOLUTION)\n(.*?)### END (?:HIDDEN TESTS|SOLUTION)"
    source_text = "\n".join(c.source for c in source.cells)
    public = re.sub(regions, "", source_text, flags=re.S)
    for region in re.findall(regions, source_text, flags=re.S):
        secret = [line.strip() for line in region.splitlines() if len(line.strip()) > 25 and line.strip() not in public]
        assert not any(line in text for line in secret), f"{name}: solution or hidden test leaked: {secret[:1]}"
    manual = [c for c in graded_cells(source).values() if c.cell_type == "markdown"]
    assert manual, f"{name} has no manually graded written answer"
    assert all(graded_cells(release)[c.metadata.nbgrader.grade_id].source == ANSWER_STUB for c in manual)


# --- validate ----------------------------------------------------------------------------------------------------

def test_nbgrader_validate_passes_every_solution(grader_dir):
    """The learner's Validate button on correct work. It passes when every graded cell earns its points
    (nbgrader's validator and autograder share `determine_grade`), which a passing `make demo` in this checkout
    proved for all five; then only the first is validated here, so the Validate path itself stays tested."""
    names = ASSIGNMENTS[:1] if proven_student(DEMO_WORK) else ASSIGNMENTS
    copies = copy_tree(SOURCE_DIR, grader_dir / "validate-solutions")
    done = release.nbgrader("validate", *map(str, notebook_paths(copies, names)))
    output = done.stdout + done.stderr
    assert output.count("Success! Your notebook passes all the tests.") == len(names), output[-5000:]


def test_nbgrader_validate_invert_passes_a_release_notebook(grader_dir):
    """What Validate says on an untouched release notebook. Every release notebook scoring 0 in
    test_untouched_release_notebooks_get_zero implies this for all five, so one notebook checks the path."""
    names = ASSIGNMENTS[:1]
    copies = copy_tree(RELEASE_DIR, grader_dir / "validate-release")
    done = release.nbgrader("validate", "--invert", *map(str, notebook_paths(copies, names)))
    output = done.stdout + done.stderr
    assert output.count("Success! The notebook does not pass any tests.") == len(names), output[-5000:]


# --- nbval -------------------------------------------------------------------------------------------------------

def test_nbval_executes_every_solution_notebook(grader_dir):
    """Every solution notebook runs top to bottom without an error (nbval's lax mode checks nothing else). When a
    passing `make demo` in this checkout executed all five (in the grader's sandboxed kernel, stricter than nbval's),
    their executed copies are checked for errors and nbval runs on the first only, so its path stays tested."""
    student = proven_student(DEMO_WORK)
    names = ASSIGNMENTS[:1] if student else ASSIGNMENTS
    for name in ASSIGNMENTS if student else ():
        executed = nbformat.read(DEMO_WORK / "autograded" / student / name / f"{name}.ipynb", as_version=4)
        errors = [o.ename for c in executed.cells if c.cell_type == "code"
                  for o in c.outputs if o.output_type == "error"]
        assert not errors, (name, errors)
    copies = copy_tree(SOURCE_DIR, grader_dir / "nbval")
    done = subprocess.run([sys.executable, "-m", "pytest", "--nbval-lax", "--current-env", "-p", "no:cacheprovider",
                           "-q", *map(str, notebook_paths(copies, names))], cwd=copies, capture_output=True, text=True)
    assert done.returncode == 0 and " passed" in done.stdout and "failed" not in done.stdout, done.stdout[-5000:]


# --- autograde round trips --------------------------------------------------------------------------------------

def test_reference_solutions_get_every_autograded_point_and_print_no_warnings(grader_dir, monkeypatch):
    """`make demo` (which CI runs just before `make test`) autogrades the reference solutions; when it passed on
    exactly this code and these packages, its gradebook is checked here instead of executing all five again."""
    student = proven_student(DEMO_WORK)
    if student is None:
        student = "reference"
        course.submit(student, SOURCE_DIR, ASSIGNMENTS)
        print("\n" + course.table(course.autograde(student, ASSIGNMENTS)))
    else:
        monkeypatch.setenv("LORA_COURSE_GRADER_DIR", str(DEMO_WORK))
        print(f"\nchecking the gradebook `make demo` left in {DEMO_WORK}")
    assert course.reference_problems(student, ASSIGNMENTS) == []


def test_demo_and_autograde_work_in_a_brand_new_instructor_folder(tmp_path, monkeypatch):
    """A newcomer's first commands: no release step, an empty gradebook. The committed release stays as it is."""
    name = "01_dataset_preparation"
    released = RELEASE_DIR / name / f"{name}.ipynb"
    committed = released.read_bytes()
    env = {key: value for key, value in os.environ.items() if not key.startswith("LORA_COURSE_")}
    env["LORA_COURSE_GRADER_DIR"] = str(tmp_path / "work")

    def course_py(*args):
        done = subprocess.run([sys.executable, str(REPO / "grader" / "course.py"), *args, "--only", name], env=env,
                              capture_output=True, text=True)
        assert done.returncode == 0, done.stdout + done.stderr
        return done.stdout

    assert name in course_py("demo")
    course_py("submit", "alice")
    assert name in course_py("autograde", "alice")
    monkeypatch.setenv("LORA_COURSE_GRADER_DIR", env["LORA_COURSE_GRADER_DIR"])
    reference, alice = gradebook.scores([Submission("reference", name), Submission("alice", name)])
    assert reference.auto == reference.max_auto > 0 and alice.auto == 0 and alice.max_auto == reference.max_auto
    assert released.read_bytes() == committed


def test_untouched_release_notebooks_get_zero(grader_dir):
    course.submit("untouched", RELEASE_DIR, ASSIGNMENTS)
    for score in course.autograde("untouched", ASSIGNMENTS):
        assert score.max_auto > 0 and score.auto == 0, gradebook.grades(Submission("untouched", score.assignment))


def test_one_wrong_function_loses_exactly_its_points(grader_dir, tmp_path):
    name = "01_dataset_preparation"
    notebook = nbformat.read(SOURCE_DIR / name / f"{name}.ipynb", as_version=4)
    cell = graded_cells(notebook)["impl_validate_dataset"]
    cell.source = re.sub(r"### BEGIN SOLUTION.*### END SOLUTION", "return []  # a validator that finds nothing",
                         cell.source, flags=re.S)
    (tmp_path / name).mkdir()
    nbformat.write(notebook, tmp_path / name / f"{name}.ipynb")
    course.submit("one-wrong", tmp_path, [name])
    course.autograde("one-wrong", [name])
    grades = gradebook.grades(Submission("one-wrong", name))
    points = {grade_id: c.metadata.nbgrader.points for grade_id, c in graded_cells(notebook).items()
              if c.metadata.nbgrader.get("points") and c.cell_type == "code"}
    lost = {grade_id for grade_id in points if grades[grade_id] < points[grade_id]}
    assert lost == {"test_validate_dataset_visible", "test_validate_dataset_hidden"}, grades
    assert all(grades[g] == 0 for g in lost)
