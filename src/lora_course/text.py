"""What a text is about and how it looks: its content words, its emojis, whether it is Python code.

Shared by the dataset checks, the near-duplicate search and the style criteria. Standard library only.
"""

import re

EMOJI_RANGES = (
    (0x1F000, 0x1FAFF),  # pictographs, emoticons, transport, supplemental symbols
    (0x2600, 0x27BF),  # misc symbols and dingbats: ☀ ✅ ✨ ❤
    (0x2B50, 0x2B55),  # ⭐ ⭕
    (0x231A, 0x231B),  # ⌚ ⌛
    (0x23E9, 0x23FA),  # ⏩ ⏰ ⏳
)
DEF_LINE = re.compile(r"^\s*(?:async\s+)?def\s+\w+\s*\(", re.MULTILINE)  # a Python function's first line

STOPWORDS = set("a an the and or but if to of in on for with my your our i you we it is are was be can do does "
                "how what why when where which who me this that have has not no yes please there their".split())


def content_words(text: str) -> set[str]:
    """The words that say what a text is about (no stopwords, no 1-2 letter words), lower-cased."""
    return {w for w in re.findall(r"[a-z][a-z0-9'-]+", text.lower()) if w not in STOPWORDS and len(w) > 2}


def has_emoji(text: str) -> bool:
    return any(lo <= ord(ch) <= hi for ch in text for lo, hi in EMOJI_RANGES)
