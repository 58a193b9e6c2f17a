"""The course release: solutions/ -> the release notebooks (nbgrader generate_assignment), as JupyterLab saves
them; the base models converted before grading; the fingerprint of what a grade depends on; and the one way this
course runs an nbgrader command.
"""

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import engine
from limits import limits, within_hard_limit

from lora_course.nbgrader_course import RELEASE_DIR_ENV, SOURCE_DIR, release_dir, work_dir

GRADER = Path(__file__).resolve().parent
REPO = GRADER.parent
COURSE_FILES = ("solutions", "src", "data", "grader", "pyproject.toml", "Makefile")  # what a grade depends on
KERNELSPEC = {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"}


def nbgrader(*args: str, release_into: Path | None = None, env=None, timeout=None) -> subprocess.CompletedProcess:
    """Run an nbgrader command with this course's config; returns its output for the caller to report."""
    work_dir().mkdir(parents=True, exist_ok=True)  # nbgrader changes into it first
    command = [str(Path(sys.executable).with_name("nbgrader")), *args]
    # nbgrader's gradebook runs the `alembic` command, which lives next to this Python (the venv may not be on PATH)
    path = f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"
    env = {**os.environ, "PATH": path, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", **(env or {})}
    if release_into is not None:
        env[RELEASE_DIR_ENV] = str(release_into)  # read by nbgrader_config.py (release_dir())
    return subprocess.run(command, cwd=GRADER, env=env, capture_output=True, text=True, check=False, timeout=timeout,
                          preexec_fn=limit_own_memory)


def limit_own_memory() -> None:
    """A soft cap: a kernel that floods output makes nbgrader fail (flagged), not the grading machine."""
    import resource

    hard = resource.getrlimit(resource.RLIMIT_AS)[1]
    resource.setrlimit(resource.RLIMIT_AS, (within_hard_limit(resource.RLIMIT_AS, limits().nbgrader_memory_gb << 30),
                                            hard))


def release(assignments) -> None:
    """solutions/ -> the release folder (notebooks/ unless $LORA_COURSE_RELEASE_DIR); also fills the gradebook."""
    for assignment in assignments:
        generate(assignment, release_dir())


def generate(assignment: str, into: Path) -> None:
    done = nbgrader("generate_assignment", assignment, "--force", release_into=into)
    if done.returncode != 0 or not released_notebook(assignment, into).exists():
        raise RuntimeError(f"generate_assignment {assignment} failed:\n{done.stderr[-3000:]}")
    save_as_jupyterlab(released_notebook(assignment, into))
    stamp = registration_stamp(assignment)
    stamp.parent.mkdir(parents=True, exist_ok=True)
    stamp.write_text(source_digest(assignment))


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


def registration_stamp(assignment: str) -> Path:
    """The digest of the source notebook the gradebook was last filled from."""
    return work_dir() / "registered" / f"{assignment}.sha256"


def source_digest(assignment: str) -> str:
    return hashlib.sha256((SOURCE_DIR / assignment / f"{assignment}.ipynb").read_bytes()).hexdigest()


def released_notebook(assignment: str, folder: Path | None = None) -> Path:
    return (folder or release_dir()) / assignment / f"{assignment}.ipynb"


def registered_release(assignment: str) -> Path:
    """The release the gradebook was filled from: the private one when autograde registered it, else notebooks/."""
    private = work_dir() / "release"
    return private if released_notebook(assignment, private).exists() else release_dir()


def prepare_models() -> None:
    """Convert every base model the notebooks load (the bundled SmolLM2, its bf16 copy, `tiny`) before grading: the
    sandbox sees the model cache read-only, so a notebook cannot build a missing one there."""
    code = ("from lora_course.models import prepare_model; "
            "prepare_model(); prepare_model(bf16=True); prepare_model('tiny')")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"preparing the base models failed:\n{done.stderr[-2000:]}")


def fingerprint() -> str | None:
    """What a grade depends on besides the submission: the course's files as they are now (tracked or new, not
    ignored) and the installed packages. None outside a git checkout (then no grade is reused)."""
    try:
        listed = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard", "--",
                                 *COURSE_FILES], cwd=REPO, capture_output=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return None
    digest = hashlib.sha256()
    for name in sorted(set(filter(None, listed.split(b"\0")))):
        path = REPO / os.fsdecode(name)
        digest.update(name + b"\0" + (hashlib.sha256(path.read_bytes()).digest() if path.is_file() else b"-"))
    digest.update(" ".join(engine.installed_packages()).encode())  # what the cluster's workers are checked against
    return digest.hexdigest()


def filled_release(release, source, mutation=None):
    """A copy of a release notebook with every solution cell holding the source notebook's cell of the same grade_id
    (solution markers dropped), as a learner who wrote the reference answers hands it in; `mutation`
    (grade_id, old text, new text) changes one of them."""
    import nbformat

    solutions = {cell.metadata["nbgrader"]["grade_id"]: cell.source for cell in source.cells
                 if cell.metadata.get("nbgrader", {}).get("solution")}
    filled = nbformat.from_dict(nbformat.reads(nbformat.writes(release), as_version=4))
    for cell in filled.cells:
        grade_id = cell.metadata.get("nbgrader", {}).get("grade_id")
        if grade_id in solutions:
            text = solutions[grade_id]
            if mutation and mutation[0] == grade_id:
                assert text.count(mutation[1]) == 1, f"{grade_id}: {mutation[1]!r} must occur once"
                text = text.replace(mutation[1], mutation[2])
            cell.source = "\n".join(line for line in text.splitlines() if "### BEGIN SOLUTION" not in line
                                    and "### END SOLUTION" not in line)
    return filled
