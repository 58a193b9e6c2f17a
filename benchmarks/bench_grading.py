"""Grading throughput: seconds per submission and submissions per hour with 1 and 2 workers.

A class of N copies of the reference solution (every one a full run: sandboxed kernel, then the re-check) is
graded in a fresh instructor folder, once with one worker (all cores to it) and once with two (each gets half the
cores, so they do not fight: two torch processes that each take every core run ~10x slower). Both runs are in the
same process, one after the other, nothing else running.

    make bench-grading                                                  # notebook 01, 10 students
    .venv/bin/python benchmarks/bench_grading.py --only 02_lora_fine_tuning --students 4
"""

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "grader"))
import course  # noqa: E402


def grade_class(students: int, assignments: list[str], workers: int) -> tuple[float, list[course.Score]]:
    with tempfile.TemporaryDirectory(prefix="bench-grading-") as folder:
        os.environ["LORA_COURSE_GRADER_DIR"] = folder
        for number in range(students):
            course.submit(f"student{number:02d}", REPO / "solutions", assignments)
        course.register(assignments)
        start = time.perf_counter()
        scores = course.autograde(None, assignments, workers=workers)
        return time.perf_counter() - start, scores


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--students", type=int, default=10)
    parser.add_argument("--only", nargs="+", default=["01_dataset_preparation"], choices=course.ASSIGNMENTS)
    args = parser.parse_args()
    rows = []
    for workers in (1, 2):
        print(f"grading {args.students} students x {', '.join(args.only)} with {workers} worker(s)...",
              file=sys.stderr, flush=True)
        seconds, scores = grade_class(args.students, args.only, workers)
        full = sum(s.auto == s.max_auto and not s.flags for s in scores)
        rows.append((workers, seconds, len(scores), full))
    print("| notebook | workers | threads each | submissions | full marks | wall | s / submission | per hour |")
    print("|---|---|---|---|---|---|---|---|")
    for workers, seconds, count, full in rows:
        threads = max(1, (os.cpu_count() or 1) // workers)
        print(f"| {', '.join(args.only)} | {workers} | {threads} | {count} | {full} | {seconds:.0f} s | "
              f"{seconds / count:.1f} | {3600 * count / seconds:.0f} |")
    print(f"\n2 workers vs 1: x{rows[0][1] / rows[1][1]:.2f} throughput (cpu_count {os.cpu_count()})")


if __name__ == "__main__":
    main()
