"""Machinery for the three classic failures: overfitting, out-of-memory, catastrophic forgetting.

The notebooks have learners write the *concepts* (an overfitting detector, a memory estimator, a forgetting
measure); this module only supplies what reproduces and measures the failures for real.
"""

import dataclasses
import json
import math
import os
import random
import subprocess
import sys
import tempfile
from dataclasses import dataclass

import psutil
import torch
from transformers import TrainerCallback

from .data import CHAT


class EvalLossMonitor(TrainerCallback):
    """Stops training once eval loss has not improved for `patience` evaluations (None: only watch)."""

    def __init__(self, patience: int | None = None):
        self.patience = patience
        self.best_loss = float("inf")
        self.best_epoch = None
        self.evals_without_improvement = 0
        self.stopped = False

    def on_evaluate(self, args, state, control, metrics=None, **kwargs):
        loss = (metrics or {}).get("eval_loss")
        if loss is None:
            return
        if loss < self.best_loss:
            self.best_loss, self.best_epoch = loss, round(state.epoch or 0, 3)
            self.evals_without_improvement = 0
        else:
            self.evals_without_improvement += 1
        if self.patience is not None and self.evals_without_improvement >= self.patience:
            self.stopped = control.should_training_stop = True


# --- Out of memory: measure, don't guess ---------------------------------------------------------------------

PROC_STATUS = "/proc/self/status"  # Linux only


def peak_rss_mb() -> float:
    """This process's peak resident memory in MiB, or NaN where this platform cannot tell (never a wrong number).

    Linux: VmHWM, which starts afresh in a new program; `ru_maxrss` would report a large parent's peak for a child
    started by fork + exec (e.g. from a notebook kernel or pytest). Windows has no `resource` module: psutil's peak
    working set. macOS: `ru_maxrss`, which counts bytes there (kilobytes on Linux).
    """
    try:
        with open(PROC_STATUS) as status:
            return next(int(line.split()[1]) for line in status if line.startswith("VmHWM:")) / 1024
    except (OSError, StopIteration):
        pass
    peak_working_set = getattr(psutil.Process().memory_info(), "peak_wset", None)
    if peak_working_set is not None:
        return peak_working_set / 2**20
    try:
        import resource
    except ImportError:
        return math.nan
    maxrss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return maxrss / 2**20 if sys.platform == "darwin" else maxrss / 1024


def format_mb(mb: float) -> str:
    """A memory figure for people: `peak_rss_mb` gives NaN where the platform cannot measure it."""
    return "not available on this platform" if math.isnan(mb) else f"{mb:.0f} MB"


@dataclass
class MemoryMeasurement:
    """Peak resident memory of a short real training run in a fresh process."""

    label: str
    peak_rss_mb: float        # whole process: Python + libraries + model + training
    model_loaded_mb: float    # RSS when training starts (libraries + model)
    seconds_per_step: float
    settings: dict

    @property
    def training_mb(self) -> float:
        """What training itself added on top of the loaded model."""
        return self.peak_rss_mb - self.model_loaded_mb


def measure_training_memory(settings, data=None, steps: int = 3, base_model: str | None = None,
                            label: str = "", threads: int | None = None) -> MemoryMeasurement:
    """Run `steps` real optimizer steps in a subprocess and report its peak RSS.

    A fresh process per strategy, because a process's peak never goes down: measuring several
    strategies in one kernel would report the worst of them all. `threads` caps the child's CPU threads.
    """
    from .paths import data_file

    request = {"settings": dataclasses.asdict(dataclasses.replace(settings, max_steps=steps)),
               "data": str(data or data_file("techco_support.jsonl")), "base_model": base_model}
    env = {**os.environ, **({"OMP_NUM_THREADS": str(threads)} if threads else {})}
    done = subprocess.run([sys.executable, "-m", "lora_course.troubleshooting"], input=json.dumps(request),
                          capture_output=True, text=True, check=False, env=env)
    if done.returncode != 0:
        raise RuntimeError(f"memory measurement failed:\n{done.stderr[-2000:]}")
    result = json.loads(done.stdout.strip().splitlines()[-1])
    return MemoryMeasurement(label=label, settings=request["settings"], **result)


