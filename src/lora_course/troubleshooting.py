"""Notebook 04's helpers in one import: the three classic failures and what reproduces and measures them.

The learners write the concepts themselves (an overfitting detector, a memory estimator, a forgetting measure);
these are the real measurements around them, each living in the module named for its job.
"""

from .forgetting import mix_examples, train_steps
from .memory import format_mb, peak_rss_mb
from .memory_measurement import MemoryMeasurement, measure_strategies, measure_training_memory
from .training import EvalLossMonitor

__all__ = ["EvalLossMonitor", "MemoryMeasurement", "format_mb", "measure_strategies", "measure_training_memory",
           "mix_examples", "peak_rss_mb", "train_steps"]
