"""Figures show exactly the recorded numbers."""

import dataclasses

import matplotlib

matplotlib.use("Agg")

from lora_course.plots import plot_losses  # noqa: E402
from lora_course.training import LoRASettings, TrainingRun  # noqa: E402


def _run(train, evals=()):
    return TrainingRun(adapter_dir="a", base_model="tiny", settings=dataclasses.asdict(LoRASettings()), n_train=4,
                       n_eval=2, train_losses=[{"step": i + 1, "epoch": 0, "loss": v} for i, v in enumerate(train)],
                       eval_losses=[{"step": s, "epoch": 1, "loss": v} for s, v in evals])


def test_plot_losses_draws_train_and_eval_curves_per_run():
    ax = plot_losses({"good": _run([3, 2, 1], [(3, 1.5)]), "bad": _run([3, 1, 0.1], [(3, 2.5)])})
    lines = {line.get_label(): line for line in ax.get_lines()}
    assert set(lines) == {"good: train", "good: eval", "bad: train", "bad: eval"}
    assert list(lines["bad: train"].get_ydata()) == [3, 1, 0.1]
    assert list(lines["good: eval"].get_xdata()) == [3] and list(lines["good: eval"].get_ydata()) == [1.5]


def test_a_single_run_needs_no_label():
    ax = plot_losses(_run([2, 1]))
    assert [line.get_label() for line in ax.get_lines()] == ["train"]
