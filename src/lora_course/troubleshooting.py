"""Notebook 04's helpers in one import: what reproduces and measures the classic failures.

The learners write the concepts themselves (an overfitting detector, a memory estimator, a forgetting measure);
these are the real measurements around them, each living in the module named for its job.
"""

from .forgetting import mix_examples, train_steps
from .memory_measurement import measure_strategies, measure_training_memory

__all__ = ["measure_strategies", "measure_training_memory", "mix_examples", "train_steps"]
