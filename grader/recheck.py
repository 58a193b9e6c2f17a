"""Re-check a graded notebook outside the learner's kernel: a fresh Python process, run inside the sandbox.

nbgrader runs the hidden tests in the learner's own kernel, where a learner cell can install an IPython input
transformer that wraps every later cell in try/except, patch builtins, or set a trace hook that skips lines. This
harness runs the same cells again with its own compiler (IPython's hooks are never consulted) and scores each test
cell the way nbgrader does: an exception or anything written to stderr scores 0, a number as the cell's last value is
partial credit. After every cell it notes and undoes patched builtins, trace hooks and IPython transformers.

The cells run in a worker thread, so no frame of the learner's code leads back to the main thread, which alone holds
the report channel and its token. An audit hook (it cannot be removed) refuses, and reports at once, the ways out of
that: other threads' frames, the garbage collector's object lists, /proc memory, and the interpreter's frame and
thread-state C functions through ctypes. The main thread writes the report once the worker has finished; a result
reported twice, or after the last cell, is not trusted. Known limit: learner code that walks up its own thread's
frames to this harness's result queue could still rewrite it. Such code has to be written against this harness in
particular, and it must also fool the sandboxed kernel run, which it cannot reach.

Input (stdin, JSON): {"token": ..., "cells": [{"kind": "code" | "test", "grade_id": ..., "points": ..., "source": ...}]}
Output: `<token> {"grade_id", "score", "error"}` per test cell, `<token> {"refused": ...}` at once when the audit
hook refuses something, and `<token> {"flags": [{"code", "message"}, ...]}` last, each on its own line of the
stdout this harness started with; the learner's prints go to /dev/null.
"""

import ast
import builtins
import io
import json
import os
import queue
import re
import sys
import threading

REFUSED_EVENTS = {"gc.get_objects", "gc.get_referrers", "gc.get_referents", "sys._current_frames",
                  "ctypes.string_at"}
REFUSED_SYMBOLS = re.compile(r"Frame|ThreadState|AsyncExc|Locals|PyEval|PySys_|PyGILState")


def main() -> None:
    request = json.load(sys.stdin)
    token = request.pop("token")
    cells = tuple((cell["kind"], cell["grade_id"], cell["points"], cell["source"]) for cell in request.pop("cells"))
    report = os.fdopen(os.dup(1), "w", buffering=1)
    quiet = os.open(os.devnull, os.O_WRONLY)
    os.dup2(quiet, 1)
    os.dup2(quiet, 2)
    sys.stdout = sys.stderr = sys.__stdout__ = sys.__stderr__ = io.TextIOWrapper(open(os.devnull, "wb"),
                                                                                  write_through=True)
    main_thread = threading.get_ident()

    def write(payload: dict) -> None:
        report.write(f"\n{token} {json.dumps(payload)}\n")

    def audit(event: str, args: tuple) -> None:
        if threading.get_ident() == main_thread:
            return
        refused = (event in REFUSED_EVENTS
                   or (event == "ctypes.dlsym" and REFUSED_SYMBOLS.search(str(args[1])))
                   or (event == "open" and isinstance(args[0], str) and re.match(r"/proc/[^/]+/(mem|fd/)", args[0])))
        if refused:
            write({"refused": f"learner code tried {event} {str(args[:2])[:80]} (refused)"})
            raise PermissionError(f"{event} is not allowed while grading")

    sys.addaudithook(audit)
    original_builtins = dict(builtins.__dict__)
    outcomes: queue.SimpleQueue = queue.SimpleQueue()
    worker = threading.Thread(target=run_cells, args=(cells, outcomes), daemon=True)
    worker.start()
    worker.join(timeout=float(os.environ.get("LORA_COURSE_NOTEBOOK_SECONDS", 1800)))
    builtins.__dict__.update(original_builtins)  # what the last cells patched must not steer this report
    flags, results, finished, late = [], {}, False, False
    while not outcomes.empty():
        item = outcomes.get()
        late = late or finished
        if item[0] == "flag":
            flags.append(item[1:])
        elif item[0] == "done":
            finished = True
        else:
            results.setdefault(item[1], []).append(item[2:])
    if not finished:
        flags.append(("recheck-timeout", "the re-check did not finish in time"))
    if late:
        flags.append(("recheck-late-report", "something reported after the last cell: results not trusted"))
    for number, (kind, grade_id, _points, _) in enumerate(cells):
        if kind != "test" or number not in results:
            continue
        if len(results[number]) != 1 or late or not finished:
            times = len(results[number])
            flags.append(("recheck-untrusted", f"{grade_id}: results not trusted (reported {times} times)"))
            write({"grade_id": grade_id, "score": 0.0, "error": "not trusted"})
        else:
            score, error = results[number][0]
            write({"grade_id": grade_id, "score": score, "error": error})
    write({"flags": [{"code": code, "message": message} for code, message in sorted(set(flags))]})


