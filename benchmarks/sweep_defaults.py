"""Choose LoRASettings defaults by measurement: a small sweep on a train/validation split of the TechCo data.

Each setting trains for real on 80% of data/techco_support.jsonl and is scored by answer perplexity on the
held-out 20% (lower is better); only settings that train under 1% of the parameters qualify as defaults.
Run: `make sweep` (about 5 minutes on 2 cores). Prints a markdown table.
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
FAST = dataclasses.replace(COURSE, dropout=0.0)  # dropout 0.05 vs 0: same perplexity, more memory and time
CANDIDATES = {
    "course text (q/v, r8, lr 2e-4, dropout 0.05)": COURSE,
    "q/v, r16, lr 1e-3": dataclasses.replace(FAST, rank=16, alpha=32, learning_rate=1e-3),
    "q/v, r16, lr 2e-3": dataclasses.replace(FAST, rank=16, alpha=32, learning_rate=2e-3),
    "q/v, r16, lr 4e-3": dataclasses.replace(FAST, rank=16, alpha=32, learning_rate=4e-3),
    "q/v, r16, lr 4e-3, dropout 0.05": dataclasses.replace(FAST, rank=16, alpha=32, learning_rate=4e-3, dropout=0.05),
    "all-linear, r4, lr 2e-3": dataclasses.replace(FAST, target_modules="all-linear", rank=4, alpha=8,
                                                   learning_rate=2e-3),
    "all-linear, r4, lr 4e-3": dataclasses.replace(FAST, target_modules="all-linear", rank=4, alpha=8,
                                                   learning_rate=4e-3),
    "all-linear, r8, lr 2e-3 (over 1% trainable)": dataclasses.replace(FAST, target_modules="all-linear",
                                                                       learning_rate=2e-3),
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
            rows.append((name, 100 * run.trainable_share, base_ppl, tuned_ppl, run.final_train_loss))
            print(f"done: {name}: validation perplexity {tuned_ppl:.2f}", file=sys.stderr, flush=True)
    # No time column: runs share one process; `benchmarks/bench_training.py` measures time in fresh processes.
    print("| setting | trainable % | base ppl | tuned ppl | ratio | final train loss |")
    print("|---|---|---|---|---|---|")
    for name, share, base_ppl, tuned_ppl, loss in rows:
        print(f"| {name} | {share:.2f} | {base_ppl:.2f} | {tuned_ppl:.2f} | {tuned_ppl / base_ppl:.2f} | {loss:.3f} |")


if __name__ == "__main__":
    main()
