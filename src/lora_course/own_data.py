"""Is it the learner's own data? Exercises 1 and 5 grade a dataset the learner writes: no pair may copy the course's
files, and exercise 5's pairs must belong to the chosen domain. Standard library only.
"""

import os
import re
from pathlib import Path

from .dataset import MIN_INPUT_CHARS, Issue, _read_records, validate_file
from .duplicates import near_duplicate
from .paths import DATA_DIR
from .text import DEF_LINE

COPY_RATIO = 0.85  # a learner's text this close to a shipped one (or sharing 80% of its words) is a copy


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
                              if near_duplicate(other, key, other_words, words, COPY_RATIO)), None)
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
_BRIEF = re.compile(r"^\s*Platform:\s*\S.*\bTopic:\s*\S.*\bTone:\s*\S", re.IGNORECASE | re.DOTALL)
DOMAINS = {  # what makes a pair belong to exercise 5's domain; the notebook prints these sentences
    "medical": "question and answer together use at least three different health words (symptoms, body parts, "
               "treatments, professionals…; `lora_course.own_data.health_words(text)` lists them), not counting the "
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
            belongs = (bool(DEF_LINE.search(question)) and body[:3] in ('"""', "'''") and body[-3:] == body[:3]
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
