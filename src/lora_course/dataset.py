"""Load and check the course's JSONL datasets (the split that keeps near-duplicates together is in `duplicates`).

A dataset is one JSON object per line: {"input": "<question>", "output": "<ideal answer>"},
optionally with a "category", or the chat form {"messages": [{"role": "user", ...}, {"role": "assistant", ...}]}.
Validation reports every problem with its line and a fix instead of stopping at the first one,
because learners fix their files from this report. Standard library only, so it imports fast.
"""

from __future__ import annotations

import codecs
import difflib
import json
import os
import re
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

from .duplicates import KINDS, NEAR_DUP_MAX_EXAMPLES, near_duplicate, near_duplicate_pairs, normalise, words
from .prompts import format_example
from .text import has_emoji

MIN_INPUT_CHARS = 10
MIN_OUTPUT_CHARS = 20
STYLE_MIN_EXAMPLES = 5
CATEGORY_MIN_EXAMPLES = 10

_KNOWN_FIELDS = ("input", "output", "category")
_WHAT = {"input": "the customer's question", "output": "the ideal answer"}
_MIN_CHARS = {"input": MIN_INPUT_CHARS, "output": MIN_OUTPUT_CHARS}
_ALIASES = {
    "input": ("prompt", "question", "instruction", "query", "user"),
    "output": ("response", "answer", "completion", "reply", "target", "assistant"),
}
_EXAMPLE_LINE = '{"input": "<question>", "output": "<answer>"}'
_MESSAGES_SHAPE = ('[{"role": "user", "content": "<question>"}, '
                   '{"role": "assistant", "content": "<answer>"}]')

@dataclass(frozen=True)
class Example:
    input: str
    output: str
    line: int | None = None  # 1-based line in the source file, for messages
    category: str | None = None


@dataclass(frozen=True)
class Issue:
    severity: str  # "error" | "warning"
    code: str
    message: str
    fix: str
    line: int | None = None


@dataclass
class ValidationReport:
    path: str
    examples: list[Example]
    errors: list[Issue]
    warnings: list[Issue]

    @property
    def ok(self) -> bool:
        return not self.errors

    def format(self) -> str:
        """One line per issue (errors first, editor-clickable file:line), then a verdict line."""
        lines = [f"{_where(self.path, i)}: error: {i.message} — fix: {i.fix}" for i in self.errors]
        lines += [f"{_where(self.path, w)}: ⚠️ warning: {w.message} — fix: {w.fix}" for w in self.warnings]
        if self.ok:
            lines.append(f"✅ Dataset valid! {len(self.examples)} examples ready for fine-tuning.")
        else:
            lines.append(f"❌ {len(self.errors)} error(s) in {self.path} — fix them and run again.")
        return "\n".join(lines)

    def to_dict(self) -> dict:
        return {
            "path": self.path,
            "ok": self.ok,
            "n_examples": len(self.examples),
            "errors": [asdict(i) for i in self.errors],
            "warnings": [asdict(w) for w in self.warnings],
        }


class DatasetError(ValueError):
    """A dataset file has errors; the message lists all of them so one run shows everything to fix."""

    def __init__(self, report: ValidationReport):
        listing = "\n".join(f"{_where(report.path, i)}: {i.message} (fix: {i.fix})" for i in report.errors)
        super().__init__(f"{len(report.errors)} error(s) in {report.path}:\n{listing}")
        self.report = report


