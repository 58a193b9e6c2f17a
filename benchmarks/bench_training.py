"""Training speed and memory: `lora-course train` vs the course text's recipe, same model, data, epochs, batch.

Each recipe runs in a fresh process, one after the other, on the first 20 TechCo pairs, 3 epochs, batch 2; the
all-linear row shows what the sweep's runner-up costs. Run: `make bench` (about 5 minutes on 2 cores).
Prints a markdown table and the ratio checks (against the defaults row).
"""

import json
import subprocess
import sys
import tempfile
from pathlib import Path

from lora_course.dataset import read_jsonl
from lora_course.models import prepare_model
from lora_course.paths import data_file
from lora_course.runs import TrainingRun

HERE = Path(__file__).parent


def last_epoch_mean(losses: list[tuple[float, float]]) -> float:
    """Mean loss over the final epoch: one batch's loss is too noisy to compare."""
    final = [loss for epoch, loss in losses if epoch > 2]
    return sum(final) / len(final)


VARIANTS = [("lora-course train (defaults)", []),
            ("lora-course train, all-linear r=4 lr 2e-3", ["--target-modules", "all-linear", "--rank", "4",
                                                          "--alpha", "8", "--lr", "2e-3"])]


def train(data: Path, out: str, options: list[str]) -> TrainingRun:
    print(f"ours: lora-course train {' '.join(options)}...", file=sys.stderr, flush=True)
    subprocess.run([sys.executable, "-m", "lora_course.cli", "train", str(data), "--out", out, "--epochs", "3",
                    "--batch-size", "2", *options], capture_output=True, text=True, check=True)
    return TrainingRun.load(out)


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "techco20.jsonl"
        data.write_text("".join(json.dumps(row, ensure_ascii=False) + "\n"
                                for row in read_jsonl(data_file("techco_support.jsonl"))[:20]), encoding="utf-8")
        print("baseline: course text recipe (pad to 512, q/v r=8, lr 2e-4)...", file=sys.stderr, flush=True)
        done = subprocess.run([sys.executable, str(HERE / "course_text_recipe.py"), prepare_model(), str(data),
                               f"{tmp}/baseline"], capture_output=True, text=True, check=True)
        baseline = json.loads(done.stdout.strip().splitlines()[-1])
        runs = [train(data, f"{tmp}/variant{i}", options) for i, (_, options) in enumerate(VARIANTS)]
    rows = [("course text recipe", baseline["wall_seconds"], last_epoch_mean(baseline["losses"]),
             baseline["peak_rss_mb"])]
    for (name, _), run in zip(VARIANTS, runs, strict=True):
        losses = [(p["epoch"], p["loss"]) for p in run.train_losses]
        rows.append((name, run.wall_seconds, last_epoch_mean(losses), run.peak_rss_mb))
    print("| recipe | train wall s | final-epoch train loss | peak RSS MB |\n|---|---|---|---|")
    for name, wall, loss, rss in rows:
        print(f"| {name} | {wall:.1f} | {loss:.3f} | {rss:.0f} |")
    speedup = rows[0][1] / rows[1][1]
    print(f"\nspeedup: {speedup:.1f}x (target >= 5x) {'PASS' if speedup >= 5 else 'FAIL'}")
    print(f"final loss: {rows[1][2]:.3f} vs {rows[0][2]:.3f} {'PASS' if rows[1][2] <= rows[0][2] else 'FAIL'}")
    print(f"peak RSS: {rows[1][3]:.0f} MB (target <= 1500) {'PASS' if rows[1][3] <= 1500 else 'FAIL'}; "
          f"baseline {rows[0][3]:.0f} MB")


if __name__ == "__main__":
    main()
