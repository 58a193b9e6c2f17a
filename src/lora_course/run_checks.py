"""Exercise 2's training run, figure by figure: what its test reads from the files the run wrote and from the
reloaded adapter, each next to its threshold and what to change when it misses.

Notebook 2 prints these before grading (the figures depend on the learner's own exercise-1 data); the hidden test
and the grader's re-check assert the same figures, so nothing is graded that the learner could not see.
"""

import json
from dataclasses import dataclass
from pathlib import Path

import torch

from .generation import respond
from .models import base_and_tuned
from .prompts import prompt_text

EXPECTED = {"r": 16, "lora_alpha": 32, "target_modules": {"q_proj", "v_proj"}, "num_train_epochs": 3,
            "train_batch_size": 2, "learning_rate": 2e-3}
MIN_STEPS = 30
MAX_LOSS_DROP_RATIO = 0.8  # mean step loss of the last third over the first third's
MIN_PROMPT_LOSS_RATIO = 0.7  # the adapter's loss on prompt tokens over the base model's
# New questions: a mask that lets the prompt through lowers the adapter's loss on them.
PROMPT_QUESTIONS = ["Can I pause my subscription while I travel?", "How do I update the card I pay with?",
                    "Where can I download last month's invoice?", "My earbuds will not pair with my laptop, help?"]
EOS_PROMPTS = ["How do I reset my password?", "What is your return policy?",
               "Can I change the delivery address of my order?"]
MIN_EOS_STOPS = 2
EOS_MAX_NEW_TOKENS = 200


@dataclass(frozen=True)
class Check:
    figure: str
    value: str
    threshold: str
    passed: bool
    fix: str  # what to change when it misses


def log_checks(state: dict, config: dict) -> list[Check]:
    """The figures in `trainer_state.json` (the trainer's log) and `adapter_config.json`."""
    losses = [entry["loss"] for entry in state["log_history"] if "loss" in entry]
    rates = [entry["learning_rate"] for entry in state["log_history"] if "loss" in entry]
    third = len(losses) // 3
    drop = (sum(losses[-third:]) / sum(losses[:third])) if third and sum(losses[:third]) else float("nan")
    peak = max(rates, default=0.0)
    targets = set(config.get("target_modules") or ())
    return [
        Check("adapter: r, lora_alpha, target_modules",
              f"{config.get('r')}, {config.get('lora_alpha')}, {sorted(targets)}", "16, 32, ['q_proj', 'v_proj']",
              (config.get("r"), config.get("lora_alpha"), targets) == (16, 32, EXPECTED["target_modules"]),
              "build lora_config from SETTINGS (rank 16, alpha 32) with target_modules ['q_proj', 'v_proj']"),
        Check("epochs, batch size", f"{state.get('num_train_epochs')}, {state.get('train_batch_size')}", "3, 2",
              (state.get("num_train_epochs"), state.get("train_batch_size")) == (3, 2),
              "num_train_epochs=SETTINGS.epochs, per_device_train_batch_size=SETTINGS.batch_size"),
        Check("peak learning rate", f"{peak:.2g}", "2e-3 (warmup and decay are fine)",
              abs(peak - EXPECTED["learning_rate"]) < 1e-9, "learning_rate=SETTINGS.learning_rate"),
        Check("steps, one loss logged per step", f"{state.get('global_step')} steps, {len(losses)} losses",
              f"≥ {MIN_STEPS}, equal", state.get("logging_steps") == 1 and len(losses) == state.get("global_step")
              and len(losses) >= MIN_STEPS,
              "logging_steps=1; at least 20 pairs × 3 epochs at batch size 2 give 30 steps: add pairs to "
              "training_data.jsonl (exercise 1)"),
        Check("last third's mean loss / first third's", f"{drop:.2f}", f"≤ {MAX_LOSS_DROP_RATIO}",
              drop <= MAX_LOSS_DROP_RATIO,
              "the run learns too little: check the label mask and the learning rate; answers in one consistent "
              "voice (exercise 1) are easier to learn than a mix"),
    ]


def read_log_checks(adapter_dir) -> list[Check]:
    adapter_dir = Path(adapter_dir)
    return log_checks(json.loads((adapter_dir / "trainer_state.json").read_text(encoding="utf-8")),
                      json.loads((adapter_dir / "adapter_config.json").read_text(encoding="utf-8")))


@torch.no_grad()
def prompt_loss(model, tokenizer, questions: list[str]) -> float:
    """Mean next-token loss on the chat-template prompt tokens of `questions`."""
    total = count = 0
    for question in questions:
        ids = torch.tensor([tokenizer(prompt_text(tokenizer, question), add_special_tokens=False)["input_ids"]])
        total += torch.nn.functional.cross_entropy(model(input_ids=ids).logits[0, :-1].float(), ids[0, 1:],
                                                   reduction="sum").item()
        count += ids.shape[1] - 1
    return total / count


def lora_trained(model) -> bool:
    """LoRA starts with B = 0 (the base model exactly): a non-zero B means the adapter has trained."""
    return any(float(p.detach().abs().sum()) > 0 for name, p in model.named_parameters() if "lora_B" in name)


def adapter_checks(model, tokenizer) -> list[Check]:
    """The figures measured on the reloaded adapter (a PeftModel: its adapter is switched off for the base)."""
    model.eval()
    trained = lora_trained(model)
    # The same chat-template prompts on both sides: what is measured is whether training moved the prompt tokens.
    base, tuned = base_and_tuned(model, lambda _format: prompt_loss(model, tokenizer, PROMPT_QUESTIONS))
    ratio = tuned / base
    stops = sum(g.ended_with_eos for g in respond(model, tokenizer, EOS_PROMPTS, max_new_tokens=EOS_MAX_NEW_TOKENS))
    return [
        Check("LoRA B matrices trained", "yes" if trained else "all zero", "not all zero", trained,
              "save the trained model: trainer.save_model(ADAPTER) after trainer.train()"),
        Check("prompt-token loss, adapter / base", f"{ratio:.2f}", f"> {MIN_PROMPT_LOSS_RATIO}",
              ratio > MIN_PROMPT_LOSS_RATIO,
              "the adapter learned the questions: build_labels must give IGNORE_INDEX to every prompt position"),
        Check("answers that end with EOS", f"{stops} of {len(EOS_PROMPTS)}", f"≥ {MIN_EOS_STOPS}",
              stops >= MIN_EOS_STOPS,
              "keep EOS as a target (mask padding by the attention mask, not by token id); short answers that end "
              "cleanly in your data teach stopping"),
    ]


def format_checks(checks: list[Check]) -> str:
    """A table: figure, your value, the threshold, and for each miss what to change."""
    width = max(len(check.figure) for check in checks)
    lines = [f"{'':2}{'figure':{width}}  {'yours':>24}  threshold"]
    for check in checks:
        lines.append(f"{'ok' if check.passed else '✗':2}{check.figure:{width}}  {check.value:>24}  {check.threshold}")
    lines += [f"✗ {check.figure}: {check.fix}" for check in checks if not check.passed]
    return "\n".join(lines)