def validate_file(path, *, min_examples: int = 1, max_tokens: int | None = None,
                  count_tokens: Callable[[str], int] | None = None, eval_path=None) -> ValidationReport:
    """Check a dataset file and report every problem; raises OSError only if the file can't be read."""
    path = os.fspath(path)
    records, errors, n_records = _read_records(path)
    examples, warnings, seen = [], [], set()
    for line, value in records:
        example, line_errors, line_warnings = _to_example(value, line)
        errors += line_errors
        if example is not None:
            examples.append(example)
            for w in line_warnings:  # once per file: the same note on every line is noise
                if (w.code, w.message) not in seen:
                    seen.add((w.code, w.message))
                    warnings.append(w)
    if n_records == 0:
        errors.append(Issue("error", "no_examples", "the file contains no examples",
                            f"add one JSON object per line, e.g. {_EXAMPLE_LINE}"))
    elif n_records < min_examples:
        errors.append(Issue("error", "too_few_examples",
                            f"only {n_records} example(s), at least {min_examples} needed",
                            f"add {min_examples - n_records} more example(s)"))
    warnings += _duplicate_warnings(examples)
    if max_tokens is not None and count_tokens is not None:
        warnings += _length_warnings(examples, max_tokens, count_tokens)
    warnings += _style_warnings(examples) + _category_warnings(examples)
    if eval_path is not None:
        warnings += _eval_overlap_warnings(examples, os.fspath(eval_path))
    warnings.sort(key=lambda w: (w.line is None, w.line or 0))
    return ValidationReport(path, examples, errors, warnings)


def load_examples(path, **validate_kwargs) -> list[Example]:
    """Examples of a file that must be valid, so training never starts on a broken dataset."""
    report = validate_file(path, **validate_kwargs)
    if not report.ok:
        raise DatasetError(report)
    return report.examples


def read_jsonl(path) -> list[dict]:
    """Objects of an auxiliary JSONL file (prompt lists, plain text); raises DatasetError naming bad lines."""
    path = os.fspath(path)
    records, errors, _ = _read_records(path)
    errors += [_not_an_object(value, line) for line, value in records if not isinstance(value, dict)]
    if errors:
        errors.sort(key=lambda i: i.line)
        raise DatasetError(ValidationReport(path, [], errors, []))
    return [value for _, value in records]


# --- reading ---------------------------------------------------------------------------------

def _read_records(path: str) -> tuple[list[tuple[int, object]], list[Issue], int]:
    """Decode and parse each physical line on its own, so one bad line never hides the others."""
    data = Path(path).read_bytes()
    if data.startswith(codecs.BOM_UTF8):
        data = data[len(codecs.BOM_UTF8):]
    records, errors, n_records = [], [], 0
    for line, raw in enumerate(data.split(b"\n"), start=1):
        raw = raw.rstrip(b"\r")
        if not raw.strip():
            continue
        n_records += 1
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            errors.append(_undecodable(raw, exc, line))
            continue
        try:
            records.append((line, json.loads(text)))
        except (ValueError, RecursionError) as exc:
            errors.append(_invalid_json(text, exc, line))
    return records, errors, n_records


def _undecodable(raw: bytes, exc: UnicodeDecodeError, line: int) -> Issue:
    near = raw[max(exc.start - 15, 0):exc.start + 15].decode("utf-8", "replace")
    return Issue("error", "undecodable",
                 f"byte 0x{raw[exc.start]:02X} at column {exc.start + 1} is not valid UTF-8 (near {near!r})",
                 "the file was saved in another encoding (often Latin-1/Windows-1252); "
                 "re-save it as UTF-8, e.g. `iconv -f latin1 -t utf-8 in.jsonl > out.jsonl`", line)


def _invalid_json(text: str, exc: Exception, line: int) -> Issue:
    if isinstance(exc, RecursionError):
        reason = "nested too deeply"
    elif isinstance(exc, json.JSONDecodeError):
        reason = f"{exc.msg} at column {exc.colno}"
    else:
        reason = str(exc)
    return Issue("error", "invalid_json", f"invalid JSON: {reason}", _json_fix(text, exc), line)


def _json_fix(text: str, exc: Exception) -> str:
    """Name the usual culprit: hand-edited JSONL fails in a handful of ways."""
    stripped = text.strip()
    msg = getattr(exc, "msg", "")
    if stripped in ("{", "}", "},", "[", "]", "],") or re.match(r'"[^"]*"\s*:', stripped):
        return "JSONL needs each object on a single line; don't pretty-print or break lines inside an object"
    if re.match(r"\{\s*'", stripped):
        return "JSON needs double quotes: write \"input\", not 'input'"
    if re.search(r",\s*}$", stripped):
        return "remove the comma before the closing }"
    if stripped.endswith(("},", "}, ")):
        return "remove the comma at the end of the line; JSONL has nothing between lines"
    if msg == "Extra data":
        return "put each object on its own line"
    if stripped.startswith("{") and stripped.count("{") > stripped.count("}"):
        return "add the missing closing } at the end of the line"
    if msg == "Expecting ',' delimiter":
        return ('a " inside the text ends the string early: write it as \\" '
                "(or a comma between two fields is missing)")
    return f"check the quotes, commas and braces around that column; a line must look like {_EXAMPLE_LINE}"


