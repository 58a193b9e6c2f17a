"""Figures show exactly the recorded numbers."""

import dataclasses

import matplotlib

matplotlib.use("Agg")

from lora_course.plots import plot_losses  # noqa: E402
from lora_course.runs import TrainingRun
from lora_course.training import LoRASettings  # noqa: E402


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


def test_live_loss_plot_records_what_the_trainer_logs(tiny, examples, tmp_path):
    from lora_course.plots import LiveLossPlot
    from lora_course.training import fine_tune

    live = LiveLossPlot(every=1)
    run = fine_tune(examples, LoRASettings(epochs=1, batch_size=2, eval_fraction=0.25), tmp_path, base_model="tiny",
                    progress=False, callbacks=[live])
    assert live.losses == [p["loss"] for p in run.train_losses]
    assert live.eval_losses == [p["loss"] for p in run.eval_losses]
    train_line = live.ax.get_lines()[0]
    assert list(train_line.get_ydata()) == live.losses and "loss" in live.ax.get_title()
