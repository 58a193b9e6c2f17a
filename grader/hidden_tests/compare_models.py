"""Exercise 3's hidden tests, run where no learner code runs (grader/verdict.py): each criterion function against the
solution's on the stated boundaries and on generated answers; `follows_company_style` with the learner's own
emoji and greeting answers, so a mistake there costs only those tests; the comparison table against the solution's;
`evaluation_results.md` read as data, re-scored by the learner's functions and its perplexities re-measured here."""

from hypothesis import strategies as st
from verdict import differential, load_adapter, reference

from lora_course.dataset import load_examples, read_jsonl
from lora_course.evaluation import answer_perplexity
from lora_course.paths import data_file

ASSIGNMENT = "03_compare_models"
RUN_UNTIL = "impl_comparison_table"
SCORING = ("given_definitions", "impl_has_emojis", "impl_friendly_tone", "impl_specific_info", "impl_on_topic",
           "impl_company_style", "impl_comparison_table")
EMOJI_EDGES = "\U0001F000\U0001FAFF\u2600\u27BF\u2B50\u2B55\u231A\u231B\u23E9\u23FA"
NOT_EMOJI = "\u25FF\u27C0\u2B4F\u2B56\u2319\u231C\u23E8\u23FB\U0001FB00→←½é中∑©®™°"
WORDS = ("hi", "hello", "hey", "thanks", "thank you", "great question", "happy to help", "good news", "no worries",
         "of course", "sure", "absolutely", "surely", "history", "hit", "please", "sorry", "glad", "happy", "unhappy",
         "enjoy", "welcome", "welcomed", "anything else", "let me know", "feel free", "here to help", "reset",
         "password", "order", "parcel", "warranty", "refund", "techco.com", "help@techco.com", "a@b", "12", "7",
         "Settings", "It's", "can't", "bluetooth", "headphones", "phone", "damage", "laptop", "resetting")
SEPARATORS = ["", "!", ".", ",", "...", "\n", "\n1.", "\n2)", "\n 3.", "👋", "🙂"]


def answers(*characters: str):
    """Answers made of the phrase lists' words (and near misses), separators, numbered lines and `characters`,
    joined by spaces: a word is always a whole word, so every case is decided by a rule the text states."""
    pieces = st.sampled_from(WORDS) | st.sampled_from(SEPARATORS) | st.sampled_from(list(characters) or [" "])
    text = st.lists(pieces, max_size=14).map(lambda chosen: " ".join([*chosen, "ok"]))  # a step is never last
    return text.map(lambda text: text if len(text) % 3 else text.upper())


ANSWER = answers(*EMOJI_EDGES)                    # leading symbols are only spaces, punctuation and emoji
ANY_SYMBOL = answers(*EMOJI_EDGES, *NOT_EMOJI)    # for the checks that do not care where a symbol stands


def solution(name: str):
    return reference(ASSIGNMENT, *SCORING)[name]


def agree(learner, name: str, *args) -> None:
    got, want = learner.call(name, *args), solution(name)(*args)
    assert isinstance(got, (bool, int, float)) and not isinstance(got, str), f"{name} must return a number or bool"
    assert abs(float(got) - float(want)) < 1e-9, f"{name}{args!r}: expected {float(want):g}, got {got}"


def checks(learner, name: str, fixed: list[tuple], strategy, examples: int = 60) -> None:
    for args in fixed:
        agree(learner, name, *args)
    differential(strategy, lambda args: agree(learner, name, *args), examples=examples)


def test_has_emojis(learner, files) -> None:
    fixed = [(text,) for text in ["Happy to help! 🙌", "Go to Settings → Account.", "", "© 2024 TechCo® 20 °C ™",
                                  "ok 😊", "💻 first", "Have a great day! ☀️", "Done ✅", "✨ new", "⭐ rated",
                                  "Time ⏰ now", "🚀", "Plain text, 1-2-3 and symbols: % & $ → ← ½ é ü ß 中文 ∑ √",
                                  "Email us @ techco.com :-)", *EMOJI_EDGES, *NOT_EMOJI]]
    checks(learner, "has_emojis", fixed, st.tuples(ANY_SYMBOL))


def test_friendly_tone(learner, files) -> None:
    fixed = [(text,) for text in [
        "Hi there! 👋 Let's fix it.", "The password can be reset online.", "Hi there! Sorry about that.",
        "Hello! The store opens at 9.", "The store opens at 9.", "hello, how can we help", "  👋 Hey! Good to see you",
        "Great question! It depends.", "THANK YOU for waiting.", "...Of course. Here is how.",
        "No worries, this happens.", "History of the product line.", "This is how it works. Hi!", "Surely you jest.",
        "Shipping takes 2 days.", "", "Do it yourself, thanks.", "Please restart the router.", "We are GLAD to help.",
        "Unhappy customers get refunds.", "Hey! Enjoy your new phone.", "Error 404. Restart."]]
    checks(learner, "opens_with_greeting", fixed, st.tuples(ANSWER))
    checks(learner, "friendly_tone", fixed, st.tuples(ANSWER))


