"""Notebook 04's machinery: early-stopping monitor, memory measured in a subprocess, replay mixing, the plain loop."""

import dataclasses
from types import SimpleNamespace

import pytest
import torch
from transformers import TrainerControl

from lora_course.forgetting import mix_examples, train_steps
from lora_course.memory_measurement import measure_strategies, measure_training_memory
from lora_course.paths import data_file
from lora_course.training import EvalLossMonitor, LoRASettings, add_lora


def _feed(monitor, losses):
    control = TrainerControl()
    for epoch, loss in enumerate(losses, start=1):
        monitor.on_evaluate(None, SimpleNamespace(epoch=epoch), control, metrics={"eval_loss": loss})
        if control.should_training_stop:
            return epoch
    return None


def test_monitor_stops_after_patience_evaluations_without_improvement():
    monitor = EvalLossMonitor(patience=2)
    assert _feed(monitor, [2.0, 1.5, 1.6, 1.55, 1.4]) == 4
    assert monitor.best_epoch == 2 and monitor.stopped


def test_monitor_without_patience_only_watches():
    monitor = EvalLossMonitor()
    assert _feed(monitor, [2.0, 1.0, 3.0, 4.0]) is None
    assert monitor.best_loss == 1.0 and not monitor.stopped


def test_memory_is_measured_in_a_fresh_process(tmp_path):
    small = LoRASettings(batch_size=1, max_length=64, bf16=False)
    one = measure_training_memory(small, data=data_file("techco_support.jsonl"), steps=2, base_model="tiny",
                                  label="batch 1")
    assert one.label == "batch 1" and one.seconds_per_step > 0 and one.settings["max_steps"] == 2
    assert 0 < one.model_loaded_mb < one.peak_rss_mb


def test_a_failed_measurement_raises_with_the_childs_error(tmp_path):
    with pytest.raises(RuntimeError, match="DatasetError|missing field"):
        measure_training_memory(LoRASettings(), data=data_file("broken/missing_output.jsonl"), base_model="tiny")


def test_mix_keeps_task_order_and_spreads_the_requested_share():
    task, general = list(range(16)), [f"g{i}" for i in range(10)]
    mixed = mix_examples(task, general, share=0.2, seed=1)
    assert [x for x in mixed if isinstance(x, int)] == task and len(mixed) == 20
    positions = [i for i, x in enumerate(mixed) if isinstance(x, str)]
    assert len(positions) == 4 and min(b - a for a, b in zip(positions, positions[1:], strict=False)) >= 3
    assert mix_examples(task, general, share=0.2, seed=1) == mixed
    assert mix_examples(task, general, share=0.0) == task


def test_mix_refuses_impossible_shares():
    with pytest.raises(ValueError, match="share"):
        mix_examples([1, 2], ["g"], share=1.0)
    with pytest.raises(ValueError, match="general examples needed"):
        mix_examples(list(range(16)), ["g"], share=0.5)


def test_train_steps_trains_what_requires_grad(examples):
    from lora_course.models import load_base_model

    model, tokenizer = load_base_model("tiny")
    frozen = {n: p.detach().clone() for n, p in model.named_parameters()}
    lora = add_lora(model, LoRASettings(rank=4))
    losses = train_steps(lora, tokenizer, examples[:2], steps=6, learning_rate=1e-2, batch_size=2, max_length=48)
    assert len(losses) == 6 and losses[-1] < losses[0]
    for name, param in lora.get_base_model().named_parameters():
        if "lora_" not in name:
            assert torch.equal(param, frozen[name.replace(".base_layer", "")]), f"{name} moved under LoRA"

    full, _ = load_base_model("tiny")
    before = {n: p.detach().clone() for n, p in full.named_parameters()}
    full_losses = train_steps(full, tokenizer, examples[:2], steps=3, learning_rate=1e-3, batch_size=2,
                              max_length=48)
    assert len(full_losses) == 3
    assert all(not torch.equal(p, before[n]) for n, p in full.named_parameters()), "full fine-tuning moves every weight"


def test_strategies_are_measured_in_order_in_parallel_processes():
    small = LoRASettings(batch_size=1, max_length=48, bf16=False)
    results = measure_strategies({"batch 1": (small, "tiny"),
                                  "batch 4": (dataclasses.replace(small, batch_size=4), "tiny")},
                                 data=data_file("techco_support.jsonl"), steps=1, workers=2)
    assert [r.label for r in results] == ["batch 1", "batch 4"]
    assert results[1].settings["batch_size"] == 4 and all(r.peak_rss_mb > r.model_loaded_mb for r in results)
