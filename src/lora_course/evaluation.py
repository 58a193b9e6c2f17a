"""Measured comparisons of a base and a fine-tuned model: answer perplexity and TechCo style, as numbers
(`Evaluation`, what `lora-course evaluate --json` writes and the report reads) and as the course's
evaluation_results.md."""

from dataclasses import asdict, dataclass, field

from .dataset import Example
from .generation import Generation, respond
from .models import base_and_tuned
from .perplexity import answer_perplexity
from .prompts import COURSE_TEXT
from .style import CRITERIA, style_scores


@dataclass
class Comparison:
    """Base vs fine-tuned answers for the same prompts, with per-criterion mean scores."""

    prompts: list[str]
    base: list[Generation]
    tuned: list[Generation]
    base_scores: list[dict] = field(default_factory=list)
    tuned_scores: list[dict] = field(default_factory=list)

    def mean(self, which: str, criterion: str) -> float:
        rows = self.base_scores if which == "base" else self.tuned_scores
        return sum(r[criterion] for r in rows) / len(rows)

    def eos_rate(self, which: str = "tuned") -> float:
        outputs = self.base if which == "base" else self.tuned
        return sum(g.ended_with_eos for g in outputs) / len(outputs)

    def samples(self) -> list[dict]:
        return [{"question": q, "base": b.text, "tuned": t.text}
                for q, b, t in zip(self.prompts, self.base, self.tuned, strict=True)]

    def table(self) -> str:
        """The course's evaluation_results.md table; Winner is computed from the scores (ties stay ties)."""
        lines = ["| Criterion | Base Model | Fine-tuned | Winner |", "|---|---|---|---|"]
        for criterion in CRITERIA:
            base, tuned = self.mean("base", criterion), self.mean("tuned", criterion)
            winner = "Tie" if abs(base - tuned) < 1e-9 else ("Fine-tuned" if tuned > base else "Base")
            lines.append(f"| {criterion.replace('_', ' ')} | {base:.2f} | {tuned:.2f} | {winner} |")
        return "\n".join(lines)

    def markdown(self) -> str:
        parts = ["# Evaluation results", "", self.table(), "", "## Answers", ""]
        for sample in self.samples():
            parts += [f"### {sample['question']}", "", f"**Base:** {sample['base']}", "",
                      f"**Fine-tuned:** {sample['tuned']}", ""]
        return "\n".join(parts)


@dataclass
class Evaluation:
    """Base vs fine-tuned on the same held-out prompts: each side's figures (metric -> value: `perplexity`,
    `eos_rate`, a score per criterion), the answers, and one sentence on what was measured on what.

    The report shows one row per metric both sides have; `samples` are {"question", "base", "tuned"}, plus
    `base_score`/`tuned_score` where each answer was scored.
    """

    n_examples: int
    base: dict[str, float]
    tuned: dict[str, float]
    samples: list[dict] = field(default_factory=list)
    description: str = ""
    base_course_text: dict | None = None  # the base model in the course text's format (`lora-course evaluate`)

    def ratio(self, metric: str) -> float:
        return self.tuned[metric] / self.base[metric]

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "Evaluation":
        return cls(**data)


def compare_models(model, tokenizer, questions: list[str], max_new_tokens: int = 200) -> Comparison:
    """Answer each question with the adapter off (base) and on (fine-tuned), greedily, and score both.

    The base model gets its own chat template (a fair comparison), the adapter the format it was trained in.
    """
    base, tuned = base_and_tuned(model, lambda prompt_format: respond(model, tokenizer, questions, prompt_format,
                                                                       max_new_tokens=max_new_tokens))
    return Comparison(
        prompts=list(questions), base=base, tuned=tuned,
        base_scores=_scored(questions, base), tuned_scores=_scored(questions, tuned),
    )


def perplexities(model, tokenizer, examples: list[Example], **kwargs) -> tuple[float, float]:
    """Answer perplexity of the reference answers, base and fine-tuned (`answer_perplexity`'s options)."""
    return base_and_tuned(model, lambda prompt_format: answer_perplexity(model, tokenizer, examples,
                                                                         prompt_format=prompt_format, **kwargs))


def evaluate_adapter(model, tokenizer, examples: list[Example], max_new_tokens: int = 200,
                     course_text_base: bool = False) -> Evaluation:
    """The numbers behind `lora-course evaluate`: perplexity and style, base vs tuned, on held-out pairs;
    `course_text_base` adds the base model in the course text's format."""
    base_ppl, tuned_ppl = perplexities(model, tokenizer, examples)
    comparison = compare_models(model, tokenizer, [e.input for e in examples], max_new_tokens)
    sides = {}
    for which, perplexity in (("base", base_ppl), ("tuned", tuned_ppl)):
        sides[which] = {"perplexity": round(perplexity, 3), "eos_rate": round(comparison.eos_rate(which), 3),
                        **{c: round(comparison.mean(which, c), 3) for c in CRITERIA}}
    return Evaluation(
        n_examples=len(examples), base=sides["base"], tuned=sides["tuned"], samples=comparison.samples(),
        description=f"Answer perplexity and the TechCo style criteria on {len(examples)} held-out pairs (greedy, "
                    f"{max_new_tokens} new tokens at most).",
        base_course_text=base_in_course_text(model, tokenizer, examples, max_new_tokens) if course_text_base else None)


def base_in_course_text(model, tokenizer, examples: list[Example], max_new_tokens: int = 200) -> dict:
    """The base model prompted in the course text's `### User:` format instead of its own chat template: the
    measured reason this course prompts and trains in the chat template."""
    questions = [e.input for e in examples]
    with model.disable_adapter():
        perplexity = answer_perplexity(model, tokenizer, examples, prompt_format=COURSE_TEXT)
        answers = respond(model, tokenizer, questions, COURSE_TEXT, max_new_tokens=max_new_tokens)
    scores = _scored(questions, answers)
    return {"perplexity": round(perplexity, 3),
            "style_score": round(sum(s["style_score"] for s in scores) / len(scores), 3),
            "eos_rate": round(sum(g.ended_with_eos for g in answers) / len(answers), 3),
            "empty_answers": sum(not g.text for g in answers)}


def _scored(questions: list[str], answers: list[Generation]) -> list[dict]:
    return [style_scores(q, g.text, g.ended_with_eos) for q, g in zip(questions, answers, strict=True)]
