"""Grading cost: one student's five notebooks graded vs executed once plainly, where the time goes, and a class.

1. Plain: the five reference notebooks executed once, in order, with `jupyter nbconvert --execute` (no sandbox, no
   re-check, no grading): the baseline a graded submission is measured against.
2. Graded: the same notebooks submitted by one student and graded by `course.autograde` in a fresh instructor
   folder (sandboxed kernel, re-check, record). The per-release work (registering the assignments, converting the
   models) is done before the clock starts: it is paid once per course, not per student.
3. A class of copies of the reference graded with 1 slot (all cores) and with 2 slots (half the cores each), the
   throughput ratio; then a projection for 300 students from the measured per-student cost.

Everything runs one after the other in this process: two torch processes on 2 cores run ~10x slower than one.

    make bench-grading                                           # all of it; notebook 01 for the class
    .venv/bin/python benchmarks/bench_grading.py --class-only 02_lora_fine_tuning --students 2 --skip-single
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "grader"))
import course  # noqa: E402
import gradebook  # noqa: E402
import release  # noqa: E402
from pipeline import Submission  # noqa: E402

from lora_course.nbgrader_course import ASSIGNMENTS, CELL_TIMEOUT_SECONDS, GRADER_DIR_ENV, RUN_ARTEFACTS, SOURCE_DIR  # noqa: E402

PHASES = ("prepare", "kernel", "recheck", "record")


def plain_run(assignments) -> dict[str, float]:
    """Seconds per notebook for one `jupyter nbconvert --execute` of each reference notebook, in course order."""
    seconds = {}
    with tempfile.TemporaryDirectory(prefix="bench-plain-") as folder:
        for name in assignments:
            shutil.copytree(SOURCE_DIR / name, Path(folder) / name,
                            ignore=shutil.ignore_patterns(*RUN_ARTEFACTS))
        for name in assignments:
            started = time.perf_counter()
            done = subprocess.run([str(Path(sys.executable).with_name("jupyter")), "nbconvert", "--execute",
                                   "--to", "notebook", "--inplace", f"--ExecutePreprocessor.timeout="
                                   f"{CELL_TIMEOUT_SECONDS}", f"{name}.ipynb"],
                                  cwd=Path(folder) / name, capture_output=True, text=True)
            seconds[name] = time.perf_counter() - started
            if done.returncode != 0:
                raise SystemExit(f"plain run of {name} failed:\n{done.stderr[-2000:]}")
            print(f"  plain {name}: {seconds[name]:.0f} s", file=sys.stderr, flush=True)
    return seconds


def fresh_course(students: int, assignments) -> None:
    os.environ[GRADER_DIR_ENV] = tempfile.mkdtemp(prefix="bench-grading-")
    for number in range(students):
        course.submit(f"student{number:02d}", SOURCE_DIR, assignments)
    gradebook.register(assignments)
    release.prepare_models()


def graded_run(students: int, assignments, workers: int) -> tuple[float, list]:
    fresh_course(students, assignments)
    started = time.perf_counter()
    scores = course.autograde(None, assignments, workers=workers, force=True, progress=True)
    seconds = time.perf_counter() - started
    return seconds, scores


def phases(student: str, assignment: str) -> dict:
    return json.loads(Submission(student, assignment).record("timings").read_text())


def single_student(assignments) -> float:
    """Plain vs graded for one student; prints the per-phase table. Returns graded seconds per student."""
    print("executing the reference notebooks once, plainly ...", file=sys.stderr, flush=True)
    plain = plain_run(assignments)
    print("grading the same notebooks as one student ...", file=sys.stderr, flush=True)
    graded, scores = graded_run(1, assignments, workers=1)
    print("| notebook | plain | graded | " + " | ".join(PHASES)
          + " | graded / plain | score | slowest cells (kernel run) |")
    print("|---|---|---|" + "---|" * len(PHASES) + "---|---|---|")
    for score in scores:
        timing = phases(score.student, score.assignment)
        cells = ", ".join(f"{c['grade_id'] or 'cell ' + str(c['cell'])} {c['seconds']:.0f} s"
                          for c in timing["slowest_cells"][:3])
        print(f"| {score.assignment} | {plain[score.assignment]:.0f} s | {score.seconds:.0f} s | "
              + " | ".join(f"{timing['phases'].get(p, 0):.0f} s" for p in PHASES)
              + f" | x{score.seconds / plain[score.assignment]:.2f} | {score.auto:g} / {score.max_auto:g} | {cells} |")
    total_plain = sum(plain.values())
    print(f"| all | {total_plain:.0f} s | {graded:.0f} s | " + " | ".join(
        f"{sum(phases(s.student, s.assignment)['phases'].get(p, 0) for s in scores):.0f} s" for p in PHASES)
        + f" | x{graded / total_plain:.2f} | {sum(s.auto for s in scores):g} / {sum(s.max_auto for s in scores):g} |"
        " |")
    print(f"\ngraded / plain: x{graded / total_plain:.2f} ({graded:.0f} s graded, wall, vs {total_plain:.0f} s "
          "plain; the graded wall time includes starting the engine)")
    return graded


def a_class(students: int, assignments) -> None:
    rows = []
    for workers in (1, 2):
        print(f"grading {students} students x {', '.join(assignments)} with {workers} slot(s) ...", file=sys.stderr,
              flush=True)
        seconds, scores = graded_run(students, assignments, workers)
        full = sum(s.auto == s.max_auto and not s.flags for s in scores)
        rows.append((workers, seconds, len(scores), full))
    print("\n| notebooks | slots | threads each | submissions | full marks | wall | s / submission | per hour |")
    print("|---|---|---|---|---|---|---|---|")
    for workers, seconds, count, full in rows:
        threads = max(1, (os.cpu_count() or 1) // workers)
        print(f"| {', '.join(assignments)} | {workers} | {threads} | {count} | {full} | {seconds:.0f} s | "
              f"{seconds / count:.1f} | {3600 * count / seconds:.0f} |")
    print(f"\n2 slots vs 1: x{rows[0][1] / rows[1][1]:.2f} throughput (cpu_count {os.cpu_count()})")


def projection(per_student: float, students: int = 300) -> None:
    """A class on N machines like this one, one slot each, from the measured cost of one student's five notebooks
    (the class above shows what a second slot adds on notebook 01; training notebooks need the cores themselves)."""
    print(f"\nprojection for {students} students (all five notebooks, {per_student:.0f} s per student with one slot "
          "on one machine like this one):")
    print("| machines | wall |\n|---|---|")
    for machines in (1, 4, 16, 64):
        print(f"| {machines} | {students * per_student / machines / 3600:.1f} h |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--students", type=int, default=6, help="class size for the slots comparison (default 6)")
    parser.add_argument("--class-only", nargs="+", default=["01_dataset_preparation"], choices=ASSIGNMENTS,
                        metavar="ASSIGNMENT",
                        help="the class's notebooks (default 01; all five for 2 students: ~33 min on 2 cores)")
    parser.add_argument("--skip-single", action="store_true", help="skip plain vs graded for one student")
    args = parser.parse_args()
    per_student = None if args.skip_single else single_student(list(ASSIGNMENTS))
    a_class(args.students, args.class_only)
    if per_student is not None:
        projection(per_student)


if __name__ == "__main__":
    main()
