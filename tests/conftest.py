"""Unit tests run on the `tiny` model (random 2-layer Llama, SmolLM2 tokenizer) and never reach a hub."""

import os

os.environ.setdefault("LORA_COURSE_MODEL", "tiny")
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"

import pytest  # noqa: E402

from lora_course.dataset import Example  # noqa: E402

TINY_STYLE = [  # eight different questions with their own answers: no near-duplicates
    Example(question, f"Hi there! 👋 1. Open {place}. 2. {step}. Anything else? 😊")
    for question, place, step in [
        ("How do I reset my TechCo account password?", "techco.com/login", "Click Forgot password"),
        ("Where is my laptop order?", "Account → Orders", "Pick the order to see its tracking link"),
        ("Can I return headphones after 20 days?", "techco.com/returns", "Print the free label within 30 days"),
        ("My Wi-Fi keeps dropping on the new router", "the TechCo Home app", "Turn on Auto channel"),
        ("Is there a student discount on tablets?", "techco.com/education", "Verify with your university email"),
        ("The screen flickers after the last update", "Settings → Display", "Roll back the driver"),
        ("How can I delete the data you hold about me?", "Settings → Privacy", "Choose Delete my data"),
        ("Why was I charged twice this month?", "Account → Billing", "Report the duplicate charge"),
    ]
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


def pytest_configure(config):
    config.addinivalue_line("markers", "browser: drives JupyterLab in headless Chromium (tests/test_browser.py)")
