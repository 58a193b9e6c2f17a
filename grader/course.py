"""Instructor commands around nbgrader: release, autograde, feedback, and a score table from the gradebook.

    python grader/course.py release                 # solutions/ -> notebooks/ (nbgrader generate_assignment)
    python grader/course.py submit STUDENT DIR      # copy DIR/<NN_name>/<NN_name>.ipynb into submitted/
    python grader/course.py autograde STUDENT       # run every submitted notebook, print the scores
    python grader/course.py feedback STUDENT        # HTML feedback under feedback/
    python grader/course.py demo                    # submit the reference solutions, autograde, print scores
    ... --only 01_dataset_preparation               # any command, for some of the assignments

nbgrader exits 0 even when tests fail, so scores are always read back from the gradebook (nbgrader.api).
A brand-new instructor folder needs no set-up: autograde registers each assignment in the gradebook first.
"""

import argparse
import hashlib
import importlib.metadata
import json
import os
import shutil
import subprocess
import sys
import sysconfig
import time
from dataclasses import dataclass
from pathlib import Path

GRADER = Path(__file__).resolve().parent
REPO = GRADER.parent
# nbgrader's gradebook runs the `alembic` command, which lives next to this Python (the venv may not be on PATH).
os.environ["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"
ASSIGNMENTS = ("01_dataset_preparation", "02_lora_fine_tuning", "03_compare_models", "04_troubleshooting",
               "05_mini_project")
DEMO_INPUTS = ("solutions", "src", "data", "grader", "pyproject.toml", "Makefile")  # what `make demo` runs on


def work_dir() -> Path:
    """Where submitted/, autograded/, feedback/ and gradebook.db live (see nbgrader_config.py)."""
    return Path(os.environ.get("LORA_COURSE_GRADER_DIR", GRADER / "work"))


def nbgrader(*args: str, release_into: Path | None = None) -> subprocess.CompletedProcess:
    """Run an nbgrader command with this course's config; returns its output for the caller to report."""
    work_dir().mkdir(parents=True, exist_ok=True)  # nbgrader changes into it first
    command = [str(Path(sys.executable).with_name("nbgrader")), *args]
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    if release_into is not None:
        env["LORA_COURSE_RELEASE_DIR"] = str(release_into)  # read by nbgrader_config.py
    return subprocess.run(command, cwd=GRADER, env=env, capture_output=True, text=True, check=False)


def release(assignments=ASSIGNMENTS) -> None:
    """solutions/ -> the release folder (notebooks/ unless $LORA_COURSE_RELEASE_DIR); also fills the gradebook."""
    for assignment in assignments:
        generate(assignment, release_dir())


def register(assignments=ASSIGNMENTS) -> None:
    """Make sure the gradebook knows each assignment as it is now in solutions/.

    nbgrader autograde refuses an assignment the gradebook has never seen, and only generate_assignment records
    one (its notebooks, graded cells and checksums). A new instructor folder (a clean clone, a new term) has an
    empty gradebook, so this generates into a private folder, leaving the committed release alone, and does it
    again whenever the source notebook changes.
    """
    for assignment in assignments:
        if not registered(assignment):
            generate(assignment, work_dir() / "release")


def generate(assignment: str, into: Path) -> None:
    done = nbgrader("generate_assignment", assignment, "--force", release_into=into)
    if done.returncode != 0 or not released_notebook(assignment, into).exists():
        raise RuntimeError(f"generate_assignment {assignment} failed:\n{done.stderr[-3000:]}")
    stamp = registration_stamp(assignment)
    stamp.parent.mkdir(parents=True, exist_ok=True)
    stamp.write_text(source_digest(assignment))


def registered(assignment: str) -> bool:
    from nbgrader.api import Gradebook, MissingEntry

    stamp = registration_stamp(assignment)
    if not stamp.exists() or stamp.read_text() != source_digest(assignment):
        return False
    with Gradebook(gradebook_url(), course_id="lora-course") as gradebook:
        try:
            gradebook.find_notebook(assignment, assignment)
        except MissingEntry:
            return False
    return True


def registration_stamp(assignment: str) -> Path:
    """The digest of the source notebook the gradebook was last filled from."""
    return work_dir() / "registered" / f"{assignment}.sha256"


def source_digest(assignment: str) -> str:
    return hashlib.sha256((REPO / "solutions" / assignment / f"{assignment}.ipynb").read_bytes()).hexdigest()


def release_dir() -> Path:
    return Path(os.environ.get("LORA_COURSE_RELEASE_DIR", REPO / "notebooks"))


def released_notebook(assignment: str, folder: Path | None = None) -> Path:
    return (folder or release_dir()) / assignment / f"{assignment}.ipynb"


def gradebook_url() -> str:
    return f"sqlite:///{work_dir() / 'gradebook.db'}"


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
    register(assignments)
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

    with Gradebook(gradebook_url(), course_id="lora-course") as gradebook:
        notebook = gradebook.find_submission_notebook(assignment, assignment, student)
        return Score(assignment, notebook.code_score, notebook.max_code_score, notebook.max_written_score, seconds)


def grades(student: str, assignment: str) -> dict[str, float]:
    """Points per graded cell (grade_id -> score) for one submission."""
    from nbgrader.api import Gradebook

    with Gradebook(gradebook_url(), course_id="lora-course") as gradebook:
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
    lines.append(f"{'total':24} {sum(s.auto for s in scores):>5g} / {sum(s.max_auto for s in scores):<5g} "
                 f"{'':>17} {total:>6.0f} s")
    return "\n".join(lines)


def reference_problems(student: str, assignments=ASSIGNMENTS) -> list[str]:
    """Why an autograded set of reference solutions falls short: a missed point, or a test cell that wrote to
    stderr (a warning there would show in every learner's feedback, and nbgrader may score the cell 0)."""
    import nbformat

    problems = []
    for assignment in assignments:
        score = read_score(student, assignment)
        if not (score.max_auto > 0 and score.auto == score.max_auto and score.max_manual > 0):
            problems.append(f"{assignment}: {score.auto:g} / {score.max_auto:g} auto-graded points, "
                            f"{score.max_manual:g} manual: {grades(student, assignment)}")
        executed = nbformat.read(work_dir() / "autograded" / student / assignment / f"{assignment}.ipynb", 4)
        for cell in executed.cells:
            nbgrader_meta = cell.metadata.get("nbgrader", {})
            if cell.cell_type == "code" and nbgrader_meta.get("grade"):
                stderr = [o.text for o in cell.outputs if o.output_type == "stream" and o.name == "stderr"]
                if stderr:
                    problems.append(f"{assignment}/{nbgrader_meta['grade_id']} wrote to stderr: {stderr}")
    return problems


def fingerprint() -> str | None:
    """What a demo's result depends on: the files it reads as they are now (tracked or new, not ignored) and the
    installed packages. None outside a git checkout (then nothing is taken as proven)."""
    try:
        listed = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard", "--",
                                 *DEMO_INPUTS], cwd=REPO, capture_output=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return None
    digest = hashlib.sha256()
    for name in sorted(set(filter(None, listed.split(b"\0")))):
        path = REPO / os.fsdecode(name)
        digest.update(name + b"\0" + (hashlib.sha256(path.read_bytes()).digest() if path.is_file() else b"-"))
    site = sorted({sysconfig.get_path("purelib"), sysconfig.get_path("platlib")})  # not sys.path: imports extend it
    installed = {f"{d.metadata['Name']}=={d.version}" for d in importlib.metadata.distributions(path=site)}
    digest.update(" ".join(sorted(installed)).encode())
    return digest.hexdigest()


