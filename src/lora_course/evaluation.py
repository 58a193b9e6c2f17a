"""Measured comparisons of a base and a fine-tuned model: answer perplexity and TechCo style, as numbers and as the
course's evaluation_results.md."""

from dataclasses import dataclass, field

from .data import CHAT, COURSE_TEXT, Example
from .generation import Generation, respond
from .perplexity import answer_perplexity
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


def compare_models(model, tokenizer, questions: list[str], max_new_tokens: int = 200,
                   prompt_format: str = CHAT) -> Comparison:
    """Answer each question with the adapter off (base) and on (fine-tuned), greedily, and score both.

    The base model always gets its own chat template (a fair comparison); the adapter gets the format it was
    trained in (`prompt_format`).
    """
    with model.disable_adapter():
        base = respond(model, tokenizer, questions, max_new_tokens=max_new_tokens)
    tuned = respond(model, tokenizer, questions, prompt_format, max_new_tokens=max_new_tokens)
    return Comparison(
        prompts=list(questions), base=base, tuned=tuned,
        base_scores=_scored(questions, base), tuned_scores=_scored(questions, tuned),
    )


def evaluate_adapter(model, tokenizer, examples: list[Example], max_new_tokens: int = 200,
                     prompt_format: str = CHAT, course_text_base: bool = False) -> dict:
    """The numbers behind `lora-course evaluate`: perplexity and style, base (in its chat template) vs tuned (in
    the format it was trained in), on held-out pairs; `course_text_base` adds the base model in the course text's
    format."""
    with model.disable_adapter():
        base_ppl = answer_perplexity(model, tokenizer, examples)
    tuned_ppl = answer_perplexity(model, tokenizer, examples, prompt_format=prompt_format)
    comparison = compare_models(model, tokenizer, [e.input for e in examples], max_new_tokens, prompt_format)
    result = {
        "n_examples": len(examples),
        "base_perplexity": round(base_ppl, 3),
        "tuned_perplexity": round(tuned_ppl, 3),
        "perplexity_ratio": round(tuned_ppl / base_ppl, 3),
        "base_style_score": round(comparison.mean("base", "style_score"), 3),
        "tuned_style_score": round(comparison.mean("tuned", "style_score"), 3),
        "base_eos_rate": round(comparison.eos_rate("base"), 3),
        "tuned_eos_rate": round(comparison.eos_rate("tuned"), 3),
        "samples": comparison.samples(),
        "criteria": {c: {"base": round(comparison.mean("base", c), 3), "tuned": round(comparison.mean("tuned", c), 3)}
                     for c in CRITERIA},
    }
    if course_text_base:
        result["base_course_text"] = base_in_course_text(model, tokenizer, examples, max_new_tokens)
    return result


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
