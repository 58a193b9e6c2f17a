"""Evaluation: perplexity matches the training loss definition; style metrics separate TechCo voice from generic."""

import math

import pytest
import torch

from lora_course.dataset import Example
from lora_course.evaluation import Comparison, Evaluation
from lora_course.generation import Generation
from lora_course.perplexity import answer_perplexity, text_perplexity
from lora_course.prompts import encode, pad_batch
from lora_course.style import style_scores

TECHCO = ("Hi there! 👋 Sorry about the wait.\n1. Open the TechCo app and go to Orders → Track.\n"
          "2. If it shows delivered, email support@techco.com within 48 hours.\nAnything else? 😊")
GENERIC = "Orders can be delayed for many reasons such as weather or logistics issues in general."


def test_answer_perplexity_is_exp_of_the_training_loss(tiny):
    model, tokenizer = tiny
    example = Example("How do I track my order please?", TECHCO)
    batch = pad_batch([encode(tokenizer, example, 512)], tokenizer.pad_token_id)
    with torch.no_grad():
        loss = model(**batch).loss.item()
    assert answer_perplexity(model, tokenizer, [example]) == pytest.approx(math.exp(loss), rel=1e-4)


def test_text_perplexity_of_a_random_model_is_near_vocab_size(tiny):
    model, tokenizer = tiny
    ppl = text_perplexity(model, tokenizer, ["The quick brown fox jumps over the lazy dog."])
    assert 0.5 * len(tokenizer) < ppl < 2 * len(tokenizer)


def test_style_scores_prefer_the_techco_voice():
    question = "My order hasn't arrived yet, what should I do?"
    techco = style_scores(question, TECHCO, ended_with_eos=True)
    generic = style_scores(question, GENERIC, ended_with_eos=False)
    assert techco["emoji"] == techco["friendly_opener"] == techco["actionable_steps"] == 1.0
    assert generic["emoji"] == generic["friendly_opener"] == generic["actionable_steps"] == 0.0
    assert techco["style_score"] > generic["style_score"] + 0.4
    assert all(0.0 <= v <= 1.0 for v in techco.values())


def test_comparison_table_winner_follows_the_scores():
    def gen(text, eos):
        return Generation(prompt="p", text=text, ended_with_eos=eos, new_tokens=5)

    q = "My order hasn't arrived yet, what should I do?"
    comparison = Comparison(prompts=[q], base=[gen(GENERIC, False)], tuned=[gen(TECHCO, True)],
                            base_scores=[style_scores(q, GENERIC, False)], tuned_scores=[style_scores(q, TECHCO, True)])
    rows = {line.split("|")[1].strip(): line.split("|")[4].strip() for line in comparison.table().splitlines()[2:]}
    assert rows["emoji"] == "Fine-tuned" and rows["style score"] == "Fine-tuned"
    assert comparison.eos_rate("tuned") == 1.0 and comparison.eos_rate("base") == 0.0
    assert "**Fine-tuned:** " + TECHCO in comparison.markdown()


def test_an_evaluation_survives_its_json_file():
    """`lora-course evaluate --json` writes what `lora-course report --eval` reads back."""
    import json

    evaluation = Evaluation(n_examples=2, base={"perplexity": 9.0, "eos_rate": 0.5},
                            tuned={"perplexity": 3.0, "eos_rate": 1.0},
                            samples=[{"question": "Q?", "base": "a", "tuned": "b"}], description="two pairs")
    again = Evaluation.from_dict(json.loads(json.dumps(evaluation.to_dict())))
    assert again == evaluation and again.ratio("perplexity") == pytest.approx(1 / 3)
