"""Load, check and split the course's JSONL datasets.

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
import random
import re
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass
from pathlib import Path

from .paths import DATA_DIR

PROMPT_TEMPLATE = "### User: {input}\n### Assistant:"  # the course text's format, taught as a comparison
CHAT, COURSE_TEXT = "chat", "course-text"  # prompt formats: the model's own chat template, or PROMPT_TEMPLATE

MIN_INPUT_CHARS = 10
MIN_OUTPUT_CHARS = 20
NEAR_DUP_RATIO = 0.9  # difflib.SequenceMatcher ratio of normalised inputs
NEAR_DUP_JACCARD = 0.8  # overlap of the inputs' word sets
COPY_RATIO = 0.85  # a learner's text this close to a shipped one (or sharing 80% of its words) is a copy
NEAR_DUP_MAX_EXAMPLES = 2000  # the pairwise check is O(n²); beyond this it gets slow
PARAPHRASE_MIN_SHARED = 3  # content words two questions must share to count as one question asked twice
PARAPHRASE_JACCARD = 0.6  # ... and this share of all the content words the two use
MANY_DUPLICATES = 0.2  # `fine_tune` warns when more than this share of the examples repeat another
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
_EMOJI_RANGES = (
    (0x1F000, 0x1FAFF),  # pictographs, emoticons, transport, supplemental symbols
    (0x2600, 0x27BF),  # misc symbols and dingbats: ☀ ✅ ✨ ❤
    (0x2B50, 0x2B55),  # ⭐ ⭕
    (0x231A, 0x231B),  # ⌚ ⌛
    (0x23E9, 0x23FA),  # ⏩ ⏰ ⏳
)


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


def format_prompt(question: str) -> str:
    """The course text's prompt: `### User: …\n### Assistant:`, a format an Instruct model never saw."""
    return PROMPT_TEMPLATE.format(input=question)


def format_example(example: Example) -> str:
    """Prompt plus answer in the course text's format (the tokenizer appends EOS)."""
    return f"{format_prompt(example.input)} {example.output}"


def uses_chat_template(tokenizer, prompt_format: str = CHAT) -> bool:
    """Chat format where the tokenizer has a template (SmolLM2-Instruct does; distilgpt2 does not)."""
    if prompt_format not in (CHAT, COURSE_TEXT):
        raise ValueError(f"prompt_format must be {CHAT!r} or {COURSE_TEXT!r}, not {prompt_format!r}")
    return prompt_format == CHAT and bool(getattr(tokenizer, "chat_template", None))


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


STOPWORDS = set("a an the and or but if to of in on for with my your our i you we it is are was be can do does "
                "how what why when where which who me this that have has not no yes please there their".split())


def content_words(text: str) -> set[str]:
    """The words that say what a text is about (no stopwords, no 1-2 letter words), lower-cased."""
    return {w for w in re.findall(r"[a-z][a-z0-9'-]+", text.lower()) if w not in STOPWORDS and len(w) > 2}


def has_emoji(text: str) -> bool:
    return any(lo <= ord(ch) <= hi for ch in text for lo, hi in _EMOJI_RANGES)


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


