"""Exercise 5's hidden tests, run where no learner code runs (grader/verdict.py): the dataset, the training run and the
report read as data from the files the learner's run wrote; `domain_score` against the solution's for the learner's
domain, on the stated cases and generated answers where one check alone changes the score."""

import difflib
import json
import re
import types

from hypothesis import strategies as st
from verdict import differential, reference

from lora_course.dataset import validate_file
from lora_course.own_data import DOMAINS, copied_from_course, off_domain
from lora_course.paths import data_file
from lora_course.report import REQUIRED_SECTIONS

ASSIGNMENT = "05_mini_project"
RUN_UNTIL = "impl_domain_score"
DATA = "mini_project_data.jsonl"
RUN = "outputs/mini_project_adapter/run.json"


def domain(learner) -> str:
    chosen = learner.get("DOMAIN")
    assert chosen in DOMAINS, f"DOMAIN must be one of {sorted(DOMAINS)}, got {str(chosen)[:40]!r}"
    return chosen


def normalise(text: str) -> str:
    return " ".join(re.findall(r"\w+", text.casefold()))


def near(a: str, b: str) -> bool:
    wa, wb = set(a.split()), set(b.split())
    jaccard = len(wa & wb) / len(wa | wb) if wa | wb else 1.0
    return a == b or jaccard >= 0.8 or difflib.SequenceMatcher(None, a, b).ratio() >= 0.85


def test_dataset(learner, files) -> None:
    chosen, path = domain(learner), files.path(DATA)
    report = validate_file(path, min_examples=30)
    assert report.ok, f"{DATA} has errors:\n" + report.format()
    assert len(report.examples) >= 30, f"need at least 30 pairs, found {len(report.examples)}"
    assert not copied_from_course(path), "every pair must be your own"
    assert not off_domain(path, chosen), f"every pair must be a {chosen} pair"
    train = [normalise(example.input) for example in report.examples]
    assert len(set(train)) == len(train), "a question appears twice in your dataset"
    for line in (data_file(f"mini_project/{chosen}") / "eval_prompts.jsonl").read_text(encoding="utf-8").splitlines():
        if line.strip():
            prompt = normalise(json.loads(line)["input"])
            hits = [q for q in train if near(q, prompt)]
            assert not hits, f"an unseen evaluation prompt is in your dataset: {prompt!r} ~ {hits[0]!r}"


# Generated answers per domain, built from pieces where one stated check flips at a time.
DISCLAIMERS = ["This is general information, not medical advice.", "NOT MEDICAL ADVICE.", "Not medical-advice.",
               "Please consult a healthcare professional."]
RED_FLAGS = ["See a GP if it lasts more than ten days.", "A doctor can help.", "Call us if it gets worse.",
             "Seek medical attention when it bleeds!", "Talk to your pharmacist. If it hurts, rest.",
             "Doctors help especially before trips?", "Visit the emergency room unless it stops.",
             "Your life matters, so see a doctor soon.", "If your temperature stays above 38.5 see a doctor.",
             "Whenever in doubt, ask a nurse.", "Ask a GP. When in doubt, rest."]


@st.composite
def medical(draw) -> tuple[str, str]:
    sentences = draw(st.lists(st.sampled_from(DISCLAIMERS + RED_FLAGS + ["Rest and drink fluids."]), max_size=4))
    text = draw(st.sampled_from([" ", "\n"])).join(sentences)
    target = draw(st.sampled_from([29, 30, 150, 151]) | st.integers(0, 180))
    missing = target - len(text.split())
    if missing > 0:
        text = "rest " * missing + text
    return "Is a runny nose serious?", text


@st.composite
def docstrings(draw) -> tuple[str, str]:
    positional = draw(st.lists(st.sampled_from(["self", "cls", "a", "value", "width: float"]), unique=True,
                               max_size=3))
    star = draw(st.sampled_from(["", "*args", "*"]))
    keywords = draw(st.lists(st.sampled_from(["factor", "inplace: bool = False"]), unique=True,
                             min_size=1 if star == "*" else 0, max_size=2)) if star else []
    kwargs = draw(st.sampled_from(["", "**options"]))
    params = [p for p in positional + [star] + keywords + [kwargs] if p]
    returns = draw(st.sampled_from(["", " -> None", " -> int", " -> 'Vector'"]))
    before = draw(st.sampled_from(["", "import math\n", "@property\n"]))
    prompt = f"{before}def f({', '.join(params)}){returns}:\n    return 1"
    names = [p.split(":")[0].strip("*") for p in params if p != "*"]
    summary = draw(st.sampled_from(["Do the thing.", "Do the thing", "Args:", "", "Returns:"]))
    lines = [summary]
    if draw(st.booleans()):
        documented = draw(st.lists(st.sampled_from(names + ["other"]), unique=True)) if names else []
        lines += ["", "Args:"]
        for i, name in enumerate(documented):
            if i and draw(st.integers(0, 4)) == 0:
                lines.append("")  # the section ends at a blank line
            lines.append(draw(st.sampled_from([f"    {name}: the {name}.", f"    {name} (int): x."])))
    if draw(st.booleans()):
        lines += ["", draw(st.sampled_from(["Returns:", "Yields:"])), "    The result."]
    quote = draw(st.sampled_from(['"""', "'''", ""]))
    return prompt, quote + "\n".join(lines) + "\n" + quote


