"""Troubleshooting machinery: early-stopping monitor, measured memory in a subprocess, forgetting."""

from types import SimpleNamespace

import pytest
from transformers import TrainerControl

from lora_course.paths import data_file

from lora_course.training import LoRASettings, add_lora
from lora_course.troubleshooting import EvalLossMonitor, measure_forgetting, measure_training_memory


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


def test_forgetting_compares_adapter_off_and_on(tiny):
    model, tokenizer = tiny
    peft_model = add_lora(model, LoRASettings(rank=4, target_modules="attention"))
    texts = ["Water boils at one hundred degrees Celsius at sea level."]
    untouched = measure_forgetting(peft_model, tokenizer, texts)
    assert untouched.ratio == 1.0  # LoRA B starts at zero: no change yet
    for name, param in peft_model.named_parameters():
        if "lora_B" in name:
            param.data.normal_(0, 0.5)
    changed = measure_forgetting(peft_model, tokenizer, texts)
    assert changed.before == untouched.before and changed.after != changed.before
    peft_model.unload()
