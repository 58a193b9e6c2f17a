"""LoRA fine-tuning on HF `Trainer` + PEFT, with the details tutorials get wrong done right.

- Loss on the answer only; prompt and padding are masked by *position*, so EOS stays a target and the
  model learns to stop (masking by pad id would also mask EOS, since pad == eos here).
- Dynamic padding to the longest sequence in the batch, never to a fixed 512.
- Seeded, checkpointed every epoch, resumable after a crash.
"""

import dataclasses
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch
import torch.utils.checkpoint
from peft import LoraConfig, get_peft_model
from peft.helpers import disable_input_dtype_casting
from transformers import PrinterCallback, ProgressCallback, Trainer, TrainerCallback, TrainingArguments, set_seed

from .dataset import Example, load_examples
from .duplicates import MANY_DUPLICATES, duplicate_share, split_examples
from .memory import peak_rss_mb
from .models import load_base_model, lora_target_modules, model_name, trainable_parameters_line, training_device
from .prompts import CHAT, IGNORE_INDEX, PROMPT_FORMATS, check_prompt_format, encode, pad_batch
from .runs import TrainingRun

TARGET_PRESETS = ("attention", "all-linear")  # `target_modules` by name; a list names the layers itself


def _setting(default, text: str, **cli):
    """A LoRASettings field with the help text `lora-course train --<field>` shows (`cli`: choices, aliases, ...)."""
    return field(default=default, metadata={"help": text, **cli})


@dataclass(frozen=True)
class LoRASettings:
    """Everything that defines a run; `lora-course train` has an option per field. Defaults chosen by
    `benchmarks/sweep_defaults.py` (see README)."""

    rank: int = _setting(16, "r: width of the low-rank update B @ A")
    alpha: int = _setting(32, "the update is scaled by alpha / r")
    dropout: float = _setting(0.0, "dropout on the LoRA input; 1% in the sweep, not worth a copy of every input")
    target_modules: str = _setting("attention", "layers that get adapters: the architecture's attention "
                                   "projections (PEFT's choice), every linear layer, or a list (Python only)",
                                   choices=TARGET_PRESETS)
    learning_rate: float = _setting(2e-3, "peak learning rate of AdamW", aliases=("--lr",))
    epochs: float = _setting(3, "passes over the training examples")
    batch_size: int = _setting(2, "examples per step")
    gradient_accumulation: int = _setting(1, "steps whose gradients add up before an update: effective batch = "
                                          "batch_size * gradient_accumulation")
    max_length: int = _setting(256, "tokens per example (prompt + answer); longer answers are cut")
    weight_decay: float = _setting(0.0, "AdamW weight decay")
    warmup_steps: int = _setting(0, "steps of linear learning-rate warm-up")
    lr_scheduler: str = _setting("linear", "learning-rate schedule (a transformers SchedulerType name)")
    eval_fraction: float = _setting(0.15, "share of examples held out (near-duplicates kept together) for an "
                                    "eval loss per epoch")
    keep_best: bool = _setting(True, "with held-out examples: hand back the best epoch, or an adapter that "
                               "changes nothing if no epoch beats the base model")
    early_stopping_patience: int | None = _setting(None, "stop after this many epochs without eval-loss "
                                                   "improvement", aliases=("--early-stopping",), unset="off")
    gradient_checkpointing: bool = _setting(False, "recompute activations in backward: less memory, more time")
    bf16: bool | None = _setting(None, "bfloat16 base weights: half the memory, ~1.8x faster where the hardware "
                                 "has it", unset="where the hardware has it")
    prompt_format: str = _setting(CHAT, "chat: the model's own chat template; course-text: "
                                  "'### User: …\\n### Assistant:'", choices=PROMPT_FORMATS)
    seed: int = _setting(42, "seed for data order, LoRA initialisation and dropout")
    max_steps: int = _setting(-1, "> 0: train this many steps instead of epochs (for short measurements)")

    def __post_init__(self):
        """A wrong value is reported here, where the settings are made, not after the model has loaded."""
        check_prompt_format(self.prompt_format)
        if isinstance(self.target_modules, str) and self.target_modules not in TARGET_PRESETS:
            raise ValueError(f"target_modules must be 'attention', 'all-linear' or a list of layer names, "
                             f"not {self.target_modules!r}")
        positive = {"rank": self.rank, "alpha": self.alpha, "learning_rate": self.learning_rate,
                    "epochs": self.epochs, "batch_size": self.batch_size,
                    "gradient_accumulation": self.gradient_accumulation, "max_length": self.max_length}
        for name, value in positive.items():
            if not value > 0:
                raise ValueError(f"{name} must be greater than 0, not {value!r}")
        for name, value in (("dropout", self.dropout), ("eval_fraction", self.eval_fraction)):
            if not 0 <= value < 1:
                raise ValueError(f"{name} must be in [0, 1), not {value!r}")
        if self.warmup_steps < 0 or self.weight_decay < 0:
            raise ValueError("warmup_steps and weight_decay cannot be negative")
        if self.early_stopping_patience is not None and self.early_stopping_patience < 1:
            raise ValueError(f"early_stopping_patience must be at least 1 (or None), not "
                             f"{self.early_stopping_patience!r}")

    @classmethod
    def course_text(cls) -> "LoRASettings":
        """The values from the course text: they barely move this model on ~20 examples (see README)."""
        return cls(rank=8, alpha=16, dropout=0.05, target_modules="attention", learning_rate=2e-4,
                   epochs=3, batch_size=2)


