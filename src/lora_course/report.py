"""The mini-project report, filled from what a run actually measured (run.json + evaluation JSON)."""

import re
from pathlib import Path

from .evaluation import Evaluation
from .memory import format_mb
from .nbgrader_course import ANSWER_STUB
from .runs import TrainingRun

REQUIRED_SECTIONS = ("## Project overview", "## Dataset", "## Training configuration", "## Training results",
                     "## Evaluation", "## Example outputs", "## What I learned", "## Production readiness")
TODO = "TODO: your own words."

# (metric, label): the report shows these first, in this order, where both sides of the evaluation have them; the
# other metrics both sides have follow under their own names.
METRICS = (("perplexity", "answer perplexity (lower is better)"), ("domain_score", "domain score (0–1)"),
           ("style_score", "style score (0–1)"), ("eos_rate", "answers that stop cleanly (EOS)"))


def build_report(run: TrainingRun, evaluation: Evaluation, *, title: str, domain: str,
                 learnings: str = "", production: str = "", overview: str = "", edge_cases=(),
                 changed: TrainingRun | None = None) -> str:
    """Markdown report from a run and its evaluation (e.g. from `evaluate_adapter`).

    `learnings` and `production` are the author's own words and stay marked TODO until written. `edge_cases`
    (questions of the dataset) are listed under Dataset; `changed`, a second run on the same data with one setting
    changed, gets a section comparing it with `run`.
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
        f"- Held-out evaluation prompts: {evaluation.n_examples}",
        *([f"- Edge cases ({len(edge_cases)}): " + "; ".join(_one_line(q) for q in edge_cases)]
          if edge_cases else []), "",
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
    lines += _change_section(run, changed) if changed else []
    lines += ["", "## Evaluation", ""]
    if evaluation.description.strip():
        lines += [evaluation.description.strip(), ""]
    lines += ["| metric | base | fine-tuned |", "|---|---|---|"]
    for key, label in _metric_rows(evaluation):
        lines.append(f"| {label} | {evaluation.base[key]:.3f} | {evaluation.tuned[key]:.3f} |")
    lines += ["", "## Example outputs", ""]
    for sample in evaluation.samples:
        lines += [f"**Prompt:**{_quote(sample['question'])}", "",
                  f"- Base{_score(sample, 'base')}:{_quote(sample['base'], indent='  ')}",
                  f"- Fine-tuned{_score(sample, 'tuned')}:{_quote(sample['tuned'], indent='  ')}", ""]
    lines += ["## What I learned", "", _own_words(learnings), "",
              "## Production readiness", "", _own_words(production), ""]
    return "\n".join(lines)


def write_report(path, run: TrainingRun, evaluation: Evaluation, **kwargs) -> Path:
    path = Path(path)
    path.write_text(build_report(run, evaluation, **kwargs), encoding="utf-8")
    return path


def insert_written_sections(path, sections: dict[str, str]) -> Path:
    """Put the learner's written sections (title -> text) into exercise 3's `evaluation_results.md`, after the table
    and before the answers, replacing what an earlier call put there.

    Each line is quoted (`> `), so no line of an answer can read as a table row or a `### Q:` heading to whoever
    parses the file; an unanswered section says TODO.
    """
    path = Path(path)
    text = path.read_text(encoding="utf-8")
    at = next((i for i in (text.find("\n## Answers"), text.find("\n### Q: ")) if i >= 0), len(text))
    head, tail = text[:at], text[at:]
    for title in sections:  # a second call replaces the first one's sections
        earlier = head.find(f"\n## {title}\n")
        head = head if earlier < 0 else head[:earlier]
    blocks = [f"## {title}\n\n" + "\n".join(f"> {line}".rstrip() for line in _own_words(body).splitlines())
              for title, body in sections.items()]
    path.write_text(head.rstrip("\n") + "\n\n" + "\n\n".join(blocks) + "\n" + tail, encoding="utf-8")
    return path


def _change_section(run: TrainingRun, changed: TrainingRun) -> list[str]:
    """One setting changed, same data, split and seed: what it did to the losses and the cost."""
    differs = [key for key in run.settings if run.settings[key] != changed.settings.get(key)]
    rows = [(key, run.settings[key], changed.settings.get(key)) for key in differs]
    best = [min((e["loss"] for e in r.eval_losses), default=float("nan")) for r in (run, changed)]
    rows += [("best validation loss", f"{best[0]:.3f}", f"{best[1]:.3f}"),
             ("validation loss per epoch", *(", ".join(f"{e['loss']:.3f}" for e in r.eval_losses) or "n/a"
                                             for r in (run, changed))),
             ("final training loss", *(f"{r.train_losses[-1]['loss']:.3f}" for r in (run, changed))),
             ("trainable parameters", *(f"{r.trainable_params:,d}" for r in (run, changed))),
             ("training time", *(f"{r.wall_seconds:.1f} s" for r in (run, changed)))]
    return ["", "## Hyperparameter change", "",
            f"A second run on the same data, split and seed with {', '.join(differs) or 'no setting'} changed:", "",
            "| | this run | changed run |", "|---|---|---|", *[f"| {a} | {b} | {c} |" for a, b, c in rows]]


def _metric_rows(evaluation: Evaluation) -> list[tuple[str, str]]:
    known = dict(METRICS)
    keys = [k for k, _ in METRICS] + [k for k in evaluation.base if k not in known]
    return [(k, known.get(k, k.replace("_", " "))) for k in keys if k in evaluation.base and k in evaluation.tuned]


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


def _one_line(text: str, limit: int = 100) -> str:
    """A question (a docstring prompt is a whole function) as one line, cut at `limit` characters."""
    text = " ".join(text.split())
    return text if len(text) <= limit else text[:limit - 1] + "…"


def _own_words(text: str) -> str:
    return text.strip() if text.strip() and text.strip() != ANSWER_STUB else TODO
