"""Submissions into the instructor folder: learners' zip files (collect) or a folder of notebooks (submit)."""

import re
import shutil
import sys
import zipfile
from pathlib import Path

from limits import limits
from pipeline import Submission

from lora_course.nbgrader_course import ASSIGNMENTS, work_dir

STUDENT = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@+-]{0,63}")  # a folder name, a gradebook id and a grades.csv cell
NAME_RULE = ("a student name is 1-64 letters, digits and . _ @ + -, starting with a letter or a digit "
             "(no spaces, commas, quotes, slashes or glob characters)")


class BadStudentName(ValueError):
    pass


def check_name(student: str) -> str:
    if not STUDENT.fullmatch(student):
        raise BadStudentName(f"{student!r}: {NAME_RULE}")
    return student


def submit(student: str, source: Path, assignments=ASSIGNMENTS) -> None:
    """Place a learner's notebooks where nbgrader expects submissions (what `nbgrader collect` would do)."""
    check_name(student)
    for assignment in assignments:
        target = Submission(student, assignment)
        shutil.rmtree(target.folder("submitted"), ignore_errors=True)
        target.folder("submitted").mkdir(parents=True)
        shutil.copy(Path(source) / assignment / f"{assignment}.ipynb", target.submitted)


def collect(folder: Path, assignments=ASSIGNMENTS) -> list[str]:
    """Learners' zip files (`<student>.zip`, e.g. their handout folder zipped) -> submitted/<student>/.

    Only the assignment notebooks are taken out (by name, wherever they lie in the zip, at most the limit's
    notebook_mb each); nothing else in a zip is extracted, so a crafted path cannot write outside submitted/."""
    collected, most = [], limits().notebook_mb << 20
    for archive in sorted(Path(folder).glob("*.zip")):
        student = archive.stem
        try:
            check_name(student)
        except BadStudentName as error:
            print(f"skipped {archive.name}: {error}; rename the zip to <student>.zip", file=sys.stderr)
            continue
        try:
            with zipfile.ZipFile(archive) as zipped:
                members = {Path(info.filename).name: info for info in zipped.infolist() if not info.is_dir()}
                for assignment in assignments:
                    info = members.get(f"{assignment}.ipynb")
                    if info is None or info.file_size > most:
                        continue
                    target = Submission(student, assignment).submitted
                    target.parent.mkdir(parents=True, exist_ok=True)
                    target.write_bytes(zipped.read(info))
        except zipfile.BadZipFile:
            print(f"skipped {archive.name}: not a zip file", file=sys.stderr)
            continue
        collected.append(student)
    return collected


def students() -> list[str]:
    """Everyone with a folder under submitted/ (what `collect` or `submit` put there)."""
    folder = work_dir() / "submitted"
    names = sorted(p.name for p in folder.iterdir() if p.is_dir()) if folder.exists() else []
    valid = [name for name in names if STUDENT.fullmatch(name)]
    for name in sorted(set(names) - set(valid)):
        print(f"not graded: submitted/{name!r}: {NAME_RULE}", file=sys.stderr)
    return valid
