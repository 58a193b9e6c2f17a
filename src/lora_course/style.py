"""The TechCo voice, measured: each criterion scores one answer in 0..1."""

import re

from .text import content_words, has_emoji

_GREETING = re.compile(r"^\W*(hi|hello|hey|great question|happy to help|thanks|thank you|good (morning|afternoon)"
                       r"|no worries|absolutely|of course|sure)\b", re.IGNORECASE)
_STEP = re.compile(r"^\s*(\d+[.)]|[-*•])\s+\S", re.MULTILINE)
_SPECIFIC = re.compile(r"\d|→|>|techco\.com|@|settings|app\b|\bmenu\b", re.IGNORECASE)


def style_scores(question: str, answer: str, ended_with_eos: bool) -> dict[str, float]:
    """Score one answer against the TechCo voice; each criterion is 0..1 and `style_score` is their mean."""
    words = answer.split()
    question_words = content_words(question)
    scores = {
        "emoji": float(has_emoji(answer)),
        "friendly_opener": float(bool(_GREETING.search(answer))),
        "actionable_steps": min(len(_STEP.findall(answer)), 2) / 2,
        "specific": min(len(_SPECIFIC.findall(answer)), 3) / 3,
        "on_topic": min(1.0, 2 * len(question_words & content_words(answer)) / max(1, len(question_words))),
        "clean_stop": float(ended_with_eos),
        "length": float(25 <= len(words) <= 130),
    }
    scores["style_score"] = sum(scores.values()) / len(scores)
    return scores


CRITERIA = tuple(style_scores("", "", False))  # the criteria in style_scores' order, `style_score` last
