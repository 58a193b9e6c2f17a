"""The library APIs the course relies on, so a version bump that breaks a notebook fails here first."""

import inspect
from importlib.metadata import version

import pytest
from packaging.version import Version


def test_installed_versions_are_inside_the_pinned_ranges():
    assert Version("5.24") <= Version(version("transformers")) < Version("6")
    assert Version("0.21") <= Version(version("peft")) < Version("0.22")
    assert Version("0.9.5") <= Version(version("nbgrader")) < Version("0.10")
    assert Version(version("torch")) >= Version("2.4")


def test_training_arguments_use_current_names():
    from transformers import TrainingArguments

    params = inspect.signature(TrainingArguments.__init__).parameters
    assert {"eval_strategy", "activation_checkpointing", "use_cpu", "bf16", "warmup_steps"} <= set(params)
    # The course text's old name is gone: learners see this TypeError in exercise 4.
    with pytest.raises(TypeError, match="evaluation_strategy"):
        TrainingArguments(output_dir="unused", evaluation_strategy="epoch")


def test_from_pretrained_takes_dtype_and_gguf_file():
    from transformers import AutoModelForCausalLM, PreTrainedModel

    assert "gguf_file" in inspect.signature(AutoModelForCausalLM.from_pretrained).parameters or \
        "gguf_file" in inspect.getsource(PreTrainedModel.from_pretrained)


def test_peft_api():
    from peft import LoraConfig, PeftModel, get_peft_model  # noqa: F401
    from peft.utils.constants import TRANSFORMERS_MODELS_TO_LORA_TARGET_MODULES_MAPPING as mapping

    assert mapping["llama"] == ["q_proj", "v_proj"] and mapping["gpt2"] == ["c_attn"]
    fields = set(inspect.signature(LoraConfig).parameters)
    assert {"r", "lora_alpha", "lora_dropout", "target_modules", "task_type"} <= fields


def test_bitsandbytes_config_exists_for_the_gpu_path():
    from transformers import BitsAndBytesConfig

    assert "load_in_8bit" in inspect.signature(BitsAndBytesConfig).parameters


def test_generate_accepts_stop_strings(tiny):
    model, tokenizer = tiny
    ids = tokenizer("### User: hi\n### Assistant:", return_tensors="pt")
    out = model.generate(**ids, max_new_tokens=2, do_sample=False, stop_strings=["### User:"], tokenizer=tokenizer,
                         pad_token_id=tokenizer.eos_token_id)
    assert out.shape[1] <= ids["input_ids"].shape[1] + 2
