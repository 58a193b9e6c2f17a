"""Tests for lora_course.data: every validation rule, the broken example files, splitting and the CLI."""

import json
import random
import subprocess
import sys
from pathlib import Path

import pytest

from lora_course.cli import main
from lora_course.dataset import DatasetError, Example, load_examples, read_jsonl, validate_file
from lora_course.duplicates import duplicate_share, near_duplicate_groups, split_examples
from lora_course.prompts import COURSE_TEXT, PROMPT_TEMPLATE, answer_text, format_example, format_prompt, prompt_text
from lora_course.text import has_emoji

REPO = Path(__file__).resolve().parents[1]
BROKEN = REPO / "data" / "broken"

# file -> the exact (code, line) errors validate must report
BROKEN_FILES = {
    "invalid_json.jsonl": {("invalid_json", 3), ("invalid_json", 5)},
    "missing_output.jsonl": {("missing_field", 2), ("missing_field", 4)},
    "wrong_type.jsonl": {("wrong_type", 3), ("wrong_type", 5)},
    "empty_value.jsonl": {("empty_value", 4)},
    "too_short.jsonl": {("input_too_short", 2), ("output_too_short", 4)},
    "not_an_object.jsonl": {("not_an_object", 3)},
    "bad_encoding.jsonl": {("undecodable", 3)},
    "empty.jsonl": {("no_examples", None)},
    "bad_messages.jsonl": {("bad_messages", 2), ("bad_messages", 4)},
}

Q = "How do I reset my TechCo account password?"
A = "Click 'Forgot password' on the login page and follow the emailed link."


def own_answer(question):
    """Each question its own answer: one answer shared by several lines is warned as repeated."""
    return A if question == Q else f"Our answer to '{question}': see techco.com/help."


def row(input=Q, output=None, **extra):
    output = own_answer(input) if output is None else output
    return json.dumps({"input": input, "output": output, **extra}, ensure_ascii=False)


QUESTIONS = [
    "How do I reset my TechCo account password?",
    "Can I return a laptop I bought last week?",
    "Where can I see the status of my order?",
    "How do I update the payment card on my subscription?",
    "My router keeps dropping the Wi-Fi connection. What can I do?",
    "Do you ship to Canada?",
    "Is there a student discount on TechCo laptops?",
    "Why was my card charged twice this month?",
    "How long is the warranty on TechCo headphones?",
    "Can I change the delivery address after ordering?",
    "How do I turn on two-factor authentication?",
    "Which printers work with the TechCo Hub app?",
]


def distinct_rows(n, **extra):
    """n rows whose questions are neither duplicates nor near-duplicates of each other."""
    return [row(question, **extra) for question in QUESTIONS[:n]]


@pytest.fixture
def write(tmp_path):
    def _write(content, name="data.jsonl"):
        path = tmp_path / name
        if isinstance(content, list):
            content = "\n".join(content) + "\n"
        path.write_bytes(content if isinstance(content, bytes) else content.encode("utf-8"))
        return path
    return _write


def codes(issues):
    return {(issue.code, issue.line) for issue in issues}


# --- the broken example files ------------------------------------------------------------------

@pytest.mark.parametrize("name, expected", BROKEN_FILES.items(), ids=list(BROKEN_FILES))
def test_broken_file_reports_its_errors(name, expected):
    report = validate_file(BROKEN / name)
    assert not report.ok
    assert codes(report.errors) == expected
    assert all(issue.message and issue.fix and issue.severity == "error" for issue in report.errors)
    assert report.format().splitlines()[-1] == (
        f"❌ {len(expected)} error(s) in {BROKEN / name} — fix them and run again.")


def test_every_broken_file_is_tested_and_documented():
    files = {path.name for path in BROKEN.glob("*.jsonl")}
    assert files == set(BROKEN_FILES) | {"quirky_but_valid.jsonl", "near_duplicates.jsonl"}
    readme = (BROKEN / "README.md").read_text(encoding="utf-8")
    assert all(f"`{name}`" in readme for name in files)


def test_quirky_file_is_valid_with_physical_line_numbers():
    report = validate_file(BROKEN / "quirky_but_valid.jsonl")
    assert report.ok, report.format()
    assert [ex.line for ex in report.examples] == [1, 2, 4, 5]  # line 3 is blank but still counted
    assert codes(report.warnings) == {("extra_fields", 1)}  # warned once, not on every line
    assert report.examples[0].input == Q
    assert report.examples[0].category == "account"
    assert "\r" not in report.examples[-1].output and "Montréal" in report.examples[-1].output


