"""Perplexity: how likely a model finds a text, counting only the tokens that matter."""

import math

import torch

from .dataset import Example
from .prompts import CHAT, IGNORE_INDEX, encode


@torch.no_grad()
def answer_perplexity(model, tokenizer, examples: list[Example], max_length: int = 512,
                      prompt_format: str = CHAT) -> float:
    """exp(mean negative log-likelihood of the reference answers + EOS, given their questions).

    Lower means the model finds the ideal answers more likely; only answer tokens count, as in training.
    """
    total_nll, total_tokens = 0.0, 0
    for example in examples:
        item = encode(tokenizer, example, max_length, prompt_format)
        nll, n = _nll(model, item["input_ids"], item["labels"])
        total_nll, total_tokens = total_nll + nll, total_tokens + n
    return math.exp(total_nll / total_tokens)


@torch.no_grad()
def text_perplexity(model, tokenizer, texts: list[str], max_length: int = 512) -> float:
    """Perplexity of plain text (every token after the first): the yardstick for catastrophic forgetting."""
    total_nll, total_tokens = 0.0, 0
    for text in texts:
        ids = tokenizer(text, add_special_tokens=False)["input_ids"][:max_length]
        nll, n = _nll(model, ids, ids)
        total_nll, total_tokens = total_nll + nll, total_tokens + n
    return math.exp(total_nll / total_tokens)


def _nll(model, input_ids: list[int], labels: list[int]) -> tuple[float, int]:
    was_training = model.training
    model.eval()
    logits = model(input_ids=torch.tensor([input_ids], device=model.device)).logits[0, :-1].float()
    model.train(was_training)
    targets = torch.tensor(labels[1:], device=logits.device)
    nll = torch.nn.functional.cross_entropy(logits, targets, ignore_index=IGNORE_INDEX, reduction="sum")
    return nll.item(), int((targets != IGNORE_INDEX).sum())
