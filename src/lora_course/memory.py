"""This process's peak memory: the one reading behind every memory figure the course prints."""

import math
import sys

import psutil

PROC_STATUS = "/proc/self/status"  # Linux only


def peak_rss_mb() -> float:
    """This process's peak resident memory in MiB, or NaN where this platform cannot tell (never a wrong number).

    Linux: VmHWM, which starts afresh in a new program; `ru_maxrss` would report a large parent's peak for a child
    started by fork + exec (e.g. from a notebook kernel or pytest). Windows has no `resource` module: psutil's peak
    working set. macOS: `ru_maxrss`, which counts bytes there (kilobytes on Linux).
    """
    try:
        with open(PROC_STATUS) as status:
            return next(int(line.split()[1]) for line in status if line.startswith("VmHWM:")) / 1024
    except (OSError, StopIteration):
        pass
    peak_working_set = getattr(psutil.Process().memory_info(), "peak_wset", None)
    if peak_working_set is not None:
        return peak_working_set / 2**20
    try:
        import resource  # not on Windows: imported here so the module loads everywhere
    except ImportError:
        return math.nan
    maxrss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return maxrss / 2**20 if sys.platform == "darwin" else maxrss / 1024


def format_mb(mb: float) -> str:
    """A memory figure for people: `peak_rss_mb` gives NaN where the platform cannot measure it."""
    return "not available on this platform" if math.isnan(mb) else f"{mb:.0f} MB"