def test_rename_hint_for_a_misnamed_field():
    fix = validate_file(BROKEN / "missing_output.jsonl").errors[0].fix
    assert fix == 'rename "response" to "output"'


def test_encoding_error_names_the_byte():
    assert "0xE9" in validate_file(BROKEN / "bad_encoding.jsonl").errors[0].message


# --- single-line rules -------------------------------------------------------------------------

@pytest.mark.parametrize("line, code", [
    ('{"input": "How do I reset my password?", "output": "Click the link."', "invalid_json"),
    ("{'input': 'How do I reset my password?'}", "invalid_json"),
    ("[1, 2]", "not_an_object"),
    ('"just a string"', "not_an_object"),
    ("null", "not_an_object"),
    (json.dumps({"output": A}), "missing_field"),
    (json.dumps({"input": Q}), "missing_field"),
    (row(input=None), "wrong_type"),
    (row(output=42), "wrong_type"),
    (row(output=["step one is long enough", "step two"]), "wrong_type"),
    (row(output={"text": A}), "wrong_type"),
    (row(output=True), "wrong_type"),
    (row(category=3), "wrong_type"),
    (row(input=""), "empty_value"),
    (row(output="   \t "), "empty_value"),
    (row(input="  Refund?   "), "input_too_short"),
    (row(output="Yes, it is."), "output_too_short"),
])
def test_line_rule(write, line, code):
    report = validate_file(write([row(), line]))
    assert [(issue.code, issue.line) for issue in report.errors] == [(code, 2)]
    assert len(report.examples) == 1


def test_both_fields_missing_are_both_reported(write):
    report = validate_file(write(['{"question": "How do I reset it?"}']))
    assert [(i.code, i.message) for i in report.errors] == [
        ("missing_field", 'missing field "input"'), ("missing_field", 'missing field "output"')]
    assert report.errors[0].fix == 'rename "question" to "input"'


def test_values_are_stripped(write):
    example = validate_file(write([row(input=f"  {Q}\n", output=f"{A}  ")])).examples[0]
    assert (example.input, example.output) == (Q, A)


# --- file-level rules --------------------------------------------------------------------------

@pytest.mark.parametrize("content", [b"", b"\n\n  \n", b"\xef\xbb\xbf", b"\r\n\r\n"])
def test_no_examples(write, content):
    assert codes(validate_file(write(content)).errors) == {("no_examples", None)}


def test_min_examples(write):
    path = write(distinct_rows(3))
    assert validate_file(path, min_examples=3).ok
    report = validate_file(path, min_examples=5)
    assert codes(report.errors) == {("too_few_examples", None)}
    assert "add 2 more" in report.errors[0].fix


def test_bom_crlf_blank_lines_and_extra_fields(write):
    body = "\r\n".join([row(id=1), "", row(input="What is the TechCo warranty period?", id=2, source="web")])
    report = validate_file(write(b"\xef\xbb\xbf" + body.encode() + b"\r\n"))
    assert report.ok
    assert [ex.line for ex in report.examples] == [1, 3]
    assert codes(report.warnings) == {("extra_fields", 1), ("extra_fields", 3)}
    assert {w.message for w in report.warnings} == {'extra field "id" is ignored (first seen here)',
                                                   'extra field "source" is ignored (first seen here)'}


def test_undecodable_line_does_not_hide_other_lines(write):
    report = validate_file(write(row().encode() + b"\n" + b'{"input": "caf\xe9"}\n' + row(output=1).encode()))
    assert codes(report.errors) == {("undecodable", 2), ("wrong_type", 3)}


# --- chat "messages" format --------------------------------------------------------------------

def chat(*turns, **extra):
    return json.dumps({"messages": [{"role": role, "content": content} for role, content in turns], **extra})


def test_messages_format(write):
    report = validate_file(write([
        chat(("system", "You are TechCo support."), ("user", Q), ("assistant", A)),
        chat(("user", "Can I return a laptop after two weeks?"), ("assistant", "Yes, within 30 days of delivery."),
             ("user", "Thanks!"), ("assistant", "You are welcome, happy to help.")),
    ]))
    assert report.ok
    assert report.examples[0] == Example(Q, A, line=1)
    assert report.examples[1].output == "Yes, within 30 days of delivery."
    assert codes(report.warnings) == {("system_message", 1), ("extra_turns", 2)}


