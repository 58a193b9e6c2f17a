"""The record of a training run, `run.json` next to the adapter: what the run was given and what it measured.

The only code that reads or writes that file, so the report, the CLI, the plots and reloading an adapter all see
the same record. Standard library only.
"""

import dataclasses
import json
import math
from dataclasses import dataclass, field
from pathlib import Path

from .prompts import COURSE_TEXT

RUN_FILE = "run.json"


@dataclass
class TrainingRun:
    """What a run produced and measured; saved next to the adapter as `run.json`."""

    adapter_dir: str
    base_model: str
    settings: dict
    n_train: int
    n_eval: int
    train_losses: list = field(default_factory=list)   # [{"step", "epoch", "loss"}]
    eval_losses: list = field(default_factory=list)    # [{"step", "epoch", "loss"}]
    wall_seconds: float = 0.0
    tokens_per_second: float = 0.0
    peak_rss_mb: float = 0.0
    trainable_params: int = 0
    total_params: int = 0
    stopped_early: bool = False
    best_epoch: float | None = None
    resumed_from: str | None = None
    base_eval_loss: float | None = None  # the base model's loss on the held-out examples, before training
    kept: str = "last epoch"  # what the adapter holds: "last epoch", "best epoch" or "base model" (the guard)
    duplicate_share: float = 0.0  # share of training examples that repeat another (`duplicates.duplicate_share`)

    @property
    def final_train_loss(self) -> float:
        return self.train_losses[-1]["loss"] if self.train_losses else math.nan

    @property
    def trainable_share(self) -> float:
        return self.trainable_params / self.total_params

    @property
    def prompt_format(self) -> str:
        """The format the adapter was trained in; records from before the chat template have none."""
        return self.settings.get("prompt_format", COURSE_TEXT)

    def save(self, path) -> None:
        _run_file(path).write_text(json.dumps(dataclasses.asdict(self), indent=2))

    @classmethod
    def load(cls, path) -> "TrainingRun":
        """The run saved in `path` (an adapter folder or its run.json)."""
        return cls(**json.loads(_run_file(path).read_text()))

    @classmethod
    def of_adapter(cls, adapter_dir) -> "TrainingRun | None":
        """The adapter's run, or None for an adapter saved without one (e.g. by exercise 2's own Trainer)."""
        return cls.load(adapter_dir) if (Path(adapter_dir) / RUN_FILE).is_file() else None


def _run_file(path) -> Path:
    """An adapter folder's run.json, or `path` itself when it names the file."""
    path = Path(path)
    return path / RUN_FILE if path.is_dir() else path