DETAILS = st.lists(st.sampled_from(["5", "24", "2024", "0100", "→", "help@techco.com", "techco.com/help", "a@b",
                                    "x.com", "Settings→Privacy", "v2", "and", "order", "twelve", "@"]),
                   max_size=5).map(" ".join)


def test_specific_info(learner, files) -> None:
    fixed = [(text,) for text in [
        "Go to Settings → Security, wait 5 minutes, or email support@techco.com.", "",
        "Just try again later, it usually works.", "Delivery takes 2 days.", "Our team will help you with that soon.",
        "Visit techco.com/help for details.", "Write to help@techco.example and we reply.",
        "Mail help@techco.com and we reply.", "Open App → Orders to see it.", "It costs 89 dollars and takes 7 days.",
        "Open Settings → Privacy → Export.", "Call 555 0100, 24 hours, 7 days, at 9 or 10."]]
    checks(learner, "specific_info", fixed, st.tuples(DETAILS | ANY_SYMBOL))


def test_on_topic(learner, files) -> None:
    fixed = [("How do I reset my password?", "To reset your PASSWORD, open Settings."),
             ("How do I reset my password?", "Our stores open at 9am."),
             ("How do I reset my password?", "Resetting is easy."), ("Is it ok?", "Sure."),
             ("What is your refund policy?", "The weather in Paris is mild in spring."),
             ("Where is my parcel? It hasn't arrived.", "Your parcel has arrived at the depot."),
             ("Can I pair Bluetooth headphones with my phone?", "Bluetooth pairing works with any phone."),
             ("Does the laptop warranty cover water damage?", "Our laptop warranty."),
             ("Does the WARRANTY transfer?", ""), ("Where is order 12345?", "Your order ships today.")]
    question = st.lists(st.sampled_from(WORDS + ("what", "when", "your", "there", "it's", "hasn't", "is", "ok", "?",
                                                 "12345", "I'm", " ")), max_size=10).map(" ".join)
    checks(learner, "on_topic", fixed, st.tuples(question, ANSWER))


def test_company_style(learner, files) -> None:
    """With the solution's emoji and greeting answers standing in for the learner's helpers during the call: a
    mistake in those two costs only their own tests."""
    def agree_style(args) -> None:
        answer = args[0]
        stand_ins = {name: {answer: solution(name)(answer)} for name in ("has_emojis", "opens_with_greeting")}
        got = learner.call("follows_company_style", answer, stand_ins=stand_ins)
        want = solution("follows_company_style")(answer)
        assert isinstance(got, (int, float)) and abs(float(got) - float(want)) < 1e-9, \
            f"follows_company_style({answer!r}): expected {float(want):g}, got {got}"

    for args in [("Hi there! 👋 No worries.\n1. Go to techco.com/login.\n2. Click Reset.\nAnything else? 😊",),
                 ("You can reset it on the website. It takes a few minutes.",), ("1. Open Settings\n2. Tap Reset",),
                 ("Hello! 😊 Let us know.",), ("First open the app, then tap Reset. Feel free to ask!",),
                 ("1. Only one step here 🙂",), ("We fixed 2. Then 3. It works.",), ("",),
                 ("Thanks for reaching out! 💙\n1. Open Orders\n2. Tap Cancel\nANYTHING ELSE?",),
                 ("Steps:\n1) Unplug the hub\n2) Wait 10 s\n3) Plug it in",),
                 ("Hi! 😊 Let me know if this helps:\n1. Open Settings\n2. Tap Reset",)]:
        agree_style(args)
    differential(st.tuples(ANSWER), agree_style, examples=60)


def rows(markdown_table) -> list[list[str]]:
    assert isinstance(markdown_table, str), "comparison_table returns the table as a string"
    return [[c.strip() for c in line.strip().strip("|").split("|")] for line in markdown_table.strip().splitlines()]


