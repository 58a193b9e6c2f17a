"""Out of memory, measured rather than guessed: the peak memory of a few real training steps per strategy.

Each measurement runs in a fresh process (`python -m lora_course.memory_measurement`), because a process's peak
never goes down: measuring several strategies in one kernel would report the worst of them all.
"""

import dataclasses
import json
import os
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import psutil
from transformers import TrainerCallback

from .paths import data_file
from .training import LoRASettings, fine_tune


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
    """Run `steps` real optimizer steps in a subprocess and report its peak RSS; `threads` caps its CPU threads."""
    request = {"settings": dataclasses.asdict(dataclasses.replace(settings, max_steps=steps)),
               "data": str(data or data_file("techco_support.jsonl")), "base_model": base_model}
    env = {**os.environ, **({"OMP_NUM_THREADS": str(threads)} if threads else {})}
    done = subprocess.run([sys.executable, "-m", __name__], input=json.dumps(request),
                          capture_output=True, text=True, check=False, env=env)
    if done.returncode != 0:
        raise RuntimeError(f"memory measurement failed:\n{done.stderr[-2000:]}")
    result = json.loads(done.stdout.strip().splitlines()[-1])
    return MemoryMeasurement(label=label, settings=request["settings"], **result)


def measure_strategies(strategies: dict, data=None, steps: int = 2, workers: int = 2) -> list[MemoryMeasurement]:
    """Measure several strategies, `workers` fresh processes at a time (each gets its share of the CPU threads).

    `strategies` maps a label to settings, or to (settings, base_model). Results come back in the given order.
    """
    threads = max(1, (os.cpu_count() or 1) // workers)

    def one(item):
        label, value = item
        settings, base_model = value if isinstance(value, tuple) else (value, None)
        return measure_training_memory(settings, data, steps, base_model, label, threads)

    with ThreadPoolExecutor(max_workers=workers) as pool:
        return list(pool.map(one, strategies.items()))


def _measure_in_this_process(request: dict) -> dict:
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


if __name__ == "__main__":  # the child process of measure_training_memory
    print(json.dumps(_measure_in_this_process(json.load(sys.stdin))))
