"""The learner's side of the re-check, run inside the sandbox: a submission's own cells, then answers to calls.

It runs the code cells of the submitted notebook (which holds no hidden test) in order, up to the last cell that
defines what the hidden tests call, leaving out the demonstrations the release marks `"lora_course": {"recheck":
"skip"}` (trainings and generations no test calls; their files come from the learner's kernel run instead). Then it
answers one call per line on stdin with one line of plain JSON on the stdout it started with:

    -> {"id": 3, "call": "build_labels", "args": [[5, 6], 1, [1, 1]], "kwargs": {}}
    <- {"id": 3, "value": [-100, 6], "type": "list"}   or   {"id": 3, "error": "TypeError: ..."}
    -> {"id": 4, "get": ["lora_config", "r"]}   (a global, then attributes; a call may name "peft_model.method")

A call may carry "stand_ins": {helper name: {text: value}}, helpers that answer from those tables during the call.
An argument {"$global": name} is the notebook's own global (its tokenizer); {"$model": null | "tiny"} the course's
base model, loaded here. Only JSON crosses: numbers, strings, lists, dicts with string keys, true/false/null. Nothing
here is trusted: verdict.py, outside this process, holds the expected values and decides pass or fail, so code that
rewrites this file's functions can change what it answers, never what a right answer is.

Input, first line: {"cells": [source, ...]}; output, first line: {"ready": true, "failed_cells": [index, ...]}.
"""

import ast
import json
import math
import os
import sys

PLAIN = (str, bool, int, float, type(None))
MAX_DEPTH = 20


def plain(value, depth: int = 0):
    """A value as JSON data, or TypeError: tensors and numpy scalars become numbers, tuples lists; objects refused."""
    if depth > MAX_DEPTH:
        raise TypeError("nested too deeply")
    if hasattr(value, "tolist") and not isinstance(value, PLAIN):  # torch tensors, numpy arrays and scalars
        value = value.tolist()
    if isinstance(value, bool) or value is None:
        return None if value is None else bool(value)
    if isinstance(value, int):
        return int.__index__(value)
    if isinstance(value, float):
        number = float.__float__(value)
        return number if math.isfinite(number) else str(number)
    if isinstance(value, str):
        return str.__str__(value)
    if isinstance(value, (list, tuple)):
        return [plain(item, depth + 1) for item in list.__iter__(list(value))]
    if isinstance(value, (set, frozenset)):  # PEFT keeps target_modules as a set
        return sorted((plain(item, depth + 1) for item in value), key=repr)
    if isinstance(value, dict):
        return {plain_key(key): plain(item, depth + 1) for key, item in dict.items(value)}
    raise TypeError(f"returned a {type(value).__name__}, not plain data (a number, string, list or dict)")


def plain_key(key) -> str:
    if not isinstance(key, str):
        raise TypeError(f"a dict key that is a {type(key).__name__}, not a string")
    return str.__str__(key)


def run_cells(cells: list[str]) -> tuple[dict, list[int]]:
    """Each cell as IPython would run it (magics turned into Python, get_ipython() and display() there), in the
    shell's own namespace; a failing cell is noted, never fatal. Returns (namespace, indices of failed cells)."""
    from IPython.core.inputtransformer2 import TransformerManager
    from IPython.core.interactiveshell import InteractiveShell
    from IPython.display import display

    namespace = InteractiveShell.instance().user_ns
    namespace.update({"__name__": "__main__", "display": display})
    compiler, failed = TransformerManager(), []
    for number, source in enumerate(cells):
        try:
            exec(compile(ast.parse(compiler.transform_cell(source)), f"<cell {number}>", "exec"), namespace)
        except BaseException:  # noqa: BLE001 - a learner's error (or sys.exit) must not stop the re-check
            failed.append(number)
    return namespace, failed


def resolve(value, namespace: dict, models: dict):
    if isinstance(value, dict) and set(value) == {"$global"}:
        return namespace[value["$global"]]
    if isinstance(value, dict) and set(value) == {"$model"}:
        if value["$model"] not in models:
            from lora_course.models import load_base_model

            models[value["$model"]] = load_base_model(value["$model"])[0]
        return models[value["$model"]]
    if isinstance(value, list):
        return [resolve(item, namespace, models) for item in value]
    if isinstance(value, dict):
        return {key: resolve(item, namespace, models) for key, item in value.items()}
    return value


def stand_in(name: str, table: dict):
    """A helper that answers from a table the trusted side sent (text -> value): a test of one function then does
    not depend on the learner's other functions being right."""
    def helper(text, *_):
        return table[text]
    helper.__name__ = name
    return helper


def answer(request: dict, namespace: dict, models: dict) -> dict:
    stand_ins = request.get("stand_ins", {})
    saved = {name: namespace.get(name) for name in stand_ins}
    namespace.update({name: stand_in(name, table) for name, table in stand_ins.items()})
    try:
        if "get" in request:
            name, *attributes = request["get"]
            value = namespace[name]
            for attribute in attributes:
                value = getattr(value, attribute)
        else:
            name, *attributes = request["call"].split(".")
            function = namespace[name]
            for attribute in attributes:
                function = getattr(function, attribute)
            args = resolve(request.get("args", []), namespace, models)
            kwargs = resolve(request.get("kwargs", {}), namespace, models)
            value = function(*args, **kwargs)
        return {"id": request["id"], "value": plain(value), "type": type(value).__name__}
    except BaseException as error:  # noqa: BLE001 - whatever learner code raises is an answer: "it failed"
        return {"id": request["id"], "error": f"{type(error).__name__}: {str(error)[:200]}"}
    finally:
        namespace.update(saved)


def main() -> None:
    requests = os.fdopen(os.dup(0), "r")
    replies = os.fdopen(os.dup(1), "w", buffering=1)
    quiet = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):  # the learner's prints and input() go nowhere; the channels above are this file's
        os.dup2(quiet, fd)
    sys.stdin, sys.stdout, sys.stderr = open(os.devnull), open(os.devnull, "w"), open(os.devnull, "w")
    namespace, failed = run_cells(json.loads(requests.readline())["cells"])
    replies.write(json.dumps({"ready": True, "failed_cells": failed}) + "\n")
    models: dict = {}
    for line in requests:
        reply = answer(json.loads(line), namespace, models)
        try:
            text = json.dumps(reply, ensure_ascii=True)
        except (TypeError, ValueError) as error:
            text = json.dumps({"id": reply.get("id"), "error": f"not plain data: {error}"[:200]})
        replies.write(text + "\n")


if __name__ == "__main__":
    main()