LOSS_CHUNK = 64  # answer tokens per piece of the output-layer + loss computation


def answer_loss(model, batch: dict, num_items=None):
    """Mean cross-entropy over answer tokens, computed so the full (batch x length x 49k vocab) logits never exist.

    Only positions with a label go through the output layer, a chunk at a time, and each chunk's logits are
    recomputed in the backward pass instead of kept: less peak memory per step, same loss value.
    `num_items` is the Trainer's count of label tokens across accumulated micro-batches.
    """
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    hidden = base.base_model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).last_hidden_state
    targets = batch["labels"][:, 1:]
    answer = targets != IGNORE_INDEX
    hidden, targets = hidden[:, :-1][answer], targets[answer]
    if not len(targets):  # every answer cut off by max_length: nothing to learn from, but still a valid step
        return hidden.sum() * 0.0
    head = base.get_output_embeddings()

    def chunk_nll(h, y):
        return torch.nn.functional.cross_entropy(head(h).float(), y, reduction="sum")

    total = sum(torch.utils.checkpoint.checkpoint(chunk_nll, hidden[i:i + LOSS_CHUNK], targets[i:i + LOSS_CHUNK],
                                                  use_reentrant=False)
                for i in range(0, len(targets), LOSS_CHUNK))
    return total / (num_items if num_items is not None else len(targets))


