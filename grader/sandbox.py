"""Run a learner's code where it can do no harm: bubblewrap, no network, an unprivileged user, capped resources.

The kernel nbgrader starts for a submission, and the re-check that follows it, run inside a fresh mount, network,
PID, IPC and UTS namespace (bubblewrap) that sees only an allow-list, read-only: the system's programs
and libraries, Python and the course's virtual environment, the helper package, the data folder and the converted
base model. Writable: the submission's private working copy (nbgrader's autograded/<student>/<assignment>) and a
small /tmp. The same student's earlier exercises are readable (exercise 3 reuses exercise 2's adapter). Not
visible at all: solutions/, the gradebook, other students' folders, the repository's .git, the network (not even
the grading host's loopback). The kernel talks to nbgrader over Unix sockets in a folder bound into the sandbox.

    python grader/sandbox.py kernel -f CONNECTION_FILE ...   # what the grading kernelspec runs (see kernelspec())
    python grader/sandbox.py check                           # is the sandbox available here? exit 0 if so
"""

import json
import os
import resource
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

from limits import limits, within_hard_limit

GRADER = Path(__file__).resolve().parent
REPO = GRADER.parent
NOBODY = 65534
SCRATCH = "scratch"            # what the kernel writes, in the same private folder: PRIVATE_PREFIX*/scratch
RUNTIME = "runtime"            # pipeline.py's private folder for one nbgrader run: PRIVATE_PREFIX*/runtime
PRIVATE_PREFIX = "lora-grade-"


def unavailable_reason() -> str | None:
    """Why submissions cannot be isolated on this machine, or None when they can."""
    if not sys.platform.startswith("linux"):
        return f"the sandbox needs Linux namespaces; this is {sys.platform}"
    if shutil.which("bwrap") is None:
        return "bubblewrap is not installed (Debian/Ubuntu: `sudo apt install bubblewrap`)"
    probe = subprocess.run(command([], work=None) + ["true"], capture_output=True, text=True)
    if probe.returncode != 0:
        return f"bubblewrap cannot create namespaces here: {probe.stderr.strip()[:300]}"
    return None


