"""The mini-project report, filled from what a run actually measured (run.json + evaluation JSON)."""

import re
from pathlib import Path

from .memory import format_mb
from .nbgrader_course import ANSWER_STUB
from .training import TrainingRun

REQUIRED_SECTIONS = ("## Project overview", "## Dataset", "## Training configuration", "## Training results",
                     "## Evaluation", "## Example outputs", "## What I learned", "## Production readiness")
TODO = "TODO: your own words."

# (key, label): the report shows `base_<key>` vs `tuned_<key>` for each key the evaluation holds, in this order;
# other `base_*`/`tuned_*` pairs follow under their own names.
METRICS = (("perplexity", "answer perplexity (lower is better)"), ("domain_score", "domain score (0–1)"),
           ("style_score", "style score (0–1)"), ("eos_rate", "answers that stop cleanly (EOS)"))


def build_report(run: TrainingRun, evaluation: dict, *, title: str, domain: str,
                 learnings: str = "", production: str = "", overview: str = "") -> str:
    """Markdown report from a run and an evaluation dict (e.g. the output of `evaluate_adapter`).

    `evaluation` holds `base_<metric>`/`tuned_<metric>` pairs, optionally `n_examples`, a `description` of what
    was measured on what, and `samples` ({"question", "base", "tuned"}, plus `base_score`/`tuned_score` if
    scored). `learnings` and `production` are the author's own words and stay marked TODO until written.
    """
    s = run.settings
    losses = run.train_losses
    lines = [
        f"# {title}", "",
        "## Project overview", "",
        f"Domain: **{domain}**. Base model `{run.base_model}` fine-tuned with LoRA.", "",
        *([overview.strip(), ""] if overview.strip() else []),
        "## Dataset", "",
        f"- Training examples: {run.n_train}",
        f"- Validation examples: {run.n_eval}",
        f"- Held-out evaluation prompts: {evaluation.get('n_examples', 'n/a')}", "",
        "## Training configuration", "",
        "| setting | value |", "|---|---|",
        *[f"| {key} | {value} |" for key, value in s.items()],
        f"| trainable parameters | {run.trainable_params:,d} of {run.total_params:,d} "
        f"({100 * run.trainable_share:.2f}%) |", "",
        "## Training results", "",
        f"- Training time: {run.wall_seconds:.1f} s ({run.tokens_per_second:.0f} tokens/s)",
        f"- Peak memory (RSS): {format_mb(run.peak_rss_mb)}",
        f"- Training loss: {losses[0]['loss']:.3f} (first step) → {losses[-1]['loss']:.3f} (last step), "
        f"{len(losses)} steps",
    ]
    if run.eval_losses:
        lines.append("- Validation loss per epoch: " + ", ".join(f"{e['loss']:.3f}" for e in run.eval_losses))
    lines += ["", "## Evaluation", ""]
    if evaluation.get("description"):
        lines += [evaluation["description"].strip(), ""]
    lines += ["| metric | base | fine-tuned |", "|---|---|---|"]
    for key, label in _metric_rows(evaluation):
        lines.append(f"| {label} | {evaluation[f'base_{key}']:.3f} | {evaluation[f'tuned_{key}']:.3f} |")
    lines += ["", "## Example outputs", ""]
    for sample in evaluation.get("samples", []):
        lines += [f"**Prompt:**{_quote(sample['question'])}", "",
                  f"- Base{_score(sample, 'base')}:{_quote(sample['base'], indent='  ')}",
                  f"- Fine-tuned{_score(sample, 'tuned')}:{_quote(sample['tuned'], indent='  ')}", ""]
    lines += ["## What I learned", "", _own_words(learnings), "",
              "## Production readiness", "", _own_words(production), ""]
    return "\n".join(lines)


def write_report(path, run: TrainingRun, evaluation: dict, **kwargs) -> Path:
    path = Path(path)
    path.write_text(build_report(run, evaluation, **kwargs), encoding="utf-8")
    return path


def _metric_rows(evaluation: dict) -> list[tuple[str, str]]:
    known = dict(METRICS)
    others = sorted(k[len("base_"):] for k in evaluation if k.startswith("base_") and k[len("base_"):] not in known)
    keys = [k for k, _ in METRICS] + others
    return [(k, known.get(k, k.replace("_", " "))) for k in keys
            if f"base_{k}" in evaluation and f"tuned_{k}" in evaluation]


def _score(sample: dict, which: str) -> str:
    value = sample.get(f"{which}_score")
    return "" if value is None else f" (score {value:.2f})"


def _quote(text: str, indent: str = "") -> str:
    """Model text after a label: inline if it is one line, else a fenced block (code keeps its layout, and a
    stray markdown heading in the output can't break the report's structure)."""
    text = text.strip()
    if not text:
        return " (empty)"
    if "\n" not in text:
        return f" {text}"
    fence = "`" * max(3, 1 + max((len(run) for run in re.findall(r"`+", text)), default=0))
    block = [fence + "text", *text.split("\n"), fence]
    return "\n\n" + "\n".join(indent + line if line else line for line in block)


def _own_words(text: str) -> str:
    return text.strip() if text.strip() and text.strip() != ANSWER_STUB else TODO