# --- one line → one Example ------------------------------------------------------------------

def _to_example(value: object, line: int) -> tuple[Example | None, list[Issue], list[Issue]]:
    """Example of one parsed line, or the errors saying why it isn't one (plus warnings)."""
    if not isinstance(value, dict):
        return None, [_not_an_object(value, line)], []
    if "messages" in value and "input" not in value and "output" not in value:
        fields, errors, warnings = _from_messages(value["messages"], line)
        known = ("messages", "category")
    else:
        fields = {name: (f'field "{name}"', value[name]) for name in ("input", "output") if name in value}
        errors = [_missing_field(name, value, line) for name in ("input", "output") if name not in value]
        warnings, known = [], _KNOWN_FIELDS
    errors += [issue for name, (label, text) in fields.items() if (issue := _check_text(name, label, text, line))]
    category = value.get("category")
    if category is not None and not isinstance(category, str):
        errors.append(Issue("error", "wrong_type", f'field "category" is {_json_type(category)}, expected a string',
                            'write the category as a string, e.g. "category": "billing", or remove it', line))
    if errors:
        return None, errors, []
    warnings += [Issue("warning", "extra_fields", f'extra field "{key}" is ignored (first seen here)',
                       'training only reads "input", "output" and the optional "category"; '
                       "remove it, or keep it if you need it for your own bookkeeping", line)
                 for key in value if key not in known]
    return Example(fields["input"][1].strip(), fields["output"][1].strip(), line,
                   category.strip() or None if category else None), [], warnings


def _not_an_object(value: object, line: int) -> Issue:
    if isinstance(value, list) and value and all(isinstance(item, dict) for item in value):
        fix = "put each object of this list on its own line, without the surrounding [ ]"
    elif isinstance(value, list) and len(value) == 2 and all(isinstance(item, str) for item in value):
        fix = 'name the two parts: turn ["<question>", "<answer>"] into {"input": "<question>", "output": "<answer>"}'
    else:
        fix = f"write the example as an object: {_EXAMPLE_LINE}"
    return Issue("error", "not_an_object", f"line is {_json_type(value)}, not a JSON object", fix, line)


def _missing_field(name: str, value: dict, line: int) -> Issue:
    others = [key for key in value if key not in _KNOWN_FIELDS]
    renamed = next((key for key in others if key.strip().lower() in _ALIASES[name]), None)
    renamed = renamed or next(iter(difflib.get_close_matches(name, others, n=1, cutoff=0.7)), None)
    fix = f'rename "{renamed}" to "{name}"' if renamed else f'add "{name}": "<{_WHAT[name]}>" to this object'
    return Issue("error", "missing_field", f'missing field "{name}"', fix, line)


def _check_text(name: str, label: str, text: object, line: int) -> Issue | None:
    if not isinstance(text, str):
        if text is None:
            fix = f"replace null with {_WHAT[name]}, or remove this line"
        elif isinstance(text, list):
            fix = "join the parts into one string (use \\n between steps)"
        elif isinstance(text, dict):
            fix = f"put {_WHAT[name]} itself here as a string, not an object"
        else:
            fix = f'wrap the value in double quotes so it is text, e.g. "{json.dumps(text)}"'
        return Issue("error", "wrong_type", f"{label} is {_json_type(text)}, expected a string", fix, line)
    if not text.strip():
        return Issue("error", "empty_value", f"{label} is empty", f"write {_WHAT[name]}, or remove this line", line)
    length, minimum = len(text.strip()), _MIN_CHARS[name]
    if length < minimum:
        fix = ("write the question in full, the way a customer would ask it" if name == "input" else
               "write the complete answer you want the model to learn; one-word answers teach it nothing")
        return Issue("error", f"{name}_too_short",
                     f"{label} is only {length} characters (minimum {minimum})", fix, line)
    return None


