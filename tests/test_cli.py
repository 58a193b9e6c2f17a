"""The `lora-course` CLI end to end on the tiny model: train -> generate -> evaluate -> compare -> report."""

import dataclasses
import json

import pytest

from lora_course.cli import _settings, build_parser, main
from lora_course.paths import data_file
from lora_course.training import LoRASettings

TECHCO = str(data_file("techco_support.jsonl"))
EVAL = str(data_file("techco_eval.jsonl"))
PROMPTS = str(data_file("techco_test_prompts.jsonl"))


@pytest.fixture(scope="module")
def adapter(tmp_path_factory):
    out = tmp_path_factory.mktemp("cli") / "adapter"
    assert main(["train", TECHCO, "--out", str(out), "--model", "tiny", "--max-steps", "3", "--no-bf16"]) == 0
    return out


def test_train_records_the_run(adapter):
    run = json.loads((adapter / "run.json").read_text())
    assert run["base_model"] == "tiny" and len(run["train_losses"]) == 3
    assert run["settings"]["max_steps"] == 3 and run["settings"]["bf16"] is False


def test_train_shows_one_progress_bar_with_the_loss_and_a_summary_not_per_step_dicts(tmp_path, capsys):
    assert main(["train", TECHCO, "--out", str(tmp_path), "--model", "tiny", "--max-steps", "4", "--no-bf16",
                 "--eval-fraction", "0"]) == 0
    captured = capsys.readouterr()
    assert "{'loss'" not in captured.out + captured.err and "'train_runtime'" not in captured.out + captured.err
    assert "4/4" in captured.err and "loss=" in captured.err  # the bar, with the latest loss beside it
    assert "train loss" in captured.out and "over 4 steps" in captured.out and "Adapter saved" in captured.out


def test_train_rejects_a_broken_dataset_without_traceback(tmp_path, capsys):
    assert main(["train", str(data_file("broken/missing_output.jsonl")), "--out", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert "missing_output.jsonl:2" in err and "Traceback" not in err


def test_train_rejects_a_setting_out_of_range_before_loading_a_model(tmp_path, capsys):
    assert main(["train", EVAL, "--out", str(tmp_path / "a"), "--epochs", "0"]) == 2
    assert "epochs must be greater than 0" in capsys.readouterr().err and not (tmp_path / "a").exists()


def test_presets_and_overrides(tmp_path):
    args = build_parser().parse_args(["train", TECHCO, "--out", "x", "--preset", "course-text", "--lr", "1e-4"])
    settings = _settings(args)
    assert (settings.rank, settings.target_modules, settings.learning_rate) == (8, "attention", 1e-4)


def test_every_setting_is_an_option_that_sets_it():
    """Options come from LoRASettings' fields: a new field gets its option, help and default with no CLI edit."""
    changed = {"rank": ("4", 4), "alpha": ("8", 8), "dropout": ("0.1", 0.1), "target_modules": ("all-linear",) * 2,
               "learning_rate": ("1e-4", 1e-4), "epochs": ("2.5", 2.5), "batch_size": ("4", 4),
               "gradient_accumulation": ("3", 3), "max_length": ("64", 64), "weight_decay": ("0.01", 0.01),
               "warmup_steps": ("5", 5), "lr_scheduler": ("cosine",) * 2, "eval_fraction": ("0.2", 0.2),
               "early_stopping_patience": ("2", 2), "prompt_format": ("course-text",) * 2, "seed": ("7", 7),
               "max_steps": ("9", 9)}
    fields = {f.name for f in dataclasses.fields(LoRASettings)}
    switches = {name for name in fields if isinstance(getattr(LoRASettings(), name), bool)}
    assert set(changed) | switches | {"bf16"} == fields
    for name, (text, value) in changed.items():
        args = build_parser().parse_args(["train", TECHCO, "--out", "x", f"--{name.replace('_', '-')}", text])
        assert getattr(_settings(args), name) == value, name
    for name in switches | {"bf16"}:
        flag = name.replace("_", "-")
        assert getattr(_settings(build_parser().parse_args(["train", TECHCO, "--out", "x", f"--{flag}"])), name)
        assert not getattr(_settings(build_parser().parse_args(["train", TECHCO, "--out", "x", f"--no-{flag}"])),
                           name)
    assert _settings(build_parser().parse_args(["train", TECHCO, "--out", "x"])) == LoRASettings()


def test_help_explains_every_option_with_its_default(capsys):
    parser = build_parser()
    commands = parser._subparsers._group_actions[0].choices
    assert {"validate", "prepare-model", "train", "generate", "compare", "evaluate", "report"} <= set(commands)
    for name, command in commands.items():
        for action in command._actions:
            if action.dest == "help":
                continue
            assert action.help, f"{name} {action.option_strings or action.dest} has no help"
            if action.option_strings and not action.required and action.const is None:
                assert "default" in command.format_help().split(action.option_strings[0], 1)[1], (name, action.dest)
    with pytest.raises(SystemExit):
        main(["train", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    for field in dataclasses.fields(LoRASettings):
        option = f"--{field.name.replace('_', '-')}"
        assert option in text and field.metadata["help"].split()[0] in text, option
    unwrapped = text.replace(" ", "")  # argparse wraps lines, also after a hyphen
    assert "(default:16;course-textpreset:8)" in unwrapped and "(default:0.002;course-textpreset:0.0002)" in unwrapped


def test_generate_with_adapter(adapter, capsys):
    assert main(["generate", "--adapter", str(adapter), "--max-new-tokens", "5", "How do I reset my password?"]) == 0
    assert capsys.readouterr().out.strip() != ""


def test_evaluate_json_has_the_promised_keys(adapter, capsys, tmp_path):
    assert main(["evaluate", "--adapter", str(adapter), "--data", EVAL, "--json", "--max-new-tokens", "4"]) == 0
    result = json.loads(capsys.readouterr().out)
    for side in ("base", "tuned"):
        assert {"perplexity", "style_score", "eos_rate"} <= set(result[side])
    assert result["n_examples"] == 10 and len(result["samples"]) == 10
    (tmp_path / "eval.json").write_text(json.dumps(result))
    report = tmp_path / "report.md"
    assert main(["report", "--adapter", str(adapter), "--eval", str(tmp_path / "eval.json"),
                 "--out", str(report)]) == 0
    text = report.read_text()
    assert f"{result['tuned']['perplexity']:.3f}" in text and "## Production readiness" in text


def test_compare_writes_markdown(adapter, capsys, tmp_path):
    out = tmp_path / "evaluation_results.md"
    assert main(["compare", "--adapter", str(adapter), "--prompts", PROMPTS, "--out", str(out),
                 "--max-new-tokens", "4"]) == 0
    assert "| Criterion | Base Model | Fine-tuned | Winner |" in capsys.readouterr().out
    assert "How do I reset my password?" in out.read_text()


def test_missing_adapter_is_a_clear_error(tmp_path, capsys):
    assert main(["generate", "--adapter", str(tmp_path), "hello there"]) == 1
    assert "adapter_config.json" in capsys.readouterr().err


def test_a_missing_prompt_file_is_a_clear_error(adapter, tmp_path, capsys):
    assert main(["compare", "--adapter", str(adapter), "--prompts", str(tmp_path / "nope.jsonl")]) == 2
    err = capsys.readouterr().err
    assert "nope.jsonl" in err and "Traceback" not in err
