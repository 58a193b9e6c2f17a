"""dist/handout.zip, what learners receive (grader/handout.py): the right files and nothing of the instructor's,
no solution, hidden test or model answer anywhere in it, and, unpacked into an empty folder, a course that sets
itself up with its own `make setup` and runs notebook 1 on its own data and package.

The zip is built into a temporary folder, never into dist/. Only the last test is slow: `make setup` (a fresh
virtualenv, CPU torch, the package and JupyterLab from pip's index, the model check) and notebook 1 executed in
that virtualenv's kernel, a few minutes in all; the rest takes seconds.
"""

import json
import os
import re
import shutil
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import nbformat
import pytest

from lora_course.nbgrader_course import ANSWER_STUB

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "grader"))
import course  # noqa: E402
import handout  # noqa: E402
from pipeline import Submission  # noqa: E402
from release import filled_release  # noqa: E402

FIRST = "01_dataset_preparation"
SETUP_SECONDS = 1200  # measured 130-160 s on 2 cores from a local package mirror; a cold PyPI download is ~1 GB
KERNEL = "lora-course-handout"
# Set by the caller's make or shell, or by conftest.py (LORA_COURSE_MODEL=tiny): a learner's machine has none.
NOT_A_LEARNERS = ("MAKEFLAGS", "MFLAGS", "MAKELEVEL", "MAKEOVERRIDES", "VIRTUAL_ENV", "PYTHONPATH",
                  "LORA_COURSE_MODEL", "LORA_COURSE_DATA", "JUPYTER_PATH")


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> Path:
    return handout.build(tmp_path_factory.mktemp("dist") / "handout.zip")


def unpack(archive: Path, into: Path) -> Path:
    """The zip in an empty folder, as a learner gets it; returns its top folder."""
    into.mkdir(parents=True, exist_ok=True)
    assert not any(into.iterdir())
    with zipfile.ZipFile(archive) as zipped:
        zipped.extractall(into)
    assert [p.name for p in into.iterdir()] == [handout.TOP]
    return into / handout.TOP


@pytest.fixture(scope="module")
def unpacked(built, tmp_path_factory) -> Path:
    return unpack(built, tmp_path_factory.mktemp("unpacked"))


def repo_files(folder: str) -> set[str]:
    return {p.relative_to(REPO).as_posix() for p in (REPO / folder).rglob("*")
            if p.is_file() and "__pycache__" not in p.parts and ".ipynb_checkpoints" not in p.parts}


# --- what is in it -----------------------------------------------------------------------------------------------

def test_the_zip_holds_one_folder_with_the_course_and_nothing_of_the_instructors(built):
    names = zipfile.ZipFile(built).namelist()
    assert all(name.startswith(handout.TOP + "/") for name in names)
    inside = {name.split("/", 1)[1] for name in names}
    assert {name.split("/")[0] for name in inside} == {"README.md", "Makefile", "nbgrader_config.py",
                                                       "pyproject.toml", "notebooks", "data", "src"}
    assert {name for name in inside if name.startswith("notebooks/")} == \
           {"notebooks/README.md"} | {f"notebooks/{n}/{n}.ipynb" for n in course.ASSIGNMENTS}
    assert {name for name in inside if name.startswith("data/")} == repo_files("data")
    assert {name for name in inside if name.startswith("src/")} == repo_files("src/lora_course")
    for name in inside:
        parts = set(Path(name).parts)
        assert not parts & {"solutions", "grader", "tests", ".git", "outputs", "__pycache__", ".venv", "work"}, name
        assert not name.endswith((".pyc", ".zip", ".db")), name