def _from_messages(messages: object, line: int) -> tuple[dict, list[Issue], list[Issue]]:
    """Fields of the first user → assistant pair of a chat-format line."""
    def bad(message: str, fix: str = f'"messages" should look like {_MESSAGES_SHAPE}'):
        return {}, [Issue("error", "bad_messages", message, fix, line)], []

    if not isinstance(messages, list) or not messages:
        return bad(f'"messages" is {"an empty list" if messages == [] else _json_type(messages)}, '
                   "expected a list of turns")
    for number, turn in enumerate(messages, start=1):
        if not isinstance(turn, dict) or "role" not in turn or "content" not in turn:
            return bad(f'turn {number} of "messages" is not an object with "role" and "content"')
        if turn["role"] not in ("system", "user", "assistant"):
            return bad(f'turn {number} has role {json.dumps(turn["role"])}; expected "user" or "assistant"',
                       'use "user" for the customer\'s question and "assistant" for the answer')
    roles = [turn["role"] for turn in messages]
    n_system = next((i for i, role in enumerate(roles) if role != "system"), len(roles))
    if "system" in roles[n_system:]:
        return bad('a "system" turn may only come first', 'move the "system" turn to the start, or remove it')
    rest = messages[n_system:]
    if "user" not in roles:
        return bad('no "user" turn', 'add {"role": "user", "content": "<the customer\'s question>"} '
                                     "before the assistant turn")
    if rest[0]["role"] != "user":
        return bad('the conversation starts with "assistant"; the user must speak first',
                   'put the {"role": "user", ...} turn before the assistant turn')
    if len(rest) < 2:
        return bad('no "assistant" turn', 'add {"role": "assistant", "content": "<the ideal answer>"} '
                                          "after the user turn")
    if rest[1]["role"] != "assistant":
        return bad('two "user" turns in a row; expected "assistant" after "user"',
                   "merge the two user turns, or add the assistant's answer between them")
    warnings = []
    if n_system:
        warnings.append(Issue("warning", "system_message", 'the "system" turn is ignored (first seen here)',
                              "the course prompt format has no system prompt; remove it to silence this", line))
    if len(rest) > 2:
        warnings.append(Issue("warning", "extra_turns",
                              "only the first user/assistant pair is used (first seen here)",
                              "split longer conversations into one example per line", line))
    fields = {"input": ('the user turn\'s "content"', rest[0]["content"]),
              "output": ('the assistant turn\'s "content"', rest[1]["content"])}
    return fields, [], warnings


