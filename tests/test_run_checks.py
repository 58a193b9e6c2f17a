"""Exercise 2's graded figures, as the notebook prints them and the hidden test and re-check assert them."""

import pytest

from lora_course.run_checks import MIN_STEPS, adapter_checks, format_checks, log_checks

CONFIG = {"r": 16, "lora_alpha": 32, "target_modules": ["v_proj", "q_proj"]}


def state(losses, rates, epochs=3, batch=2, logging_steps=1):
    history = [{"step": step, "loss": loss, "learning_rate": rate}
               for step, (loss, rate) in enumerate(zip(losses, rates, strict=True), 1)]
    return {"log_history": history + [{"train_runtime": 10.0}], "global_step": len(losses),
            "num_train_epochs": epochs, "train_batch_size": batch, "logging_steps": logging_steps}


FALLING = [3.0 - 0.05 * i for i in range(MIN_STEPS)]
LINEAR = [2e-3 * (1 - i / MIN_STEPS) for i in range(MIN_STEPS)]  # as HF logs it: the rate of the step just run


def failed(checks):
    return [check.figure for check in checks if not check.passed]


def test_a_run_as_the_notebook_asks_passes_every_log_check():
    assert failed(log_checks(state(FALLING, LINEAR), CONFIG)) == []


def test_warmup_is_allowed_the_peak_rate_counts():
    """HF/TRL recipes warm up: the first logged rate is then below 2e-3, the highest one is 2e-3."""
    warmup = [1e-3, 2e-3] + LINEAR[1:-1]
    assert failed(log_checks(state(FALLING, warmup), CONFIG)) == []
    assert failed(log_checks(state(FALLING, [r / 2 for r in LINEAR]), CONFIG)) == ["peak learning rate"]


@pytest.mark.parametrize("change, figure", [
    ({"losses": FALLING[:MIN_STEPS - 1], "rates": LINEAR[:MIN_STEPS - 1]}, "steps, one loss logged per step"),
    ({"losses": [3.0] * MIN_STEPS}, "last third's mean loss / first third's"),
    ({"epochs": 2}, "epochs, batch size"),
    ({"logging_steps": 5}, "steps, one loss logged per step"),
])
def test_each_miss_is_named_with_what_to_change(change, figure):
    arguments = {"losses": FALLING, "rates": LINEAR, **change}
    checks = log_checks(state(arguments.pop("losses"), arguments.pop("rates"), **arguments), CONFIG)
    assert failed(checks) == [figure]
    table = format_checks(checks)
    assert f"✗ {figure}: " in table and table.count("✗") == 2  # the row and its fix


def test_a_wrong_adapter_config_fails():
    assert failed(log_checks(state(FALLING, LINEAR), {**CONFIG, "r": 8})) == ["adapter: r, lora_alpha, target_modules"]


def test_adapter_checks_measure_a_real_peft_model():
    """On the tiny model (untrained, random): B matrices still zero, so the prompt loss is the base model's."""
    from lora_course.models import load_base_model
    from lora_course.training import LoRASettings, add_lora

    model, tokenizer = load_base_model("tiny")
    checks = {check.figure: check for check in adapter_checks(add_lora(model, LoRASettings(rank=2, alpha=4)),
                                                               tokenizer)}
    assert not checks["LoRA B matrices trained"].passed
    assert checks["prompt-token loss, adapter / base"].value == "1.00"
    assert checks["answers that end with EOS"].value.endswith("of 3")
