"""Support for the notebooks' hidden tests: a learner's own implementation must not just call the helper.

Where a notebook grades a concept the learner implements, its test runs the learner's function inside
`forbid(...)`. The block does not rename anything (a name can be captured in a default argument, a
closure or a second copy of the module); it watches what actually runs:

- every Python call in this thread and in threads started during the block: a call to the helper's
  code, or to an identical copy of it (same name and bytecode: a reloaded module, `exec` of its source,
  a pasted copy) is refused;
- every use of a forbidden compiled regex, or of one compiled from the same pattern;
- starting a process (`subprocess`, `os.system`, `os.exec*`, `os.fork`, …): the `lora-course` command
  would run the helper out of sight;
- removing the watch (`sys.setprofile`, `sys.settrace`).

A refused call raises `DelegatedToHelper`, and the block raises it again at its end, so a learner
function that catches the first error still fails the test.
"""

import contextlib
import importlib
import os
import re
import sys
import threading
import types

GRADED_RUNS = ("autograde", "validate")  # nbgrader's NBGRADER_EXECUTION while it executes a notebook


def graded_run() -> bool:
    """True while nbgrader executes the notebook (autograde, the Validate button) and in the grader's re-check.

    Instructor-owned demonstration cells whose results no test reads run at a reduced size then, so that a class is
    graded in minutes; a learner who runs the notebook sees the full run."""
    return os.environ.get("NBGRADER_EXECUTION") in GRADED_RUNS


_SPAWN_EVENTS = ("subprocess.Popen", "os.system", "os.exec", "os.posix_spawn", "os.spawn", "os.fork", "os.forkpty",
                 "pty.spawn")
_UNWATCH_EVENTS = ("sys.setprofile", "sys.settrace")
_guards: list["_Guard"] = []  # the forbid blocks now running, innermost last
_audit_installed = False


class DelegatedToHelper(AssertionError):
    """Raised when a learner's function calls a helper it was asked to implement itself."""


@contextlib.contextmanager
def forbid(*dotted_names: str):
    """Refuse the named helpers (functions, classes or compiled regexes, e.g. "lora_course.text.has_emoji")
    and every copy of them while the block runs; see the module docstring for what counts."""
    guard = _Guard(dotted_names)
    _install_audit_hook()
    previous, previous_threads = sys.getprofile(), threading.getprofile()
    _guards.append(guard)
    guard.set_profile(guard.watch, guard.watch)
    failed = False
    try:
        yield
    except BaseException:
        failed = True
        raise
    finally:
        guard.set_profile(previous, previous_threads)
        _guards.remove(guard)
        if guard.refused and not failed:
            raise DelegatedToHelper(guard.refused[0])


class _Guard:
    def __init__(self, dotted_names):
        self.names, self.codes, self.patterns, self.refused = {}, set(), set(), []
        self.switching, self.thread, self.new_threads = False, threading.get_ident(), set()
        for dotted in dotted_names:
            module_name, name = dotted.rsplit(".", 1)
            self._add(getattr(importlib.import_module(module_name), name), dotted)

    def _add(self, target, dotted: str) -> None:
        if isinstance(target, re.Pattern):
            self.patterns.add((target.pattern, target.flags))
            self.names[(target.pattern, target.flags)] = dotted
        elif isinstance(target, type):
            for value in vars(target).values():
                function = getattr(value, "__func__", value)
                if isinstance(function, types.FunctionType):
                    self._add(function, dotted)
        elif isinstance(target, types.FunctionType):
            code = target.__code__
            if not code.co_filename.startswith("<"):  # generated code (dataclass __init__) is the same everywhere
                self.codes.add(_signature(code))
                self.names[_signature(code)] = dotted
        else:
            raise TypeError(f"forbid() takes functions, classes and compiled regexes, not {dotted}")

    def refuse(self, dotted: str, how: str = "does this job") -> None:
        message = f"{dotted} {how}: write it yourself in the notebook."
        self.refused.append(message)
        raise DelegatedToHelper(message)

    def watch(self, frame, event, arg):
        if event == "call":
            signature = _signature(frame.f_code)
            if signature in self.codes:
                self.refuse(self.names[signature])
        elif event == "c_call":
            owner = getattr(arg, "__self__", None)
            if isinstance(owner, re.Pattern) and (owner.pattern, owner.flags) in self.patterns:
                self.refuse(self.names[(owner.pattern, owner.flags)])

    def set_profile(self, this_thread, new_threads) -> None:
        self.switching = True
        try:
            sys.setprofile(this_thread)
            threading.setprofile(new_threads)
        finally:
            self.switching = False


def _signature(code: types.CodeType) -> tuple:
    return code.co_name, code.co_code, code.co_names


def _audit(event: str, args: tuple) -> None:
    if not _guards:
        return
    guard = _guards[-1]
    if event in _SPAWN_EVENTS:
        guard.refuse(f"starting a process ({event})", "is not allowed here")
    elif event in _UNWATCH_EVENTS and not guard.switching:
        thread = threading.get_ident()
        if thread != guard.thread and thread not in guard.new_threads:  # a new thread installing the watch
            guard.new_threads.add(thread)
            return
        guard.refuse(f"{event}()", "would switch off the check")


def _install_audit_hook() -> None:
    """Once per process: audit hooks cannot be removed, so the hook does nothing outside a block."""
    global _audit_installed
    if not _audit_installed:
        sys.addaudithook(_audit)
        _audit_installed = True
