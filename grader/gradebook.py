"""The course gradebook, written by the instructor's process alone: each assignment registered before grading, one
session per graded submission (scores, comments, the flag), the flags and timings beside it, and grades.csv.

nbgrader exits 0 even when tests fail, so every score is read back from the gradebook (nbgrader.api).
"""

import csv
import json
import sqlite3
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

from flags import Flag
from pipeline import Submission
from release import generate, registration_stamp, source_digest

from lora_course.nbgrader_course import ASSIGNMENTS, COURSE_ID, work_dir


@dataclass
class Score:
    assignment: str
    auto: float          # points from autograded test cells (the lower of the kernel's and the re-check's)
    max_auto: float
    max_manual: float    # written answers, graded by a person in the formgrader
    seconds: float       # autograde wall time: executing the notebook (twice: kernel, re-check) dominates it
    student: str = ""
    flags: tuple[Flag, ...] = ()


def gradebook_url() -> str:
    return f"sqlite:///{work_dir() / 'gradebook.db'}"


def opened():
    from nbgrader.api import Gradebook

    return Gradebook(gradebook_url(), course_id=COURSE_ID)


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


def registered(assignment: str) -> bool:
    stamp = registration_stamp(assignment)
    if not stamp.exists() or stamp.read_text() != source_digest(assignment):
        return False
    with opened() as gradebook:
        return registered_in(gradebook, assignment)


def code_points(assignments) -> dict[str, dict[str, float]]:
    """Each assignment's auto-graded test cells and their points, as registered in the gradebook."""
    with opened() as gradebook:
        return {assignment: {cell.name: cell.max_score
                             for cell in gradebook.find_notebook(assignment, assignment).grade_cells
                             if cell.cell_type == "code"}
                for assignment in assignments}


def template() -> Path:
    """The course gradebook without any student: what each grading task copies for nbgrader autograde to write,
    so that nbgrader never writes the course gradebook itself (a worker may be another machine)."""
    from nbgrader.api import Gradebook

    path = work_dir() / "engine" / "gradebook-template.db"
    path.parent.mkdir(parents=True, exist_ok=True)
    scratch = path.with_suffix(".tmp")
    with sqlite3.connect(work_dir() / "gradebook.db") as source, sqlite3.connect(scratch) as copy:
        source.backup(copy)
    with Gradebook(f"sqlite:///{scratch}", course_id=COURSE_ID) as gradebook:
        for student in list(gradebook.students):
            gradebook.remove_student(student.id)
    scratch.replace(path)
    return path


def record_result(result: dict) -> Score:
    """The lower of the kernel's and the re-check's score per test, written to the course gradebook in one session
    with the written answers' comments and the flag; the flags, timings and cache key beside it."""
    started = time.perf_counter()
    submission = Submission(result["student"], result["assignment"])
    if "error" in result:  # the worker could not grade it (not the learner's code: that is caught in grade_task)
        result = {**result, "kernel": {}, "comments": {}, "timings": {}, "slowest_cells": [], "cache_key": None,
                  "rechecked": dict.fromkeys(code_points([submission.assignment])[submission.assignment], 0.0),
                  "flags": [Flag("worker-failed", f"grading failed on the worker: {result['error']}").to_json()]}
    flags = [Flag.from_json(flag) for flag in result["flags"]]
    kernel, rechecked = result["kernel"], result["rechecked"]
    final = {}
    for grade_id, again in rechecked.items():
        kernel_score = kernel.get(grade_id) or 0.0  # None: nbgrader never ran the test
        if again is None:
            flags.append(Flag("recheck-unreached", f"{grade_id}: the re-check never reached this test"))
        elif kernel and again != kernel_score:
            why = result.get("recheck_failures", {}).get(grade_id)
            flags.append(Flag("recheck-differs", f"{grade_id}: {kernel_score:g} points in the learner's kernel, "
                                                 f"{again:g} when re-checked" + (f" ({why})" if why else "")))
        final[grade_id] = min(kernel_score, again or 0.0)
    with opened() as gradebook:
        notebook = write_submission(gradebook, submission, final, kernel, result["comments"], bool(flags))
        score = Score(submission.assignment, notebook.code_score, notebook.max_code_score,
                      notebook.max_written_score, 0.0, submission.student, tuple(flags))
    write_json(submission.record("flags"), [flag.to_json() for flag in flags])
    write_json(submission.record("engine/results"), {"cache_key": result.get("cache_key")})
    timings = {**result["timings"], "record": time.perf_counter() - started}
    write_json(submission.record("timings"), {"phases": {k: round(v, 2) for k, v in timings.items()},
                                              "slowest_cells": result["slowest_cells"]})
    score.seconds = sum(timings.values())
    return score


