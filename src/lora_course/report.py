"""The mini-project report, filled from what a run actually measured (run.json + evaluation JSON)."""

from pathlib import Path

from .training import TrainingRun

REQUIRED_SECTIONS = ("## Project overview", "## Dataset", "## Training configuration", "## Training results",
                     "## Evaluation", "## Example outputs", "## What I learned", "## Production readiness")


def build_report(run: TrainingRun, evaluation: dict, *, title: str, domain: str,
                 learnings: str = "", production: str = "") -> str:
    """Markdown report from a run and the output of `evaluate_adapter` (metrics and sample answers).

    `learnings` and `production` are the author's own words and stay marked TODO until written."""
    s = run.settings
    losses = run.train_losses
    lines = [
        f"# {title}", "",
        "## Project overview", "",
        f"Domain: **{domain}**. Base model `{run.base_model}` fine-tuned with LoRA.", "",
        "## Dataset", "",
        f"- Training examples: {run.n_train}",
        f"- Validation examples: {run.n_eval}",
        f"- Held-out evaluation prompts: {evaluation.get('n_examples', 'n/a')}", "",
        "## Training configuration", "",
        "| setting | value |", "|---|---|",
        *[f"| {key} | {s[key]} |" for key in ("rank", "alpha", "dropout", "target_modules", "learning_rate",
                                               "epochs", "batch_size", "max_length", "bf16", "seed")],
        f"| trainable parameters | {run.trainable_params:,d} of {run.total_params:,d} "
        f"({100 * run.trainable_share:.2f}%) |", "",
        "## Training results", "",
        f"- Training time: {run.wall_seconds:.1f} s ({run.tokens_per_second:.0f} tokens/s)",
        f"- Peak memory (RSS): {run.peak_rss_mb:.0f} MB",
        f"- Training loss: {losses[0]['loss']:.3f} (first step) → {losses[-1]['loss']:.3f} (last step), "
        f"{len(losses)} steps",
    ]
    if run.eval_losses:
        lines.append("- Validation loss per epoch: " + ", ".join(f"{e['loss']:.3f}" for e in run.eval_losses))
    lines += ["", "## Evaluation", "", "| metric | base | fine-tuned |", "|---|---|---|"]
    for key, label in (("perplexity", "answer perplexity (lower is better)"), ("style_score", "style score (0–1)"),
                       ("eos_rate", "answers that stop cleanly (EOS)")):
        if f"base_{key}" in evaluation:
            lines.append(f"| {label} | {evaluation[f'base_{key}']:.3f} | {evaluation[f'tuned_{key}']:.3f} |")
    lines += ["", "## Example outputs", ""]
    for sample in evaluation.get("samples", []):
        lines += [f"**Prompt:** {sample['question']}", "", f"- Base: {sample['base']}",
                  f"- Fine-tuned: {sample['tuned']}", ""]
    lines += ["## What I learned", "", learnings.strip() or "TODO: your own words.", "",
              "## Production readiness", "", production.strip() or "TODO: your own words.", ""]
    return "\n".join(lines)


def write_report(path, run: TrainingRun, evaluation: dict, **kwargs) -> Path:
    path = Path(path)
    path.write_text(build_report(run, evaluation, **kwargs), encoding="utf-8")
    return path