class AnswerLossTrainer(Trainer):
    """HF `Trainer` whose loss is `answer_loss`: the same value, without materialising the full vocabulary logits."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.args.device.type == "cpu":  # pinned memory only speeds up copies to a GPU; on a CPU torch warns
            self.args.dataloader_pin_memory = False

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        with self.accelerator.autocast():  # calling the inner model skips the autocast wrapper on forward()
            loss = answer_loss(model, inputs, num_items_in_batch)
        return (loss, {"loss": loss}) if return_outputs else loss


def as_examples(data) -> list[Example]:
    """Accept a JSONL path, Example objects, or {"input", "output"} dicts."""
    if isinstance(data, (str, Path)):
        return load_examples(data)
    return [d if isinstance(d, Example) else Example(input=d["input"], output=d["output"]) for d in data]


def add_lora(model, settings: LoRASettings):
    """Wrap a base model with fresh LoRA adapters; only the adapters are trainable."""
    targets = settings.target_modules
    if isinstance(targets, str) and targets in TARGET_PRESETS:
        targets = lora_target_modules(model, targets)
    config = LoraConfig(r=settings.rank, lora_alpha=settings.alpha, lora_dropout=settings.dropout,
                        target_modules=targets, task_type="CAUSAL_LM",
                        fan_in_fan_out=model.config.model_type == "gpt2")  # GPT-2 stores weights transposed
    return get_peft_model(model, config)


def _training_arguments(settings: LoRASettings, output_dir: Path, evaluate: bool, progress: bool):
    return TrainingArguments(
        output_dir=str(output_dir),
        num_train_epochs=settings.epochs,
        max_steps=settings.max_steps,
        per_device_train_batch_size=settings.batch_size,
        per_device_eval_batch_size=settings.batch_size,
        gradient_accumulation_steps=settings.gradient_accumulation,
        learning_rate=settings.learning_rate,
        weight_decay=settings.weight_decay,
        warmup_steps=settings.warmup_steps,
        lr_scheduler_type=settings.lr_scheduler,
        activation_checkpointing=settings.gradient_checkpointing,
        bf16=settings.bf16,
        logging_steps=1,
        eval_strategy="epoch" if evaluate else "no",
        save_strategy="epoch",
        save_total_limit=2 if not settings.early_stopping_patience else None,
        load_best_model_at_end=bool(evaluate and (settings.keep_best or settings.early_stopping_patience)),
        metric_for_best_model="eval_loss",
        greater_is_better=False,
        seed=settings.seed,
        data_seed=settings.seed,
        use_cpu=training_device(bool(settings.bf16)) == "cpu",
        report_to=[],
        disable_tqdm=not progress,
        remove_unused_columns=False,
        prediction_loss_only=True,
        dataloader_num_workers=0,
    )


def fine_tune(data, settings: LoRASettings = LoRASettings(), out_dir="outputs/adapter", *, base_model=None,
              eval_data=None, resume: bool = False, progress: bool = True, callbacks=()) -> TrainingRun:
    """Train LoRA adapters on `data` and save them in `out_dir` (+ `run.json`, checkpoints in `out_dir/checkpoints`).

    `eval_data` (or `settings.eval_fraction`) enables eval loss per epoch, and early stopping when
    `settings.early_stopping_patience` is set. With `settings.keep_best` (the default) the saved adapter is the
    epoch with the lowest eval loss, and if no epoch beats the base model's loss on those held-out examples the
    adapter is reset to change nothing: a memorised adapter is never handed back. `resume=True` continues from
    the newest checkpoint.
    """
    out_dir = Path(out_dir)
    train_examples, eval_examples = _training_data(data, eval_data, settings)
    repeated = _warn_about_duplicates(train_examples)
    if settings.bf16 is None:
        settings = dataclasses.replace(settings, bf16=fast_bf16_available())
    set_seed(settings.seed)
    model, tokenizer = load_base_model(base_model, dtype=torch.bfloat16 if settings.bf16 else None)
    model = add_lora(model, settings)
    if progress:
        print(trainable_parameters_line(model))
    train_set = [encode(tokenizer, ex, settings.max_length, settings.prompt_format) for ex in train_examples]
    eval_set = [encode(tokenizer, ex, settings.max_length, settings.prompt_format) for ex in eval_examples] or None
    trainer = _build_trainer(model, tokenizer, train_set, eval_set, settings, out_dir, progress)
    checkpoint = _latest_checkpoint(out_dir / "checkpoints") if resume else None
    if resume and checkpoint is None:
        print(f"No checkpoint in {out_dir / 'checkpoints'} yet: starting from the beginning.")
    recorder = _LossRecorder()
    monitor = EvalLossMonitor(settings.early_stopping_patience) if eval_set and settings.early_stopping_patience \
        else None
    guard = bool(eval_set and settings.keep_best)
    start = time.perf_counter()
    # bf16: the frozen base is stored in bf16 and LoRA keeps float32 master weights under autocast. PEFT would
    # otherwise cast every LoRA input to float32 and keep that copy for backward, one per adapted layer.
    with disable_input_dtype_casting(model, active=settings.bf16):
        base_eval_loss = trainer.evaluate()["eval_loss"] if guard else None  # the bar every epoch has to beat
        for callback in [recorder, *([monitor] if monitor else []), *callbacks]:  # after it: it is not an epoch
            trainer.add_callback(callback)
        trainer.train(resume_from_checkpoint=str(checkpoint) if checkpoint else None)
    wall = time.perf_counter() - start
    kept, best_epoch = _keep_best_or_base(trainer, model, guard, base_eval_loss, progress)
    model.save_pretrained(out_dir)
    tokenizer.save_pretrained(out_dir)
    trainable, total = model.get_nb_trainable_parameters()
    steps_done = trainer.state.global_step - (_checkpoint_step(checkpoint) if checkpoint else 0)
    run = TrainingRun(
        adapter_dir=str(out_dir),
        base_model=model_name(base_model),
        settings=dataclasses.asdict(settings),
        n_train=len(train_set),
        n_eval=len(eval_set or []),
        train_losses=recorder.train,
        eval_losses=recorder.eval,
        wall_seconds=round(wall, 2),
        tokens_per_second=round(_tokens_seen(train_set, steps_done, settings) / wall, 1),
        peak_rss_mb=round(peak_rss_mb(), 1),
        trainable_params=trainable,
        total_params=total,
        stopped_early=bool(monitor and monitor.stopped),
        best_epoch=best_epoch,
        resumed_from=checkpoint.name if checkpoint else None,
        base_eval_loss=base_eval_loss,
        kept=kept,
        duplicate_share=round(repeated, 3),
    )
    run.save(out_dir)
    return run


def _training_data(data, eval_data, settings: LoRASettings) -> tuple[list[Example], list[Example]]:
    """Training and held-out examples: `eval_data` as given, else a split that keeps near-duplicates together."""
    examples = as_examples(data)
    if eval_data is not None:
        return examples, as_examples(eval_data)
    return split_examples(examples, settings.eval_fraction, seed=settings.seed)


def _warn_about_duplicates(examples: list[Example]) -> float:
    """The share of examples that repeat another, with a warning when it is high enough to matter."""
    repeated, lines = duplicate_share(examples)
    if repeated > MANY_DUPLICATES:
        shown = ", ".join(map(str, lines[:12])) + (", ..." if len(lines) > 12 else "")
        print(f"⚠️ warning: {len(lines)} of {len(examples)} training examples duplicate another one (same or "
              f"paraphrased question, or the same answer; lines {shown}). The model will learn those answers by "
              "heart rather than how to help, and eval loss on such data flatters it. Write more varied "
              "examples (`lora-course validate` names each pair).")
    return repeated


def _build_trainer(model, tokenizer, train_set, eval_set, settings: LoRASettings, out_dir: Path, progress: bool):
    trainer = AnswerLossTrainer(
        model=model,
        args=_training_arguments(settings, out_dir / "checkpoints", bool(eval_set), progress),
        train_dataset=train_set,
        eval_dataset=eval_set,
        data_collator=lambda features: pad_batch(features, tokenizer.pad_token_id),
        processing_class=tokenizer,
    )
    if not progress:
        trainer.remove_callback(PrinterCallback)  # it would print every step's log dict
    elif trainer.pop_callback(ProgressCallback):  # a terminal (a notebook gets the Trainer's live table instead)
        trainer.add_callback(LossProgressBar)
    return trainer


def _keep_best_or_base(trainer, model, guard: bool, base_eval_loss, progress: bool) -> tuple[str, float | None]:
    """What the adapter holds after training (the Trainer has already loaded the best epoch when asked to), reset to
    change nothing when no epoch beat the base model; and the best epoch."""
    evaluations = [entry for entry in trainer.state.log_history if "eval_loss" in entry]  # survives a resume
    if not evaluations:
        return "last epoch", None
    best = min(evaluations, key=lambda entry: entry["eval_loss"])
    best_epoch = round(best["epoch"], 3)
    kept = "best epoch" if trainer.args.load_best_model_at_end else "last epoch"
    if guard and best["eval_loss"] >= base_eval_loss:
        _reset_adapter(model)
        kept = "base model"
    if guard and (progress or kept == "base model"):
        print(_guard_line(kept, best["eval_loss"], best_epoch, base_eval_loss))
    return kept, best_epoch


def _reset_adapter(model) -> None:
    """LoRA's B matrices start at zero, so zeroing them makes the adapter change nothing."""
    with torch.no_grad():
        for name, parameter in model.named_parameters():
            if "lora_B" in name:
                parameter.zero_()