@pytest.mark.parametrize("line, code", [
    (json.dumps({"messages": "hi"}), "bad_messages"),
    (json.dumps({"messages": []}), "bad_messages"),
    (json.dumps({"messages": [Q, A]}), "bad_messages"),
    (chat(("user", Q)), "bad_messages"),
    (chat(("assistant", A)), "bad_messages"),
    (chat(("system", "Be nice."), ("assistant", A), ("user", Q)), "bad_messages"),
    (chat(("user", Q), ("user", Q), ("assistant", A)), "bad_messages"),
    (chat(("human", Q), ("gpt", A)), "bad_messages"),
    (chat(("user", Q), ("system", "Be nice."), ("assistant", A)), "bad_messages"),
    (chat(("user", Q), ("assistant", None)), "wrong_type"),
    (chat(("user", ["a", "b"]), ("assistant", A)), "wrong_type"),
    (chat(("user", "Refund?"), ("assistant", A)), "input_too_short"),
    (chat(("user", Q), ("assistant", " ")), "empty_value"),
])
def test_bad_messages(write, line, code):
    report = validate_file(write([row(), line]))
    assert [(issue.code, issue.line) for issue in report.errors] == [(code, 2)]


# --- warnings ----------------------------------------------------------------------------------

def test_exact_duplicates_name_both_lines(write):
    report = validate_file(write([row(), row(input="  how do i RESET my techco account   password? "),
                                  row(input=Q, output="Contact support and we will send you a reset link.")]))
    assert report.ok
    assert codes(report.warnings) == {("duplicate", 2), ("duplicate", 3)}
    assert all("line 1" in w.message for w in report.warnings)
    assert "different answer" in report.warnings[1].message


def test_near_duplicates(write):
    report = validate_file(write([row(), row(input="How do I reset my TechCo account password"),
                                  row(input="Password of my TechCo account: how do I reset it?"),
                                  row(input="Which laptops come with a two-year warranty?")]))
    assert codes(report.warnings) == {("near_duplicate", 2), ("near_duplicate", 3)}
    assert "line 1" in report.warnings[0].message


def test_distinct_questions_are_not_near_duplicates(write):
    report = validate_file(write([row(input="How do I reset my TechCo account password?"),
                                  row(input="How do I reset my TechCo router to factory settings?"),
                                  row(input="Where is my order?")]))
    assert report.warnings == []


def test_a_question_asked_in_other_words_is_a_paraphrase(write):
    report = validate_file(write([row(input="How do I reset my TechCo account password?"),
                                  row(input="I need to reset the password of my TechCo account, how?"),
                                  row(input="How do I reset my TechCo router to factory settings?")]))
    assert codes(report.warnings) == {("paraphrase", 2)}
    assert "line 1" in report.warnings[0].message


def test_the_same_answer_to_different_questions_is_warned(write):
    answer = "Hi there! 👋 1. Open Settings → Account. 2. Click Reset. You are all set! 😊"
    report = validate_file(write([row(input="How do I reset my password?", output=answer),
                                  row(input="Which laptops come with a two-year warranty?"),
                                  row(input="I forgot what I log in with, what now?",
                                      output=answer.replace("😊", "🌟"))]))
    assert codes(report.warnings) == {("repeated_answer", 3)}
    assert "line 1" in report.warnings[0].message and report.warnings[0].fix


def test_a_file_of_few_questions_asked_many_ways_is_warned_line_by_line():
    """5 questions, each asked 4 ways with one shared answer: the first of each group is fine, the rest are not."""
    report = validate_file(BROKEN / "near_duplicates.jsonl")
    assert report.ok
    warned = {w.line for w in report.warnings if w.code in {"paraphrase", "repeated_answer", "near_duplicate"}}
    assert len(warned) == 15
    groups = near_duplicate_groups(report.examples)
    assert sorted(map(len, groups)) == [4] * 5
    assert duplicate_share(report.examples)[0] == 0.75