def _json_type(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "a string"
    return "a list" if isinstance(value, list) else "an object"


# --- whole-file checks -----------------------------------------------------------------------
def _duplicate_warnings(examples: list[Example]) -> list[Issue]:
    """Questions asked twice (even in other words) and answers given twice make the model memorise."""
    strongest = {}  # one warning per line: the closest kind of repetition, then the earliest line
    for first, later, how in near_duplicate_pairs(examples):
        strongest[later] = min(strongest.get(later, (how, first)), (how, first),
                               key=lambda pair: (KINDS.index(pair[0]), pair[1]))
    warnings = []
    for later, (how, first) in sorted(strongest.items()):
        other, example = examples[first], examples[later]
        if how == "duplicate":
            same_answer = normalise(other.output) == normalise(example.output)
            warnings.append(Issue(
                "warning", "duplicate",
                f"same question as line {other.line}" + ("" if same_answer else ", with a different answer"),
                "remove one of the two lines" if same_answer else
                "keep one line with the best answer; two answers to one question confuse training",
                example.line))
        else:
            message, fix = _DUPLICATE_KINDS[how]
            warnings.append(Issue("warning", how, message.format(line=other.line), fix, example.line))
    return warnings


_DUPLICATE_KINDS = {
    "near_duplicate": ("almost the same question as line {line}",
                       "rephrase it into a genuinely different question, or drop one of the two"),
    "paraphrase": ("asks what line {line} asks, in other words",
                   "keep one of the two, or ask about a different situation; one question asked several ways "
                   "teaches one answer by heart"),
    "repeated_answer": ("same or almost the same answer as line {line}",
                        "give each question its own answer; an answer repeated across lines is learned by heart, "
                        "not as a way to help"),
}


def _length_warnings(examples: list[Example], max_tokens: int, count_tokens: Callable[[str], int]) -> list[Issue]:
    warnings = []
    for example in examples:
        n_tokens = count_tokens(format_example(example))
        if n_tokens > max_tokens:
            warnings.append(Issue("warning", "too_long",
                                  f"example is {n_tokens} tokens, over max_tokens={max_tokens}; "
                                  "the end of the answer would be cut off in training",
                                  "shorten the answer, or raise max_tokens (--max-tokens)", example.line))
    return warnings


def _style_warnings(examples: list[Example]) -> list[Issue]:
    """A half-and-half emoji habit in the answers teaches the model an inconsistent voice."""
    if len(examples) < STYLE_MIN_EXAMPLES:
        return []
    with_emoji = [ex.line for ex in examples if has_emoji(ex.output)]
    n, total = len(with_emoji), len(examples)
    if not 0.2 < n / total < 0.8:
        return []
    odd = with_emoji if n <= total - n else [ex.line for ex in examples if not has_emoji(ex.output)]
    shown = ", ".join(map(str, odd[:10])) + (", ..." if len(odd) > 10 else "")
    return [Issue("warning", "style_inconsistent", f"{n} of {total} answers use emojis — pick one style",
                  f"use emojis in all answers or in none; the odd ones out are on lines {shown}")]


def _category_warnings(examples: list[Example]) -> list[Issue]:
    """A category seen once can't be learned; too few categories make a narrow model."""
    counts = Counter(ex.category for ex in examples if ex.category)
    if not counts or len(examples) < CATEGORY_MIN_EXAMPLES:
        return []
    warnings = [Issue("warning", "thin_category", f'category "{ex.category}" has only 1 example',
                      "add a few more examples of this kind, or merge it into a related category", ex.line)
                for ex in examples if ex.category and counts[ex.category] == 1]
    if len(counts) < 3:
        names = ", ".join(f'"{name}"' for name in counts)
        warnings.append(Issue("warning", "thin_category", f"only {len(counts)} distinct categories ({names})",
                              "cover at least 3 kinds of questions so the model generalises"))
    return warnings


def _eval_overlap_warnings(examples: list[Example], eval_path: str) -> list[Issue]:
    """An eval question already seen in training measures memorisation, not learning."""
    records, errors, _ = _read_records(eval_path)
    eval_examples = []
    for line, value in records:
        example, line_errors, _ = _to_example(value, line)
        errors += line_errors
        if example is not None:
            eval_examples.append(example)
    warnings = []
    if errors:
        warnings.append(Issue("warning", "eval_invalid",
                              f"{len(errors)} error(s) in {eval_path}; those lines were skipped in this check",
                              f"run: lora-course validate {eval_path}"))
    train = {}
    for example in examples:
        train.setdefault(normalise(example.input), example)
    check_near = max(len(examples), len(eval_examples)) <= NEAR_DUP_MAX_EXAMPLES
    train_words = [(example, key, words(key)) for key, example in train.items()] if check_near else []
    for eval_example in eval_examples:
        key = normalise(eval_example.input)
        match, how = train.get(key), "the same"
        if match is None:
            key_words = words(key)
            match = next((ex for ex, train_key, ex_words in train_words
                          if near_duplicate(train_key, key, ex_words, key_words)), None)
            how = "almost the same"
        if match is not None:
            warnings.append(Issue("warning", "eval_overlap",
                                  f"{eval_path}:{eval_example.line} asks {how} question as training line {match.line}",
                                  "drop it from the eval set or from training; the two sets must not share questions",
                                  match.line))
    return warnings


def _where(path: str, issue: Issue) -> str:
    return path if issue.line is None else f"{path}:{issue.line}"
