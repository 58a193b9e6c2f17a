"""Exercise 2's hidden tests, run where no learner code runs (grader/verdict.py): the LoRA config's values and the
trainable count recomputed here; `build_labels` and `tokenize` against the course's encoding on generated inputs;
the training run from the files it wrote, its adapter loaded and measured here (the figures of
`lora_course.run_checks`, which the notebook prints before grading)."""

from hypothesis import strategies as st
from verdict import differential, load_adapter, reference

from lora_course.dataset import Example
from lora_course.models import linear_module_names, load_base_model, load_tokenizer
from lora_course.prompts import IGNORE_INDEX, encode
from lora_course.run_checks import adapter_checks, format_checks, log_checks

ASSIGNMENT = "02_lora_fine_tuning"
RUN_UNTIL = "impl_tokenize"
ADAPTER = "outputs/techco-adapter"


def test_lora_config(learner, files) -> None:
    from peft import LoraConfig, get_peft_model

    config = {name: learner.get("lora_config", name)
              for name in ("r", "lora_alpha", "lora_dropout", "target_modules", "task_type")}
    settings = {name: learner.get("SETTINGS", name) for name in ("rank", "alpha", "dropout")}
    assert config["r"] == settings["rank"] and config["lora_alpha"] == settings["alpha"], \
        "use the rank/alpha of SETTINGS"
    assert config["lora_dropout"] == settings["dropout"], "use the dropout of SETTINGS"
    assert sorted(config["target_modules"]) == ["q_proj", "v_proj"], "target_modules: q_proj and v_proj"
    assert config["task_type"] == "CAUSAL_LM", 'task_type="CAUSAL_LM"'
    trainable, total = learner.call("peft_model.get_nb_trainable_parameters")
    fresh = load_base_model()[0]
    assert set(config["target_modules"]) <= linear_module_names(fresh)
    fresh = get_peft_model(fresh, LoraConfig(**config))
    assert [trainable, total] == list(fresh.get_nb_trainable_parameters()), \
        "peft_model's trainable count is not what this config gives"
    assert trainable / total < 0.01, f"{100 * trainable / total:.2f}% trainable: LoRA should train under 1%"


@st.composite
def padded_sequence(draw):
    """Token ids with a prompt length and an attention mask of real tokens then padding (right padding)."""
    real = draw(st.lists(st.integers(0, 49151), max_size=24))
    padding = draw(st.integers(0, 6))
    pad_id = draw(st.sampled_from([0, 2, real[-1] if real else 0]))  # padding may reuse a real token's id (EOS)
    prompt_length = draw(st.integers(0, len(real)))
    return real + [pad_id] * padding, prompt_length, [1] * len(real) + [0] * padding


def build_labels_agree(learner, case) -> None:
    ids, prompt_length, mask = case
    got = learner.call("build_labels", ids, prompt_length, mask)
    want = reference(ASSIGNMENT, "impl_build_labels")["build_labels"](ids, prompt_length, mask)
    assert got == want, f"build_labels({ids}, {prompt_length}, {mask}): expected {want}, got {got}"


def test_build_labels(learner, files) -> None:
    for case in (([5, 6, 7, 8], 2, [1, 1, 1, 1]), ([5, 6, 7, 0, 0], 1, [1, 1, 1, 0, 0]),
                 ([2, 2, 2, 2], 1, [1, 1, 1, 0]), ([9, 8, 7], 0, [1, 1, 1]), ([9, 8, 7], 3, [1, 1, 1]), ([], 0, [])):
        build_labels_agree(learner, case)
    tokenizer = load_tokenizer()
    example = encode(tokenizer, Example("Can I change my delivery slot?", "Sure! 😊 1. Open Orders → Delivery."), 512)
    prompt_length = example["labels"].count(IGNORE_INDEX)
    got = learner.call("build_labels", example["input_ids"], prompt_length, [1] * len(example["input_ids"]))
    assert got == example["labels"], "the prompt masked, the answer and its EOS kept: the course trainer's targets"
    differential(padded_sequence(), lambda case: build_labels_agree(learner, case), examples=60)


TEXT = st.text(st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")) | st.sampled_from("😊→📦 \n"),
               min_size=1, max_size=80).filter(str.strip)


def test_tokenize(learner, files) -> None:
    tokenizer, max_length = load_tokenizer(), learner.get("SETTINGS", "max_length")

    def agree(row: dict) -> None:
        got = learner.call("tokenize", row)
        want = encode(tokenizer, Example(row["input"], row["output"]), max_length)
        assert isinstance(got, dict) and {"input_ids", "labels"} <= set(got), "return input_ids and labels"
        assert got["input_ids"] == want["input_ids"], \
            f"input_ids for {row}: chat-template prompt + answer + EOS, cut to max_length"
        assert got["labels"] == want["labels"], f"labels for {row}: prompt masked, answer and EOS kept, cut alike"

    agree({"input": "Can I pause my TechCo Stream subscription for a month?",
           "output": "Yes! ⏸️ 1. Open Account → Subscriptions. 2. Tap Pause and pick a month. We'll remind you 📅"})
    agree({"input": "Why was I charged twice for one order?",
           "output": "Sorry about that! 💳 " + "Refunds take 3 days. " * 60})
    agree({"input": "How do I reset my password?", "output": "  Sure, here goes"})  # tokens never merge across
    differential(st.fixed_dictionaries({"input": TEXT, "output": TEXT}), agree, examples=30)


def test_training(learner, files) -> None:
    state = files.json(f"{ADAPTER}/trainer_state.json")
    step_losses = [entry["loss"] for entry in state["log_history"] if "loss" in entry]
    assert step_losses[-1] < step_losses[0], "training loss should fall"
    model, tokenizer = load_adapter(files, ADAPTER)
    checks = log_checks(state, files.json(f"{ADAPTER}/adapter_config.json")) + adapter_checks(model, tokenizer)
    missed = [check for check in checks if not check.passed]
    assert not missed, format_checks(missed)


TESTS = {"test_lora_config": test_lora_config, "test_build_labels": test_build_labels,
         "test_tokenize": test_tokenize, "test_training": test_training}
