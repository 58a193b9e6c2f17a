"""A learner's week, timed: the five release notebooks filled with the reference answers, executed in course order
as a learner runs them (not a graded run: every demonstration at full size, no hidden test), with the real model.

Prints each notebook's wall and CPU seconds (the kernel's own and its children's), the source of the "about N min of
computing" line at the top of each notebook, and fails on the first cell that raises. Notebook 3 reads the adapter
notebook 2 saved, as in the learner's folder.

    make notebook-times                                        # about 10 minutes on 2 cores
    .venv/bin/python benchmarks/notebook_times.py 05_mini_project   # one notebook
"""

import os
import platform
import shutil
import sys
import tempfile
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "grader"))
from release import filled_release  # noqa: E402

from lora_course.nbgrader_course import ASSIGNMENTS, CELL_TIMEOUT_SECONDS, RELEASE_DIR, SOURCE_DIR  # noqa: E402

CPU_PROBE = ("import psutil; _t = psutil.Process().cpu_times(); "
             "print(_t.user + _t.system + _t.children_user + _t.children_system)")


def run(name: str, folder: Path) -> tuple[float, float]:
    """Wall and CPU seconds of one notebook, executed in `folder/name`."""
    release = nbformat.read(RELEASE_DIR / name / f"{name}.ipynb", as_version=4)
    notebook = filled_release(release, nbformat.read(SOURCE_DIR / name / f"{name}.ipynb", as_version=4))
    notebook.cells.append(nbformat.v4.new_code_cell(CPU_PROBE))
    (folder / name).mkdir()
    nbformat.write(notebook, folder / name / f"{name}.ipynb")  # saved, as a learner's is: 03 and 05 quote it
    started = time.perf_counter()
    NotebookClient(notebook, timeout=CELL_TIMEOUT_SECONDS, kernel_name="python3",
                   resources={"metadata": {"path": str(folder / name)}}).execute()
    wall = time.perf_counter() - started
    nbformat.write(notebook, folder / name / f"{name}.ipynb")
    return wall, float(notebook.cells[-1].outputs[0].text)


def main(names=ASSIGNMENTS) -> None:
    for key in ("LORA_COURSE_MODEL", "NBGRADER_EXECUTION"):  # the real model, as a learner's kernel has it
        os.environ.pop(key, None)
    folder = Path(tempfile.mkdtemp(prefix="notebook-times-"))
    print(f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs; executed in {folder}\n")
    print("| notebook | wall s | CPU s |\n|---|---|---|")
    total = 0.0
    for name in names:
        wall, cpu = run(name, folder)
        total += wall
        print(f"| {name} | {wall:.0f} | {cpu:.0f} |", flush=True)
    print(f"| all five | {total:.0f} | |")
    shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main(sys.argv[1:] or ASSIGNMENTS)  # a subset in course order, e.g. 05_mini_project (one that needs no other)