def test_files_are_copied_as_they_are(unpacked):
    """The release notebooks exactly as nbgrader wrote them (no outputs), the data and package byte for byte; the
    README and Makefile are the learner's, not the repository's."""
    for name in [*repo_files("data"), *repo_files("src/lora_course"), "pyproject.toml", "notebooks/README.md",
                 *(f"notebooks/{n}/{n}.ipynb" for n in course.ASSIGNMENTS)]:
        assert (unpacked / name).read_bytes() == (REPO / name).read_bytes(), name
    for name in course.ASSIGNMENTS:
        release = nbformat.read(unpacked / "notebooks" / name / f"{name}.ipynb", as_version=4)
        assert not any(cell.get("outputs") for cell in release.cells), name
    assert (unpacked / "README.md").read_bytes() == (REPO / "grader" / "handout" / "README.md").read_bytes()
    assert (unpacked / "Makefile").read_bytes() == (REPO / "grader" / "handout" / "Makefile").read_bytes()
    assert (unpacked / "nbgrader_config.py").read_bytes() == \
           (REPO / "grader" / "handout" / "nbgrader_config.py").read_bytes()


# --- nothing given away ------------------------------------------------------------------------------------------

def public_text() -> str:
    """What learners may see anyway: every release notebook and the helper package (which holds a few lines that
    are also in reference code: a table header, a perplexity loop)."""
    notebooks = [nbformat.read(REPO / "notebooks" / n / f"{n}.ipynb", as_version=4) for n in course.ASSIGNMENTS]
    package = [p.read_text(encoding="utf-8") for p in sorted((REPO / "src").rglob("*.py"))]
    return "\n".join([cell.source for notebook in notebooks for cell in notebook.cells] + package)


def secrets() -> dict[str, set[str]]:
    """Distinctive lines of solutions/ that must not reach learners: hidden tests (non-blank lines over 25
    characters), reference code between the solution markers and model written answers (lines over 40
    characters), each absent from the release notebooks and the package."""
    public = public_text()
    found = {"hidden test": set(), "reference answer": set()}
    for name in course.ASSIGNMENTS:
        for cell in nbformat.read(REPO / "solutions" / name / f"{name}.ipynb", as_version=4).cells:
            meta = cell.metadata.get("nbgrader", {})
            regions = {kind: re.findall(rf"### BEGIN {marker}\n(.*?)### END {marker}", cell.source, re.S)
                       for kind, marker in (("hidden test", "HIDDEN TESTS"), ("reference answer", "SOLUTION"))}
            if cell.cell_type == "markdown" and meta.get("solution") and meta.get("grade"):
                regions["reference answer"].append(cell.source)
            for kind, texts in regions.items():
                shortest = 25 if kind == "hidden test" else 40
                found[kind] |= {line.strip() for text in texts for line in text.splitlines()
                                if len(line.strip()) > shortest and line.strip() not in public}
    return found


def readable(path: Path) -> str:
    """A file's text; a notebook's also as its cell sources and outputs, where JSON's escaping is undone."""
    raw = path.read_bytes().decode("utf-8", errors="replace")
    if path.suffix != ".ipynb":
        return raw
    notebook = nbformat.reads(raw, as_version=4)
    outputs = [json.dumps(output, ensure_ascii=False) for cell in notebook.cells for output in cell.get("outputs", [])]
    return "\n".join([raw, *(cell.source for cell in notebook.cells), *outputs])


def leaks(path: Path, found: dict[str, set[str]]) -> list[str]:
    text = readable(path)
    return [f"marker {m!r}" for m in handout.MARKERS if m in text] + \
           [f"{kind}: {line[:80]!r}" for kind, lines in found.items() for line in sorted(lines) if line in text]


def test_no_file_holds_a_solution_a_hidden_test_or_a_model_answer(built, unpacked):
    found = secrets()
    assert len(found["hidden test"]) > 50 and len(found["reference answer"]) > 100, \
        {kind: len(lines) for kind, lines in found.items()}
    for name in course.ASSIGNMENTS:  # the scan finds them where they are
        assert leaks(REPO / "solutions" / name / f"{name}.ipynb", found), name
    files = [p for p in unpacked.rglob("*") if p.is_file()]
    assert len(files) == len(zipfile.ZipFile(built).namelist())
    problems = {str(p.relative_to(unpacked)): leaks(p, found) for p in files}
    assert not {name: hits for name, hits in problems.items() if hits}


