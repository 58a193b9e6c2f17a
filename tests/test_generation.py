"""Generation: greedy is deterministic, sampling is seeded, batching does not change what is returned."""

from lora_course.generation import Generation, generate, respond


def test_greedy_is_deterministic_and_batched(tiny):
    model, tokenizer = tiny
    questions = ["How do I reset my password?", "What is your return policy for laptops?"]
    batched = respond(model, tokenizer, questions, max_new_tokens=8)
    again = respond(model, tokenizer, questions, max_new_tokens=8)
    assert [g.text for g in batched] == [g.text for g in again]
    assert all(isinstance(g, Generation) and 0 < g.new_tokens <= 8 for g in batched)
    one = respond(model, tokenizer, questions[1], max_new_tokens=8)
    assert one.prompt.endswith("<|im_start|>user\nWhat is your return policy for laptops?<|im_end|>\n"
                               "<|im_start|>assistant\n")  # the model's own chat template
    course_text = respond(model, tokenizer, questions[1], "course-text", max_new_tokens=8)
    assert course_text.prompt == "### User: What is your return policy for laptops?\n### Assistant:"


def test_sampling_is_seeded(tiny):
    model, tokenizer = tiny
    prompt = ["### User: hello there\n### Assistant:"]
    a = generate(model, tokenizer, prompt, max_new_tokens=12, do_sample=True, seed=1, temperature=1.0)
    b = generate(model, tokenizer, prompt, max_new_tokens=12, do_sample=True, seed=1, temperature=1.0)
    c = generate(model, tokenizer, prompt, max_new_tokens=12, do_sample=True, seed=2, temperature=1.0)
    assert a[0].text == b[0].text != c[0].text


def test_stops_at_eos_and_reports_it(tiny):
    model, tokenizer = tiny
    # Make EOS the only likely token: the model must stop at once and say so.
    bias = model.lm_head.weight.new_zeros(model.config.vocab_size)
    bias[tokenizer.eos_token_id] = 1e4
    handle = model.lm_head.register_forward_hook(lambda module, inputs, output: output + bias)
    try:
        result = respond(model, tokenizer, "How do I reset my password?", max_new_tokens=20)
    finally:
        handle.remove()
    assert result.ended_with_eos and result.text == "" and result.new_tokens == 1