def write_submission(gradebook, submission: Submission, final: dict, kernel: dict, comments: dict, flagged: bool):
    """One submission's row (created if new): the scores decided here for the tests, the kernel's for what a person
    grades (None: written answers), nbgrader's auto-comments, the flag."""
    from sqlalchemy.exc import SAWarning

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SAWarning)  # nbgrader's add_submission builds rows before adding them
        gradebook.update_or_create_student(submission.student)
        gradebook.update_or_create_submission(submission.assignment, submission.student)
    notebook = gradebook.find_submission_notebook(submission.assignment, submission.assignment, submission.student)
    for grade in notebook.grades:
        grade.auto_score = final[grade.name] if grade.name in final else kernel.get(grade.name)
        # nbgrader's own rule (SaveAutoGrades): a person looks at it if they scored it before or nothing did
        grade.needs_manual_grade = grade.manual_score is not None or grade.auto_score is None
    for comment in notebook.comments:
        if comment.name in comments:
            comment.auto_comment = comments[comment.name]
    notebook.flagged = flagged
    gradebook.db.commit()
    return notebook


def write_json(path: Path, value) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(value, indent=1))


def read_flags(submission: Submission) -> tuple[Flag, ...]:
    try:
        return tuple(Flag.from_json(flag) for flag in json.loads(submission.record("flags").read_text()))
    except (OSError, ValueError, TypeError):
        return ()


def read_score(gradebook, submission: Submission) -> Score:
    notebook = gradebook.find_submission_notebook(submission.assignment, submission.assignment, submission.student)
    return Score(submission.assignment, notebook.code_score, notebook.max_code_score, notebook.max_written_score,
                 0.0, submission.student, read_flags(submission))


def scores(submissions) -> list[Score]:
    with opened() as gradebook:
        return [read_score(gradebook, submission) for submission in submissions]


def cached_score(submission: Submission, key: str | None) -> Score | None:
    """The recorded score of a submission graded before with the same key, if the gradebook still holds it."""
    try:
        if key is None or json.loads(submission.record("engine/results").read_text()).get("cache_key") != key:
            return None
        return scores([submission])[0]
    except Exception:  # noqa: BLE001 - no file, not JSON, not in the gradebook: grade it
        return None


def grades(submission: Submission) -> dict[str, float]:
    """Points per graded cell (grade_id -> score) for one submission."""
    with opened() as gradebook:
        notebook = gradebook.find_submission_notebook(submission.assignment, submission.assignment,
                                                      submission.student)
        return {grade.name: grade.score for grade in notebook.grades}


def write_grades_csv() -> Path:
    """grades.csv in the instructor folder: one row per student and assignment that has been through autograde."""
    path = work_dir() / "grades.csv"
    flagged = work_dir() / "flags"
    rows = []
    with opened() as gradebook:
        most = {a: gradebook.find_notebook(a, a) for a in ASSIGNMENTS if registered_in(gradebook, a)}
        for student in sorted(p.name for p in flagged.iterdir()) if flagged.exists() else []:
            for assignment, notebook in most.items():
                submission = Submission(student, assignment)
                if not submission.record("flags").exists():
                    continue
                try:
                    auto = read_score(gradebook, submission).auto
                except Exception:  # noqa: BLE001 - flagged before nbgrader could grade it
                    auto = 0.0
                rows.append([student, assignment, f"{auto:g}", f"{notebook.max_code_score:g}",
                             f"{notebook.max_written_score:g}", "; ".join(map(str, read_flags(submission)))])
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["student", "assignment", "auto_score", "max_auto_score", "manual_max", "flags"])
        writer.writerows([as_text(cell) for cell in row] for row in rows)
    return path


def as_text(cell: str) -> str:
    """A cell a spreadsheet shows as text, never runs as a formula (OWASP's CSV-injection rule): flags and names
    can hold text that came out of the sandbox."""
    return "'" + cell if cell[:1] in ("=", "+", "-", "@", "\t", "\r") else cell


def registered_in(gradebook, assignment: str) -> bool:
    from nbgrader.api import MissingEntry

    try:
        gradebook.find_notebook(assignment, assignment)
        return True
    except MissingEntry:
        return False