def test_the_build_refuses_a_release_notebook_with_an_answer_in_it(tmp_path):
    """An instructor who tried the exercises in notebooks/ and saved must not hand out their answers."""
    fake = tmp_path / "repo"
    fake.mkdir()
    shutil.copy(REPO / "pyproject.toml", fake)
    for part in ("notebooks", "data", "src", "solutions"):
        shutil.copytree(REPO / part, fake / part, ignore=shutil.ignore_patterns("outputs", "__pycache__", "*.jsonl")
                        if part != "data" else None)
    notebook = fake / "notebooks" / FIRST / f"{FIRST}.ipynb"
    solved = nbformat.read(REPO / "solutions" / FIRST / f"{FIRST}.ipynb", as_version=4)
    release = nbformat.read(notebook, as_version=4)
    answer = next(c for c in solved.cells if c.metadata.get("nbgrader", {}).get("grade_id") == "impl_validate_dataset")
    answer_lines = re.sub(r"\s*### (BEGIN|END) SOLUTION", "", answer.source)
    for cell in release.cells:
        if cell.metadata.get("nbgrader", {}).get("grade_id") == "impl_validate_dataset":
            cell.source = answer_lines
    nbformat.write(release, notebook)
    with pytest.raises(handout.HandoutError, match="a line of solutions/"):
        handout.build(tmp_path / "handout.zip", repo=fake)
    assert not (tmp_path / "handout.zip").exists()


# --- handing in ------------------------------------------------------------------------------------------------

def learner_env() -> dict[str, str]:
    return {key: value for key, value in os.environ.items() if key not in NOT_A_LEARNERS}


