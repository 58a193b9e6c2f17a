"""Instructor commands around nbgrader: release, collect, autograde, feedback, the formgrader, grades.csv.

    python grader/course.py release                 # solutions/ -> notebooks/ (nbgrader generate_assignment)
    python grader/course.py collect ZIPS            # ZIPS/<student>.zip -> submitted/<student>/<NN_name>/
    python grader/course.py submit STUDENT DIR      # copy DIR/<NN_name>/<NN_name>.ipynb into submitted/
    python grader/course.py autograde [STUDENT]     # grade everyone submitted (or one), write grades.csv
        --workers 2                                 #   notebooks at once on this machine; they split the cores
        --scheduler tcp://host:8786                 #   on an existing Dask cluster (or a scheduler file; $SCHEDULER)
        --force                                     #   regrade submissions that have not changed since last time
        --unsandboxed                               #   only where the sandbox is unavailable (flagged)
    python grader/course.py feedback [STUDENT]      # HTML feedback under feedback/
    python grader/course.py demo                    # submit the reference solutions, autograde, print scores
    python grader/course.py formgrader              # JupyterLab + formgrader for the written answers
    ... --only 01_dataset_preparation               # any command, for some of the assignments

One module per stage: release.py (the release, the base models, the fingerprint), intake.py (collect, submit),
engine.py (one Dask task per submission), pipeline.py (a submission graded on its worker: sandbox.py, then the
re-check of verdict.py), gradebook.py (the instructor's process records each result), feedback.py; limits.py holds every
limit, flags.py the flags' type. This file is the command line and the class-level autograde.
"""

import argparse
import json
import os
import sys
from pathlib import Path
from typing import NoReturn

import engine
import gradebook
import sandbox
from feedback import feedback
from intake import BadStudentName, check_name, collect, students, submit
from limits import memory_shortfall
from pipeline import Submission, grade_task, task_request
from release import fingerprint, prepare_models, registered_release, release

from lora_course.nbgrader_course import ASSIGNMENTS, RELEASE_DIR, SOURCE_DIR, exchange_dir, work_dir

GRADER = Path(__file__).resolve().parent
REPO = GRADER.parent


class SandboxUnavailable(RuntimeError):
    def __str__(self):
        return (f"Cannot grade in isolation: {self.args[0]}. Learner code would run with the instructor's rights, "
                "network and files. Install bubblewrap, or pass --unsandboxed to grade without isolation anyway.")


class MemoryShortfall(RuntimeError):
    """The sandbox would get less memory than grading needs: refused, so no learner loses points to this machine."""


