"""Support for the notebooks' hidden tests: a learner's own implementation must not just call the helper.

DESIGN §6: where a notebook grades a concept the learner implements, a test runs the learner's function
with the helper functions that do the same job switched off, so delegating to `lora_course` fails.
"""

import contextlib
import importlib
import sys


class DelegatedToHelper(AssertionError):
    """Raised when a learner's function calls a helper it was asked to implement itself."""


@contextlib.contextmanager
def forbid(*dotted_names: str):
    """Make each named helper (e.g. "lora_course.data.has_emoji") raise while the block runs.

    Patches every reference the notebook (`__main__`) or the package holds, so both
    `from lora_course.data import has_emoji` in a learner cell and a helper that calls it are caught.
    """
    originals = {}
    for dotted in dotted_names:
        module_name, name = dotted.rsplit(".", 1)
        originals[dotted] = getattr(importlib.import_module(module_name), name)
    namespaces = [vars(sys.modules["__main__"])] + [
        vars(module) for name, module in list(sys.modules.items()) if name.split(".")[0] == "lora_course"]
    restore = []
    try:
        for dotted, original in originals.items():
            def refuse(*args, _dotted=dotted, **kwargs):
                raise DelegatedToHelper(f"{_dotted} does this job: write it yourself in the notebook.")

            for namespace in namespaces:
                for key, value in list(namespace.items()):
                    if value is original:
                        restore.append((namespace, key, value))
                        namespace[key] = refuse
        yield
    finally:
        for namespace, key, value in reversed(restore):
            namespace[key] = value
