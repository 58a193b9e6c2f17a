"""Near-duplicates (the same question asked twice, in the same or in other words; an answer given twice) and the
train/eval split that keeps them on one side.

One question asked several ways teaches one answer by heart, and split across train and eval it makes the eval loss
measure recall instead of learning. Works on anything with `.input`, `.output`, `.line` and `.category` (the
dataset's `Example`). Standard library only.
"""

from __future__ import annotations

import difflib
import random
import re
from collections.abc import Iterable

from .text import DEF_LINE, content_words

NEAR_DUP_RATIO = 0.9  # difflib.SequenceMatcher ratio of normalised inputs
NEAR_DUP_JACCARD = 0.8  # overlap of the inputs' word sets
NEAR_DUP_MAX_EXAMPLES = 2000  # the pairwise check is O(n²); beyond this it gets slow
PARAPHRASE_MIN_SHARED = 3  # content words two questions must share to count as one question asked twice
PARAPHRASE_JACCARD = 0.6  # ... and this share of all the content words the two use
MANY_DUPLICATES = 0.2  # `fine_tune` warns when more than this share of the examples repeat another
KINDS = ("duplicate", "near_duplicate", "paraphrase", "repeated_answer")  # closest first


def normalise(text: str) -> str:
    return " ".join(text.casefold().split())


def near_duplicate(a: str, b: str, words_a: set[str], words_b: set[str], ratio: float = NEAR_DUP_RATIO) -> bool:
    shared = len(words_a & words_b) / len(words_a | words_b) if words_a and words_b else 0.0
    if shared >= NEAR_DUP_JACCARD:
        return True
    if shared < 0.4:  # a string this close shares far more words; skips difflib on most pairs
        return False
    matcher = difflib.SequenceMatcher(None, a, b)
    return matcher.real_quick_ratio() >= ratio and matcher.quick_ratio() >= ratio and matcher.ratio() >= ratio


def words(text: str) -> set[str]:
    return set(re.findall(r"\w+", text))


def near_duplicate_pairs(examples: list) -> list[tuple[int, int, str]]:
    """(earlier index, later index, kind) for every pair that says the same thing twice, in file order.

    Kinds: "duplicate" (same question, ignoring case and spaces), "near_duplicate" (almost the same string),
    "paraphrase" (the same question in other words: at least PARAPHRASE_MIN_SHARED content words shared, and
    60% of all the content words the two use; not for code), "repeated_answer" (the same or almost the same answer).
    The comparison is O(n²): above NEAR_DUP_MAX_EXAMPLES examples only exact duplicates are found.
    """
    if len(examples) > NEAR_DUP_MAX_EXAMPLES:
        return _exact_duplicate_pairs(examples)
    keys = [(normalise(ex.input), normalise(ex.output)) for ex in examples]
    word_sets = [(words(q), words(a), _topic(ex.input)) for (q, a), ex in zip(keys, examples, strict=True)]
    pairs = []
    for later in range(len(examples)):
        question, answer = keys[later]
        q_words, a_words, topic = word_sets[later]
        for first in range(later):
            other_q, other_a = keys[first]
            other_q_words, other_a_words, other_topic = word_sets[first]
            if question == other_q:
                how = "duplicate"
            elif near_duplicate(other_q, question, other_q_words, q_words):
                how = "near_duplicate"
            elif _paraphrase(topic, other_topic):
                how = "paraphrase"
            elif answer == other_a or near_duplicate(other_a, answer, other_a_words, a_words):
                how = "repeated_answer"
            else:
                continue
            pairs.append((first, later, how))
    return pairs


def _exact_duplicate_pairs(examples: list) -> list[tuple[int, int, str]]:
    first_seen, pairs = {}, []
    for index, example in enumerate(examples):
        key = normalise(example.input)
        if key in first_seen:
            pairs.append((first_seen[key], index, "duplicate"))
        else:
            first_seen[key] = index
    return pairs


def _topic(question: str) -> set[str]:
    """Content words with plural "s" dropped; none for code, whose shared type names say nothing about intent."""
    return set() if DEF_LINE.search(question) else {w.removesuffix("s") for w in content_words(question)}


def _paraphrase(topic_a: set[str], topic_b: set[str]) -> bool:
    shared = len(topic_a & topic_b)
    return shared >= PARAPHRASE_MIN_SHARED and shared >= PARAPHRASE_JACCARD * len(topic_a | topic_b)


def near_duplicate_groups(examples: list) -> list[list[int]]:
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


def duplicate_share(examples: list) -> tuple[float, list[int]]:
    """Share of examples that repeat an earlier one (any kind of near-duplicate), and their lines."""
    repeats = sorted(i for group in near_duplicate_groups(examples) for i in group[1:])
    lines = [examples[i].line or i + 1 for i in repeats]
    return (len(repeats) / len(examples) if examples else 0.0), lines


def split_examples(examples: Iterable, eval_fraction: float,
                   seed: int = 0) -> tuple[list, list]:
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
