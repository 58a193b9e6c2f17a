"""The mini-project report is filled from the run's own numbers."""

from lora_course.report import REQUIRED_SECTIONS, build_report
from lora_course.training import LoRASettings, TrainingRun
import dataclasses


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
