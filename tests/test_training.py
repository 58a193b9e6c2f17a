"""Training recipe: answer-only labels that keep EOS, dynamic padding, real Trainer runs, resume, early stop."""

import dataclasses
import json

import pytest
import torch
from conftest import TINY_STYLE
from peft import PeftModel
from transformers import TrainerCallback

from lora_course.dataset import Example
from lora_course.models import load_base_model
from lora_course.paths import data_file
from lora_course.prompts import COURSE_TEXT, IGNORE_INDEX, PAD_MULTIPLE, encode, format_prompt, pad_batch, prompt_text
from lora_course.runs import TrainingRun
from lora_course.training import LoRASettings, answer_loss, fine_tune

FAST = LoRASettings(rank=4, alpha=8, learning_rate=5e-3, epochs=1, batch_size=2, bf16=False, eval_fraction=0)


def test_labels_mask_the_prompt_and_keep_eos(tiny, examples):
    _, tokenizer = tiny
    item = encode(tokenizer, examples[0], max_length=256)
    n_prompt = len(tokenizer(prompt_text(tokenizer, examples[0].input), add_special_tokens=False)["input_ids"])
    assert item["labels"][:n_prompt] == [IGNORE_INDEX] * n_prompt
    assert item["labels"][n_prompt:] == item["input_ids"][n_prompt:]
    assert item["input_ids"][-1] == tokenizer.eos_token_id == item["labels"][-1]


def test_examples_are_encoded_in_the_models_chat_template_by_default(tiny, examples):
    _, tokenizer = tiny
    item = encode(tokenizer, examples[0], max_length=256)
    text = tokenizer.decode(item["input_ids"])
    chat = tokenizer.apply_chat_template([{"role": "user", "content": examples[0].input}], tokenize=False,
                                         add_generation_prompt=True)
    assert text == chat + examples[0].output + tokenizer.eos_token
    answer_start = item["labels"].index(next(label for label in item["labels"] if label != IGNORE_INDEX))
    assert tokenizer.decode(item["input_ids"][:answer_start]) == chat  # the whole template is prompt, not target


def test_course_text_format_is_kept_as_an_option(tiny, examples):
    _, tokenizer = tiny
    item = encode(tokenizer, examples[0], max_length=256, prompt_format=COURSE_TEXT)
    n_prompt = len(tokenizer(format_prompt(examples[0].input), add_special_tokens=False)["input_ids"])
    assert tokenizer.decode(item["input_ids"]).startswith("### User: ")
    assert item["labels"][:n_prompt] == [IGNORE_INDEX] * n_prompt and item["labels"][n_prompt] != IGNORE_INDEX


def test_truncation_cuts_from_the_end(tiny, examples):
    _, tokenizer = tiny
    item = encode(tokenizer, examples[0], max_length=12)
    assert len(item["input_ids"]) == len(item["labels"]) == 12