def readable_paths() -> list[Path]:
    """What learner code may read: system libraries, Python, the venv, the helper package, data, the base model."""
    import lora_course
    from lora_course.paths import DATA_DIR, cache_dir

    paths = [Path(p) for p in ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/etc")]
    paths += [Path(sys.base_prefix), Path(sys.prefix), Path(lora_course.__file__).resolve().parent,
              DATA_DIR, cache_dir()]
    paths += [Path(p) for p in {sysconfig.get_path("purelib"), sysconfig.get_path("platlib")}]
    return [p for p in paths if p.exists()]


def environment(threads: int) -> dict[str, str]:
    from lora_course.paths import DATA_DIR, cache_dir

    return {"PATH": f"{Path(sys.executable).parent}:/usr/local/bin:/usr/bin:/bin", "HOME": "/tmp/home",
            "LANG": "C.UTF-8", "MPLCONFIGDIR": "/tmp/matplotlib", "IPYTHONDIR": "/tmp/ipython",
            "LORA_COURSE_CACHE": str(cache_dir()), "LORA_COURSE_DATA": str(DATA_DIR),
            "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1",
            "TOKENIZERS_PARALLELISM": "false", "PYTHONDONTWRITEBYTECODE": "1",
            # nbgrader's mark of a graded run (lora_course.grading.graded_run): the same in the kernel and the re-check
            "NBGRADER_EXECUTION": os.environ.get("NBGRADER_EXECUTION", "autograde"),
            **{name: str(threads) for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")}}


def command(argv: list[str], work: Path | None, readable=(), writable=(), locked=(), work_from: Path | None = None,
            threads: int | None = None) -> list[str]:
    """The bwrap command line that runs argv in `work` (read-write), seeing only the allow-list and `readable`.
    `work_from`: the folder that appears at `work` inside (writes land there; default `work` itself). `locked`
    files of `work` are shown read-only on top and cannot be removed or replaced (each is a mount point)."""
    threads = threads or int(os.environ.get("LORA_COURSE_SANDBOX_THREADS", os.cpu_count() or 1))
    bwrap = ["bwrap", "--unshare-net", "--unshare-pid", "--unshare-ipc", "--unshare-uts", "--unshare-cgroup-try",
             "--die-with-parent", "--clearenv", "--dev", "/dev", "--proc", "/proc",
             "--perms", "1777", "--size", str(limits().tmp_mb << 20), "--tmpfs", "/tmp",
             "--perms", "0777", "--dir", "/tmp/home"]
    read_only = readable_paths() + [Path(p) for p in readable]
    read_write = [Path(p) for p in writable] + ([work] if work else [])
    for path in read_only:
        bwrap += ["--ro-bind", str(path), str(path)]
    for path in read_write:
        bwrap += ["--bind", str(work_from if path == work and work_from else path), str(path)]
    for path in locked:
        bwrap += ["--ro-bind", str(path), str(path)]
    # bubblewrap creates the folders above a mount point for root only (0700): let the sandbox's user pass through.
    mounted = read_only + read_write
    above = {parent for path in mounted for parent in path.parents
             if parent not in (Path("/"), Path("/tmp"))  # /tmp is the sandbox's own tmpfs, open to all (1777)
             and not any(parent == m or parent.is_relative_to(m) for m in mounted)}
    for folder in sorted(above):
        bwrap += ["--chmod", "0755", str(folder)]
    for name, value in environment(threads).items():
        bwrap += ["--setenv", name, value]
    if work:
        bwrap += ["--chdir", str(work)]
    if os.geteuid() == 0:  # drop root inside: a real unprivileged uid, no capabilities, no way back
        become = ["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups", "--no-new-privs",
                  "--inh-caps=-all", "--bounding-set=-all"]
    else:  # bubblewrap maps the caller to an unprivileged uid in a user namespace and drops every capability
        bwrap += ["--unshare-user", "--uid", str(NOBODY), "--gid", str(NOBODY)]
        become = []
    return bwrap + ["--", *become, *argv]


def open_to_sandbox(*folders: Path) -> None:
    """Let the sandbox's user create files in these folders (only the folders themselves: never recursive)."""
    if os.geteuid() == 0:
        for folder in folders:
            os.chown(folder, NOBODY, NOBODY, follow_symlinks=False)


def remove_special_files(folder: Path) -> None:
    """After a run: symbolic links (one to /etc/shadow would be followed by whatever copies the folder next, e.g.
    nbgrader's feedback), FIFOs, sockets and devices that the learner's code left in its working copy."""
    for root, folders, files in os.walk(folder):
        for name in folders + files:
            path = Path(root) / name
            if path.is_symlink() or not (path.is_dir() or path.is_file()):
                path.unlink()


def limit_resources() -> None:
    """Caps inherited by everything the sandbox starts (the process count is per user, so it holds for nobody)."""
    caps = limits()
    memory = int(caps.sandbox_memory_gb * (1 << 30))
    for limit, value in ((resource.RLIMIT_AS, memory), (resource.RLIMIT_FSIZE, caps.file_mb << 20),
                         (resource.RLIMIT_NPROC, caps.processes), (resource.RLIMIT_CORE, 0)):
        value = within_hard_limit(limit, value)
        resource.setrlimit(limit, (value, value))


def kernelspec(folder: Path) -> Path:
    """A `python3` kernelspec that starts every kernel inside the sandbox; put `folder` first on JUPYTER_PATH."""
    spec = folder / "kernels" / "python3"
    spec.mkdir(parents=True, exist_ok=True)
    argv = [sys.executable, str(Path(__file__).resolve()), "kernel", "-f", "{connection_file}"]
    (spec / "kernel.json").write_text(json.dumps({"argv": argv, "display_name": "Python 3 (sandboxed)",
                                                   "language": "python"}))
    return folder


def run_kernel(args: list[str]) -> None:
    """Started by jupyter_client in the notebook's folder; the kernel's Unix sockets go beside its connection file,
    in a runtime folder pipeline.py made for this one run (anything else is refused: it would be bound writable)."""
    connection = Path(args[args.index("-f") + 1]).resolve()
    if connection.parent.name != RUNTIME or not connection.parent.parent.name.startswith(PRIVATE_PREFIX):
        sys.exit(f"refusing to start a sandboxed kernel whose connection file is not in a private runtime folder: "
                 f"{connection}")
    work, scratch = Path.cwd(), connection.parent.parent / SCRATCH
    # Learner code writes into a private folder shown at the notebook's own path. nbgrader, outside, writes the
    # executed notebook there and then chmods every file in it, following links: a link to a host file would be
    # followed. pipeline.copy_back takes only regular files from the scratch folder once the kernel is gone.
    notebooks = [path for path in work.glob("*.ipynb") if path.is_file() and not path.is_symlink()]
    scratch.mkdir(exist_ok=True)
    for notebook in notebooks:
        (scratch / notebook.name).touch()  # mount points for the notebooks, shown read-only on top
    open_to_sandbox(scratch, connection.parent)
    if os.geteuid() == 0:
        os.chown(connection, NOBODY, NOBODY)
    limit_resources()
    argv = [sys.executable, "-m", "ipykernel_launcher", *args]
    os.execvp("bwrap", command(argv, work, readable=[work.parent], writable=[connection.parent], locked=notebooks,
                               work_from=scratch))


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["kernel"]:
        run_kernel(argv[1:])
    elif argv[:1] == ["check"]:
        reason = unavailable_reason()
        print(reason or "sandbox available: bubblewrap, no network, uid nobody")
        return 1 if reason else 0
    else:
        print(__doc__, file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