def test_near_duplicate_check_is_skipped_for_big_files(write, monkeypatch):
    monkeypatch.setattr("lora_course.duplicates.NEAR_DUP_MAX_EXAMPLES", 1)
    assert validate_file(write([row(), row(input=Q.rstrip("?"))])).warnings == []


def test_too_long_needs_both_max_tokens_and_counter(write):
    path = write([row(), row(input="What is the warranty?", output="word " * 50)])
    assert validate_file(path, max_tokens=40).warnings == []
    report = validate_file(path, max_tokens=40, count_tokens=lambda text: len(text.split()))
    assert codes(report.warnings) == {("too_long", 2)}
    assert "58 tokens, over max_tokens=40" in report.warnings[0].message


@pytest.mark.parametrize("n_emoji, warned", [(0, False), (1, False), (2, True), (3, True), (4, False), (5, False)])
def test_style_inconsistency(write, n_emoji, warned):
    rows = [row(question, own_answer(question) + (" 😊" if i < n_emoji else ""))
            for i, question in enumerate(QUESTIONS[:5])]
    warnings = validate_file(write(rows)).warnings
    assert [w.message for w in warnings] == ([f"{n_emoji} of 5 answers use emojis — pick one style"] if warned else [])


def test_style_needs_five_examples(write):
    rows = [row(question, own_answer(question) + " ✅") for question in QUESTIONS[:2]] + distinct_rows(4)[2:]
    assert validate_file(write(rows)).warnings == []


def test_has_emoji():
    assert all(map(has_emoji, ["Done ✅", "🚀", "☀ sunny", "⭐", "🀄", "🤖"]))
    assert not any(map(has_emoji, ["Plain text.", "Montréal – café", "→ next", "100%"]))


def test_thin_categories(write):
    rows = [row(question, category="billing" if i < 9 else "shipping") for i, question in enumerate(QUESTIONS[:10])]
    report = validate_file(write(rows))
    assert report.ok
    assert codes(report.warnings) == {("thin_category", 10), ("thin_category", None)}
    assert 'category "shipping" has only 1 example' in report.format()


def test_categories_ignored_below_ten_examples(write):
    assert validate_file(write([row(category="billing")])).warnings == []


def test_eval_overlap(write):
    train = write([row(), row(input="Which laptops come with a two-year warranty?")], "train.jsonl")
    eval_path = write([row(input="Can I pay for my order with PayPal?"), row(input=Q.upper()),
                       row(input="Which laptops come with a two year warranty"), "{broken"], "eval.jsonl")
    report = validate_file(train, eval_path=eval_path)
    assert report.ok
    assert codes(report.warnings) == {("eval_overlap", 1), ("eval_overlap", 2), ("eval_invalid", None)}
    overlap = [w for w in report.warnings if w.code == "eval_overlap"]
    assert f"{eval_path}:2" in overlap[0].message and "training line 1" in overlap[0].message
    assert f"{eval_path}:3" in overlap[1].message and "training line 2" in overlap[1].message


def test_missing_eval_file_raises(write, tmp_path):
    with pytest.raises(FileNotFoundError):
        validate_file(write([row()]), eval_path=tmp_path / "nope.jsonl")


# --- report output -----------------------------------------------------------------------------

def test_success_line_is_exact(write):
    text = validate_file(write(distinct_rows(3))).format()
    assert text == "✅ Dataset valid! 3 examples ready for fine-tuning."


def test_warnings_do_not_prevent_success(write):
    report = validate_file(write([row(), row()]))
    lines = report.format().splitlines()
    assert report.ok and lines[0].startswith(f"{report.path}:2: ⚠️ warning: same question as line 1 — fix: ")
    assert lines[-1] == "✅ Dataset valid! 2 examples ready for fine-tuning."


def test_error_line_format(write):
    path = write([row(), row(output="")])
    assert validate_file(path).format().splitlines() == [
        f'{path}:2: error: field "output" is empty — fix: write the ideal answer, or remove this line',
        f"❌ 1 error(s) in {path} — fix them and run again.",
    ]


def test_to_dict_is_json_serialisable():
    report = validate_file(BROKEN / "bad_messages.jsonl")
    data = json.loads(json.dumps(report.to_dict()))
    assert set(data) == {"path", "ok", "n_examples", "errors", "warnings"}
    assert data["ok"] is False and data["n_examples"] == 3
    assert data["errors"][0] == {"severity": "error", "code": "bad_messages", "line": 2,
                                 "message": report.errors[0].message, "fix": report.errors[0].fix}


