"""The mini-project report is filled from the run's own numbers."""

import dataclasses

from lora_course.evaluation import Evaluation
from lora_course.nbgrader_course import written_answers
from lora_course.report import REQUIRED_SECTIONS, TODO, build_report
from lora_course.runs import TrainingRun
from lora_course.training import LoRASettings


def test_report_has_every_section_and_the_real_numbers():
    run = TrainingRun(adapter_dir="a", base_model="smollm2", settings=dataclasses.asdict(LoRASettings()), n_train=30,
                      n_eval=0, train_losses=[{"step": 1, "epoch": 0.1, "loss": 2.5},
                                              {"step": 2, "epoch": 0.2, "loss": 1.25}],
                      wall_seconds=42.5, tokens_per_second=300, peak_rss_mb=1234, trainable_params=100,
                      total_params=10000)
    evaluation = Evaluation(n_examples=5, base={"perplexity": 20.0, "style_score": 0.3, "eos_rate": 0.0},
                            tuned={"perplexity": 9.5, "style_score": 0.8, "eos_rate": 1.0},
                            samples=[{"question": "Q?", "base": "plain", "tuned": "better"}])
    text = build_report(run, evaluation, title="Medical Q&A", domain="medical", learnings="I learned a lot.")
    assert all(section in text for section in REQUIRED_SECTIONS)
    for figure in ("42.5 s", "1234 MB", "2.500", "1.250", "9.500", "20.000", "1.00%", "I learned a lot."):
        assert figure in text
    assert "TODO: your own words." in text  # production readiness not written yet


NOTHING_MEASURED = Evaluation(n_examples=0, base={}, tuned={})


def _run(**overrides):
    fields = dict(adapter_dir="a", base_model="smollm2", settings=dataclasses.asdict(LoRASettings()), n_train=28,
                  n_eval=4,
                  train_losses=[{"step": 1, "epoch": 0.1, "loss": 3.0}, {"step": 2, "epoch": 0.2, "loss": 1.5}],
                  eval_losses=[{"step": 2, "epoch": 1.0, "loss": 1.75}], wall_seconds=40.04, tokens_per_second=500,
                  peak_rss_mb=900, trainable_params=460800, total_params=134975808)
    return TrainingRun(**{**fields, **overrides})


def test_domain_metrics_and_scored_samples_appear_in_the_evaluation():
    evaluation = Evaluation(n_examples=6, description="Perplexity on the 4 validation pairs.",
                            base={"words": 120.0, "perplexity": 12.0, "domain_score": 0.25, "eos_rate": 0.0},
                            tuned={"perplexity": 4.0, "domain_score": 0.875, "eos_rate": 1.0, "words": 80.0},
                            samples=[{"question": "Q1?", "base": "one line", "tuned": "two\n### lines",
                                      "base_score": 0.0, "tuned_score": 1.0}])
    text = build_report(_run(), evaluation, title="T", domain="medical", overview="Medical Q&A with a disclaimer.",
                        learnings="L", production="P")
    assert "| domain score (0–1) | 0.250 | 0.875 |" in text
    assert "| words | 120.000 | 80.000 |" in text  # an unknown metric still gets its row, after the known ones
    assert text.index("EOS") < text.index("| words")
    assert text.index("perplexity") < text.index("domain score") < text.index("EOS")
    assert "Perplexity on the 4 validation pairs." in text and "Medical Q&A with a disclaimer." in text
    assert "- Base (score 0.00): one line" in text
    assert "- Fine-tuned (score 1.00):\n\n  ```text\n  two\n  ### lines\n  ```" in text  # multi-line kept, fenced
    assert "460,800 of 134,975,808" in text and "40.0 s" in text and "1.750" in text
    assert "TODO" not in text


def test_unanswered_written_answers_stay_todo(tmp_path):
    import json

    cells = [{"cell_type": "markdown", "metadata": {"nbgrader": {"grade_id": "q_learnings"}},
              "source": ["I learned that data ", "quality matters."]},
             {"cell_type": "markdown", "metadata": {"nbgrader": {"grade_id": "q_production"}},
              "source": "YOUR ANSWER HERE"},
             {"cell_type": "code", "metadata": {}, "source": "x = 1"}]
    notebook = tmp_path / "nb.ipynb"
    notebook.write_text(json.dumps({"cells": cells, "metadata": {}, "nbformat": 4, "nbformat_minor": 5}))
    answers = written_answers(notebook, ("q_learnings", "q_production", "q_missing"))
    assert answers == {"q_learnings": "I learned that data quality matters.", "q_production": "", "q_missing": ""}
    assert written_answers(tmp_path / "absent.ipynb", ("q_learnings",)) == {"q_learnings": ""}
    text = build_report(_run(eval_losses=[]), NOTHING_MEASURED, title="T", domain="social", **{
        "learnings": answers["q_learnings"], "production": answers["q_production"]})
    assert "I learned that data quality matters." in text and text.count(TODO) == 1
    assert all(section in text for section in REQUIRED_SECTIONS)