def proof_path(work: Path | None = None) -> Path:
    return (work or work_dir()) / "demo-proof.json"


def write_proof(student: str, assignments) -> None:
    """Record that the reference solutions passed on exactly this code, so `make test` in the same checkout can
    check the demo's gradebook instead of executing all five notebooks again."""
    proof_path().write_text(json.dumps({"fingerprint": fingerprint(), "student": student,
                                        "assignments": list(assignments)}, indent=1))


def proven_student(assignments, work: Path | None = None) -> str | None:
    """The demo's student whose autograded reference solutions cover `assignments` on the code as it is now."""
    try:
        proof = json.loads(proof_path(work).read_text())
    except (OSError, ValueError):
        return None
    current = fingerprint()
    if current is None or proof.get("fingerprint") != current or not set(assignments) <= set(proof["assignments"]):
        return None
    return proof["student"]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("command", choices=("release", "submit", "autograde", "feedback", "demo"))
    parser.add_argument("student", nargs="?", default="reference")
    parser.add_argument("source", nargs="?", type=Path)
    parser.add_argument("--only", nargs="+", choices=ASSIGNMENTS, default=ASSIGNMENTS, metavar="ASSIGNMENT",
                        help="some of the assignments (default: all five)")
    args = parser.parse_args(argv)
    assignments = [a for a in ASSIGNMENTS if a in args.only]
    if args.command == "release":
        release(assignments)
    elif args.command == "submit":
        submit(args.student, args.source or REPO / "notebooks", assignments)
    elif args.command in ("autograde", "demo"):
        if args.command == "demo":
            proof_path().unlink(missing_ok=True)
            submit(args.student, REPO / "solutions", assignments)
        scores = autograde(args.student, assignments)
        print(table(scores))
        print(f"\ngradebook: {work_dir() / 'gradebook.db'}; executed notebooks: {work_dir() / 'autograded' / args.student}")
        if args.command == "demo":
            problems = reference_problems(args.student, assignments)
            if problems:
                print("The reference solutions must get every auto-graded point, silently:", *problems,
                      sep="\n", file=sys.stderr)
                return 1
            write_proof(args.student, assignments)
    elif args.command == "feedback":
        feedback(args.student, assignments)
        print(f"feedback: {work_dir() / 'feedback' / args.student}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
