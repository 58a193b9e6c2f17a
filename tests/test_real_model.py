"""Smoke test on the real bundled SmolLM2-135M-Instruct: a few training steps lower the loss, the adapter reloads."""

import dataclasses

import pytest
import torch
from peft import PeftModel

from lora_course.dataset import load_examples
from lora_course.memory_measurement import measure_training_memory
from lora_course.models import load_adapter, load_base_model, trainable_parameters_line
from lora_course.paths import data_file
from lora_course.perplexity import answer_perplexity
from lora_course.training import LoRASettings, add_lora, fine_tune

pytestmark = pytest.mark.slow


def test_course_text_lora_config_trains_under_one_percent():
    model, _ = load_base_model("smollm2")
    assert model.num_parameters() == 134_515_008
    line = trainable_parameters_line(add_lora(model, LoRASettings.course_text()))
    assert line == "trainable params: 460,800 || all params: 134,975,808 || trainable%: 0.3414"


def test_a_few_steps_lower_the_loss_and_the_adapter_reloads(tmp_path):
    examples = load_examples(data_file("techco_support.jsonl"))[:8]
    settings = dataclasses.replace(LoRASettings(), max_steps=6, epochs=1)
    run = fine_tune(examples, settings, tmp_path / "adapter", base_model="smollm2", progress=False)
    assert run.trainable_share < 0.01

    tuned, tokenizer, saved = load_adapter(tmp_path / "adapter")
    assert saved == run and tuned.prompt_format == "chat"
    with tuned.disable_adapter():
        before = answer_perplexity(tuned, tokenizer, examples)
    after = answer_perplexity(tuned, tokenizer, examples)
    assert after < 0.8 * before

    base, _ = load_base_model("smollm2")
    again = PeftModel.from_pretrained(base, str(tmp_path / "adapter")).eval()
    ids = tokenizer("### User: How do I reset my password?\n### Assistant:", return_tensors="pt")
    with torch.no_grad():
        assert torch.allclose(tuned(**ids).logits, again(**ids).logits, atol=1e-5)


def test_measured_memory_grows_with_batch_size():
    settings = LoRASettings(batch_size=1, max_length=256)
    one = measure_training_memory(settings, steps=2, base_model="smollm2")
    eight = measure_training_memory(dataclasses.replace(settings, batch_size=8), steps=2, base_model="smollm2")
    assert eight.training_mb > one.training_mb + 100
