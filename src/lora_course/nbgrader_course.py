"""The course as nbgrader sees it: one place for its id, assignments, folders, stubs, timeout and the files a run
leaves behind.

`grader/nbgrader_config.py` (what nbgrader reads), `grader/course.py` (the instructor commands) and the tests import
these, so they cannot drift apart. `.gitignore` cannot import: tests/test_nbgrader_course.py checks it ignores every
RUN_ARTEFACTS name in notebooks/*/ and solutions/*/. Standard library only, so the config, the grader and a
learner's report import it without pulling in torch.
"""

import json
import os
import time
from pathlib import Path

from .paths import REPO_ROOT

COURSE_ID = "lora-course"  # the gradebook's course; every Gradebook(...) and nbgrader command must agree on it
# nbgrader's assignment names, in course order (exercise 3 reuses exercise 2's adapter): also the folder and notebook
# name under solutions/ and notebooks/ (<name>/<name>.ipynb)
ASSIGNMENTS = ("01_dataset_preparation", "02_lora_fine_tuning", "03_compare_models", "04_troubleshooting",
               "05_mini_project")
SOURCE_DIR = REPO_ROOT / "solutions"  # nbgrader's source: the notebooks with solutions and hidden tests (committed)
RELEASE_DIR = REPO_ROOT / "notebooks"  # the committed release learners get (release_dir() unless overridden)
GRADER_DIR_ENV = "LORA_COURSE_GRADER_DIR"  # instructor folder elsewhere (a term's grading, a test's temporary one)
RELEASE_DIR_ENV = "LORA_COURSE_RELEASE_DIR"  # release elsewhere (a private one to fill the gradebook, a test's)

# What running a notebook (or nbgrader, Jupyter, Python around it) leaves in an assignment folder. None of it belongs
# in a release or a submission copy (nbgrader's CourseDirectory.ignore) or in git (.gitignore, for notebooks/*/ and
# solutions/*/). Names or globs, matched in any folder by nbgrader and by shutil.ignore_patterns.
RUN_ARTEFACTS = (
    ".ipynb_checkpoints",      # Jupyter's autosaved copies of the notebook
    "*.pyc", "__pycache__",    # bytecode of a module the notebook imports from its own folder
    "feedback",                # nbgrader's HTML feedback, fetched into the assignment folder
    "outputs",                 # adapters, checkpoints and run logs the notebooks train into (outputs/techco, ...)
    "training_data.jsonl",     # notebook 1 writes the learner's dataset here; notebook 2 trains on it
    "evaluation_results.md",   # notebook 3's comparison table
    "mini_project*.jsonl",     # notebook 5's dataset (mini_project_data.jsonl)
    "mini_project_report.md",  # notebook 5's report
)

# nbgrader's stubs for what a release leaves to the learner; ClearSolutions writes them, the tests and reports look
# for them. CODE_STUB is the python kernel's (nbgrader keys code stubs by kernel language).
CODE_STUB = "# YOUR CODE HERE\nraise NotImplementedError()"
# nbgrader's stub for a written answer the learner has not replaced yet
ANSWER_STUB = "YOUR ANSWER HERE"
# nbgrader's Execute.timeout per cell: the longest cell (a LoRA training run) takes well under a minute on 2 CPU
# cores; a cell past it is stopped and the grader flags the submission
CELL_TIMEOUT_SECONDS = 300
# nbgrader's Execute.iopub_timeout: it fails a cell whose last output arrives later than this after the cell finished
# (nbgrader's default, 4 s, fails notebook 2's training cell on a busy machine: its live plot arrives late)
IOPUB_TIMEOUT_SECONDS = 30


def work_dir() -> Path:
    """The instructor folder: submitted/, autograded/, feedback/, gradebook.db (gitignored grader/work by default,
    $LORA_COURSE_GRADER_DIR to grade elsewhere). Read at each call, so a test can point it elsewhere."""
    return Path(os.environ.get(GRADER_DIR_ENV, REPO_ROOT / "grader" / "work"))


def release_dir() -> Path:
    """Where generate_assignment writes: notebooks/ unless $LORA_COURSE_RELEASE_DIR (read at each call)."""
    return Path(os.environ.get(RELEASE_DIR_ENV, RELEASE_DIR))


def exchange_dir() -> Path:
    """nbgrader's exchange for the formgrader's Release/Collect buttons: inside the instructor folder, not
    /srv/nbgrader/exchange, absent on a laptop (a warning banner on every formgrader page)."""
    return work_dir() / "exchange"


# JupyterLab's own save command, run by the page when the kernel displays this script. `window.jupyterapp` exists
# when JupyterLab was started with --expose-app-in-browser (the course's `make lab` does; Notebook 7 always has it).
SAVE_SCRIPT = "window.jupyterapp && window.jupyterapp.commands.execute('docmanager:save')"


def save_notebook(notebook, wait_seconds: float = 10.0) -> bool:
    """Ask the JupyterLab page of this kernel to save its notebook, and wait until the file on disk has changed.

    An answer typed into a markdown cell but not saved exists only in the browser, and the report quotes the file.
    Only a kernel that a Jupyter server started for a notebook (it sets JPY_SESSION_NAME) has a page to ask; under
    nbconvert, nbgrader's Validate or grading nothing would answer, so this returns False at once. True when the
    file changed.
    """
    if "JPY_SESSION_NAME" not in os.environ or os.environ.get("NBGRADER_EXECUTION"):
        return False
    from IPython.display import Javascript, display

    path = Path(notebook)
    before = path.stat().st_mtime_ns if path.is_file() else None
    shown = display(Javascript(SAVE_SCRIPT), display_id=True)
    deadline = time.monotonic() + wait_seconds
    try:
        while time.monotonic() < deadline:
            if path.is_file() and path.stat().st_mtime_ns != before:
                return True
            time.sleep(0.1)
        return False
    finally:
        shown.update(Javascript(""))  # once saved, the script leaves the cell's output (a reopened notebook runs none)


def written_answers(notebook, grade_ids, save: bool = True) -> dict[str, str]:
    """The text of the notebook's written-answer cells (by nbgrader grade_id), read from the file after asking
    JupyterLab to save it (`save_notebook`), so what the learner typed counts without a Ctrl+S.

    Lets a report quote the answers written in markdown cells; an unanswered cell (nbgrader's stub) and a
    missing notebook or cell give "" so the report keeps its TODO.
    """
    if save:
        save_notebook(notebook)
    path = Path(notebook)
    cells = json.loads(path.read_text(encoding="utf-8")).get("cells", []) if path.is_file() else []
    found = {}
    for cell in cells:
        grade_id = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")
        if grade_id in grade_ids:
            source = cell.get("source", "")
            found[grade_id] = "".join(source) if isinstance(source, list) else source
    return {gid: "" if found.get(gid, "").strip() in ("", ANSWER_STUB) else found[gid].strip() for gid in grade_ids}