def _guard_line(kept: str, best_loss: float, best_epoch: float, base_eval_loss: float) -> str:
    if kept == "base model":
        return (f"⚠️ No epoch beat the base model on the held-out examples (best eval loss {best_loss:.3f} vs "
                f"base {base_eval_loss:.3f}): the saved adapter changes nothing. More varied data, a lower "
                "learning rate or fewer epochs usually help.")
    return (f"Kept the best epoch ({best_epoch:g}): eval loss {best_loss:.3f} vs the base model's "
            f"{base_eval_loss:.3f}.")


def fast_bf16_available() -> bool:
    """bf16 pays off only with hardware support (recent GPUs; CPUs with AVX512-BF16 or AMX); elsewhere it is
    emulated."""
    if torch.cuda.is_available():
        return torch.cuda.is_bf16_supported()
    return torch.backends.mkldnn.is_available() and torch.ops.mkldnn._is_mkldnn_bf16_supported()


def _tokens_seen(train_set, steps: int, settings: LoRASettings) -> int:
    """Real (unpadded) tokens processed in `steps` optimizer steps, approximated by the mean example length."""
    mean_len = sum(len(f["input_ids"]) for f in train_set) / len(train_set)
    return int(steps * settings.batch_size * settings.gradient_accumulation * mean_len)


