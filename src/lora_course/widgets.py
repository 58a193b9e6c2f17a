"""An ipywidgets playground: type a question, see the base and the fine-tuned answer side by side, scored.

The scoring functions are passed in, so the playground uses the learner's own criteria (exercise 3's criteria,
exercise 5's domain score; none in exercise 2, which has no score yet).
Results go into an `HTML` widget (not an `Output` widget), so the playground also works, and can be tested,
without a browser or a running kernel: set `playground.question.value`, call `playground.button.click()`.

A saved notebook keeps a widget's output but not the widget (JupyterLab does not save widget state by default), so
after reopening the notebook or restarting the kernel JupyterLab would show "Error displaying widget: model not
found". Displaying the playground therefore also emits a short HTML note with a scoped style: while the live widget
is on the page the note is hidden; without it the note is shown and the dead widget output is hidden (`OFFLINE_NOTE`).
"""

import html
from collections.abc import Callable

from .generation import respond
from .models import base_and_tuned

Criterion = Callable[[str, str], float]  # (question, answer) -> score in 0..1 (a bool counts as 0 or 1)

LIVE_CLASS, NOTE_CLASS = "lora-playground", "lora-playground-note"
# In the same output area as the widget (JupyterLab / Notebook 7 class names; `:has()` needs Chromium 105, Firefox
# 121, Safari 15.4): the live widget hides the note; without it, the widget output that holds only text ("Loading
# widget...", "Error displaying widget: model not found") is hidden and the note shown. Elsewhere (nbconvert HTML,
# GitHub, an untrusted notebook) the note simply shows.
OFFLINE_NOTE = (
    "<style>"
    f".jp-OutputArea:has(.{LIVE_CLASS}) .{NOTE_CLASS}{{display:none}}"
    f".jp-OutputArea:has(.{NOTE_CLASS}):not(:has(.{LIVE_CLASS})) .jp-OutputArea-output:not(:has(*)){{display:none}}"
    "</style>"
    f"<div class='{NOTE_CLASS}' style='padding:4px 8px;border-left:3px solid #999;color:#555'>"
    "<i>The comparison playground is interactive and needs a running kernel: run the notebook's cells up to and "
    "including this one to use it. (<code>playground.ask(question)</code> below works in a saved copy.)</i></div>"
)


def score_answer(question: str, answer: str, criteria: dict[str, Criterion]) -> dict[str, float]:
    """Every criterion's score for one answer, as floats."""
    return {name: float(fn(question, answer)) for name, fn in criteria.items()}


def side_by_side_html(question: str, base: str, tuned: str, base_scores: dict | None = None,
                      tuned_scores: dict | None = None) -> str:
    """One question: the two answers in two columns, then (if given) a score table with the higher score in bold."""
    cell = "border:1px solid #ccc;padding:6px;vertical-align:top;text-align:left"
    answer = "<td style='{}'><pre style='white-space:pre-wrap;margin:0;font-family:inherit'>{}</pre></td>"
    rows = [f"<tr><th style='{cell};width:50%'>Base model</th><th style='{cell}'>Fine-tuned</th></tr>",
            "<tr>" + answer.format(cell, html.escape(base)) + answer.format(cell, html.escape(tuned)) + "</tr>"]
    parts = [f"<p><b>Q: {html.escape(question)}</b></p>",
             f"<table style='border-collapse:collapse;width:100%'>{''.join(rows)}</table>"]
    if base_scores and tuned_scores:  # no criteria, no score table
        lines = [f"<tr><th style='{cell}'>Criterion</th><th style='{cell}'>Base</th>"
                 f"<th style='{cell}'>Fine-tuned</th></tr>"]
        for name in base_scores:
            b, t = base_scores[name], tuned_scores[name]
            fb, ft = (f"<b>{b:.2f}</b>" if b > t else f"{b:.2f}"), (f"<b>{t:.2f}</b>" if t > b else f"{t:.2f}")
            lines.append(f"<tr><td style='{cell}'>{html.escape(name)}</td><td style='{cell}'>{fb}</td>"
                         f"<td style='{cell}'>{ft}</td></tr>")
        parts.append(f"<table style='border-collapse:collapse;margin-top:6px'>{''.join(lines)}</table>")
    return "\n".join(parts)