# --- loading -----------------------------------------------------------------------------------

def test_load_examples(write):
    assert [ex.input for ex in load_examples(write(distinct_rows(2)))] == QUESTIONS[:2]


def test_load_examples_raises_with_file_and_line():
    path = BROKEN / "too_short.jsonl"
    with pytest.raises(DatasetError) as info:
        load_examples(path)
    message = str(info.value)
    assert f"{path}:2: " in message and f"{path}:4: " in message and "(fix: " in message
    assert isinstance(info.value, ValueError) and not info.value.report.ok


@pytest.mark.parametrize("target", ["missing.jsonl", "."])
def test_unreadable_path_raises_oserror(tmp_path, target):
    with pytest.raises(OSError):
        validate_file(tmp_path / target)


def test_read_jsonl(write):
    assert read_jsonl(write(['{"text": "hello"}', "", '{"text": "world", "n": 2}'])) == [
        {"text": "hello"}, {"text": "world", "n": 2}]
    path = write(['{"text": "ok"}', '{"text": oops}', "[1]"])
    with pytest.raises(DatasetError) as info:
        read_jsonl(path)
    assert f"{path}:2: invalid JSON" in str(info.value) and f"{path}:3: " in str(info.value)


def test_prompt_format():
    assert PROMPT_TEMPLATE == "### User: {input}\n### Assistant:"
    assert format_prompt("Hi there?") == "### User: Hi there?\n### Assistant:"
    assert format_example(Example("Hi there?", "Hello!")) == "### User: Hi there?\n### Assistant: Hello!"


class _TemplateTokenizer:
    chat_template = "{{ messages }}"

    def apply_chat_template(self, messages, tokenize, add_generation_prompt):
        assert not tokenize and add_generation_prompt
        return f"<user>{messages[0]['content']}</user><assistant>"


def test_prompt_text_uses_the_chat_template_where_there_is_one():
    templated, plain = _TemplateTokenizer(), object()
    assert prompt_text(templated, "Hi there?") == "<user>Hi there?</user><assistant>"
    assert answer_text(templated, "Hello!") == "Hello!"
    assert prompt_text(templated, "Hi there?", COURSE_TEXT) == "### User: Hi there?\n### Assistant:"
    assert answer_text(templated, "Hello!", COURSE_TEXT) == " Hello!"
    assert prompt_text(plain, "Hi there?") == "### User: Hi there?\n### Assistant:"  # no template: course format
    with pytest.raises(ValueError, match="prompt_format"):
        prompt_text(templated, "Hi there?", "alpaca")


# --- splitting ---------------------------------------------------------------------------------

EXAMPLES = [Example(f"question {i}", f"answer {i}", line=i) for i in range(1, 21)]


def test_split_is_deterministic_disjoint_and_complete():
    train, evals = split_examples(EXAMPLES, 0.2, seed=3)
    assert (train, evals) == split_examples(EXAMPLES, 0.2, seed=3)
    assert len(evals) == 4 and len(train) == 16
    assert sorted(ex.line for ex in train + evals) == list(range(1, 21))
    assert split_examples(EXAMPLES, 0.2, seed=4) != (train, evals)


@pytest.mark.parametrize("n, fraction, n_eval", [(20, 0, 0), (2, 0.1, 1), (10, 0.01, 1), (1, 0.5, 0), (1, 0.9, 0),
                                                 (3, 0.9, 2), (0, 0.5, 0), (7, 0.5, 4)])
def test_split_sizes(n, fraction, n_eval):
    train, evals = split_examples(EXAMPLES[:n], fraction)
    assert (len(train), len(evals)) == (n - n_eval, n_eval)


def test_split_without_eval_keeps_everything_in_order():
    assert split_examples(EXAMPLES, 0) == (EXAMPLES, [])


@pytest.mark.parametrize("fraction", [-0.1, 1, 1.5])
def test_split_rejects_bad_fraction(fraction):
    with pytest.raises(ValueError):
        split_examples(EXAMPLES, fraction)


