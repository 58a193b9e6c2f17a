"""The course as nbgrader sees it: one place for its id, assignments, folders, stubs, timeout and the files a run
leaves behind.

`grader/nbgrader_config.py` (what nbgrader reads), `grader/course.py` (the instructor commands) and the tests import
these, so they cannot drift apart. `.gitignore` cannot import: tests/test_nbgrader_course.py checks it ignores every
RUN_ARTEFACTS name in notebooks/*/ and solutions/*/. Standard library only, so the config, the grader and a
learner's report import it without pulling in torch.
"""

import json
import os
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


def written_answers(notebook, grade_ids) -> dict[str, str]:
    """The text of the notebook's written-answer cells (by nbgrader grade_id), as last saved to disk.

    Lets a report quote the answers written in markdown cells; an unanswered cell (nbgrader's stub) and a
    missing notebook or cell give "" so the report keeps its TODO.
    """
    path = Path(notebook)
    cells = json.loads(path.read_text(encoding="utf-8")).get("cells", []) if path.is_file() else []
    found = {}
    for cell in cells:
        grade_id = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")
        if grade_id in grade_ids:
            source = cell.get("source", "")
            found[grade_id] = "".join(source) if isinstance(source, list) else source
    return {gid: "" if found.get(gid, "").strip() in ("", ANSWER_STUB) else found[gid].strip() for gid in grade_ids}