def test_padding_is_dynamic_and_masked(tiny, examples):
    _, tokenizer = tiny
    short = encode(tokenizer, examples[0], 256)
    long = {k: v + v[-20:] for k, v in encode(tokenizer, examples[0], 256).items()}  # 20 tokens longer
    batch = pad_batch([short, long], tokenizer.pad_token_id)
    width = -(-len(long["input_ids"]) // PAD_MULTIPLE) * PAD_MULTIPLE  # longest in batch, rounded up
    assert batch["input_ids"].shape == (2, width) and width < len(long["input_ids"]) + PAD_MULTIPLE
    gap = width - len(short["input_ids"])
    assert batch["attention_mask"][0].tolist() == [1] * len(short["input_ids"]) + [0] * gap
    assert batch["labels"][0, -gap:].tolist() == [IGNORE_INDEX] * gap
    # EOS is both the pad token and a target: only the position decides.
    assert batch["labels"][0, len(short["input_ids"]) - 1] == tokenizer.eos_token_id


def test_chunked_answer_loss_equals_the_models_own_loss(tiny, examples):
    model, tokenizer = tiny
    batch = pad_batch([encode(tokenizer, e, 256) for e in examples[:3]], tokenizer.pad_token_id)
    assert answer_loss(model, batch).item() == pytest.approx(model(**batch).loss.item(), rel=1e-5)


def test_fine_tune_writes_a_reloadable_adapter_and_run_json(tmp_path, examples):
    run = fine_tune(examples, FAST, tmp_path / "adapter", progress=False)
    saved = json.loads((tmp_path / "adapter" / "run.json").read_text())
    assert saved["n_train"] == 8 and len(saved["train_losses"]) == 4
    assert saved["trainable_params"] == run.trainable_params > 0
    assert run.peak_rss_mb > 0 and run.tokens_per_second > 0 and run.wall_seconds > 0
    base, _ = load_base_model("tiny")
    reloaded = PeftModel.from_pretrained(base, str(tmp_path / "adapter"))
    assert reloaded.get_nb_trainable_parameters()[0] == 0  # loaded for inference
    assert TrainingRun.load(tmp_path / "adapter").settings == dataclasses.asdict(FAST)


def test_loss_falls_and_runs_are_seeded(tmp_path, examples):
    settings = dataclasses.replace(FAST, epochs=4, learning_rate=1e-2, target_modules="all-linear")
    first = fine_tune(examples, settings, tmp_path / "a", progress=False)
    second = fine_tune(examples, settings, tmp_path / "b", progress=False)
    losses = [p["loss"] for p in first.train_losses]
    assert sum(losses[-4:]) < sum(losses[:4])
    assert losses == [p["loss"] for p in second.train_losses]


def test_eval_split_records_eval_loss_per_epoch(tmp_path, examples):
    run = fine_tune(examples, dataclasses.replace(FAST, epochs=2, eval_fraction=0.25), tmp_path / "a",
                    progress=False)
    assert (run.n_train, run.n_eval) == (6, 2)
    assert [e["epoch"] for e in run.eval_losses] == [1.0, 2.0]


def test_early_stopping_stops_when_eval_loss_rises(tmp_path, examples):
    # Held-out answers unlike the training answers: as the model memorises TechCo replies, eval loss rises.
    unrelated = [Example("What is the capital of France, please?", "Paris has been the capital of France for ages."),
                 Example("How many legs does a spider have?", "Spiders have eight legs and two body segments.")]
    settings = dataclasses.replace(FAST, epochs=12, learning_rate=3e-2, target_modules="all-linear",
                                   early_stopping_patience=1)
    run = fine_tune(examples, settings, tmp_path / "a", eval_data=unrelated, progress=False)
    assert run.stopped_early and len(run.eval_losses) < 12
    assert run.eval_losses[-1]["loss"] >= min(e["loss"] for e in run.eval_losses)
    assert run.best_epoch == min(run.eval_losses, key=lambda e: e["loss"])["epoch"]


class _Crash(TrainerCallback):
    def on_step_end(self, args, state, control, **kwargs):
        if state.global_step == 6:
            raise KeyboardInterrupt("simulated crash")


def test_a_crashed_run_resumes_from_its_last_checkpoint(tmp_path, examples):
    settings = dataclasses.replace(FAST, epochs=3)  # 4 steps per epoch, checkpoint after each epoch
    with pytest.raises(KeyboardInterrupt):
        fine_tune(examples, settings, tmp_path / "a", progress=False, callbacks=[_Crash()])
    assert (tmp_path / "a" / "checkpoints" / "checkpoint-4").is_dir()
    run = fine_tune(examples, settings, tmp_path / "a", resume=True, progress=False)
    assert run.resumed_from == "checkpoint-4"
    assert [p["step"] for p in run.train_losses] == list(range(5, 13))
    uninterrupted = fine_tune(examples, settings, tmp_path / "b", progress=False)
    assert run.train_losses[-1]["loss"] == pytest.approx(uninterrupted.train_losses[-1]["loss"], rel=1e-4)


@pytest.mark.parametrize("option", [{"gradient_checkpointing": True}, {"gradient_accumulation": 2}])
def test_memory_strategies_still_train_the_adapters(tmp_path, examples, option):
    run = fine_tune(examples, dataclasses.replace(FAST, max_steps=2, **option), tmp_path / "a", progress=False)
    from safetensors.torch import load_file

    weights = load_file(tmp_path / "a" / "adapter_model.safetensors")
    lora_b = [w for name, w in weights.items() if "lora_B" in name]
    assert lora_b and all(w.abs().sum() > 0 for w in lora_b)  # B starts at zero: non-zero means it learned
    assert len(run.train_losses) == 2


UNRELATED = [Example("What is the capital of France, please?", "Paris has been the capital of France for ages."),
             Example("How many legs does a spider have?", "Spiders have eight legs and two body segments.")]


def _saved_adapter_loss(adapter_dir, eval_examples) -> float:
    """The saved adapter's loss on the held-out pairs, computed as the Trainer does for one eval batch."""
    model, tokenizer = load_base_model("tiny")
    model = PeftModel.from_pretrained(model, str(adapter_dir)).eval()
    batch = pad_batch([encode(tokenizer, ex, 256) for ex in eval_examples], tokenizer.pad_token_id)
    with torch.no_grad():
        return answer_loss(model, batch).item()


def test_the_defaults_hold_out_a_split_and_keep_the_best_epoch(tmp_path, examples, capsys):
    settings = dataclasses.replace(FAST, epochs=12, learning_rate=3e-2, target_modules="all-linear",
                                   eval_fraction=LoRASettings().eval_fraction)
    assert LoRASettings().keep_best
    run = fine_tune(examples, settings, tmp_path / "a", eval_data=UNRELATED, progress=True)
    losses = [e["loss"] for e in run.eval_losses]
    best = min(losses)
    assert run.kept == "best epoch" and best < run.base_eval_loss
    assert run.best_epoch == run.eval_losses[losses.index(best)]["epoch"] < 12 and losses[-1] > best  # it got worse
    assert _saved_adapter_loss(tmp_path / "a", UNRELATED) == pytest.approx(best, rel=1e-4)
    assert json.loads((tmp_path / "a" / "run.json").read_text())["kept"] == "best epoch"
    assert f"Kept the best epoch ({run.best_epoch:g})" in capsys.readouterr().out


def test_an_adapter_worse_than_the_base_model_is_never_handed_back(tmp_path, examples, capsys):
    # Held-out answers in characters the training answers never use: every epoch makes them less likely.
    foreign = [Example("Schreib bitte etwas auf Chinesisch", "龍鳳麟龜 四五六七八九 龍鳳麟龜 山川日月"),
               Example("Noch einmal, bitte, auf Chinesisch", "山川日月 龍鳳麟龜 七八九 山川")]
    settings = dataclasses.replace(FAST, epochs=2, learning_rate=3e-2, target_modules="all-linear")
    run = fine_tune(examples, settings, tmp_path / "a", eval_data=foreign, progress=False)
    assert run.kept == "base model" and min(e["loss"] for e in run.eval_losses) >= run.base_eval_loss
    from safetensors.torch import load_file

    lora_b = [w for name, w in load_file(tmp_path / "a" / "adapter_model.safetensors").items() if "lora_B" in name]
    assert lora_b and all(w.abs().sum() == 0 for w in lora_b)  # B = 0: the adapter changes nothing
    assert _saved_adapter_loss(tmp_path / "a", foreign) == pytest.approx(run.base_eval_loss, rel=1e-4)
    assert "No epoch beat the base model" in capsys.readouterr().out


def test_training_on_near_duplicates_warns_before_it_starts(tmp_path, capsys):
    settings = dataclasses.replace(FAST, max_steps=1)
    run = fine_tune(data_file("broken/near_duplicates.jsonl"), settings, tmp_path / "a", progress=False)
    out = capsys.readouterr().out
    assert "duplicate" in out and "15 of 20 training examples" in out
    assert run.duplicate_share == 0.75
    fine_tune(TINY_STYLE, settings, tmp_path / "b", progress=False)
    assert "duplicate" not in capsys.readouterr().out


def test_an_adapter_reloads_with_its_run_and_is_prompted_in_its_trained_format(tmp_path, examples):
    """`load_adapter` hands back the run, and the model carries the format it was trained in, so every
    base-vs-tuned figure prompts the base in its chat template and the adapter as it was trained."""
    from lora_course.models import base_and_tuned, load_adapter, prompt_format_of

    run = fine_tune(examples, dataclasses.replace(FAST, prompt_format=COURSE_TEXT), tmp_path / "a", progress=False)
    model, tokenizer, saved = load_adapter(tmp_path / "a")
    assert saved == run and saved.prompt_format == prompt_format_of(model) == COURSE_TEXT
    ids = torch.tensor([tokenizer("How do I reset my password?")["input_ids"]])
    with torch.no_grad(), model.disable_adapter():
        base_logits = model(input_ids=ids).logits
    (base_format, base_out), (tuned_format, tuned_out) = base_and_tuned(
        model, lambda prompt_format: (prompt_format, model(input_ids=ids).logits.detach()))
    assert (base_format, tuned_format) == ("chat", COURSE_TEXT)
    assert torch.equal(base_out, base_logits) and not torch.allclose(tuned_out, base_logits)  # adapter off, then on

    (tmp_path / "a" / "run.json").unlink()  # saved by a plain Trainer: no record, the base model's own template
    model, _, saved = load_adapter(tmp_path / "a")
    assert saved is None and prompt_format_of(model) == "chat"


@pytest.mark.parametrize("wrong", [{"prompt_format": "alpaca"}, {"target_modules": "attn"}, {"rank": 0},
                                   {"learning_rate": -1e-3}, {"batch_size": 0}, {"dropout": 1.0},
                                   {"eval_fraction": 1.0}, {"early_stopping_patience": 0}, {"warmup_steps": -1}])
def test_wrong_settings_are_refused_where_they_are_made(wrong):
    field_name = next(iter(wrong))
    with pytest.raises(ValueError, match=field_name):
        LoRASettings(**wrong)
    with pytest.raises(ValueError, match=field_name):
        dataclasses.replace(LoRASettings(), **wrong)
