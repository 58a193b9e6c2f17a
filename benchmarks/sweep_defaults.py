"""Choose LoRASettings defaults by measurement: a small sweep on a train/validation split of the TechCo data.

Each setting trains for real on 80% of data/techco_support.jsonl and is scored by answer perplexity on the
held-out 20% (lower is better). Run: `make sweep` (about 6 minutes on 2 cores). Prints a markdown table.
"""

import dataclasses
import sys
import tempfile

from lora_course.data import load_examples, split_examples
from lora_course.evaluation import answer_perplexity
from lora_course.models import load_tuned_model
from lora_course.paths import data_file
from lora_course.training import LoRASettings, fine_tune

COURSE = LoRASettings.course_text()
CANDIDATES = {
    "course text (r8, q/v, lr 2e-4)": COURSE,
    "q/v, r16, lr 1e-3": dataclasses.replace(COURSE, rank=16, alpha=32, learning_rate=1e-3),
    "q/v, r16, lr 2e-3": dataclasses.replace(COURSE, rank=16, alpha=32, learning_rate=2e-3),
    "all-linear, r8, lr 5e-4": dataclasses.replace(COURSE, target_modules="all-linear", learning_rate=5e-4),
    "all-linear, r8, lr 1e-3": dataclasses.replace(COURSE, target_modules="all-linear", learning_rate=1e-3),
    "all-linear, r16, lr 1e-3": dataclasses.replace(COURSE, target_modules="all-linear", rank=16, alpha=32,
                                                    learning_rate=1e-3),
    "all-linear, r8, lr 1e-3, dropout 0": dataclasses.replace(COURSE, target_modules="all-linear",
                                                              learning_rate=1e-3, dropout=0.0),
    "all-linear, r8, lr 2e-3": dataclasses.replace(COURSE, target_modules="all-linear", learning_rate=2e-3),
}


def main() -> None:
    examples = load_examples(data_file("techco_support.jsonl"))
    train, validation = split_examples(examples, 0.2, seed=0)
    print(f"train {len(train)} / validation {len(validation)} examples, 3 epochs, batch 2\n")
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for name, settings in CANDIDATES.items():
            run = fine_tune(train, settings, f"{tmp}/{len(rows)}", progress=False)
            model, tokenizer = load_tuned_model(run.adapter_dir)
            with model.disable_adapter():
                base_ppl = answer_perplexity(model, tokenizer, validation)
            tuned_ppl = answer_perplexity(model, tokenizer, validation)
            rows.append((name, base_ppl, tuned_ppl, run.final_train_loss, run.wall_seconds, run.peak_rss_mb))
            print(f"done: {name}: validation perplexity {tuned_ppl:.2f}", file=sys.stderr, flush=True)
    print("| setting | base ppl | tuned ppl | ratio | final train loss | train s | peak RSS MB |")
    print("|---|---|---|---|---|---|---|")
    for name, base_ppl, tuned_ppl, loss, seconds, rss in rows:
        print(f"| {name} | {base_ppl:.2f} | {tuned_ppl:.2f} | {tuned_ppl / base_ppl:.2f} | {loss:.3f} | "
              f"{seconds:.0f} | {rss:.0f} |")


if __name__ == "__main__":
    main()