def test_make_handin_gives_a_zip_that_collect_takes(built, tmp_path, monkeypatch):
    folder = unpack(built, tmp_path / "learner")
    done = subprocess.run(["make", "handin", "NAME=alice"], cwd=folder, env=learner_env(), capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr
    zips = tmp_path / "zips"
    zips.mkdir()
    shutil.move(folder / "alice.zip", zips / "alice.zip")
    monkeypatch.setenv("LORA_COURSE_GRADER_DIR", str(tmp_path / "work"))
    assert course.collect(zips) == ["alice"]
    for name in course.ASSIGNMENTS:
        assert Submission("alice", name).submitted.read_bytes() == \
               (folder / "notebooks" / name / f"{name}.ipynb").read_bytes()


# --- set up and run, as a learner ------------------------------------------------------------------------------

def with_reference_solutions(release_path: Path, name: str = FIRST):
    """The release notebook with each solution cell replaced by the reference's cell of the same grade_id."""
    release = nbformat.read(release_path, as_version=4)
    reference = nbformat.read(REPO / "solutions" / name / f"{name}.ipynb", as_version=4)
    filled = filled_release(release, reference)
    solution_cells = [c for c in filled.cells if c.metadata.get("nbgrader", {}).get("solution")]
    reference_cells = [c for c in reference.cells if c.metadata.get("nbgrader", {}).get("solution")]
    assert len(solution_cells) == len(reference_cells) >= 3
    assert all("NotImplementedError" not in c.source and ANSWER_STUB not in c.source for c in solution_cells)
    return filled


@pytest.mark.slow
@pytest.mark.notebooks
def test_make_setup_in_the_unpacked_handout_then_notebook_01_runs_there(built, tmp_path, monkeypatch):
    folder = unpack(built, tmp_path / "learner")
    env = learner_env()
    start = time.perf_counter()
    done = subprocess.run(["make", "setup"], cwd=folder, env=env, capture_output=True, text=True,
                          timeout=SETUP_SECONDS)
    setup_seconds = time.perf_counter() - start
    assert done.returncode == 0, (done.stdout + done.stderr)[-5000:]
    venv = folder / ".venv"
    try:
        # The editable install points into the handout: package and data come from there, whatever the cwd.
        probe = ("import lora_course; from lora_course.paths import data_file; "
                 "print(lora_course.__file__); print(data_file('techco_support.jsonl'))")
        where = subprocess.run([venv / "bin" / "python", "-c", probe], cwd=tmp_path, env=env, capture_output=True,
                               text=True, check=True).stdout.split("\n")
        assert Path(where[0]) == folder.resolve() / "src" / "lora_course" / "__init__.py"
        assert Path(where[1]) == folder.resolve() / "data" / "techco_support.jsonl"

        # Notebook 1 with the reference solutions, in a kernel of the handout's own virtualenv.
        spec = tmp_path / "jupyter" / "kernels" / KERNEL
        spec.mkdir(parents=True)
        (spec / "kernel.json").write_text(json.dumps({
            "argv": [str(venv / "bin" / "python"), "-m", "ipykernel_launcher", "-f", "{connection_file}"],
            "display_name": "handout", "language": "python"}))
        for key in NOT_A_LEARNERS:
            monkeypatch.delenv(key, raising=False)
        monkeypatch.setenv("JUPYTER_PATH", str(tmp_path / "jupyter"))
        notebook_dir = folder / "notebooks" / FIRST
        notebook = with_reference_solutions(notebook_dir / f"{FIRST}.ipynb")
        notebook.cells.append(nbformat.v4.new_code_cell(
            "import sys\nprint(sys.prefix)\nprint(lora_course.__file__)\nprint(data_file('techco_support.jsonl'))"))
        from nbclient import NotebookClient

        start = time.perf_counter()
        NotebookClient(notebook, kernel_name=KERNEL, timeout=300, resources={"metadata": {"path": str(notebook_dir)}}
                       ).execute()
        run_seconds = time.perf_counter() - start
        errors = [o for c in notebook.cells if c.cell_type == "code" for o in c.outputs if o.output_type == "error"]
        assert not errors
        # Three prints can arrive as several stream outputs (a busy machine flushes between them): read them all.
        printed = "".join(o.text for o in notebook.cells[-1].outputs if o.output_type == "stream")
        prefix, package, data = printed.split("\n")[:3]
        assert os.path.samefile(prefix, venv)
        assert Path(package) == folder.resolve() / "src" / "lora_course" / "__init__.py"
        assert Path(data) == folder.resolve() / "data" / "techco_support.jsonl"
        assert (notebook_dir / "training_data.jsonl").exists()  # written where the learner works
    finally:
        shutil.rmtree(venv, ignore_errors=True)  # ~2 GB; pytest keeps the last few temporary folders
    print(f"\nhandout: make setup {setup_seconds:.0f} s, notebook 01 {run_seconds:.0f} s")


# What the toolbar's Validate button runs: the server extension's own config loader (the folder JupyterLab started in,
# then the Jupyter config path) and nbgrader's Validator, in a process whose working directory is the handout's.
VALIDATE_AS_THE_BUTTON_DOES = """
import json, sys
from nbgrader.server_extensions.validate_assignment.handlers import ValidateAssignmentHandler
from nbgrader.validator import Validator
config = ValidateAssignmentHandler.load_config(None)
print(json.dumps({"timeout": config.Execute.timeout, "result": Validator(config=config).validate(sys.argv[1])}))
"""


@pytest.mark.slow
@pytest.mark.notebooks
def test_validate_from_the_handout_folder_passes_notebook_02_with_its_training_cell(built, tmp_path):
    """nbgrader's default cell timeout (30 s) stopped 02's training; the handout's nbgrader_config.py sets the
    course's. Real model, as a learner runs it; notebook 01 not run, so 02 trains on the course's reference set."""
    from lora_course.nbgrader_course import CELL_TIMEOUT_SECONDS

    folder = unpack(built, tmp_path / "learner")
    name = "02_lora_fine_tuning"
    notebook = folder / "notebooks" / name / f"{name}.ipynb"
    nbformat.write(with_reference_solutions(notebook, name), notebook)
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", VALIDATE_AS_THE_BUTTON_DOES, str(notebook)], cwd=folder,
                          env=learner_env(), capture_output=True, text=True, timeout=2 * CELL_TIMEOUT_SECONDS)
    assert done.returncode == 0, done.stderr[-5000:]
    answer = json.loads(done.stdout.splitlines()[-1])
    assert answer["timeout"] == CELL_TIMEOUT_SECONDS
    assert answer["result"] == {}, str(answer["result"])[:3000]  # nbgrader's "Success! …": no failed cell
    print(f"\nValidate on notebook 02 from the handout folder: {time.perf_counter() - start:.0f} s")