def split_examples(examples: Iterable[Example], eval_fraction: float,
                   seed: int = 0) -> tuple[list[Example], list[Example]]:
    """Deterministic train/eval split, stratified by category so every kind of question is evaluated.

    Near-duplicates (`near_duplicate_groups`) stay on one side: one question asked two ways on both sides
    would make the eval loss measure recall of the other copy, not learning.
    """
    if not 0 <= eval_fraction < 1:
        raise ValueError(f"eval_fraction must be in [0, 1), got {eval_fraction}")
    examples = list(examples)
    n = len(examples)
    if eval_fraction == 0 or n < 2:
        return examples, []  # untouched order: nothing to split
    n_eval = max(min(round(n * eval_fraction), n - 1), 1)  # always keep one to train on
    order = list(range(n))
    random.Random(seed).shuffle(order)
    position = {index: rank for rank, index in enumerate(order)}
    groups = sorted((sorted(group, key=position.get) for group in near_duplicate_groups(examples)),
                    key=lambda group: position[group[0]])
    by_category: dict[str | None, list[list[int]]] = {}
    for group in groups:
        by_category.setdefault(examples[group[0]].category, []).append(group)
    sizes = {key: sum(map(len, members)) for key, members in by_category.items()}
    quotas = {key: size * n_eval // n for key, size in sizes.items()}
    by_remainder = sorted(by_category, key=lambda key: -(sizes[key] * n_eval % n))
    for key in by_remainder[:n_eval - sum(quotas.values())]:  # largest-remainder rounding
        quotas[key] += 1
    eval_ids: set[int] = set()
    for key, members in by_category.items():
        taken = 0
        for group in members:
            if taken + len(group) <= quotas[key]:
                eval_ids.update(group)
                taken += len(group)
    for group in groups:  # groups larger than a quota: hold out whole ones while one group is left to train on
        if len(eval_ids) >= n_eval or len(eval_ids) + len(group) > n - 1:
            break
        if not eval_ids & set(group):
            eval_ids.update(group)
    return [examples[i] for i in order if i not in eval_ids], [examples[i] for i in order if i in eval_ids]


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

def _normalise(text: str) -> str:
    return " ".join(text.casefold().split())


def _near_duplicate(a: str, b: str, words_a: set[str], words_b: set[str], ratio: float = NEAR_DUP_RATIO) -> bool:
    shared = len(words_a & words_b) / len(words_a | words_b) if words_a and words_b else 0.0
    if shared >= NEAR_DUP_JACCARD:
        return True
    if shared < 0.4:  # a string this close shares far more words; skips difflib on most pairs
        return False
    matcher = difflib.SequenceMatcher(None, a, b)
    return matcher.real_quick_ratio() >= ratio and matcher.quick_ratio() >= ratio and matcher.ratio() >= ratio


def _words(text: str) -> set[str]:
    return set(re.findall(r"\w+", text))


def _duplicate_warnings(examples: list[Example]) -> list[Issue]:
    """Questions asked twice (even in other words) and answers given twice make the model memorise."""
    strongest = {}  # one warning per line: the closest kind of repetition, then the earliest line
    for first, later, how in near_duplicate_pairs(examples):
        strongest[later] = min(strongest.get(later, (how, first)), (how, first),
                               key=lambda pair: (_KINDS.index(pair[0]), pair[1]))
    warnings = []
    for later, (how, first) in sorted(strongest.items()):
        other, example = examples[first], examples[later]
        if how == "duplicate":
            same_answer = _normalise(other.output) == _normalise(example.output)
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


_KINDS = ("duplicate", "near_duplicate", "paraphrase", "repeated_answer")  # closest first
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


def near_duplicate_pairs(examples: list[Example]) -> list[tuple[int, int, str]]:
    """(earlier index, later index, kind) for every pair that says the same thing twice, in file order.

    Kinds: "duplicate" (same question, ignoring case and spaces), "near_duplicate" (almost the same string),
    "paraphrase" (the same question in other words: at least PARAPHRASE_MIN_SHARED content words shared, and
    60% of all the content words the two use; not for code), "repeated_answer" (the same or almost the same answer).
    The comparison is O(n²): above NEAR_DUP_MAX_EXAMPLES examples only exact duplicates are found.
    """
    if len(examples) > NEAR_DUP_MAX_EXAMPLES:
        return _exact_duplicate_pairs(examples)
    keys = [(_normalise(ex.input), _normalise(ex.output)) for ex in examples]
    words = [(_words(q), _words(a), _topic(ex.input)) for (q, a), ex in zip(keys, examples, strict=True)]
    pairs = []
    for later in range(len(examples)):
        question, answer = keys[later]
        q_words, a_words, topic = words[later]
        for first in range(later):
            other_q, other_a = keys[first]
            other_q_words, other_a_words, other_topic = words[first]
            if question == other_q:
                how = "duplicate"
            elif _near_duplicate(other_q, question, other_q_words, q_words):
                how = "near_duplicate"
            elif _paraphrase(topic, other_topic):
                how = "paraphrase"
            elif answer == other_a or _near_duplicate(other_a, answer, other_a_words, a_words):
                how = "repeated_answer"
            else:
                continue
            pairs.append((first, later, how))
    return pairs


def _exact_duplicate_pairs(examples: list[Example]) -> list[tuple[int, int, str]]:
    first_seen, pairs = {}, []
    for index, example in enumerate(examples):
        key = _normalise(example.input)
        if key in first_seen:
            pairs.append((first_seen[key], index, "duplicate"))
        else:
            first_seen[key] = index
    return pairs


def _topic(question: str) -> set[str]:
    """Content words with plural "s" dropped; none for code, whose shared type names say nothing about intent."""
    return set() if _DEF_LINE.search(question) else {w.removesuffix("s") for w in content_words(question)}


def _paraphrase(topic_a: set[str], topic_b: set[str]) -> bool:
    shared = len(topic_a & topic_b)
    return shared >= PARAPHRASE_MIN_SHARED and shared >= PARAPHRASE_JACCARD * len(topic_a | topic_b)


def near_duplicate_groups(examples: list[Example]) -> list[list[int]]:
    """Indices of examples linked by any near-duplicate relation (transitively), each group in file order;
    an example that repeats nothing is a group of one. Splits keep a group on one side."""
    parent = list(range(len(examples)))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for first, later, _ in near_duplicate_pairs(examples):
        parent[root(later)] = root(first)
    groups: dict[int, list[int]] = {}
    for index in range(len(examples)):
        groups.setdefault(root(index), []).append(index)
    return list(groups.values())


def duplicate_share(examples: list[Example]) -> tuple[float, list[int]]:
    """Share of examples that repeat an earlier one (any kind of near-duplicate), and their lines."""
    repeats = sorted(i for group in near_duplicate_groups(examples) for i in group[1:])
    lines = [examples[i].line or i + 1 for i in repeats]
    return (len(repeats) / len(examples) if examples else 0.0), lines


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
        train.setdefault(_normalise(example.input), example)
    check_near = max(len(examples), len(eval_examples)) <= NEAR_DUP_MAX_EXAMPLES
    train_words = [(example, key, _words(key)) for key, example in train.items()] if check_near else []
    for eval_example in eval_examples:
        key = _normalise(eval_example.input)
        match, how = train.get(key), "the same"
        if match is None:
            words = _words(key)
            match = next((ex for ex, train_key, ex_words in train_words
                          if _near_duplicate(train_key, key, ex_words, words)), None)
            how = "almost the same"
        if match is not None:
            warnings.append(Issue("warning", "eval_overlap",
                                  f"{eval_path}:{eval_example.line} asks {how} question as training line {match.line}",
                                  "drop it from the eval set or from training; the two sets must not share questions",
                                  match.line))
    return warnings


# --- is it the learner's own data? ---------------------------------------------------------

def copied_from_course(path, data_dir=None) -> list[Issue]:
    """Pairs whose question or answer is a copy or near-copy of text the course ships (an error each).

    Exercises 1 and 5 grade a dataset the learner writes; the course's reference, evaluation and example
    files (every *.jsonl under data/) are there to read and to fall back on, not to hand in. Near means
    the same words after lower-casing and dropping punctuation and emojis, a difflib ratio of at least
    0.85, or 80% of the words shared.
    """
    own = Path(path).resolve()
    shipped = [entry for entry in _course_texts(Path(data_dir or DATA_DIR)) if entry[0] != own]
    exact = {}
    for _, key, _, where in shipped:
        exact.setdefault(key, where)
    issues = []
    for example in validate_file(path).examples:
        for field in ("input", "output"):
            key = _plain_words(getattr(example, field))
            words = set(key.split())
            where = exact.get(key)
            how = "a copy"
            if where is None:
                how = "almost a copy"
                where = next((w for _, other, other_words, w in shipped
                              if _near_duplicate(other, key, other_words, words, COPY_RATIO)), None)
            if where is not None:
                what = "question" if field == "input" else "answer"
                issues.append(Issue("error", "copied", f"the {what} is {how} of {where}",
                                    "write this pair yourself; the course's files are examples, not answers",
                                    example.line))
    return issues


_HEALTH_WORDS = re.compile(r"\b(" + "|".join((
    r"health\w*", r"medic\w*", r"doctors?", r"gps?", r"nurses?", r"pharmacists?", r"dentists?", r"opticians?",
    r"physio\w*", r"midwi\w*", r"clinic\w*", r"hospital\w*", r"emergency", r"ambulance", r"a&e", r"111", r"999",
    r"symptoms?", r"pain\w*", r"aches?", r"aching", r"ach(?:y|ed)", r"sore\w*", r"hurts?", r"hurting",
    r"fevers?", r"temperature", r"cough\w*", r"colds?", r"flu", r"infect\w*", r"virus\w*", r"rash\w*",
    r"itch\w*", r"swell\w*", r"swollen", r"bleed\w*", r"blood", r"bruis\w*", r"wounds?", r"cuts?",
    r"burns?", r"burnt", r"stings?", r"stung", r"bites?", r"bitten", r"blisters?", r"injur\w*", r"sprain\w*",
    r"fractur\w*", r"heal\w*", r"sleep\w*", r"insomnia", r"tired\w*", r"fatigue", r"exhaust\w*",
    r"headaches?", r"migraines?", r"dizz\w*", r"faint\w*", r"nause\w*", r"vomit\w*", r"diarrh\w*",
    r"constipat\w*", r"stomach\w*", r"bowel\w*", r"allerg\w*", r"asthma", r"hay ?fever", r"breath\w*",
    r"heart\w*", r"chest", r"lungs?", r"skin", r"eyes?", r"ears?", r"teeth", r"tooth\w*", r"gums?",
    r"throat", r"joints?", r"muscles?", r"bones?", r"back", r"knees?", r"ankles?", r"wrists?", r"shins?",
    r"diet\w*", r"vitamins?", r"hydrat\w*", r"dehydrat\w*", r"nutrition\w*", r"calorie\w*", r"weight",
    r"exercis\w*", r"stretch\w*", r"dos(?:e|es|age)", r"tablets?", r"pills?", r"paracetamol", r"ibuprofen",
    r"antihistamines?", r"antibiotics?", r"prescri\w*", r"medication\w*", r"creams?", r"ointments?",
    r"pregnan\w*", r"periods?", r"cramps?", r"menstru\w*", r"anxi\w*", r"stress\w*", r"depress\w*",
    r"mental", r"mood", r"panic", r"illness\w*", r"ill", r"sick\w*", r"diseases?", r"diabet\w*",
    r"cholesterol", r"treat\w*", r"recover\w*", r"therap\w*", r"vaccin\w*", r"checkups?", r"check-ups?",
    r"lump\w*", r"ulcers?", r"warts?", r"acne", r"eczema", r"sunburn\w*", r"mosquito\w*", r"ticks?",
    r"snor\w*", r"caffeine", r"alcohol", r"smok\w*", r"nosebleeds?", r"nose", r"mouth", r"feet", r"foot",
    r"hands?", r"fingers?", r"toes?", r"legs?", r"arms?", r"neck", r"shoulders?", r"hips?", r"body",
)) + r")\b", re.IGNORECASE)
_DEF_LINE = re.compile(r"^\s*(?:async\s+)?def\s+\w+\s*\(", re.MULTILINE)
_BRIEF = re.compile(r"^\s*Platform:\s*\S.*\bTopic:\s*\S.*\bTone:\s*\S", re.IGNORECASE | re.DOTALL)
DOMAINS = {  # what makes a pair belong to exercise 5's domain; the notebook prints these sentences
    "medical": "question and answer together use at least three different health words (symptoms, body parts, "
               "treatments, professionals…; `lora_course.data.health_words(text)` lists them), not counting the "
               "fixed disclaimer",
    "docstrings": "the input is Python code with a `def name(` line and the answer is a docstring that opens and "
                  "closes with triple quotes and has an `Args:`, `Returns:` or `Yields:` section",
    "social": "the input is a brief of the form `Platform: … Topic: … Tone: …` and the answer is a post of at "
              "most 3,000 characters",
}


MEDICAL_DISCLAIMER = "This is general information, not medical advice — please consult a healthcare professional."


def health_words(text: str) -> set[str]:
    return {word.casefold() for word in _HEALTH_WORDS.findall(text)}


def off_domain(path, domain: str) -> list[Issue]:
    """Pairs of a mini-project dataset that do not belong to its domain (an error each); see DOMAINS."""
    if domain not in DOMAINS:
        raise ValueError(f"unknown domain {domain!r}: choose one of {', '.join(DOMAINS)}")
    issues = []
    for example in validate_file(path).examples:
        question, answer = example.input, example.output
        if domain == "medical":
            belongs = len(health_words(question + "\n" + answer.replace(MEDICAL_DISCLAIMER, ""))) >= 3
        elif domain == "docstrings":
            body = answer.strip()
            belongs = (bool(_DEF_LINE.search(question)) and body[:3] in ('"""', "'''") and body[-3:] == body[:3]
                       and len(body) > 6 and bool(re.search(r"^\s*(Args|Returns|Yields):", body, re.MULTILINE)))
        else:
            belongs = bool(_BRIEF.match(question)) and len(answer) <= 3000
        if not belongs:
            issues.append(Issue("error", "off_domain", f"this pair is not a {domain} pair: {DOMAINS[domain]}",
                                "rewrite it for your domain or remove it", example.line))
    return issues


def _plain_words(text: str) -> str:
    return " ".join(re.findall(r"\w+", text.casefold()))


def _course_texts(data_dir: Path) -> list[tuple[Path, str, set[str], str]]:
    """(file, plain words, word set, "file line N") for every text field of every shipped JSONL file."""
    texts = []
    for file in sorted(data_dir.rglob("*.jsonl")):
        records, _, _ = _read_records(os.fspath(file))
        for line, value in records:
            if not isinstance(value, dict):
                continue
            fields = [value.get(name) for name in ("input", "output", "text")]
            messages = value.get("messages")
            if isinstance(messages, list):
                fields += [m.get("content") for m in messages if isinstance(m, dict)]
            for text in fields:
                if isinstance(text, str) and len(text.strip()) >= MIN_INPUT_CHARS:
                    key = _plain_words(text)
                    texts.append((file.resolve(), key, set(key.split()),
                                  f"{file.relative_to(data_dir.parent)} line {line}"))
    return texts


def _where(path: str, issue: Issue) -> str:
    return path if issue.line is None else f"{path}:{issue.line}"
