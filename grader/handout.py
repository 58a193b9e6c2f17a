"""Build dist/handout.zip: the folder learners receive instead of a clone of this repository.

    python grader/handout.py [--out dist/handout.zip]

One top folder, `lora-course/`, holding the release notebooks (nbgrader's output in notebooks/, copied as they
are), data/, the helper package src/lora_course/, pyproject.toml, and a learner README.md, Makefile and
nbgrader_config.py (templates in grader/handout/; the config gives nbgrader's Validate the course's cell
timeout). Nothing from solutions/, grader/ or tests/ goes in. Because src/ and data/ keep their places under the top
folder, `lora_course.paths.REPO_ROOT` of an editable install (`make setup` there) is that folder, so
`data_file()` reads the handout's own data.

The build refuses to write a zip that carries a solution or hidden-test marker, a line of a reference solution,
a hidden test or a model answer from solutions/, or a release notebook with outputs (an instructor who tried the
exercises in notebooks/ and saved them would otherwise hand out their own answers).
"""

import argparse
import json
import re
import sys
import zipfile
from pathlib import Path

from lora_course.nbgrader_course import ASSIGNMENTS

GRADER = Path(__file__).resolve().parent
REPO = GRADER.parent
TOP = "lora-course"  # the folder learners unpack (named after the package), not nbgrader's COURSE_ID
DEFAULT_OUT = REPO / "dist" / "handout.zip"
TEMPLATES = GRADER / "handout"
MARKERS = ("BEGIN SOLUTION", "END SOLUTION", "BEGIN HIDDEN TESTS", "END HIDDEN TESTS")
SKIPPED = ("__pycache__", ".ipynb_checkpoints", ".DS_Store")  # caches and editor leftovers, never course files
SECRET = re.compile(r"### BEGIN (SOLUTION|HIDDEN TESTS)\n(.*?)### END \1", re.S)
ZIP_TIME = (1980, 1, 1, 0, 0, 0)  # fixed, so the same files always give the same zip


class HandoutError(RuntimeError):
    """The handout would give learners something they must not have; nothing is written."""


def handout_files(repo: Path = REPO) -> dict[str, Path]:
    """Where each file of the handout comes from, by its path under the top folder (sorted)."""
    files = {"README.md": TEMPLATES / "README.md", "Makefile": TEMPLATES / "Makefile",
             "nbgrader_config.py": TEMPLATES / "nbgrader_config.py",
             "pyproject.toml": repo / "pyproject.toml", "notebooks/README.md": repo / "notebooks" / "README.md"}
    for name in ASSIGNMENTS:
        files[f"notebooks/{name}/{name}.ipynb"] = repo / "notebooks" / name / f"{name}.ipynb"
    for folder in ("data", "src/lora_course"):
        for path in (repo / folder).rglob("*"):
            if path.is_file() and not set(path.relative_to(repo).parts) & set(SKIPPED) and path.suffix != ".pyc":
                files[path.relative_to(repo).as_posix()] = path
    missing = [name for name, path in files.items() if not path.is_file()]
    if missing:
        raise HandoutError(f"missing from the checkout: {', '.join(missing)}")
    return dict(sorted(files.items()))


def secret_lines(repo: Path = REPO, min_chars: int = 26) -> set[str]:
    """Lines only the instructor may see: the solution and hidden-test regions and the model written answers of
    every notebook in solutions/, stripped, at least min_chars long.

    A line that is also public is left out: one in the public part of any solution notebook (what nbgrader keeps
    in a release), or in the helper package, which learners get anyway and which holds a few lines identical to
    the reference code (a table header, a perplexity loop)."""
    hidden, public = [], [path.read_text(encoding="utf-8") for path in sorted((repo / "src").rglob("*.py"))]
    for name in ASSIGNMENTS:
        for cell in json.loads((repo / "solutions" / name / f"{name}.ipynb").read_text(encoding="utf-8"))["cells"]:
            source = "".join(cell["source"])
            meta = cell.get("metadata", {}).get("nbgrader", {})
            if cell["cell_type"] == "markdown" and meta.get("solution") and meta.get("grade"):
                hidden.append(source)  # a model answer to a written question: the release says YOUR ANSWER HERE
            else:
                hidden += [region for _, region in SECRET.findall(source)]
                public.append(SECRET.sub("", source))
    public_text = "\n".join(public)
    return {line.strip() for region in hidden for line in region.splitlines()
            if len(line.strip()) >= min_chars and line.strip() not in public_text}


def readable_text(path: Path) -> str:
    """A file as the text a reader would see: a notebook's cell sources and outputs as well as its raw JSON (where
    quotes and newlines are escaped, so a copied line would not match)."""
    raw = path.read_bytes().decode("utf-8", errors="replace")
    if path.suffix != ".ipynb":
        return raw
    cells = json.loads(raw)["cells"]
    parts = [raw] + ["".join(cell["source"]) for cell in cells]
    for cell in cells:
        for output in cell.get("outputs", []):
            parts.append(json.dumps(output, ensure_ascii=False))
            parts += ["".join(text) if isinstance(text, list) else str(text)
                      for text in [output.get("text", "")] + list(output.get("data", {}).values())]
    return "\n".join(parts)


def problems(files: dict[str, Path], repo: Path = REPO) -> list[str]:
    """Why these files must not be handed out (empty when they may)."""
    found, secrets = [], secret_lines(repo)
    for name, path in files.items():
        text = readable_text(path)
        found += [f"{name}: contains the marker {marker!r}" for marker in MARKERS if marker in text]
        found += [f"{name}: contains a line of solutions/: {line[:80]!r}" for line in sorted(secrets) if line in text]
        cells = json.loads(path.read_text(encoding="utf-8"))["cells"] if path.suffix == ".ipynb" else []
        if any(cell.get("outputs") for cell in cells):
            found.append(f"{name}: has outputs, so it is not a clean release (run `make release`, or restore it "
                         "from git)")
    return found


def build(out: Path = DEFAULT_OUT, repo: Path = REPO) -> Path:
    """Write the handout zip to `out` (replacing it) after checking it gives nothing away; returns `out`."""
    files = handout_files(repo)
    found = problems(files, repo)
    if found:
        raise HandoutError("not building the handout:\n  " + "\n  ".join(found))
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    partial = out.with_name(out.name + ".partial")
    with zipfile.ZipFile(partial, "w", zipfile.ZIP_DEFLATED) as zipped:
        for name, path in files.items():
            info = zipfile.ZipInfo(f"{TOP}/{name}", ZIP_TIME)
            info.external_attr = 0o644 << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            zipped.writestr(info, path.read_bytes())
    partial.replace(out)
    return out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help=f"the zip to write (default {DEFAULT_OUT})")
    args = parser.parse_args(argv)
    try:
        out = build(args.out)
    except HandoutError as error:
        print(error, file=sys.stderr)
        return 1
    with zipfile.ZipFile(out) as zipped:
        count = len(zipped.namelist())
    print(f"{out} ({out.stat().st_size / 1024:.0f} KB, {count} files): unzip it and follow {TOP}/README.md")
    return 0


if __name__ == "__main__":
    sys.exit(main())