class ComparisonPlayground:
    """Text box + button; a click answers the question with the adapter off and on and scores both answers.

    `model` must be a PeftModel (its `disable_adapter()` gives the base model). After a click,
    `last_result` holds {"question", "base", "tuned", "base_scores", "tuned_scores"} and `result.value` the HTML.
    """

    def __init__(self, model, tokenizer, criteria: dict[str, Criterion], max_new_tokens: int = 150,
                 question: str = "How do I reset my password?"):
        import ipywidgets as widgets

        if not hasattr(model, "disable_adapter"):
            raise TypeError("The playground needs a PeftModel (base model + LoRA adapter), "
                            "e.g. from lora_course.models.load_adapter(adapter_dir).")
        self.model, self.tokenizer, self.max_new_tokens = model, tokenizer, max_new_tokens
        self.criteria = dict(criteria)
        self.question = widgets.Text(value=question, description="Question:",
                                     layout=widgets.Layout(width="80%"))
        self.button = widgets.Button(description="Compare", button_style="primary", icon="balance-scale")
        self.status = widgets.Label(value="Type a question and click Compare.")
        self.result = widgets.HTML()
        self.widget = widgets.VBox([widgets.HBox([self.question, self.button]), self.status, self.result])
        self.widget.add_class(LIVE_CLASS)  # what OFFLINE_NOTE's style looks for
        self.last_result: dict | None = None
        self.button.on_click(self._on_click)

    def ask(self, question: str) -> dict:
        """Answer and score one question (what a click does), update the display and return the result.

        The text box is set to the question being answered and the previous answer is cleared first, so the question
        shown and the answer shown always belong together, also when `ask` is called from code (Run All).
        """
        question = question.strip()
        if not question:
            self.status.value = "Please type a question first."
            return {}
        self.question.value, self.result.value = question, ""
        self.button.disabled, self.status.value = True, "Generating both answers…"
        try:
            base, tuned = base_and_tuned(self.model, lambda prompt_format: respond(
                self.model, self.tokenizer, question, prompt_format, max_new_tokens=self.max_new_tokens))
            result = {"question": question, "base": base.text, "tuned": tuned.text,
                      "base_scores": score_answer(question, base.text, self.criteria),
                      "tuned_scores": score_answer(question, tuned.text, self.criteria)}
            self.result.value = side_by_side_html(question, result["base"], result["tuned"],
                                                  result["base_scores"], result["tuned_scores"])
            self.status.value = (f"Base: {base.new_tokens} tokens{', stopped at EOS' if base.ended_with_eos else ''}"
                                 f" | Fine-tuned: {tuned.new_tokens} tokens"
                                 f"{', stopped at EOS' if tuned.ended_with_eos else ''}")
            self.last_result = result
            return result
        except Exception as exc:  # show the problem in the widget instead of losing it in a callback
            self.status.value = f"Error: {type(exc).__name__}: {exc}"
            raise
        finally:
            self.button.disabled = False

    def _on_click(self, _widget=None) -> None:
        try:
            self.ask(self.question.value)
        except Exception:  # already shown in the status line; a callback has nowhere better to raise to
            pass

    def _ipython_display_(self):
        from IPython.display import HTML, display

        display(HTML(OFFLINE_NOTE))
        bundle = self.widget._repr_mimebundle_()
        bundle["text/plain"] = "Comparison playground (an interactive widget: it needs a running kernel)"
        display(bundle, raw=True)


def comparison_playground(model, tokenizer, criteria: dict[str, Criterion], **kwargs) -> ComparisonPlayground:
    """Build the side-by-side playground; display it as the last expression of a notebook cell."""
    return ComparisonPlayground(model, tokenizer, criteria, **kwargs)
