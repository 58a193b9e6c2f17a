"""Where course data and caches live, independent of the working directory.

nbgrader executes notebooks inside its own folders, so nothing may rely on the cwd.
"""

import os
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
DATA_DIR = Path(os.environ.get("LORA_COURSE_DATA", REPO_ROOT / "data"))


def cache_dir() -> Path:
    """Converted base models are cached here (override with $LORA_COURSE_CACHE)."""
    if "LORA_COURSE_CACHE" in os.environ:
        return Path(os.environ["LORA_COURSE_CACHE"])
    base = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache"))
    return base / "lora-course"


def data_file(name: str) -> Path:
    return DATA_DIR / name