def test_comparison_table(learner, files) -> None:
    def agree_table(args) -> None:
        base, tuned, lower = args
        got = rows(learner.call("comparison_table", base, tuned, sorted(lower)))
        want = rows(solution("comparison_table")(base, tuned, lower))
        assert got[0] == want[0] and len(got) == len(want) and set(got[1][0]) <= set("-: "), \
            "a header, a separator, then one row per criterion"
        assert got[2:] == want[2:], f"for {base} vs {tuned} (lower is better: {sorted(lower)}): rows {got[2:]}, " \
                                    f"expected {want[2:]}"

    agree_table(({"B": 0.9, "Perplexity": 3.0, "Close": 0.3333, "Z": 1.0},
                 {"B": 0.1, "Perplexity": 2.5, "Close": 0.3312, "Z": 0.994}, {"Perplexity"}))
    agree_table(({"A": 0.1, "B": 0.2}, {"B": 0.3, "A": 0.4}, set()))
    names = st.lists(st.sampled_from(["Tone", "Emoji", "Answer perplexity", "On topic", "Z", "Loss"]),
                     min_size=1, max_size=5, unique=True)
    score = st.sampled_from([0.0, 0.005, 0.125, 0.3312, 0.3333, 0.994, 1.0, 2.5, 12.345]) | st.floats(0, 20)

    @st.composite
    def tables(draw):
        chosen = draw(names)
        base = {name: draw(score) for name in chosen}
        tuned = {name: draw(st.sampled_from([base[name], base[name] + 0.001]) | score) for name in chosen}
        if draw(st.booleans()):  # the rows follow base_means' keys, whatever order tuned_means has
            tuned = dict(reversed(tuned.items()))
        return base, tuned, set(draw(st.lists(st.sampled_from(chosen), unique=True)))

    differential(tables(), agree_table, examples=60)


def test_results_file(learner, files) -> None:
    results = files.text("evaluation_results.md")
    assert results.startswith("# Evaluation results"), "the file starts with '# Evaluation results'"
    table_lines = [line.strip().strip("|").split("|") for line in results.splitlines() if line.startswith("|")]
    table = {cells[0].strip(): [c.strip() for c in cells[1:]] for cells in table_lines[2:]}
    expected_rows = ["Follows company style", "Friendly tone", "Specific info", "On topic", "Uses emojis",
                     "Ended with EOS", "Answer perplexity"]
    assert list(table) == expected_rows, f"table rows {list(table)}, expected {expected_rows}"
    for name, (base_text, tuned_text, winner) in table.items():
        b, t = float(base_text), float(tuned_text)
        better = "Tie" if b == t else ("Fine-tuned" if (t < b) == (name == "Answer perplexity") else "Base")
        assert winner == better, f"{name}: {b} vs {t} means {better}, the table says {winner}"
    held_out = load_examples(data_file("techco_eval.jsonl"))
    questions = [r["input"] for r in read_jsonl(data_file("techco_test_prompts.jsonl"))] + [e.input for e in held_out]
    answers = {}
    for section in results.split("\n### Q: ")[1:]:
        question, body = section.split("\n", 1)
        assert "**Base:**" in body and "**Fine-tuned:**" in body, f"both answers for {question!r}"
        base_part, tuned_part = body.split("**Fine-tuned:**", 1)
        answers[question.strip()] = (base_part.split("**Base:**", 1)[1].strip(), tuned_part.strip())
    assert list(answers) == questions, "one section per question, in order"
    criteria = {"Follows company style": "follows_company_style", "Friendly tone": "friendly_tone",
                "Specific info": "specific_info", "On topic": "on_topic", "Uses emojis": "has_emojis"}
    for name, function in criteria.items():
        for column, which in ((0, "Base"), (1, "Fine-tuned")):
            scores = [learner.call(function, *((q,) if function == "on_topic" else ()), answers[q][column])
                      for q in questions]
            mean = sum(float(s) for s in scores) / len(scores)
            assert abs(mean - float(table[name][column])) < 0.0051, f"{name} ({which}): your answers give {mean:.3f}"
    for column in (0, 1):
        assert 0.0 <= float(table["Ended with EOS"][column]) <= 1.0
    adapter = next(folder for folder in ("../02_lora_fine_tuning/outputs/techco-adapter", "outputs/techco-adapter")
                   if files.exists(f"{folder}/adapter_config.json"))
    model, tokenizer = load_adapter(files, adapter)
    with model.disable_adapter():
        ppl_base = answer_perplexity(model, tokenizer, held_out)
    ppl_tuned = answer_perplexity(model, tokenizer, held_out)
    for column, ppl in ((0, ppl_base), (1, ppl_tuned)):
        assert abs(float(table["Answer perplexity"][column]) - ppl) < 0.0051 + 1e-3 * ppl, "perplexity as measured"


TESTS = {"test_has_emojis": test_has_emojis, "test_friendly_tone": test_friendly_tone,
         "test_specific_info": test_specific_info, "test_on_topic": test_on_topic,
         "test_company_style": test_company_style, "test_comparison_table": test_comparison_table,
         "test_results_file": test_results_file}
