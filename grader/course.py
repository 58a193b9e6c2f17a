"""Instructor commands around nbgrader: release, autograde, feedback, and a score table from the gradebook.

    python grader/course.py release                 # solutions/ -> notebooks/ (nbgrader generate_assignment)
    python grader/course.py submit STUDENT DIR      # copy DIR/<NN_name>/<NN_name>.ipynb into submitted/
    python grader/course.py autograde STUDENT       # run every submitted notebook, print the scores
    python grader/course.py feedback STUDENT        # HTML feedback under feedback/
    python grader/course.py demo                    # submit the reference solutions, autograde, print scores

nbgrader exits 0 even when tests fail, so scores are always read back from the gradebook (nbgrader.api).
"""

import argparse
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

GRADER = Path(__file__).resolve().parent
REPO = GRADER.parent
# nbgrader's gradebook runs the `alembic` command, which lives next to this Python (the venv may not be on PATH).
os.environ["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"
ASSIGNMENTS = ("01_dataset_preparation", "02_lora_fine_tuning", "03_compare_models", "04_troubleshooting",
               "05_mini_project")


def work_dir() -> Path:
    """Where submitted/, autograded/, feedback/ and gradebook.db live (see nbgrader_config.py)."""
    return Path(os.environ.get("LORA_COURSE_GRADER_DIR", GRADER / "work"))


def nbgrader(*args: str) -> subprocess.CompletedProcess:
    """Run an nbgrader command with this course's config; its log goes to the caller's output."""
    work_dir().mkdir(parents=True, exist_ok=True)  # nbgrader changes into it first
    command = [str(Path(sys.executable).with_name("nbgrader")), *args]
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    return subprocess.run(command, cwd=GRADER, env=env, capture_output=True, text=True, check=False)


def release(assignments=ASSIGNMENTS) -> None:
    for assignment in assignments:
        done = nbgrader("generate_assignment", assignment, "--force")
        if done.returncode != 0 or not released_notebook(assignment).exists():
            raise RuntimeError(f"generate_assignment {assignment} failed:\n{done.stderr[-3000:]}")


def released_notebook(assignment: str) -> Path:
    release_dir = Path(os.environ.get("LORA_COURSE_RELEASE_DIR", REPO / "notebooks"))
    return release_dir / assignment / f"{assignment}.ipynb"


def submit(student: str, source: Path, assignments=ASSIGNMENTS) -> None:
    """Place a learner's notebooks where nbgrader expects submissions (what `nbgrader collect` would do)."""
    for assignment in assignments:
        notebook = Path(source) / assignment / f"{assignment}.ipynb"
        target = work_dir() / "submitted" / student / assignment
        shutil.rmtree(target, ignore_errors=True)
        target.mkdir(parents=True)
        shutil.copy(notebook, target)


@dataclass
class Score:
    assignment: str
    auto: float          # points from autograded test cells
    max_auto: float
    max_manual: float    # written answers, graded by a person in the formgrader
    seconds: float       # autograde wall time: executing the notebook dominates it


def autograde(student: str, assignments=ASSIGNMENTS) -> list[Score]:
    """Autograde in course order (exercise 3 reuses exercise 2's adapter when it is there)."""
    scores = []
    for assignment in assignments:
        start = time.perf_counter()
        done = nbgrader("autograde", assignment, "--student", student, "--force")
        seconds = time.perf_counter() - start
        try:
            scores.append(read_score(student, assignment, seconds))
        except Exception as error:  # no submission row: nbgrader failed before grading
            raise RuntimeError(f"autograde {assignment} for {student} failed:\n{done.stderr[-3000:]}") from error
    return scores


def read_score(student: str, assignment: str, seconds: float = 0.0) -> Score:
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{work_dir() / 'gradebook.db'}", course_id="lora-course") as gradebook:
        notebook = gradebook.find_submission_notebook(assignment, assignment, student)
        return Score(assignment, notebook.code_score, notebook.max_code_score, notebook.max_written_score, seconds)


def grades(student: str, assignment: str) -> dict[str, float]:
    """Points per graded cell (grade_id -> score) for one submission."""
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{work_dir() / 'gradebook.db'}", course_id="lora-course") as gradebook:
        notebook = gradebook.find_submission_notebook(assignment, assignment, student)
        return {grade.name: grade.score for grade in notebook.grades}


def feedback(student: str, assignments=ASSIGNMENTS) -> None:
    for assignment in assignments:
        nbgrader("generate_feedback", assignment, "--student", student, "--force")


def table(scores: list[Score]) -> str:
    lines = [f"{'notebook':24} {'auto-graded':>12} {'written (manual)':>17} {'time':>8}"]
    for s in scores:
        lines.append(f"{s.assignment:24} {s.auto:>5g} / {s.max_auto:<5g} {'pending / ' + format(s.max_manual, 'g'):>17} "
                     f"{s.seconds:>6.0f} s")
    total = sum(s.seconds for s in scores)
    lines.append(f"{'all five':24} {sum(s.auto for s in scores):>5g} / {sum(s.max_auto for s in scores):<5g} "
                 f"{'':>17} {total:>6.0f} s")
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("command", choices=("release", "submit", "autograde", "feedback", "demo"))
    parser.add_argument("student", nargs="?", default="reference")
    parser.add_argument("source", nargs="?", type=Path)
    args = parser.parse_args(argv)
    if args.command == "release":
        release()
    elif args.command == "submit":
        submit(args.student, args.source or REPO / "notebooks")
    elif args.command in ("autograde", "demo"):
        if args.command == "demo":
            submit(args.student, REPO / "solutions")
        scores = autograde(args.student)
        print(table(scores))
        print(f"\ngradebook: {work_dir() / 'gradebook.db'}; executed notebooks: {work_dir() / 'autograded' / args.student}")
        if args.command == "demo" and any(s.auto < s.max_auto for s in scores):
            print("the reference solutions should get every auto-graded point", file=sys.stderr)
            return 1
    elif args.command == "feedback":
        feedback(args.student)
        print(f"feedback: {work_dir() / 'feedback' / args.student}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
