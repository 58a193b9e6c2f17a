"""Answer generation: greedy by default, seeded sampling on request, stops at EOS (or, in the course text's format,
at a new `### User:` turn)."""

from dataclasses import dataclass

import torch
from transformers import set_seed

from .prompts import CHAT, STOP_STRING, prompt_text


@dataclass
class Generation:
    prompt: str
    text: str             # the answer, without the prompt and without a trailing new turn
    ended_with_eos: bool  # the model chose to stop (EOS) within the token budget
    new_tokens: int


def generate(model, tokenizer, prompts: list[str], max_new_tokens: int = 200, do_sample: bool = False,
             temperature: float = 0.7, top_p: float = 0.9, seed: int = 0, batch_size: int = 8) -> list[Generation]:
    """Continue each raw prompt. Batched with left padding: on a CPU, 8 prompts cost little more than one."""
    results = []
    for start in range(0, len(prompts), batch_size):
        results += _generate_batch(model, tokenizer, prompts[start:start + batch_size], max_new_tokens,
                                   do_sample, temperature, top_p, seed)
    return results


def respond(model, tokenizer, questions, prompt_format: str = CHAT, **kwargs) -> list[Generation] | Generation:
    """Answer questions in `prompt_format` (the model's chat template by default); one question in, one out."""
    single = isinstance(questions, str)
    prompts = [prompt_text(tokenizer, q, prompt_format) for q in ([questions] if single else questions)]
    results = generate(model, tokenizer, prompts, **kwargs)
    return results[0] if single else results


def _generate_batch(model, tokenizer, prompts, max_new_tokens, do_sample, temperature, top_p, seed):
    side, tokenizer.padding_side = tokenizer.padding_side, "left"  # new tokens must follow every prompt directly
    enc = tokenizer(prompts, return_tensors="pt", padding=True, add_special_tokens=False).to(model.device)
    tokenizer.padding_side = side
    set_seed(seed)
    sampling = {"do_sample": True, "temperature": temperature, "top_p": top_p} if do_sample else {
        "do_sample": False, "temperature": None, "top_p": None, "top_k": None}
    was_training = model.training
    model.eval()
    with torch.no_grad():
        out = model.generate(**enc, max_new_tokens=max_new_tokens, eos_token_id=tokenizer.eos_token_id,
                             pad_token_id=tokenizer.pad_token_id, stop_strings=[STOP_STRING],
                             tokenizer=tokenizer, **sampling)
    model.train(was_training)
    results = []
    for prompt, row in zip(prompts, out[:, enc["input_ids"].shape[1]:].tolist(), strict=True):
        ended = tokenizer.eos_token_id in row
        row = row[:row.index(tokenizer.eos_token_id)] if ended else row
        text = tokenizer.decode(row, skip_special_tokens=True)
        text = text.split(STOP_STRING)[0].split("\n###")[0].strip()
        results.append(Generation(prompt=prompt, text=text, ended_with_eos=ended, new_tokens=len(row) + ended))
    return results
