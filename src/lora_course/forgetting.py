"""Catastrophic forgetting: a plain training loop to reproduce it, and replaying general data to prevent it."""

import random

import torch

from .prompts import CHAT, encode, pad_batch
from .training import answer_loss, as_examples, fast_bf16_available


def mix_examples(task, general, share: float = 0.15, seed: int = 42) -> list:
    """The task examples, in their order, with general ones spread evenly among them so that they make up
    `share` of the result (rounded); `seed` picks which general examples.

    Replaying a little general data during fine-tuning is the standard guard against forgetting. Keeping the
    task order makes a run on the mix directly comparable with a run on the task data alone.
    """
    if not 0 <= share < 1:
        raise ValueError(f"share must be in [0, 1), got {share}")
    task, general = list(task), list(general)
    n_general = round(share * len(task) / (1 - share))
    if n_general > len(general):
        raise ValueError(f"{n_general} general examples needed for share={share}, only {len(general)} given")
    picked = random.Random(seed).sample(general, n_general)
    mixed = list(task)
    for k, example in enumerate(picked):  # evenly spaced, from the back so earlier positions stay valid
        mixed.insert(round((n_general - k) * len(task) / (n_general + 1)), example)
    return mixed


def train_steps(model, tokenizer, data, steps: int, learning_rate: float, batch_size: int = 2,
                max_length: int = 128, weight_decay: float = 0.0, seed: int = 42,
                prompt_format: str = CHAT) -> list[float]:
    """A plain PyTorch loop: `steps` AdamW steps on every parameter that requires grad, answer-only loss, taking
    batches from `data` in the order given (cycling).

    The same loop serves full fine-tuning (a base model: every weight trains) and LoRA (a PEFT model: only the
    adapters train), so the two differ in nothing but what is trainable. Returns the loss of each step.
    Uses bfloat16 autocast where the hardware has it (weights and optimizer stay float32).
    """
    torch.manual_seed(seed)
    encoded = [encode(tokenizer, example, max_length, prompt_format) for example in as_examples(data)]
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=learning_rate, weight_decay=weight_decay)
    losses, position = [], 0
    model.train()
    for _ in range(steps):
        batch_ids = [(position + i) % len(encoded) for i in range(batch_size)]
        position += batch_size
        batch = pad_batch([encoded[i] for i in batch_ids], tokenizer.pad_token_id)
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=fast_bf16_available() and model.device.type == "cpu"):
            loss = answer_loss(model, batch)
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        losses.append(round(loss.item(), 4))
    model.eval()
    return losses