def run_cells(cells: tuple, outcomes: queue.SimpleQueue) -> None:
    from IPython.core.inputtransformer2 import TransformerManager
    from IPython.core.interactiveshell import InteractiveShell
    from IPython.display import display

    shell = InteractiveShell.instance()  # for display() and get_ipython(); its hooks are watched, never used
    compiler = TransformerManager()       # turns %magics into plain Python, with no learner-added transformers
    namespace = shell.user_ns
    namespace.update({"__name__": "__main__", "display": display})
    original_builtins = dict(builtins.__dict__)
    real_type, real_float = type, float  # a test's last value is judged with these, whatever the cell patched

    def hooks():
        return (len(shell.input_transformers_cleanup), len(shell.input_transformers_post), len(shell.ast_transformers))

    original_hooks = hooks()

    def undo_tampering() -> None:
        patched = [name for name, value in original_builtins.items() if builtins.__dict__.get(name) is not value]
        builtins.__dict__.update(original_builtins)  # first: what follows calls builtins
        if patched:
            outcomes.put(("flag", "patched-builtins", f"patched builtins: {', '.join(sorted(patched)[:8])}"))
        hooks_set = (sys.gettrace(), sys.getprofile(), threading._trace_hook, threading._profile_hook)
        if any(hook is not None for hook in hooks_set):
            outcomes.put(("flag", "trace-hook", "a trace or profile hook was set"))
            sys.settrace(None), sys.setprofile(None), threading.settrace(None), threading.setprofile(None)
        if hooks() != original_hooks:
            outcomes.put(("flag", "input-transformer", "an IPython input or AST transformer was installed"))
            del shell.input_transformers_post[:], shell.ast_transformers[:]

    for number, (kind, _grade_id, points, source) in enumerate(cells):
        undo_tampering()  # after every cell: the harness's own code below must run on the real builtins
        try:
            tree = ast.parse(compiler.transform_cell(source), f"<cell {number}>")
        except BaseException:  # noqa: BLE001 - a cell that does not parse scores like one that fails
            tree = None
        if kind != "test":
            try:
                if tree is not None:
                    exec(compile(tree, f"<cell {number}>", "exec"), namespace)
            except BaseException:  # noqa: BLE001 - a learner's error (or sys.exit) must not stop the re-check
                pass
            continue
        captured = io.StringIO()
        sys.stderr = captured
        score, error = float(points), None
        try:
            if tree is None:
                raise SyntaxError("the test cell does not parse")
            last = tree.body.pop() if tree.body and isinstance(tree.body[-1], ast.Expr) else None
            exec(compile(tree, f"<cell {number}>", "exec"), namespace)
            if last is not None:
                value = eval(compile(ast.Expression(last.value), f"<cell {number}>", "eval"), namespace)
                if real_type(value) is int or real_type(value) is real_float:  # partial credit, in [0, points]
                    partial = real_float(value)
                    score = 0.0 if partial < 0 else real_float(points) if partial > points else partial
        except BaseException as exc:  # noqa: BLE001
            score, error = 0.0, real_type.__dict__["__name__"].__get__(real_type(exc))  # no learner __str__ runs
        sys.stderr = sys.__stderr__
        undo_tampering()
        if captured.getvalue() and error is None:
            score, error = 0.0, "wrote to stderr"
        outcomes.put(("result", number, score, error))
    outcomes.put(("done",))


if __name__ == "__main__":
    main()
