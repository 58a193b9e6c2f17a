"""Exercise 1's hidden tests, run where no learner code runs (grader/verdict.py): `validate_dataset` against the
solution's on the course's broken files and on generated files, each stated rule alone deciding some of them; the
learner's `training_data.jsonl` read as data and checked with the course's own validator."""

import json
import re
import tempfile
from pathlib import Path

from hypothesis import strategies as st
from verdict import differential, reference

from lora_course.dataset import validate_file
from lora_course.own_data import copied_from_course
from lora_course.paths import data_file
from lora_course.text import has_emoji

ASSIGNMENT = "01_dataset_preparation"
RUN_UNTIL = "impl_validate_dataset"
CASES = "recheck-cases"  # in the learner's working copy: the child reads the generated files from there


def issue_lines(issues) -> set[int]:
    assert isinstance(issues, list) and all(isinstance(i, str) for i in issues), \
        f"validate_dataset must return a list of strings, got {str(issues)[:120]}"
    return {int(n) for n in re.findall(r"^line (\d+):", "\n".join(issues), flags=re.MULTILINE)}


def compare(learner, raw: bytes, name: str = "case.jsonl") -> None:
    """The learner's validator and the solution's on the same bytes: the same lines, a problem iff one is found."""
    case = Path(learner.work) / CASES / name
    case.parent.mkdir(exist_ok=True)
    case.write_bytes(raw)
    got = learner.call("validate_dataset", f"{CASES}/{name}")
    with tempfile.TemporaryDirectory() as private:  # the solution reads its own copy, which the child cannot touch
        mine = Path(private) / name
        mine.write_bytes(raw)
        want = reference(ASSIGNMENT, RUN_UNTIL)["validate_dataset"](mine)
    shown = raw.decode("utf-8", "replace")[:400]
    assert issue_lines(got) == issue_lines(want), \
        f"problems on lines {sorted(issue_lines(want))} expected, got {sorted(issue_lines(got))} for:\n{shown}"
    assert bool(got) == bool(want), f"{'a problem' if want else 'no problem'} expected for:\n{shown}"


def test_visible(learner, files) -> None:
    for name in ("techco_support.jsonl", "broken/missing_output.jsonl", "broken/invalid_json.jsonl",
                 "broken/empty.jsonl", "broken/not_an_object.jsonl"):
        compare(learner, data_file(name).read_bytes(), Path(name).name)


# One generated line: (kind, bytes). Good questions are numbered, so two lines share a question only when a
# "duplicate" line copies an earlier good one (with other case and spaces): that rule alone decides it.
VERBS = ("reset", "update", "cancel", "pair", "return", "track", "renew", "download")
THINGS = ("password", "order", "subscription", "earbuds", "invoice", "parcel", "TechCo watch", "router")
ANSWER = "Hi! 😊 1. Open Settings → Account. 2. Tap Reset. Anything else, just ask!"


def record(question, answer) -> bytes:
    return json.dumps({"input": question, "output": answer}, ensure_ascii=False).encode()


@st.composite
def dataset(draw) -> bytes:
    lines, good_questions = [], []
    for number in range(draw(st.integers(0, 9))):
        kind = draw(st.sampled_from(["good", "good", "blank", "duplicate", "truncated", "missing", "not_string",
                                     "empty", "short", "not_object", "undecodable"]))
        question = f"How do I {draw(st.sampled_from(VERBS))} my {draw(st.sampled_from(THINGS))}, case {number}?"
        if kind == "duplicate" and good_questions:
            earlier = draw(st.sampled_from(good_questions))
            variant = draw(st.sampled_from([earlier.upper(), f"  {earlier} ", earlier.replace(" ", "   ", 2)]))
            lines.append(record(variant, ANSWER))
        elif kind in ("good", "duplicate"):
            good_questions.append(question)
            lines.append(record(draw(st.sampled_from([question, f"  {question}  "])), ANSWER))
        elif kind == "blank":
            lines.append(draw(st.sampled_from([b"", b"   ", b"\t"])))
        elif kind == "truncated":
            full = record(question, ANSWER)
            lines.append(full[:draw(st.integers(1, len(full) - 1))])
        elif kind == "missing":
            row = {"input": question, "output": ANSWER, "category": "billing"}
            del row[draw(st.sampled_from(["input", "output"]))]
            lines.append(json.dumps(row).encode())
        elif kind == "not_string":
            field = draw(st.sampled_from(["input", "output"]))
            value = draw(st.sampled_from([None, 5, 2.5, True, ["a"], {"text": "x"}]))
            lines.append(json.dumps({"input": question, "output": ANSWER} | {field: value}).encode())
        elif kind == "empty":
            field = draw(st.sampled_from(["input", "output"]))
            lines.append(json.dumps({"input": question, "output": ANSWER} | {field: draw(
                st.sampled_from(["", "   ", "\n\t"]))}).encode())
        elif kind == "short":  # each side one character under or exactly at its minimum, spaces around not counting
            field = draw(st.sampled_from(["input", "output"]))
            size = {"input": 10, "output": 20}[field] - draw(st.sampled_from([0, 1]))
            text = f"{number}" + "q" * (size - len(f"{number}"))
            lines.append(json.dumps({"input": question, "output": ANSWER}
                                    | {field: draw(st.sampled_from([text, f"   {text}  "]))}).encode())
        elif kind == "not_object":
            lines.append(draw(st.sampled_from([b'"just a string"', b"42", b"[1, 2]", b"null", b"true"])))
        else:  # undecodable: a Latin-1 byte inside otherwise valid JSON
            lines.append(record(question, ANSWER).replace(b"How", b"H\xe9w"))
    newline = draw(st.sampled_from([b"\n", b"\r\n"]))
    return newline.join(lines) + draw(st.sampled_from([newline, b""]))