def autograde(student: str | None = None, assignments=ASSIGNMENTS, workers: int = 1, unsandboxed: bool = False,
              scheduler: str | None = None, force: bool = False, allow_insecure: bool = False,
              progress: bool = False) -> list[gradebook.Score]:
    """Grade one student, or everyone under submitted/: one Dask task per (student, notebook), `workers` at once on
    an in-process LocalCluster, or on the cluster at `scheduler`. Each task gets cores // workers threads: two torch
    processes that each think they own the machine run ~10x slower than one.

    A submission graded before, unchanged (same notebooks up to this one, same release and environment), keeps its
    recorded score without running again unless `force`. Each student's notebooks run in course order (exercise 3
    reuses exercise 2's adapter); students run side by side."""
    if not unsandboxed and (reason := sandbox.unavailable_reason()):
        raise SandboxUnavailable(reason)
    if not unsandboxed and (reason := memory_shortfall()):
        raise MemoryShortfall(reason)
    gradebook.register(assignments)
    prepare_models()
    everyone = [check_name(student)] if student else students()
    # this machine's cores shared by its slots; on a cluster each worker shares its own (engine.run_task)
    threads = None if scheduler else max(1, (os.cpu_count() or 1) // max(1, workers))
    template, environment = gradebook.template(), fingerprint()
    tests = gradebook.code_points(assignments)
    scores, requests = [], []
    for submission in (Submission(name, assignment) for name in everyone for assignment in assignments):
        key = submission.cache_key(environment, unsandboxed)
        cached = None if force else gradebook.cached_score(submission, key)
        if cached is not None:
            scores.append(cached)
            if progress:
                print(f"unchanged since last graded: {cached.student} {cached.assignment} "
                      f"{cached.auto:g} / {cached.max_auto:g}", flush=True)
        else:
            requests.append({**task_request(submission, tests[submission.assignment],
                                            registered_release(submission.assignment), template, threads,
                                            unsandboxed), "cache_key": key})
    total = len(scores) + len(requests)

    def record_and_report(result: dict) -> None:
        score = gradebook.record_result(result)
        scores.append(score)
        if progress:
            print(engine.progress_line(len(scores), total, score.student, score.assignment,
                                       f"{score.auto:g} / {score.max_auto:g}", score.seconds), flush=True)

    engine.grade(engine.by_student(requests), record_and_report, scheduler, max(1, workers), allow_insecure)
    gradebook.write_grades_csv()
    return sorted(scores, key=lambda s: (everyone.index(s.student), assignments.index(s.assignment)))


def table(scores: list[gradebook.Score]) -> str:
    lines = [f"{'student':12} {'notebook':24} {'auto-graded':>12} {'written (manual)':>17} {'time':>8}  flags"]
    for s in scores:
        lines.append(f"{s.student[:12]:12} {s.assignment:24} {s.auto:>5g} / {s.max_auto:<5g} "
                     f"{'pending / ' + format(s.max_manual, 'g'):>17} {s.seconds:>6.0f} s  {len(s.flags) or ''}")
    total = sum(s.seconds for s in scores)
    lines.append(f"{'total':37} {sum(s.auto for s in scores):>5g} / {sum(s.max_auto for s in scores):<5g} "
                 f"{'':>17} {total:>6.0f} s")
    return "\n".join(lines)


def reference_problems(student: str, assignments=ASSIGNMENTS) -> list[str]:
    """Why an autograded set of reference solutions falls short: a missed point, a flag, or a test cell that wrote
    to stderr (a warning there would show in every learner's feedback, and nbgrader may score the cell 0)."""
    import nbformat

    problems = []
    submissions = [Submission(student, assignment) for assignment in assignments]
    for submission, score in zip(submissions, gradebook.scores(submissions), strict=True):
        if not (score.max_auto > 0 and score.auto == score.max_auto and score.max_manual > 0):
            problems.append(f"{score.assignment}: {score.auto:g} / {score.max_auto:g} auto-graded points, "
                            f"{score.max_manual:g} manual: {gradebook.grades(submission)}")
        problems += [f"{score.assignment}: flagged: {flag}" for flag in score.flags]
        for cell in nbformat.read(submission.autograded, 4).cells:
            nbgrader_meta = cell.metadata.get("nbgrader", {})
            if cell.cell_type == "code" and nbgrader_meta.get("grade"):
                stderr = [o.text for o in cell.outputs if o.output_type == "stream" and o.name == "stderr"]
                if stderr:
                    problems.append(f"{score.assignment}/{nbgrader_meta['grade_id']} wrote to stderr: {stderr}")
    return problems


def formgrader(arguments: list[str]) -> NoReturn:
    """JupyterLab for grading written answers, started so the formgrader's links work: nbgrader's config is read
    from this folder, and the server's root holds solutions/, the release and the instructor folder (its Edit and
    Preview links are paths relative to that root; outside it they are 404s).

    This process becomes JupyterLab (exec), so a stop signal reaches the server itself: as a child, it outlived a
    terminated `course.py formgrader` (one orphaned server per formgrader test run)."""
    root = os.path.commonpath([REPO, work_dir().resolve()])
    exchange_dir().mkdir(parents=True, exist_ok=True)  # nbgrader_config.py: c.Exchange.root
    command = [str(Path(sys.executable).with_name("jupyter")), "lab", f"--ServerApp.root_dir={root}", *arguments]
    if os.geteuid() == 0:  # a container or CI runner: Jupyter refuses root unless told
        command.append("--allow-root")
    os.chdir(GRADER)
    os.execv(command[0], command)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("command", choices=("release", "submit", "collect", "autograde", "feedback", "demo",
                                            "formgrader", "grade-task"))
    parser.add_argument("student", nargs="?", help="one student (autograde, feedback: default everyone submitted)")
    parser.add_argument("source", nargs="?", type=Path)
    parser.add_argument("--only", nargs="+", choices=ASSIGNMENTS, default=ASSIGNMENTS, metavar="ASSIGNMENT",
                        help="some of the assignments (default: all five)")
    parser.add_argument("--workers", type=int, default=1,
                        help="submissions graded at once on this machine; they share the cores (default 1)")
    parser.add_argument("--scheduler", default=os.environ.get("SCHEDULER") or None,
                        help="grade on an existing Dask cluster: tcp://host:8786, tls://..., or a scheduler file "
                             "(default: an in-process cluster of --workers slots)")
    parser.add_argument("--insecure", action="store_true", help="allow a remote scheduler without TLS")
    parser.add_argument("--force", action="store_true", help="regrade submissions that have not changed")
    parser.add_argument("--unsandboxed", action="store_true",
                        help="grade without isolation where the sandbox is unavailable (flagged on every row)")
    args, extra = parser.parse_known_args(argv)
    if args.command == "formgrader":
        return formgrader([a for a in [args.student, *extra] if a])
    if args.command == "grade-task":  # what an engine task runs on its worker: one request in, one JSON line out
        print(json.dumps(grade_task(json.load(sys.stdin))))
        return 0
    if extra:
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    assignments = [a for a in ASSIGNMENTS if a in args.only]
    try:
        return run(args, assignments)
    except (SandboxUnavailable, MemoryShortfall, engine.EngineRefused, BadStudentName) as error:
        print(error, file=sys.stderr)
        return 2


def run(args, assignments) -> int:
    if args.command == "release":
        release(assignments)
    elif args.command == "submit":
        submit(args.student or "reference", args.source or RELEASE_DIR, assignments)
    elif args.command == "collect":
        for student in collect(Path(args.student or "."), assignments):
            print(f"collected {student}")
    elif args.command in ("autograde", "demo"):
        student = args.student
        if args.command == "demo":
            student = student or "reference"
            submit(student, SOURCE_DIR, assignments)
        scores = autograde(student, assignments, args.workers, args.unsandboxed, args.scheduler,
                           args.force or args.command == "demo", args.insecure, progress=True)
        print(table(scores))
        print(f"\ngradebook: {work_dir() / 'gradebook.db'}; grades: {work_dir() / 'grades.csv'}")
        for score in scores:
            for flag in score.flags:
                print(f"FLAG {score.student}/{score.assignment}: {flag}")
        if args.command == "demo" and (problems := reference_problems(student, assignments)):
            print("The reference solutions must get every auto-graded point, silently:", *problems,
                  sep="\n", file=sys.stderr)
            return 1
    elif args.command == "feedback":
        for student in [check_name(args.student)] if args.student else students():
            feedback(student, assignments)
            print(f"feedback: {work_dir() / 'feedback' / student}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