def test_edge_cases_and_a_changed_run_get_their_lines():
    changed = _run(settings={**_run().settings, "learning_rate": 1e-3}, eval_losses=[{"step": 2, "epoch": 1.0,
                   "loss": 1.6}], wall_seconds=38.0)
    text = build_report(_run(), NOTHING_MEASURED, title="T", domain="docstrings", changed=changed,
                        edge_cases=["def pop(self):\n    raise IndexError", "Q2?"])
    assert "- Edge cases (2): def pop(self): raise IndexError; Q2?" in text
    section = text.split("## Hyperparameter change")[1].split("\n## ")[0]
    assert "with learning_rate changed" in section
    assert "| learning_rate | 0.002 | 0.001 |" in section and "| best validation loss | 1.750 | 1.600 |" in section
    assert "| training time | 40.0 s | 38.0 s |" in section
    assert "## Hyperparameter change" not in build_report(_run(), NOTHING_MEASURED, title="T", domain="social")


def test_written_sections_go_between_the_table_and_the_answers_and_replace_earlier_ones(tmp_path):
    """Exercise 3's parsers read table rows (lines starting with `|`) and `### Q:` sections: an answer holding
    either must not change what they read."""
    from lora_course.report import insert_written_sections

    path = tmp_path / "evaluation_results.md"
    original = ("# Evaluation results\n\n| Criterion | Base Model | Fine-tuned | Winner |\n|---|---|---|---|\n"
                "| Tone | 0.20 | 0.80 | Fine-tuned |\n\n## Answers\n\n### Q: q1\n\n**Base:** b\n\n**Fine-tuned:** t\n")
    path.write_text(original, encoding="utf-8")
    insert_written_sections(path, {"Analysis": "| Tone | 1.00 | 0.00 | Base |\n### Q: q2", "Conclusion": ""})
    insert_written_sections(path, {"Analysis": "Style rose.\n\nOn topic fell.", "Conclusion": "Not yet."})
    text = path.read_text(encoding="utf-8")
    assert text.count("## Analysis") == 1 and "| Tone | 1.00" not in text
    assert "## Analysis\n\n> Style rose.\n>\n> On topic fell.\n\n## Conclusion\n\n> Not yet.\n\n## Answers" in text
    assert [line for line in text.splitlines() if line.startswith("|")] == original.splitlines()[2:5]
    assert text.split("\n### Q: ")[1:] == original.split("\n### Q: ")[1:]
    insert_written_sections(path, {"Conclusion": "YOUR ANSWER HERE"})
    assert f"## Conclusion\n\n> {TODO}" in path.read_text(encoding="utf-8")


def test_saving_the_notebook_asks_the_page_only_when_a_jupyter_server_started_the_kernel(tmp_path, monkeypatch):
    """Under nbconvert, Validate or grading no page would answer: no script, no wait."""
    import time

    from lora_course import nbgrader_course

    monkeypatch.delenv("JPY_SESSION_NAME", raising=False)
    started = time.perf_counter()
    assert nbgrader_course.save_notebook(tmp_path / "nb.ipynb", wait_seconds=5) is False
    monkeypatch.setenv("JPY_SESSION_NAME", str(tmp_path / "nb.ipynb"))
    monkeypatch.setenv("NBGRADER_EXECUTION", "autograde")
    assert nbgrader_course.save_notebook(tmp_path / "nb.ipynb", wait_seconds=5) is False
    assert time.perf_counter() - started < 1


def test_saving_waits_for_the_file_to_change(tmp_path, monkeypatch):
    """With a page (simulated: a thread rewrites the file as JupyterLab's save would), the wait ends at the save."""
    import threading
    import time

    from lora_course import nbgrader_course

    notebook = tmp_path / "nb.ipynb"
    notebook.write_text("{}")
    monkeypatch.setenv("JPY_SESSION_NAME", str(notebook))
    monkeypatch.delenv("NBGRADER_EXECUTION", raising=False)
    shown = []
    monkeypatch.setattr("IPython.display.display", lambda obj, display_id=None: shown.append(obj) or
                        type("Handle", (), {"update": lambda self, new: shown.append(new)})())
    threading.Timer(0.3, lambda: notebook.write_text('{"cells": []}')).start()
    started = time.perf_counter()
    assert nbgrader_course.save_notebook(notebook, wait_seconds=5) is True
    assert time.perf_counter() - started < 3
    assert nbgrader_course.SAVE_SCRIPT in shown[0].data and shown[-1].data == ""
    assert nbgrader_course.save_notebook(notebook, wait_seconds=0.3) is False  # no page saved this time
