"""grading.forbid: a learner function that merely calls the helper fails; the helper works again afterwards."""

import sys

import pytest

from lora_course import style
from lora_course import text as textmod
from lora_course.grading import DelegatedToHelper, forbid, graded_run


def test_a_learner_function_that_calls_the_helper_fails_and_the_helper_works_afterwards(monkeypatch):
    notebook = sys.modules["__main__"]
    monkeypatch.setattr(notebook, "imported_by_learner", textmod.has_emoji, raising=False)

    def delegating(text):
        return notebook.imported_by_learner(text)

    with pytest.raises(DelegatedToHelper, match="write it yourself"):
        with forbid("lora_course.text.has_emoji"):
            delegating("hi 😊")
    assert delegating("hi 😊") and textmod.has_emoji("hi 😊")


def test_helpers_that_use_a_forbidden_function_are_caught_too():
    with pytest.raises(DelegatedToHelper):
        with forbid("lora_course.text.has_emoji"):
            style.style_scores("How do I reset it?", "Hi! 😊 1. Open Settings.", True)
    assert style.style_scores("How do I reset it?", "Hi! 😊 1. Open Settings.", True)["emoji"] == 1


# --- the back doors a renaming check would miss (issue 9): each must still be refused ---------------------------

def _default_argument(text, _impl=textmod.has_emoji):
    return _impl(text)


def _closure():
    impl = textmod.has_emoji
    return lambda text: impl(text)


def _module_copy():
    import importlib.util

    spec = importlib.util.spec_from_file_location("lora_course.my_text", textmod.__file__)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module.has_emoji


def _source_copy():
    import inspect

    namespace = {"EMOJI_RANGES": textmod.EMOJI_RANGES}
    exec(inspect.getsource(textmod.has_emoji), namespace)
    return namespace["has_emoji"]


def _subprocess(text):
    import subprocess

    code = f"from lora_course.text import has_emoji; print(has_emoji({text!r}))"
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True).stdout.strip() == "True"


def _swallowing(text):
    try:
        return textmod.has_emoji(text)
    except Exception:  # noqa: BLE001 - the point: the refusal is caught, the call retried
        return textmod.has_emoji(text)


def _in_a_thread(text):
    import threading

    result = []

    def work():
        try:
            result.append(textmod.has_emoji(text))
        except Exception:  # noqa: BLE001 - a thread's error would only be printed; the block still fails
            pass

    thread = threading.Thread(target=work)
    thread.start(), thread.join()
    return result[0] if result else False


def _unwatching(text):
    sys.setprofile(None)
    return textmod.has_emoji(text)


@pytest.mark.parametrize("make", [
    lambda: _default_argument, _closure, _module_copy, _source_copy, lambda: _subprocess, lambda: _swallowing,
    lambda: _in_a_thread, lambda: _unwatching,
], ids=["default argument", "closure", "module copy", "exec of the source", "subprocess", "caught and retried",
        "thread", "profile removed"])
def test_every_back_door_to_the_helper_is_refused(make):
    delegate = make()
    with pytest.raises(DelegatedToHelper):
        with forbid("lora_course.text.has_emoji"):
            assert delegate("hi 😊") in (True, False)
    assert sys.getprofile() is None and textmod.has_emoji("hi 😊")


def test_a_copy_of_a_forbidden_regex_is_refused_but_a_different_one_is_not():
    import re

    copy = re.compile(style._GREETING.pattern, style._GREETING.flags)
    own = re.compile(r"^\W*(hi|hello)\b", re.IGNORECASE)
    with forbid("lora_course.style._GREETING"):
        assert own.match("Hi there")
    with pytest.raises(DelegatedToHelper):
        with forbid("lora_course.style._GREETING"):
            copy.search("Hi there")
    with pytest.raises(DelegatedToHelper):  # the refusal is raised again at the end of the block
        with forbid("lora_course.style._GREETING"):
            try:
                copy.search("Hi there")
            except DelegatedToHelper:
                pass


def test_own_code_runs_untouched_and_the_helper_works_afterwards():
    def own(text):
        return any(0x1F000 <= ord(ch) <= 0x1FAFF for ch in text)

    with forbid("lora_course.text.has_emoji", "lora_course.evaluation.Comparison"):
        assert own("hi 😊") and not own("hi")
    assert textmod.has_emoji("hi 😊") and sys.getprofile() is None


@pytest.mark.parametrize("value, graded", [("autograde", True), ("validate", True), (None, False), ("", False),
                                           ("other", False)])
def test_graded_run_follows_nbgraders_mark(monkeypatch, value, graded):
    """nbgrader sets NBGRADER_EXECUTION while autograde and Validate execute a notebook; a learner's run has none."""
    if value is None:
        monkeypatch.delenv("NBGRADER_EXECUTION", raising=False)
    else:
        monkeypatch.setenv("NBGRADER_EXECUTION", value)
    assert graded_run() is graded
