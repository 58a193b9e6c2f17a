"""The course's own data: valid, varied, consistent in style, evaluation prompts never seen in training; and the
checks that exercises 1 and 5 hand in the learner's own data, not the course's."""

import json
from collections import Counter
from pathlib import Path

import pytest

from lora_course.dataset import Example, read_jsonl, validate_file
from lora_course.duplicates import near_duplicate_pairs
from lora_course.own_data import MEDICAL_DISCLAIMER, copied_from_course, off_domain
from lora_course.paths import DATA_DIR
from lora_course.text import has_emoji

REPO = Path(__file__).resolve().parents[1]

DOMAINS = ("medical", "docstrings", "social")


def _norm(text):
    return " ".join(text.lower().split())


def test_techco_training_set_is_clean_and_diverse():
    report = validate_file(DATA_DIR / "techco_support.jsonl", min_examples=24)
    assert report.ok, report.format()
    assert [w for w in report.warnings
            if w.code in {"duplicate", "near_duplicate", "paraphrase", "repeated_answer", "style_inconsistent"}] == []
    categories = {e.category for e in report.examples}
    assert {"account", "billing", "refunds", "shipping", "products", "technical", "privacy"} <= categories
    assert all(has_emoji(e.output) for e in report.examples)
    openers = Counter(" ".join(e.output.split()[:2]) for e in report.examples)
    assert len(openers) >= 10 and max(openers.values()) <= 3, openers  # one voice, not one template
    layouts = Counter("numbered" if "\n1. " in e.output else "bullets" if "\n- " in e.output else "prose"
                      for e in report.examples)
    assert min(layouts.values()) >= 3 and len(layouts) == 3, layouts


@pytest.mark.parametrize("held_out", ["techco_eval.jsonl", "techco_test_prompts.jsonl"])
def test_evaluation_prompts_are_unseen(held_out):
    report = validate_file(DATA_DIR / "techco_support.jsonl", eval_path=DATA_DIR / held_out)
    assert [w for w in report.warnings if w.code == "eval_overlap"] == []
    training = {_norm(row["input"]) for row in read_jsonl(DATA_DIR / "techco_support.jsonl")}
    assert not training & {_norm(row["input"]) for row in read_jsonl(DATA_DIR / held_out)}


TRAINING_FILES = ["techco_support.jsonl", "general_qa.jsonl", "broken/near_duplicates.jsonl",
                  *(f"mini_project/{domain}/train.jsonl" for domain in DOMAINS)]
HELD_OUT = ["techco_eval.jsonl", "techco_eval_other_writer.jsonl", "techco_eval_confirm.jsonl",
            "techco_test_prompts.jsonl"]


def _questions(name):
    rows = read_jsonl(DATA_DIR / name)
    return [Example(row["input"], row.get("output", ""), line=i) for i, row in enumerate(rows, 1)]


@pytest.mark.parametrize("held_out", HELD_OUT)
def test_held_out_sets_share_no_question_with_any_training_file(held_out):
    """Not the same question, nor almost the same string, nor the same question in other words."""
    training = [(name, ex) for name in TRAINING_FILES for ex in _questions(name)]
    pool = [ex for _, ex in training] + _questions(held_out)
    crossing = [(training[first], pool[later].input) for first, later, how in near_duplicate_pairs(pool)
                if first < len(training) <= later and how != "repeated_answer"]
    assert crossing == []


def test_the_other_writers_set_is_in_another_voice():
    """Other greetings and sign-offs than the first writer's (techco_eval.jsonl, written with the training set's
    first draft): what it measures is the task, not that writer's template."""
    def ends(name, words):
        return [" ".join(row["output"].split()[words]) for row in read_jsonl(DATA_DIR / name)]

    for first_or_last in (slice(0, 2), slice(-2, None)):
        habits = set(ends("techco_eval.jsonl", first_or_last))
        other = ends("techco_eval_other_writer.jsonl", first_or_last)
        assert sum(end in habits for end in other) <= len(other) // 5
    report = validate_file(DATA_DIR / "techco_eval_other_writer.jsonl", min_examples=20)
    assert report.ok and all(w.code == "thin_category" for w in report.warnings), report.format()
    assert all(has_emoji(e.output) for e in report.examples)


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
             {"input": "Totally new question about my order number 5?",
              "output": shipped[1]["output"]},  # answer copied
             {"input": shipped[2]["input"].upper().replace("?", "!!"), "output": "My own answer, quite long enough."},
             {"input": "Hello, " + shipped[3]["input"], "output": "Another answer of my own, long enough."}]  # reworded
    issues = copied_from_course(_jsonl(tmp_path, pairs))
    assert [(issue.line, issue.code) for issue in issues] == [(line, "copied") for line in (2, 3, 4, 5)]
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
    source = next("".join(c["source"]) for c in cells
                  if c["metadata"].get("nbgrader", {}).get("grade_id") == "impl_dataset")
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