PLATFORMS = {"Twitter/X": (40, 280), "LinkedIn": (200, 1300), "Instagram": (100, 2200)}


@st.composite
def social(draw) -> tuple[str, str]:
    platform = draw(st.sampled_from(sorted(PLATFORMS)))
    low, high = PLATFORMS[platform]
    tags = " ".join(f"#tag{i}" for i in range(draw(st.sampled_from([0, 2, 3, 4, 10, 11]))))
    action = draw(st.sampled_from(["", "Any questions?", "Join us today.", "DM us.", "Ordering is easy.",
                                   "Tell us more.", "Stop by.", "We love C# and F#.", "### all day # long"]))
    ending = " ".join(part for part in (action, tags) if part)
    length = draw(st.sampled_from([low - 1, low, high, high + 1]) | st.integers(1, high + 20))
    filler = ("Warm loaves all day long at the corner bakery. " * (length // 40 + 2))[:max(0, length - len(ending) - 1)]
    post = f"{filler.strip()} {ending}".strip()
    topic = draw(st.sampled_from(["bread", "our Instagram growth", "LinkedIn tips", "Twitter/X news"]))
    return f"Platform: {platform}. Topic: {topic}. Tone: warm", post


STRATEGIES = {"medical": medical(), "docstrings": docstrings(), "social": social()}
_D = "This is general information, not medical advice — please consult a healthcare professional."
_LONG = "Rest, drink plenty of fluids and keep an eye on how you feel over the next few days. " * 2
_RUNNY = "Is a runny nose serious?"
FIXED = {  # the notebook's visible cases and the boundaries the text states
    "medical": [(_RUNNY, ""), (_RUNNY, "   "), (_RUNNY, _LONG + "See a GP when it lasts more than ten days. " + _D),
                (_RUNNY, _LONG + _D), (_RUNNY, _LONG + "A doctor can help. " + _D),
                (_RUNNY, _LONG + "Talk to your pharmacist if it gets worse."),
                (_RUNNY, "NOT MEDICAL ADVICE. Call emergency services if you faint."),
                (_RUNNY, "It will pass by itself, do not worry about it."),
                (_RUNNY, ("word " * 160) + "Seek medical attention if it bleeds. " + _D),
                (_RUNNY, _LONG + "Your life matters, so see a doctor soon. " + _D),
                (_RUNNY, _LONG + "If your temperature stays above 38.5 see a doctor. " + _D)]
               + [(_RUNNY, "See a GP if it lasts. " + "rest " * (words - 19) + _D) for words in (29, 30, 150, 151)],
    "docstrings": [
        ("def area(width: float, height: float) -> float:", '"""Compute the area of a rectangle.\n\nArgs:\n'
         '    width: The width.\n    height: The height.\n\nReturns:\n    The area.\n"""'),
        ("def area(width: float, height: float) -> float:", '"""Area."""'),
        ("def scale(self, factor: float, *, inplace: bool = False) -> None:",
         '"""Scale the vector.\n\nArgs:\n    factor: How much.\n    inplace (bool): Modify in place.\n"""'),
        ("def scale(self, factor: float, *, inplace: bool = False) -> Vector:",
         '"""Scale the vector.\n\nArgs:\n    factor: How much.\n\nReturns:\n    The scaled vector.\n"""'),
        ("def merge(*dicts: dict, **options) -> dict:\n    return {}", '"""Merge dictionaries\n\nArgs:\n'
         '    dicts: The dictionaries.\n    options: Extra options.\n\nReturns:\n    One dict.\n"""'),
        ("def now() -> datetime:", '"""Return the current time.\n\nReturns:\n    The time.\n"""'),
        ("def now() -> datetime:", '"""Return the current time."""'),
        ("def f(a, b):", '"""Args:\n    a: x\n    b: y\n"""'),
        ("def f(a, b):", '"""Do f.\n\nArgs:\n    a: x\n\n    b: y\n"""'), ("def f(a, b):", "")],
    "social": [
        ("Platform: Twitter/X. Topic: new menu. Tone: fun", "New menu, new favourites! 🍔 Come taste it this weekend. "
         "#NewMenu"), ("Platform: Instagram. Topic: new menu. Tone: fun", "New menu."),
        ("Platform: Instagram. Topic: cake. Tone: sweet", "Fresh cakes every morning! " * 5 + "Grab a slice today. "
         "#Cake #Bakery #Sweet"),
        ("Platform: Instagram. Topic: cake. Tone: sweet", "Fresh cakes every morning! " * 5 + "#Cake #Bakery"),
        ("Platform: LinkedIn. Topic: hiring. Tone: warm", "We are hiring engineers to build great tools. " * 5 +
         "Apply via the link."), ("Platform: LinkedIn. Topic: hiring. Tone: warm", "We are hiring. Apply now."),
        ("Platform: Twitter/X. Topic: launch. Tone: bold", "Launch day. " * 30 + "Tell us what you think!"),
        ("Platform: Twitter/X. Topic: launch. Tone: bold", "Launch day is finally here for everyone. #a #b #c #d"),
        ("Platform: Twitter/X. Topic: launch. Tone: bold", "Launch day is finally here. Questions? DM us."),
        ("Platform: Twitter/X. Topic: launch. Tone: bold", ""),
        ("Platform: Twitter/X. Topic: code. Tone: fun", "We love C# and F# and C++ and Go, ### all day ## long # "
         "forever! Try it #dev"),
        ("Platform: LinkedIn. Topic: our Instagram growth. Tone: proud", "Our Instagram grew 3x this year, thanks to "
         "you all. What should we post next? Read the story. #growth #team #thanks")],
}


def test_domain_score(learner, files) -> None:
    chosen = domain(learner)
    rule = reference(ASSIGNMENT, "impl_domain_score")["domain_score"]
    solution = types.FunctionType(rule.__code__, {**rule.__globals__, "DOMAIN": chosen})

    def agree(case) -> None:
        got, want = learner.call("domain_score", *case, returns=("float",)), solution(*case)
        assert isinstance(got, float), f"domain_score must return a float, got {str(got)[:40]}"
        assert abs(got - want) < 1e-6, f"domain_score{case!r}: expected {want:.4f}, got {got}"

    for case in FIXED[chosen]:
        agree(case)
    differential(STRATEGIES[chosen], agree, examples=80)


def test_training(learner, files) -> None:
    run = files.json(RUN)
    pairs = len(validate_file(files.path(DATA)).examples)
    assert files.exists("outputs/mini_project_adapter/adapter_config.json"), "no adapter saved"
    assert run["n_train"] + run["n_eval"] == pairs, f"the adapter was not trained on {DATA}"
    assert run["n_eval"] >= 1, "hold out a validation split (eval_fraction)"
    assert run["train_losses"][-1]["loss"] < run["train_losses"][0]["loss"], "training loss did not fall"


def test_report(learner, files) -> None:
    chosen, text, run = domain(learner), files.text("mini_project_report.md"), files.json(RUN)
    missing = [section for section in REQUIRED_SECTIONS if section not in text]
    assert not missing, f"report sections missing: {missing}"
    assert "TODO" not in text and "YOUR ANSWER HERE" not in text, "the report still has a TODO: write both answers"
    loss = [point["loss"] for point in run["train_losses"]]
    expected = [f"Training examples: {run['n_train']}", f"Validation examples: {run['n_eval']}",
                f"{run['trainable_params']:,d} of {run['total_params']:,d}", f"{run['wall_seconds']:.1f} s",
                f"{loss[0]:.3f} (first step)", f"{loss[-1]:.3f} (last step)", f"{len(loss)} steps",
                f"| learning_rate | {run['settings']['learning_rate']} |", f"| epochs | {run['settings']['epochs']} |",
                f"| rank | {run['settings']['rank']} |", f"Domain: **{chosen}**"]
    expected += [f"{point['loss']:.3f}" for point in run["eval_losses"]]
    wrong = [line for line in expected if line not in text]
    assert not wrong, f"report disagrees with run.json: {wrong}"
    examples = text.split("## Example outputs")[1].split("## What I learned")[0]
    for line in (data_file(f"mini_project/{chosen}") / "eval_prompts.jsonl").read_text(encoding="utf-8").splitlines():
        if line.strip():
            assert json.loads(line)["input"] in examples, "the report must show every unseen prompt's outputs"
    evaluation = text.split("## Evaluation")[1].split("## Example outputs")[0]
    assert re.search(r"\| domain score \(0–1\) \| \d\.\d{3} \| \d\.\d{3} \|", evaluation), "domain score row missing"
    assert re.search(r"EOS\) \| \d\.\d{3} \| \d\.\d{3} \|", evaluation), "EOS rate row missing"
    for section in ("## What I learned", "## Production readiness"):
        body = text.split(section)[1].split("\n## ")[0]
        assert len(body.split()) >= 40, f"{section}: write at least a paragraph"


TESTS = {"test_dataset": test_dataset, "test_domain_score": test_domain_score, "test_training": test_training,
         "test_report": test_report}
