"""The course's own data: valid, varied, consistent in style, evaluation prompts never seen in training; and the
checks that exercises 1 and 5 hand in the learner's own data, not the course's."""

import json
from pathlib import Path

import pytest

from lora_course.data import MEDICAL_DISCLAIMER, copied_from_course, has_emoji, off_domain, read_jsonl, validate_file
from lora_course.paths import DATA_DIR

REPO = Path(__file__).resolve().parents[1]

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


# --- exercises 1 and 5 grade the learner's own data -----------------------------------------------------------

def _jsonl(tmp_path, pairs, name="mine.jsonl"):
    path = tmp_path / name
    path.write_text("".join(json.dumps(pair, ensure_ascii=False) + "\n" for pair in pairs), encoding="utf-8")
    return path


def test_copies_and_near_copies_of_shipped_text_are_errors_with_their_source(tmp_path):
    shipped = read_jsonl(DATA_DIR / "techco_support.jsonl")
    own = {"input": "Can I freeze my TechCo subscription while I travel for two months?",
           "output": "Of course! ✈️ 1. Open Settings → Subscription. 2. Tap Pause and pick the months. Anything else?"}
    pairs = [own,
             {"input": shipped[0]["input"], "output": own["output"] + " Bye!"},                    # question copied
             {"input": "Totally new question about my order number 5?", "output": shipped[1]["output"]},  # answer copied
             {"input": shipped[2]["input"].upper().replace("?", "!!"), "output": "My own answer, quite long enough."},
             {"input": "Hello, " + shipped[3]["input"], "output": "Another answer of my own, long enough."}]  # reworded
    issues = copied_from_course(_jsonl(tmp_path, pairs))
    assert [(issue.line, issue.code) for issue in issues] == [(2, "copied"), (3, "copied"), (4, "copied"), (5, "copied")]
    assert "data/techco_support.jsonl line 1" in issues[0].message and "question" in issues[0].message
    assert "answer" in issues[1].message and issues[0].fix


def test_shipped_files_are_not_copies_of_one_another():
    for path in sorted(DATA_DIR.rglob("*.jsonl")):
        if path.parent.name != "broken":
            assert copied_from_course(path) == [], path


def test_off_domain_pairs_are_named_and_the_shipped_sets_belong_to_their_domain(tmp_path):
    filler = [{"input": f"What is the capital city of imaginary country number {i}?",
               "output": f"The capital of imaginary country number {i} is Capital City {i}. {MEDICAL_DISCLAIMER}"}
              for i in range(3)]
    for domain in DOMAINS:
        assert off_domain(DATA_DIR / "mini_project" / domain / "train.jsonl", domain) == []
        issues = off_domain(_jsonl(tmp_path, filler), domain)
        assert [issue.line for issue in issues] == [1, 2, 3] and domain in issues[0].message
    with pytest.raises(ValueError, match="medical, docstrings, social"):
        off_domain(DATA_DIR / "techco_support.jsonl", "recipes")


def _reference_pairs() -> dict[str, list[dict]]:
    cells = json.loads((REPO / "solutions" / "05_mini_project" / "05_mini_project.ipynb").read_text())["cells"]
    source = next("".join(c["source"]) for c in cells if c["metadata"].get("nbgrader", {}).get("grade_id") == "impl_dataset")
    namespace = {"DOMAIN": "medical"}
    exec(source, namespace)
    return namespace["MY_PAIRS_BY_DOMAIN"]


@pytest.mark.parametrize("domain", DOMAINS)
def test_the_reference_solution_writes_30_own_pairs_in_every_domain(tmp_path, domain):
    """Exercise 5's reference answer passes its own dataset test whichever domain an instructor picks."""
    path = _jsonl(tmp_path, _reference_pairs()[domain])
    report = validate_file(path, min_examples=30)
    assert report.ok and not report.warnings, report.format()
    assert copied_from_course(path) == [] and off_domain(path, domain) == []  # the unseen prompts are shipped text
