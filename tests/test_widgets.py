"""The side-by-side playground, driven without a browser: build it, click the button, read the HTML it shows."""

import pytest

from lora_course.widgets import ComparisonPlayground, comparison_playground, score_answer, side_by_side_html


@pytest.fixture(scope="module")
def tiny_peft():
    # A fresh tiny model: get_peft_model changes the model it wraps, so the shared `tiny` fixture stays untouched.
    from lora_course.models import load_base_model
    from lora_course.training import LoRASettings, add_lora

    model, tokenizer = load_base_model("tiny")
    return add_lora(model, LoRASettings(rank=2, alpha=4)), tokenizer


CRITERIA = {
    "answer length": lambda q, a: min(len(a), 100) / 100,
    "mentions question": lambda q, a: q.split()[0].lower() in a.lower(),
}


def test_click_shows_both_answers_scored_with_the_given_criteria(tiny_peft):
    model, tokenizer = tiny_peft
    calls = []

    def counting(question, answer):
        calls.append((question, answer))
        return 0.5

    playground = comparison_playground(model, tokenizer, {**CRITERIA, "counted": counting}, max_new_tokens=8)
    playground.question.value = "  How do I reset my password?  "
    playground.button.click()
    result = playground.last_result
    assert result["question"] == "How do I reset my password?"
    criteria = {"answer length", "mentions question", "counted"}
    assert set(result["base_scores"]) == set(result["tuned_scores"]) == criteria
    assert [a for _, a in calls] == [result["base"], result["tuned"]]  # the learner's function scored both answers
    assert all(isinstance(v, float) and 0 <= v <= 1 for v in result["base_scores"].values())
    shown = playground.result.value
    assert "How do I reset my password?" in shown and "Base model" in shown and "Fine-tuned" in shown
    assert "counted" in shown and "0.50" in shown
    assert not playground.button.disabled and "tokens" in playground.status.value
    # a fresh LoRA adapter (B = 0) does not change the model: both greedy answers are identical
    assert result["base"] == result["tuned"]


def test_empty_question_asks_for_one(tiny_peft):
    model, tokenizer = tiny_peft
    playground = ComparisonPlayground(model, tokenizer, CRITERIA, max_new_tokens=4)
    playground.question.value = "   "
    playground.button.click()
    assert playground.last_result is None and "type a question" in playground.status.value


def test_errors_in_a_criterion_are_shown_not_lost(tiny_peft):
    model, tokenizer = tiny_peft

    def broken(question, answer):
        raise NotImplementedError()

    playground = ComparisonPlayground(model, tokenizer, {"broken": broken}, max_new_tokens=4)
    playground.button.click()  # a callback must not raise into the widget machinery
    assert playground.status.value.startswith("Error: NotImplementedError") and not playground.button.disabled
    with pytest.raises(NotImplementedError):
        playground.ask("How do I reset my password?")


def test_a_plain_model_is_refused_with_a_hint(tiny):
    model, tokenizer = tiny
    with pytest.raises(TypeError, match="PeftModel"):
        ComparisonPlayground(model, tokenizer, CRITERIA)


def test_html_escapes_answers_and_bolds_the_winner():
    shown = side_by_side_html("Q <1>?", "<script>x</script>", "fine", {"tone": 0.25}, {"tone": 0.75})
    assert "<script>" not in shown and "&lt;script&gt;" in shown
    assert "<b>0.75</b>" in shown and "<b>0.25</b>" not in shown
    assert score_answer("q", "a", {"yes": lambda q, a: True}) == {"yes": 1.0}


def test_asking_from_code_puts_the_question_in_the_text_box(tiny_peft):
    """Run All: the notebook calls `playground.ask(...)` after showing the playground; the text box must then show
    the question the answer below belongs to, not the default one."""
    model, tokenizer = tiny_peft
    playground = ComparisonPlayground(model, tokenizer, CRITERIA, max_new_tokens=4)
    assert playground.question.value == "How do I reset my password?"
    playground.ask("  Can I change the keyboard backlight colour?  ")
    asked = "Can I change the keyboard backlight colour?"
    assert playground.question.value == playground.last_result["question"] == asked
    assert "Q: Can I change the keyboard backlight colour?" in playground.result.value


def test_a_failed_question_does_not_leave_the_previous_answer_under_it(tiny_peft):
    model, tokenizer = tiny_peft

    def fails_on_boom(question, answer):
        if "boom" in question:
            raise ValueError("boom")
        return 1.0

    playground = ComparisonPlayground(model, tokenizer, {"c": fails_on_boom}, max_new_tokens=4)
    playground.ask("How do I reset my password?")
    assert "reset my password" in playground.result.value
    with pytest.raises(ValueError):
        playground.ask("boom: what now?")
    assert playground.question.value == "boom: what now?" and "reset my password" not in playground.result.value


def test_display_adds_a_note_for_when_the_kernel_is_gone(tiny_peft, monkeypatch):
    """A saved notebook keeps the widget's output but not the widget: JupyterLab then shows "Error displaying widget:
    model not found". The display carries an HTML note whose style hides that output and shows the note instead,
    and hides the note while the live widget (marked with LIVE_CLASS) is there."""
    import IPython.display

    from lora_course.widgets import LIVE_CLASS, NOTE_CLASS

    model, tokenizer = tiny_peft
    playground = ComparisonPlayground(model, tokenizer, CRITERIA, max_new_tokens=4)
    shown = []
    monkeypatch.setattr(IPython.display, "display", lambda obj, **kwargs: shown.append((obj, kwargs)))
    playground._ipython_display_()
    (note, _), (bundle, raw) = shown
    assert f"class='{NOTE_CLASS}'" in note.data and "running kernel" in note.data
    assert f":has(.{LIVE_CLASS}) .{NOTE_CLASS}{{display:none}}" in note.data
    assert raw == {"raw": True} and LIVE_CLASS in playground.widget._dom_classes
    assert bundle["application/vnd.jupyter.widget-view+json"]["model_id"] == playground.widget.model_id
    assert "needs a running kernel" in bundle["text/plain"]


def test_each_side_is_prompted_in_its_own_format(tiny_peft, monkeypatch):
    """An adapter trained in the course text's format is asked in that format; the base in its chat template."""
    from lora_course import widgets
    from lora_course.generation import respond
    from lora_course.prompts import COURSE_TEXT

    model, tokenizer = tiny_peft
    asked = []

    def recording(model, tokenizer, question, prompt_format, **kwargs):
        asked.append(prompt_format)
        return respond(model, tokenizer, question, prompt_format, **kwargs)

    monkeypatch.setattr(widgets, "respond", recording)
    monkeypatch.setattr(model, "prompt_format", COURSE_TEXT, raising=False)
    ComparisonPlayground(model, tokenizer, CRITERIA, max_new_tokens=4).ask("Where is my order?")
    assert asked == ["chat", COURSE_TEXT]