GOOD = record("How do I pair my TechCo watch?", "Hi! ⌚ 1. Open Settings → Devices. 2. Tap Pair.")
OTHER = record("Where is my invoice for order 77?", "Hello! 🧾 Orders → 77 → Download invoice.")
FIXED = [  # the stated rules, each at its boundary
    [GOOD, b"", OTHER, b""], [GOOD, b'{"input": "Where is my parcel?", "output": "Hi!" ', OTHER],
    [GOOD, b'{"input": "Hello there, my order?"}', OTHER], [b'{"output": "Hi there! Here is how to do it."}', GOOD],
    [GOOD, b'{"input": "How much is shipping?", "output": null}'], [b'"just a string"', b"42", GOOD],
    [GOOD, b'{"input": "   ", "output": "Hello! This answer is fine."}'], [GOOD, OTHER, GOOD],
    [b'{"input": "Refund?", "output": "Hello! Refunds take 5 days."}', GOOD,
     b'{"input": "Can I get a refund on my order?", "output": "Yes, 10%."}'],
    [GOOD, '{"input": "Caf\xe9 hours?", "output": "Hello! We are open 9-5."}'.encode("latin-1")],
    [GOOD] + [f'{{"input": "Question {i} about my order please", "output": {i}}}'.encode() for i in range(2, 12)],
    [b'{"input": "Refund me?", "output": "Refunds take 5 days!"}', b'{"input": "Refund me", "output": '
     b'"Refunds take 5 days!"}', b'{"input": "Refund now?", "output": "Refunds take 5 days"}'],
    [b'{"input": "   Refund?   ", "output": "Hello! Refunds take 5 days."}', GOOD],
    [GOOD, OTHER, record("  HOW do I pair my  TechCo watch? ", "Hello! Open Settings.")],
]


def test_hidden(learner, files) -> None:
    compare(learner, b"\n\n", "blank.jsonl")
    for lines in FIXED:
        compare(learner, b"\n".join(lines) + b"\n")
    missing = learner.call("validate_dataset", "no-such-file.jsonl")
    assert isinstance(missing, list) and missing, "a missing file is a problem, not an exception"
    differential(dataset(), lambda raw: compare(learner, raw), examples=80)


def test_dataset(learner, files) -> None:
    path = files.path("training_data.jsonl")
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    assert len(rows) >= 20, f"need at least 20 examples, found {len(rows)}"
    assert validate_file(path, min_examples=20).ok, "training_data.jsonl has errors: run validate_file on it"
    assert not copied_from_course(path), "every pair must be your own"
    report = validate_file(path, min_examples=20, eval_path=data_file("techco_eval.jsonl"))
    codes = {warning.code for warning in report.warnings}
    assert not codes & {"duplicate", "near_duplicate", "eval_overlap", "style_inconsistent"}, report.format()
    assert len({r.get("category") for r in rows if r.get("category")}) >= 5, "cover at least 5 categories"
    questions = [" ".join(r["input"].lower().split()) for r in rows]
    assert len(set(questions)) == len(rows), "a question appears twice"
    held_out = {" ".join(json.loads(line)["input"].lower().split())
                for line in data_file("techco_eval.jsonl").read_text(encoding="utf-8").splitlines() if line.strip()}
    assert not set(questions) & held_out, "held-out questions in training"
    assert sum(has_emoji(r["output"]) for r in rows) >= 0.8 * len(rows), "TechCo answers use an emoji"
    assert sum(bool(re.search(r"^\s*\d+[.)]", r["output"], flags=re.MULTILINE)) for r in rows) >= 0.7 * len(rows), \
        "most TechCo answers give numbered steps"
    assert all(len(r["output"]) >= 80 for r in rows), "answers should be complete, not one-liners"


TESTS = {"test_validate_dataset_visible": test_visible, "test_validate_dataset_hidden": test_hidden,
         "test_dataset": test_dataset}
