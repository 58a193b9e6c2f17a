"""Figures for the notebooks: training curves drawn from what a run recorded, never from hand-typed numbers."""

import matplotlib.pyplot as plt
from transformers import TrainerCallback

from .runs import TrainingRun


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


class LiveLossPlot(TrainerCallback):
    """Redraws the loss curve in the notebook while training runs (pass it in `fine_tune(callbacks=[...])`).

    Uses a display handle, so the figure updates in place instead of piling up one image per step.
    """

    def __init__(self, title: str = "Training loss", every: int = 5):
        self.title, self.every = title, every
        self.steps, self.losses, self.eval_steps, self.eval_losses = [], [], [], []
        self.figure, self.ax = plt.subplots(figsize=(7, 3.5))
        plt.close(self.figure)  # shown through the handle only, not again at the end of the cell
        self.handle = None

    def on_log(self, args, state, control, logs=None, **kwargs):
        if logs and "loss" in logs:
            self.steps.append(state.global_step)
            self.losses.append(float(logs["loss"]))
        if logs and "eval_loss" in logs:
            self.eval_steps.append(state.global_step)
            self.eval_losses.append(float(logs["eval_loss"]))
        if self.steps and (state.global_step % self.every == 0 or "eval_loss" in (logs or {})):
            self.draw()

    def on_train_end(self, args, state, control, **kwargs):
        self.draw()

    def draw(self):
        from IPython.display import display

        self.ax.clear()
        self.ax.plot(self.steps, self.losses, label="train")
        if self.eval_losses:
            self.ax.plot(self.eval_steps, self.eval_losses, "o--", label="eval")
        self.ax.set(xlabel="optimizer step", ylabel="cross-entropy (answer tokens)",
                    title=f"{self.title}: step {self.steps[-1]}, loss {self.losses[-1]:.3f}")
        self.ax.legend()
        self.ax.grid(alpha=0.3)
        if self.handle is None:
            self.handle = display(self.figure, display_id=True)
        else:
            self.handle.update(self.figure)
