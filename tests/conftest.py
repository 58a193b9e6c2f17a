"""Unit tests run on the `tiny` model (random 2-layer Llama, SmolLM2 tokenizer) and never reach a hub."""

import os

os.environ.setdefault("LORA_COURSE_MODEL", "tiny")
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"

import pytest  # noqa: E402

from lora_course.data import Example  # noqa: E402

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


def filled_release(release, source, mutation=None):
    """A copy of a release notebook with every solution cell holding the source notebook's cell of the same grade_id
    (solution markers dropped), as a learner who wrote the reference answers hands it in; `mutation`
    (grade_id, old text, new text) changes one of them."""
    import nbformat

    solutions = {cell.metadata["nbgrader"]["grade_id"]: cell.source for cell in source.cells
                 if cell.metadata.get("nbgrader", {}).get("solution")}
    filled = nbformat.from_dict(nbformat.reads(nbformat.writes(release), as_version=4))
    for cell in filled.cells:
        grade_id = cell.metadata.get("nbgrader", {}).get("grade_id")
        if grade_id in solutions:
            text = solutions[grade_id]
            if mutation and mutation[0] == grade_id:
                assert text.count(mutation[1]) == 1, f"{grade_id}: {mutation[1]!r} must occur once"
                text = text.replace(mutation[1], mutation[2])
            cell.source = "\n".join(line for line in text.splitlines() if "### BEGIN SOLUTION" not in line
                                    and "### END SOLUTION" not in line)
    return filled
