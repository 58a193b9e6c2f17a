"""How the model is prompted: the two prompt formats, an example as token ids with labels, a batch of them.

Training, perplexity, generation and the playground all go through these functions, so a prompt is built one way
everywhere. Imports torch only when a batch is built.
"""

PROMPT_TEMPLATE = "### User: {input}\n### Assistant:"  # the course text's format, taught as a comparison
CHAT, COURSE_TEXT = "chat", "course-text"  # prompt formats: the model's own chat template, or PROMPT_TEMPLATE
PROMPT_FORMATS = (CHAT, COURSE_TEXT)
STOP_STRING = "### User:"  # in the course text's format, a model that goes on writes the next turn: stop there
IGNORE_INDEX = -100  # positions with this label add nothing to the loss
# Batches are padded up to a multiple of this: CPU matmul kernels (oneDNN) are built and cached per shape, so
# a handful of widths instead of one per batch saves both kernel-building time and memory.
PAD_MULTIPLE = 16


def check_prompt_format(prompt_format: str) -> str:
    if prompt_format not in PROMPT_FORMATS:
        raise ValueError(f"prompt_format must be {CHAT!r} or {COURSE_TEXT!r}, not {prompt_format!r}")
    return prompt_format


def format_prompt(question: str) -> str:
    """The course text's prompt: `### User: …\n### Assistant:`, a format an Instruct model never saw."""
    return PROMPT_TEMPLATE.format(input=question)


def format_example(example) -> str:
    """Prompt plus answer in the course text's format (the tokenizer appends EOS)."""
    return f"{format_prompt(example.input)} {example.output}"


def uses_chat_template(tokenizer, prompt_format: str = CHAT) -> bool:
    """Chat format where the tokenizer has a template (SmolLM2-Instruct does; distilgpt2 does not)."""
    return check_prompt_format(prompt_format) == CHAT and bool(getattr(tokenizer, "chat_template", None))


def prompt_text(tokenizer, question: str, prompt_format: str = CHAT) -> str:
    """The prompt the model sees, ending where its answer starts; training and generation use the same one.

    By default the model's own chat template (what an Instruct model was trained on), so the base model is not
    handicapped in comparisons; `COURSE_TEXT` gives the course text's `### User:` format.
    """
    if uses_chat_template(tokenizer, prompt_format):
        return tokenizer.apply_chat_template([{"role": "user", "content": question}], tokenize=False,
                                             add_generation_prompt=True)
    return format_prompt(question)


def answer_text(tokenizer, answer: str, prompt_format: str = CHAT) -> str:
    """The answer as it follows `prompt_text` (the course format puts a space after `Assistant:`); EOS comes after."""
    return answer if uses_chat_template(tokenizer, prompt_format) else " " + answer


def encode(tokenizer, example, max_length: int, prompt_format: str = CHAT) -> dict:
    """Token ids and labels for one example (`.input`, `.output`): prompt positions get IGNORE_INDEX, answer + EOS
    are targets."""
    prompt = tokenizer(prompt_text(tokenizer, example.input, prompt_format), add_special_tokens=False)["input_ids"]
    answer = tokenizer(answer_text(tokenizer, example.output, prompt_format), add_special_tokens=False)["input_ids"]
    answer += [tokenizer.eos_token_id]
    input_ids = (prompt + answer)[:max_length]
    labels = ([IGNORE_INDEX] * len(prompt) + answer)[:max_length]
    return {"input_ids": input_ids, "labels": labels}


def pad_batch(features: list[dict], pad_token_id: int) -> dict:
    """Right-pad to the longest sequence in this batch, rounded up to PAD_MULTIPLE; padding is masked out of
    attention and loss."""
    import torch

    longest = max(len(f["input_ids"]) for f in features)
    width = -(-longest // PAD_MULTIPLE) * PAD_MULTIPLE
    batch = {"input_ids": [], "attention_mask": [], "labels": []}
    for f in features:
        gap = width - len(f["input_ids"])
        batch["input_ids"].append(f["input_ids"] + [pad_token_id] * gap)
        batch["attention_mask"].append([1] * len(f["input_ids"]) + [0] * gap)
        batch["labels"].append(f["labels"] + [IGNORE_INDEX] * gap)
    return {key: torch.tensor(value) for key, value in batch.items()}
