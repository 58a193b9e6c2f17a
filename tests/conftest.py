"""Unit tests run on the `tiny` model (random 2-layer Llama, SmolLM2 tokenizer) and never reach a hub."""

import os

os.environ.setdefault("LORA_COURSE_MODEL", "tiny")
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"

import pytest  # noqa: E402

from lora_course.data import Example  # noqa: E402

TINY_STYLE = [
    Example(f"How do I fix problem number {i} with my TechCo laptop?",
            f"Hi there! 👋 1. Open Settings → Support. 2. Choose fix {i}. Anything else? 😊")
    for i in range(8)
]


@pytest.fixture(scope="session")
def tiny():
    from lora_course.models import load_base_model

    return load_base_model("tiny")


@pytest.fixture
def examples():
    return list(TINY_STYLE)


_SUMMARY = pytest.StashKey[list]()


@pytest.fixture
def summary(request) -> list:
    """Lines a test adds here (the figures README quotes) are printed at the end of `make test`, uncaptured."""
    return request.config.stash.setdefault(_SUMMARY, [])


def pytest_terminal_summary(terminalreporter, config):
    for line in config.stash.get(_SUMMARY, []):
        terminalreporter.write_line(line)
