"""The mini-project report is filled from the run's own numbers."""

import dataclasses

from lora_course.nbgrader_course import written_answers
from lora_course.report import REQUIRED_SECTIONS, TODO, build_report
from lora_course.training import LoRASettings, TrainingRun


def test_report_has_every_section_and_the_real_numbers():
    run = TrainingRun(adapter_dir="a", base_model="smollm2", settings=dataclasses.asdict(LoRASettings()), n_train=30,
                      n_eval=0, train_losses=[{"step": 1, "epoch": 0.1, "loss": 2.5},
                                              {"step": 2, "epoch": 0.2, "loss": 1.25}],
                      wall_seconds=42.5, tokens_per_second=300, peak_rss_mb=1234, trainable_params=100,
                      total_params=10000)
    evaluation = {"n_examples": 5, "base_perplexity": 20.0, "tuned_perplexity": 9.5, "base_style_score": 0.3,
                  "tuned_style_score": 0.8, "base_eos_rate": 0.0, "tuned_eos_rate": 1.0,
                  "samples": [{"question": "Q?", "base": "plain", "tuned": "better"}]}
    text = build_report(run, evaluation, title="Medical Q&A", domain="medical", learnings="I learned a lot.")
    assert all(section in text for section in REQUIRED_SECTIONS)
    for figure in ("42.5 s", "1234 MB", "2.500", "1.250", "9.500", "20.000", "1.00%", "I learned a lot."):
        assert figure in text
    assert "TODO: your own words." in text  # production readiness not written yet


def _run(**overrides):
    fields = dict(adapter_dir="a", base_model="smollm2", settings=dataclasses.asdict(LoRASettings()), n_train=28,
                  n_eval=4,
                  train_losses=[{"step": 1, "epoch": 0.1, "loss": 3.0}, {"step": 2, "epoch": 0.2, "loss": 1.5}],
                  eval_losses=[{"step": 2, "epoch": 1.0, "loss": 1.75}], wall_seconds=40.04, tokens_per_second=500,
                  peak_rss_mb=900, trainable_params=460800, total_params=134975808)
    return TrainingRun(**{**fields, **overrides})


def test_domain_metrics_and_scored_samples_appear_in_the_evaluation():
    evaluation = {"n_examples": 6, "description": "Perplexity on the 4 validation pairs.",
                  "base_perplexity": 12.0, "tuned_perplexity": 4.0, "base_domain_score": 0.25,
                  "tuned_domain_score": 0.875, "base_eos_rate": 0.0, "tuned_eos_rate": 1.0,
                  "base_words": 120.0, "tuned_words": 80.0,
                  "samples": [{"question": "Q1?", "base": "one line", "tuned": "two\n### lines",
                               "base_score": 0.0, "tuned_score": 1.0}]}
    text = build_report(_run(), evaluation, title="T", domain="medical", overview="Medical Q&A with a disclaimer.",
                        learnings="L", production="P")
    assert "| domain score (0–1) | 0.250 | 0.875 |" in text
    assert "| words | 120.000 | 80.000 |" in text  # an unknown metric pair still gets its row
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
    text = build_report(_run(eval_losses=[]), {}, title="T", domain="social", **{
        "learnings": answers["q_learnings"], "production": answers["q_production"]})
    assert "I learned that data quality matters." in text and text.count(TODO) == 1
    assert all(section in text for section in REQUIRED_SECTIONS)
