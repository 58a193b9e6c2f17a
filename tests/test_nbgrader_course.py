"""lora_course.nbgrader_course is the one source of the course's nbgrader settings: nbgrader_config.py, as nbgrader
loads it, holds its values; the defaults and environment variables are those the README documents; and .gitignore,
which cannot import it, ignores every run artefact in each assignment folder of notebooks/ and solutions/."""

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from lora_course.nbgrader_course import (
    ANSWER_STUB,
    ASSIGNMENTS,
    CELL_TIMEOUT_SECONDS,
    CODE_STUB,
    COURSE_ID,
    IOPUB_TIMEOUT_SECONDS,
    RELEASE_DIR,
    RUN_ARTEFACTS,
    SOURCE_DIR,
    exchange_dir,
    release_dir,
    work_dir,
)

REPO = Path(__file__).resolve().parents[1]
GRADER = REPO / "grader"


@pytest.fixture(params=["defaults", "overridden"])
def environment(request, tmp_path, monkeypatch):
    """No override (the instructor's usual run), or both folders elsewhere (a term's grading, the tests)."""
    for name in ("LORA_COURSE_GRADER_DIR", "LORA_COURSE_RELEASE_DIR"):
        monkeypatch.delenv(name, raising=False)
    if request.param == "overridden":
        monkeypatch.setenv("LORA_COURSE_GRADER_DIR", str(tmp_path / "work"))
        monkeypatch.setenv("LORA_COURSE_RELEASE_DIR", str(tmp_path / "release"))
    return request.param


def test_folders_default_to_the_checkout_and_follow_the_environment(environment, tmp_path):
    overridden = environment == "overridden"
    assert work_dir() == (tmp_path / "work" if overridden else REPO / "grader" / "work")
    assert release_dir() == (tmp_path / "release" if overridden else REPO / "notebooks")
    assert exchange_dir() == work_dir() / "exchange"
    assert (SOURCE_DIR, RELEASE_DIR) == (REPO / "solutions", REPO / "notebooks")


def test_nbgrader_config_holds_the_module_values(environment):
    """Loaded the way nbgrader loads it (traitlets' Python config loader), then read through nbgrader's own classes,
    so a value re-typed in nbgrader_config.py, or one nbgrader would reject, fails here."""
    from nbgrader.coursedir import CourseDirectory
    from nbgrader.preprocessors import ClearSolutions, Execute
    from traitlets.config.loader import PyFileConfigLoader

    config = PyFileConfigLoader("nbgrader_config.py", path=str(GRADER)).load_config()
    coursedir = CourseDirectory(config=config)
    assert coursedir.course_id == COURSE_ID
    assert Path(coursedir.root) == work_dir()
    assert Path(coursedir.source_directory) == SOURCE_DIR
    assert Path(coursedir.release_directory) == release_dir()
    assert coursedir.ignore == list(RUN_ARTEFACTS)
    assert Path(config.Exchange.root) == exchange_dir()
    execute = Execute(config=config)
    assert (execute.timeout, execute.iopub_timeout) == (CELL_TIMEOUT_SECONDS, IOPUB_TIMEOUT_SECONDS)
    clear = ClearSolutions(config=config)
    assert (clear.code_stub, clear.text_stub) == ({"python": CODE_STUB}, ANSWER_STUB)


def test_the_assignments_are_the_folders_of_solutions_and_notebooks():
    for folder in (SOURCE_DIR, RELEASE_DIR):
        found = sorted(p.name for p in folder.iterdir() if (p / f"{p.name}.ipynb").is_file())
        assert found == list(ASSIGNMENTS), folder


def unignored(gitignore: str, tmp_path: Path) -> list[str]:
    """Sample paths (one per RUN_ARTEFACTS name, `*` filled in, in every assignment folder of notebooks/ and
    solutions/) that git would not ignore under this .gitignore: git itself decides, in a scratch repository
    that sees no user or system git configuration."""
    if shutil.which("git") is None:
        pytest.skip("git is not installed")
    env = {key: value for key, value in os.environ.items() if not key.startswith("GIT_")}
    env.update(GIT_CONFIG_GLOBAL=os.devnull, GIT_CONFIG_NOSYSTEM="1")
    repo = tmp_path / "scratch"
    repo.mkdir()
    subprocess.run(["git", "init", "-q"], cwd=repo, env=env, check=True)
    (repo / ".gitignore").write_text(gitignore, encoding="utf-8")
    samples = [f"{top}/{name}/{pattern.replace('*', 'sample')}" for top in ("notebooks", "solutions")
               for name in ASSIGNMENTS for pattern in RUN_ARTEFACTS]
    done = subprocess.run(["git", "-c", f"core.excludesFile={os.devnull}", "check-ignore", "--no-index", "--stdin"],
                          cwd=repo, env=env, input="\n".join(samples) + "\n", capture_output=True, text=True)
    assert done.returncode in (0, 1), done.stderr  # 1: nothing ignored
    ignored = set(done.stdout.splitlines())
    return [sample for sample in samples if sample not in ignored]


def test_gitignore_ignores_every_run_artefact_in_the_assignment_folders(tmp_path):
    assert unignored((REPO / ".gitignore").read_text(encoding="utf-8"), tmp_path) == [], \
        "add `/notebooks/*/NAME` and `/solutions/*/NAME` lines to .gitignore"


def test_the_gitignore_check_notices_a_missing_line(tmp_path):
    lines = (REPO / ".gitignore").read_text(encoding="utf-8").splitlines()
    without = "\n".join(line for line in lines if line != "/solutions/*/outputs") + "\n"
    assert unignored(without, tmp_path) == [f"solutions/{name}/outputs" for name in ASSIGNMENTS]