def _checkpoint_step(checkpoint: Path) -> int:
    return int(checkpoint.name.split("-")[-1])


def _latest_checkpoint(folder: Path) -> Path | None:
    checkpoints = [p for p in folder.glob("checkpoint-*") if (p / "trainer_state.json").exists()]
    return max(checkpoints, key=_checkpoint_step, default=None)


class _LossRecorder(TrainerCallback):
    """Collects per-step train loss and per-epoch eval loss as the Trainer logs them."""

    def __init__(self):
        self.train, self.eval = [], []

    def on_log(self, args, state, control, logs=None, **kwargs):
        point = {"step": state.global_step, "epoch": round(state.epoch or 0, 3)}
        if logs and "loss" in logs:
            self.train.append({**point, "loss": float(logs["loss"])})
        if logs and "eval_loss" in logs:
            self.eval.append({**point, "loss": float(logs["eval_loss"])})


class LossProgressBar(ProgressCallback):
    """One terminal progress bar for the whole run, the latest train and eval loss beside it: no second bar per
    evaluation, no log dict printed per step (the values stay in run.json)."""

    def __init__(self):
        super().__init__()
        self.shown = {}

    def on_prediction_step(self, *args, **kwargs):
        pass

    def on_log(self, args, state, control, logs=None, **kwargs):
        self.shown.update({key: f"{logs[key]:.3f}" for key in ("loss", "eval_loss") if key in (logs or {})})
        if self.training_bar is not None and self.shown:
            self.training_bar.set_postfix(self.shown)


class EvalLossMonitor(TrainerCallback):
    """Stops training once eval loss has not improved for `patience` evaluations (None: only watch)."""

    def __init__(self, patience: int | None = None):
        self.patience = patience
        self.best_loss = float("inf")
        self.best_epoch = None
        self.evals_without_improvement = 0
        self.stopped = False

    def on_evaluate(self, args, state, control, metrics=None, **kwargs):
        loss = (metrics or {}).get("eval_loss")
        if loss is None:
            return
        if loss < self.best_loss:
            self.best_loss, self.best_epoch = loss, round(state.epoch or 0, 3)
            self.evals_without_improvement = 0
        else:
            self.evals_without_improvement += 1
        if self.patience is not None and self.evals_without_improvement >= self.patience:
            self.stopped = control.should_training_stop = True