def test_split_stratifies_by_category():
    examples = [Example(f"q{i}", f"answer {i}", line=i, category=["billing", "shipping", "account"][i % 3])
                for i in range(30)]
    train, evals = split_examples(examples, 0.2, seed=1)
    assert sorted(ex.category for ex in evals) == ["account"] * 2 + ["billing"] * 2 + ["shipping"] * 2
    assert len(train) == 24


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("fraction", [0.1, 0.2, 0.5])
def test_split_keeps_near_duplicate_groups_on_one_side(seed, fraction):
    examples = validate_file(BROKEN / "near_duplicates.jsonl").examples
    train, evals = split_examples(examples, fraction, seed=seed)
    assert evals and train and len(train) + len(evals) == 20
    eval_lines = {ex.line for ex in evals}
    for group in near_duplicate_groups(examples):
        assert len({examples[i].line in eval_lines for i in group}) == 1, group


def test_split_of_distinct_examples_is_unchanged_by_grouping():
    """Without near-duplicates every group has one member, so the split is the plain stratified one."""
    train, evals = split_examples(EXAMPLES, 0.2, seed=3)
    assert [ex.line for ex in evals] == [ex.line for ex in split_examples(EXAMPLES, 0.2, seed=3)[1]]
    assert len(evals) == 4


# --- CLI ---------------------------------------------------------------------------------------

def test_cli_valid_file(write, capsys):
    path = write(distinct_rows(3))
    assert main(["validate", str(path)]) == 0
    assert capsys.readouterr().out.strip().endswith("✅ Dataset valid! 3 examples ready for fine-tuning.")


@pytest.mark.parametrize("name", BROKEN_FILES)
def test_cli_broken_file(name, capsys):
    assert main(["validate", str(BROKEN / name)]) == 1
    assert "❌" in capsys.readouterr().out


def test_cli_missing_path(tmp_path, capsys):
    assert main(["validate", str(tmp_path / "missing.jsonl")]) == 2
    assert "Cannot read" in capsys.readouterr().err


def test_cli_json(capsys):
    assert main(["validate", "--json", str(BROKEN / "wrong_type.jsonl")]) == 1
    data = json.loads(capsys.readouterr().out)
    assert data["ok"] is False and [e["line"] for e in data["errors"]] == [3, 5]


def test_cli_min_examples(write, capsys):
    assert main(["validate", "--min-examples", "10", str(write(distinct_rows(3)))]) == 1
    assert "only 3 example(s), at least 10 needed" in capsys.readouterr().out


# --- robustness --------------------------------------------------------------------------------

def fuzz_inputs():
    rng = random.Random(0)
    yield bytes(rng.randrange(256) for _ in range(2000))
    yield b"[" * 100_000 + b"\n" + row().encode()
    yield b'{"input": ' + b"[" * 50_000 + b"\n"
    yield ('{"input": "' + "x" * 2_000_000 + '", "output": "' + "y" * 100 + '"}').encode()
    yield b"9" * 10_000  # longer than Python's int-parsing limit
    yield b'{"input": NaN, "output": Infinity}\n{"messages": [{"role": [], "content": {}}]}\n{"messages": [null]}'
    yield b"\x00\x00\n\xff\xfe{\n\r\r\n\xef\xbb\xbf{}\n" + "{\"\u2028\": 1}".encode()
    yield json.dumps({"input": Q, "output": A, "category": "", "messages": 5}).encode()
    yield b'{"input": "x"}{"output": "y"}\n{"input": "a",}\n  "output": "pretty printed",\n}\n'


@pytest.mark.parametrize("content", list(fuzz_inputs()), ids=lambda c: repr(c[:12]))
def test_validation_never_raises(write, content):
    path = write(content)
    report = validate_file(path, min_examples=3, max_tokens=5, count_tokens=len, eval_path=path)
    json.dumps(report.to_dict())
    assert report.format().splitlines()[-1].startswith(("✅", "❌"))
    try:
        read_jsonl(path)
    except DatasetError as exc:
        assert str(path) in str(exc)


def test_dataset_modules_import_without_heavy_dependencies():
    """What `lora-course validate` and exercise 1 need loads in a blink: no torch, transformers or numpy."""
    modules = "lora_course.dataset, lora_course.duplicates, lora_course.own_data, lora_course.text, lora_course.prompts"
    code = f"import sys, {modules}; print(sorted({{'torch', 'transformers', 'numpy'}} & set(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env={"PYTHONPATH": str(REPO / "src")}).stdout
    assert out.strip() == "[]"
