"""The course's own data: valid, varied, consistent in style, and evaluation prompts never seen in training."""

import pytest

from lora_course.data import has_emoji, read_jsonl, validate_file
from lora_course.paths import DATA_DIR

DOMAINS = ("medical", "docstrings", "social")


def _norm(text):
    return " ".join(text.lower().split())


def test_techco_training_set_is_clean_and_diverse():
    report = validate_file(DATA_DIR / "techco_support.jsonl", min_examples=24)
    assert report.ok, report.format()
    assert [w for w in report.warnings if w.code in {"duplicate", "near_duplicate", "style_inconsistent"}] == []
    categories = {e.category for e in report.examples}
    assert {"account", "billing", "refunds", "shipping", "products", "technical", "privacy"} <= categories
    assert all(has_emoji(e.output) and "1." in e.output for e in report.examples)


@pytest.mark.parametrize("held_out", ["techco_eval.jsonl", "techco_test_prompts.jsonl"])
def test_evaluation_prompts_are_unseen(held_out):
    report = validate_file(DATA_DIR / "techco_support.jsonl", eval_path=DATA_DIR / held_out)
    assert [w for w in report.warnings if w.code == "eval_overlap"] == []
    training = {_norm(row["input"]) for row in read_jsonl(DATA_DIR / "techco_support.jsonl")}
    assert not training & {_norm(row["input"]) for row in read_jsonl(DATA_DIR / held_out)}


def test_held_out_pairs_and_course_prompts():
    assert validate_file(DATA_DIR / "techco_eval.jsonl").ok
    prompts = [row["input"] for row in read_jsonl(DATA_DIR / "techco_test_prompts.jsonl")]
    assert prompts[:3] == ["How do I reset my password?", "What is your return policy?",
                           "My order hasn't arrived yet, what should I do?"]


def test_general_text_for_forgetting():
    texts = [row["text"] for row in read_jsonl(DATA_DIR / "general_text.jsonl")]
    assert len(texts) >= 15 and not any(has_emoji(t) for t in texts)
    assert validate_file(DATA_DIR / "general_qa.jsonl", min_examples=15).ok


@pytest.mark.parametrize("domain", DOMAINS)
def test_mini_project_domains(domain):
    folder = DATA_DIR / "mini_project" / domain
    report = validate_file(folder / "train.jsonl", min_examples=30, eval_path=folder / "eval_prompts.jsonl")
    assert report.ok, report.format()
    assert [w for w in report.warnings if w.code in {"eval_overlap", "duplicate"}] == []
    assert len(read_jsonl(folder / "eval_prompts.jsonl")) >= 5
