"""The `lora-course` CLI end to end on the tiny model: train -> generate -> evaluate -> compare -> report."""

import json

import pytest

from lora_course.cli import main
from lora_course.paths import data_file

TECHCO = str(data_file("techco_support.jsonl"))
EVAL = str(data_file("techco_eval.jsonl"))
PROMPTS = str(data_file("techco_test_prompts.jsonl"))


@pytest.fixture(scope="module")
def adapter(tmp_path_factory):
    out = tmp_path_factory.mktemp("cli") / "adapter"
    assert main(["train", TECHCO, "--out", str(out), "--model", "tiny", "--max-steps", "3", "--no-bf16"]) == 0
    return out


def test_train_prints_the_summary(adapter, capsys):
    run = json.loads((adapter / "run.json").read_text())
    assert run["base_model"] == "tiny" and len(run["train_losses"]) == 3
    assert run["settings"]["max_steps"] == 3 and run["settings"]["bf16"] is False


def test_train_rejects_a_broken_dataset_without_traceback(tmp_path, capsys):
    assert main(["train", str(data_file("broken/missing_output.jsonl")), "--out", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert "missing_output.jsonl:2" in err and "Traceback" not in err


def test_presets_and_overrides(tmp_path):
    from lora_course.cli import build_parser, _settings

    args = build_parser().parse_args(["train", TECHCO, "--out", "x", "--preset", "course-text", "--lr", "1e-4"])
    settings = _settings(args)
    assert (settings.rank, settings.target_modules, settings.learning_rate) == (8, "attention", 1e-4)


def test_generate_with_adapter(adapter, capsys):
    assert main(["generate", "--adapter", str(adapter), "--max-new-tokens", "5", "How do I reset my password?"]) == 0
    assert capsys.readouterr().out.strip() != ""


def test_evaluate_json_has_the_promised_keys(adapter, capsys, tmp_path):
    assert main(["evaluate", "--adapter", str(adapter), "--data", EVAL, "--json", "--max-new-tokens", "4"]) == 0
    result = json.loads(capsys.readouterr().out)
    for key in ("base_perplexity", "tuned_perplexity", "base_style_score", "tuned_style_score", "tuned_eos_rate",
                "n_examples"):
        assert key in result
    assert result["n_examples"] == 10 and len(result["samples"]) == 10
    (tmp_path / "eval.json").write_text(json.dumps(result))
    report = tmp_path / "report.md"
    assert main(["report", "--adapter", str(adapter), "--eval", str(tmp_path / "eval.json"),
                 "--out", str(report)]) == 0
    text = report.read_text()
    assert f"{result['tuned_perplexity']:.3f}" in text and "## Production readiness" in text


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
