"""Figures for the notebooks: training curves drawn from what a run recorded, never from hand-typed numbers."""

import matplotlib.pyplot as plt

from .training import TrainingRun


def plot_losses(runs: dict[str, TrainingRun] | TrainingRun, ax=None, title: str = "Loss"):
    """Train loss per step (line) and eval loss per epoch (dots) for one run or several labelled runs.

    A train curve that keeps falling while the eval dots rise is overfitting, the picture exercise 4 is about.
    """
    runs = {"": runs} if isinstance(runs, TrainingRun) else runs
    ax = ax or plt.subplots(figsize=(7, 4))[1]
    for label, run in runs.items():
        prefix = f"{label}: " if label else ""
        line, = ax.plot([p["step"] for p in run.train_losses], [p["loss"] for p in run.train_losses],
                        label=f"{prefix}train", alpha=0.8)
        if run.eval_losses:
            ax.plot([p["step"] for p in run.eval_losses], [p["loss"] for p in run.eval_losses], "o--",
                    color=line.get_color(), label=f"{prefix}eval")
    ax.set(xlabel="optimizer step", ylabel="cross-entropy (answer tokens)", title=title)
    ax.legend()
    ax.grid(alpha=0.3)
    return ax
