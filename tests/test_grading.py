"""grading.forbid: a learner function that merely calls the helper fails; the helper works again afterwards."""

import sys

import pytest

from lora_course import data, evaluation
from lora_course.grading import DelegatedToHelper, forbid


def test_forbidden_helper_raises_through_module_and_notebook_references(monkeypatch):
    notebook = sys.modules["__main__"]
    monkeypatch.setattr(notebook, "imported_by_learner", data.has_emoji, raising=False)

    def delegating(text):
        return notebook.imported_by_learner(text)

    def own(text):
        return any(ord(ch) > 0x1F000 for ch in text)

    with forbid("lora_course.data.has_emoji"):
        with pytest.raises(DelegatedToHelper, match="write it yourself"):
            delegating("hi 😊")
        with pytest.raises(DelegatedToHelper):
            data.has_emoji("hi 😊")
        assert own("hi 😊")
    assert delegating("hi 😊") and data.has_emoji("hi 😊")


def test_helpers_that_use_a_forbidden_function_are_caught_too():
    with forbid("lora_course.data.has_emoji"):
        with pytest.raises(DelegatedToHelper):
            evaluation.style_scores("How do I reset it?", "Hi! 😊 1. Open Settings.", True)
    assert evaluation.style_scores("How do I reset it?", "Hi! 😊 1. Open Settings.", True)["emoji"] == 1