def measure_strategies(strategies: dict, data=None, steps: int = 2, workers: int = 2) -> list[MemoryMeasurement]:
    """Measure several strategies, `workers` fresh processes at a time (each gets its share of the CPU threads).

    `strategies` maps a label to settings, or to (settings, base_model). Results come back in the given order.
    """
    from concurrent.futures import ThreadPoolExecutor

    threads = max(1, (os.cpu_count() or 1) // workers)

    def one(item):
        label, value = item
        settings, base_model = value if isinstance(value, tuple) else (value, None)
        return measure_training_memory(settings, data, steps, base_model, label, threads)

    with ThreadPoolExecutor(max_workers=workers) as pool:
        return list(pool.map(one, strategies.items()))


def _measure_in_this_process(request: dict) -> dict:
    from .training import LoRASettings, fine_tune

    class LoadedMemory(TrainerCallback):
        def on_train_begin(self, *args, **kwargs):
            self.mb = psutil.Process().memory_info().rss / 2**20

    loaded = LoadedMemory()
    with tempfile.TemporaryDirectory() as out:
        run = fine_tune(request["data"], LoRASettings(**request["settings"]), out, base_model=request["base_model"],
                        progress=False, callbacks=[loaded])
    steps = max(1, len(run.train_losses))
    return {"peak_rss_mb": run.peak_rss_mb, "model_loaded_mb": round(loaded.mb, 1),
            "seconds_per_step": round(run.wall_seconds / steps, 3)}


# --- Catastrophic forgetting -----------------------------------------------------------------------------------

def mix_examples(task, general, share: float = 0.15, seed: int = 42) -> list:
    """The task examples, in their order, with general ones spread evenly among them so that they make up
    `share` of the result (rounded); `seed` picks which general examples.

    Replaying a little general data during fine-tuning is the standard guard against forgetting. Keeping the
    task order makes a run on the mix directly comparable with a run on the task data alone.
    """
    if not 0 <= share < 1:
        raise ValueError(f"share must be in [0, 1), got {share}")
    task, general = list(task), list(general)
    n_general = round(share * len(task) / (1 - share))
    if n_general > len(general):
        raise ValueError(f"{n_general} general examples needed for share={share}, only {len(general)} given")
    picked = random.Random(seed).sample(general, n_general)
    mixed = list(task)
    for k, example in enumerate(picked):  # evenly spaced, from the back so earlier positions stay valid
        mixed.insert(round((n_general - k) * len(task) / (n_general + 1)), example)
    return mixed


def train_steps(model, tokenizer, data, steps: int, learning_rate: float, batch_size: int = 2,
                max_length: int = 128, weight_decay: float = 0.0, seed: int = 42,
                prompt_format: str = CHAT) -> list[float]:
    """A plain PyTorch loop: `steps` AdamW steps on every parameter that requires grad, answer-only loss, taking
    batches from `data` in the order given (cycling).

    The same loop serves full fine-tuning (a base model: every weight trains) and LoRA (a PEFT model: only the
    adapters train), so the two differ in nothing but what is trainable. Returns the loss of each step.
    Uses bfloat16 autocast where the hardware has it (weights and optimizer stay float32).
    """
    from .training import answer_loss, as_examples, encode, fast_bf16_available, pad_batch

    torch.manual_seed(seed)
    encoded = [encode(tokenizer, example, max_length, prompt_format) for example in as_examples(data)]
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=learning_rate, weight_decay=weight_decay)
    losses, position = [], 0
    model.train()
    for _ in range(steps):
        batch_ids = [(position + i) % len(encoded) for i in range(batch_size)]
        position += batch_size
        batch = pad_batch([encoded[i] for i in batch_ids], tokenizer.pad_token_id)
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=fast_bf16_available() and model.device.type == "cpu"):
            loss = answer_loss(model, batch)
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        losses.append(round(loss.item(), 4))
    model.eval()
    return losses


@dataclass
class ForgettingResult:
    before: float  # general-text perplexity of the base model
    after: float   # the same text, fine-tuned model
    ratio: float   # after / before: 1.0 = nothing forgotten


def measure_forgetting(tuned_model, tokenizer, texts: list[str], base_model=None) -> ForgettingResult:
    """General-text perplexity before and after fine-tuning.

    With a PEFT model and no `base_model`, "before" is the same model with its adapter switched off.
    """
    from .evaluation import text_perplexity

    if base_model is None:
        with tuned_model.disable_adapter():
            before = text_perplexity(tuned_model, tokenizer, texts)
    else:
        before = text_perplexity(base_model, tokenizer, texts)
    after = text_perplexity(tuned_model, tokenizer, texts)
    return ForgettingResult(before=round(before, 3), after=round(after, 3), ratio=round(after / before, 3))


if __name__ == "__main__":  # the child process of measure_training_memory
    print(json.dumps(_measure_in_this_process(json.load(sys.stdin))))
