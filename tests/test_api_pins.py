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


def test_notebook_02_pipeline_runs_on_load_dataset_trainer_and_peft(tmp_path):
    """Exercise 2's learner-built run, on the tiny model: the calls and the trainer_state.json fields its tests read."""
    import functools
    import json
    import warnings

    from datasets import load_dataset
    from peft import LoraConfig, get_peft_model
    from transformers import TrainingArguments

    from lora_course.dataset import Example
    from lora_course.models import load_base_model
    from lora_course.prompts import encode, pad_batch, prompt_text
    from lora_course.training import AnswerLossTrainer

    model, tokenizer = load_base_model("tiny")  # its own copy: get_peft_model changes the model in place
    data = tmp_path / "data.jsonl"
    data.write_text("\n".join(json.dumps({"input": f"How do I do thing number {i}?", "output": f"Hi! 😊 Step {i}.",
                                          "category": "x"}) for i in range(4)) + "\n")

    def tokenize(row):
        assert prompt_text(tokenizer, row["input"]).startswith("<|im_start|>system")
        return encode(tokenizer, Example(row["input"], row["output"]), 64)

    raw = load_dataset("json", data_files=str(data), split="train")
    train_set = raw.map(tokenize, remove_columns=raw.column_names)
    peft_model = get_peft_model(model, LoraConfig(r=2, lora_alpha=4, target_modules=["q_proj", "v_proj"],
                                                  task_type="CAUSAL_LM"))
    args = TrainingArguments(output_dir=str(tmp_path / "checkpoints"), num_train_epochs=1, learning_rate=1e-3,
                             per_device_train_batch_size=2, logging_steps=1, save_strategy="epoch", seed=42,
                             report_to=[], remove_unused_columns=False, disable_tqdm=True)
    trainer = AnswerLossTrainer(model=peft_model, args=args, train_dataset=train_set,
                                data_collator=functools.partial(pad_batch, pad_token_id=tokenizer.pad_token_id))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        trainer.train()
    assert not [w for w in caught if "pin_memory" in str(w.message)], "a CPU run warns about pinned memory"
    trainer.save_model(tmp_path / "adapter")
    trainer.state.save_to_json(str(tmp_path / "adapter" / "trainer_state.json"))
    state = json.loads((tmp_path / "adapter" / "trainer_state.json").read_text())
    assert (tmp_path / "adapter" / "adapter_model.safetensors").is_file()
    assert state["num_train_epochs"] == 1 and state["train_batch_size"] == 2 and state["logging_steps"] == 1
    steps = [entry for entry in state["log_history"] if "loss" in entry]
    assert len(steps) == state["global_step"] == 2 and steps[0]["learning_rate"] == 1e-3
    assert json.loads((tmp_path / "adapter" / "adapter_config.json").read_text())["r"] == 2
