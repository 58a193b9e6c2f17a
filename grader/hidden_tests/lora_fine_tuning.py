"""Exercise 2's hidden tests, run where no learner code runs (grader/verdict.py): the LoRA config's values and the
trainable count recomputed here; `build_labels` and `tokenize` against the course's encoding on generated inputs;
the training run from the files it wrote, its adapter loaded and measured here."""

import torch
from hypothesis import strategies as st
from verdict import differential, load_adapter, reference

from lora_course.data import Example, prompt_text
from lora_course.generation import respond
from lora_course.models import linear_module_names, load_base_model, load_tokenizer
from lora_course.training import IGNORE_INDEX, encode

ASSIGNMENT = "02_lora_fine_tuning"
RUN_UNTIL = "impl_tokenize"
ADAPTER = "outputs/techco-adapter"
COURSE_PROMPTS = ["How do I reset my password?", "What is your return policy?",
                  "Can I change the delivery address of my order?"]


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


@torch.no_grad()
def prompt_nll(model, tokenizer, questions) -> float:
    """Mean loss on the prompt tokens: training on them (a mask that lets the prompt through) drives it down."""
    total = count = 0
    for question in questions:
        ids = torch.tensor([tokenizer(prompt_text(tokenizer, question), add_special_tokens=False)["input_ids"]])
        total += torch.nn.functional.cross_entropy(model(input_ids=ids).logits[0, :-1].float(), ids[0, 1:],
                                                   reduction="sum").item()
        count += ids.shape[1] - 1
    return total / count


def test_training(learner, files) -> None:
    state = files.json(f"{ADAPTER}/trainer_state.json")
    config = files.json(f"{ADAPTER}/adapter_config.json")
    step_losses = [entry["loss"] for entry in state["log_history"] if "loss" in entry]
    assert step_losses[-1] < step_losses[0], "training loss should fall"
    assert config["r"] == 16 and config["lora_alpha"] == 32 and set(config["target_modules"]) == {"q_proj", "v_proj"}
    assert state["num_train_epochs"] == 3 and state["train_batch_size"] == 2, "3 epochs, batch size 2"
    peak = max(entry["learning_rate"] for entry in state["log_history"] if "loss" in entry)
    assert abs(peak - 2e-3) < 1e-9, "learning rate 2e-3"
    assert state["logging_steps"] == 1 and len(step_losses) == state["global_step"] >= 30, "one loss per step, ≥ 30"
    third = len(step_losses) // 3
    assert sum(step_losses[-third:]) < 0.8 * sum(step_losses[:third]), \
        "the last third of training should be 20% below the first"
    model, tokenizer = load_adapter(files, ADAPTER)
    assert any(float(p.abs().sum()) > 0 for n, p in model.named_parameters() if "lora_B" in n), "adapter is untrained"
    questions = ["Can I pause my subscription while I travel?", "How do I update the card I pay with?",
                 "Where can I download last month's invoice?", "My earbuds will not pair with my laptop, help?"]
    with model.disable_adapter():
        base_nll = prompt_nll(model, tokenizer, questions)
    ratio = prompt_nll(model, tokenizer, questions) / base_nll
    assert ratio > 0.7, f"the adapter learned the prompts ({ratio:.2f} of the base loss): mask the prompt"
    answers = respond(model, tokenizer, COURSE_PROMPTS, max_new_tokens=200)
    assert sum(answer.ended_with_eos for answer in answers) >= 2, "the fine-tuned model should end its answers with EOS"


TESTS = {"test_lora_config": test_lora_config, "test_build_labels": test_build_labels,
         "test_tokenize": test_tokenize, "test_training": test_training}
