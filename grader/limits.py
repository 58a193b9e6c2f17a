"""Every limit grading puts on a submission, in one place: the sandbox, nbgrader, the re-check and intake read it.

Two can be changed from the environment, for a machine with less memory or a test that needs a quick stop:
LORA_COURSE_NOTEBOOK_SECONDS and LORA_COURSE_SANDBOX_MEMORY_GB. They are read at each call of `limits()`, in the
process that applies them (a grading task, the sandbox's kernel launcher), so a test can set them for one run.
"""

import os
import resource
from dataclasses import dataclass

from lora_course.nbgrader_course import CELL_TIMEOUT_SECONDS


@dataclass(frozen=True)
class Limits:
    notebook_seconds: int = 1800      # one run of a notebook (the kernel's, then the re-check's in all)
    cell_seconds: int = CELL_TIMEOUT_SECONDS  # one cell in the kernel (nbgrader's Execute.timeout)
    call_seconds: int = 120           # one call of a learner's function by the re-check (one input)
    sandbox_memory_gb: float = 10     # address space of each process in the sandbox
    file_mb: int = 512                # largest file learner code may write (the adapter and checkpoints: a few MB)
    tmp_mb: int = 1024                # the sandbox's /tmp, in memory
    processes: int = 512              # threads count too: torch and ipykernel start a few dozen
    notebook_mb: int = 50             # a submitted notebook, in a learner's zip
    output_kb: int = 512              # one output of an executed notebook; longer ones are cut (flagged)
    nbgrader_memory_gb: int = 6       # the instructor-side nbgrader process holds every output the kernel sends


def limits() -> Limits:
    return Limits(notebook_seconds=int(os.environ.get("LORA_COURSE_NOTEBOOK_SECONDS", Limits.notebook_seconds)),
                  sandbox_memory_gb=float(os.environ.get("LORA_COURSE_SANDBOX_MEMORY_GB", Limits.sandbox_memory_gb)))


def within_hard_limit(kind: int, value: int) -> int:
    """`value`, or this process's hard limit of that kind where it is lower: setrlimit cannot raise a hard limit
    (an instructor's shell may have one), and a traceback from a child's preexec_fn says nothing useful."""
    hard = resource.getrlimit(kind)[1]
    return value if hard == resource.RLIM_INFINITY else min(value, hard)


def memory_shortfall() -> str | None:
    """Why the sandbox would get less memory than the limit says (a lower hard RLIMIT_AS here), or None."""
    wanted = int(limits().sandbox_memory_gb * (1 << 30))
    if within_hard_limit(resource.RLIMIT_AS, wanted) < wanted:
        hard = resource.getrlimit(resource.RLIMIT_AS)[1] / (1 << 30)
        return (f"this shell's hard address-space limit (`ulimit -Hv`) is {hard:.1f} GB, below the sandbox's "
                f"{limits().sandbox_memory_gb:g} GB per process, so training notebooks would run out of memory. "
                f"Grade from a shell without that limit, or set LORA_COURSE_SANDBOX_MEMORY_GB={hard:.1f} to accept it")
    return None
