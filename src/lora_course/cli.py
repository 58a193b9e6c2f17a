"""`lora-course` command line: validate | prepare-model | train | generate | compare | evaluate | report."""

import argparse
import json
import sys


def _validate(args) -> int:
    from .data import validate_file

    try:
        report = validate_file(args.path, min_examples=args.min_examples, max_tokens=args.max_tokens,
                               count_tokens=_token_counter() if args.max_tokens else None)
    except OSError as exc:
        print(f"❌ Cannot read {args.path}: {exc.strerror or exc}", file=sys.stderr)
        return 2
    print(json.dumps(report.to_dict(), indent=2, ensure_ascii=False) if args.json else report.format())
    return 0 if report.ok else 1


def _token_counter():
    from .models import load_tokenizer

    tokenizer = load_tokenizer()
    return lambda text: len(tokenizer(text, add_special_tokens=False)["input_ids"])


def _prepare_model(args) -> int:
    from .models import load_base_model, prepare_model

    path = prepare_model(args.model, rebuild=args.rebuild)
    model, _ = load_base_model(args.model)
    print(f"✅ Base model ready: {path} ({model.num_parameters():,d} parameters)")
    return 0


def _settings(args):
    import dataclasses

    from .training import LoRASettings

    base = LoRASettings.course_text() if args.preset == "course-text" else LoRASettings()
    chosen = {"epochs": args.epochs, "learning_rate": args.lr, "rank": args.rank, "alpha": args.alpha,
              "dropout": args.dropout, "batch_size": args.batch_size, "max_length": args.max_length,
              "eval_fraction": args.eval_fraction, "seed": args.seed, "max_steps": args.max_steps,
              "early_stopping_patience": args.early_stopping, "target_modules": args.target_modules,
              "bf16": args.bf16, "keep_best": args.keep_best, "prompt_format": args.prompt_format}
    return dataclasses.replace(base, **{k: v for k, v in chosen.items() if v is not None})


def _train(args) -> int:
    from .training import fine_tune
    from .troubleshooting import format_mb

    run = fine_tune(args.data, _settings(args), args.out, base_model=args.model, resume=args.resume)
    first, last = run.train_losses[0]["loss"], run.final_train_loss
    print(f"train loss {first:.3f} -> {last:.3f} over {len(run.train_losses)} steps")
    if run.eval_losses:
        print("eval loss per epoch: " + ", ".join(f"{e['loss']:.3f}" for e in run.eval_losses))
    print(f"{run.wall_seconds:.1f} s, {run.tokens_per_second:.0f} tokens/s, peak RSS {format_mb(run.peak_rss_mb)}"
          + (" (stopped early)" if run.stopped_early else ""))
    print(f"✅ Adapter saved to {run.adapter_dir} (details in run.json)")
    return 0


def _generate(args) -> int:
    from .data import CHAT
    from .generation import respond
    from .models import load_base_model, load_tuned_model
    from .training import trained_prompt_format

    model, tokenizer = load_tuned_model(args.adapter) if args.adapter else load_base_model(args.model)
    prompt_format = trained_prompt_format(args.adapter) if args.adapter else CHAT
    answer = respond(model, tokenizer, args.question, prompt_format, max_new_tokens=args.max_new_tokens,
                     do_sample=args.sample, seed=args.seed)
    print(answer.text or f"(an empty answer: {'the model stopped at once' if answer.ended_with_eos else 'only whitespace'})")
    return 0


def _compare(args) -> int:
    from pathlib import Path

    from .data import read_jsonl
    from .evaluation import compare_models
    from .models import load_tuned_model
    from .training import trained_prompt_format

    model, tokenizer = load_tuned_model(args.adapter)
    questions = [row["input"] for row in read_jsonl(args.prompts)]
    comparison = compare_models(model, tokenizer, questions, max_new_tokens=args.max_new_tokens,
                                prompt_format=trained_prompt_format(args.adapter))
    print(comparison.table())
    print(f"\nclean stops (EOS): base {comparison.eos_rate('base'):.0%}, fine-tuned {comparison.eos_rate('tuned'):.0%}")
    if args.out:
        Path(args.out).write_text(comparison.markdown() + "\n", encoding="utf-8")
        print(f"✅ Written to {args.out}")
    return 0


def _evaluate(args) -> int:
    from .data import load_examples
    from .evaluation import evaluate_adapter
    from .models import load_tuned_model
    from .training import trained_prompt_format

    model, tokenizer = load_tuned_model(args.adapter)
    result = evaluate_adapter(model, tokenizer, load_examples(args.data), max_new_tokens=args.max_new_tokens,
                              prompt_format=trained_prompt_format(args.adapter),
                              course_text_base=args.course_text_base)
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print(f"answer perplexity: base {result['base_perplexity']:.2f} -> tuned {result['tuned_perplexity']:.2f} "
              f"(ratio {result['perplexity_ratio']:.2f})")
        print(f"style score: base {result['base_style_score']:.2f} -> tuned {result['tuned_style_score']:.2f}")
        print(f"answers ending with EOS within {args.max_new_tokens} tokens: base {result['base_eos_rate']:.0%} -> "
              f"tuned {result['tuned_eos_rate']:.0%} (of {result['n_examples']})")
        if args.course_text_base:
            other = result["base_course_text"]
            print(f"base model in the course text's `### User:` format instead of its chat template: perplexity "
                  f"{other['perplexity']:.2f}, style {other['style_score']:.2f}, EOS {other['eos_rate']:.0%}, "
                  f"{other['empty_answers']} empty answers")
    return 0


def _report(args) -> int:
    from pathlib import Path

    from .report import write_report
    from .training import TrainingRun

    evaluation = json.loads(Path(args.eval).read_text(encoding="utf-8"))
    path = write_report(args.out, TrainingRun.load(args.adapter), evaluation, title=args.title, domain=args.domain)
    print(f"✅ Report written to {path}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="lora-course", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("validate", help="check a JSONL dataset before training")
    p.add_argument("path")
    p.add_argument("--min-examples", type=int, default=1)
    p.add_argument("--max-tokens", type=int, default=None,
                   help="warn about examples longer than this many tokens (they would be truncated)")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.set_defaults(func=_validate)

    p = sub.add_parser("prepare-model", help="convert the bundled SmolLM2 once into a fast-loading cache")
    p.add_argument("--model", default=None, help="base model (default: $LORA_COURSE_MODEL or the bundled SmolLM2)")
    p.add_argument("--rebuild", action="store_true", help="rebuild a cached conversion")
    p.set_defaults(func=_prepare_model)

    p = sub.add_parser("train", help="LoRA fine-tune on a JSONL dataset; writes the adapter and run.json")
    p.add_argument("data")
    p.add_argument("--out", required=True, help="folder for the adapter, run.json and checkpoints")
    p.add_argument("--model", default=None, help="base model (default: $LORA_COURSE_MODEL or the bundled SmolLM2)")
    p.add_argument("--preset", choices=["default", "course-text"], default="default")
    p.add_argument("--epochs", type=float)
    p.add_argument("--lr", type=float)
    p.add_argument("--rank", type=int)
    p.add_argument("--alpha", type=int)
    p.add_argument("--dropout", type=float)
    p.add_argument("--batch-size", type=int)
    p.add_argument("--max-length", type=int)
    p.add_argument("--target-modules", choices=["attention", "all-linear"])
    p.add_argument("--eval-fraction", type=float)
    p.add_argument("--early-stopping", type=int, metavar="PATIENCE")
    p.add_argument("--keep-best", action=argparse.BooleanOptionalAction, default=None,
                   help="with an eval split: save the best epoch, or an adapter that changes nothing if no epoch "
                        "beats the base model (default: on)")
    p.add_argument("--max-steps", type=int)
    p.add_argument("--seed", type=int)
    p.add_argument("--bf16", action=argparse.BooleanOptionalAction, default=None)
    p.add_argument("--prompt-format", choices=["chat", "course-text"],
                   help="chat: the model's own chat template (default); course-text: '### User: …\\n### Assistant:'")
    p.add_argument("--resume", action="store_true", help="continue from the newest checkpoint in --out")
    p.set_defaults(func=_train)

    p = sub.add_parser("generate", help="answer one question with the base model or an adapter")
    p.add_argument("question")
    p.add_argument("--adapter", help="adapter folder from `train` (default: the base model)")
    p.add_argument("--model", default=None)
    p.add_argument("--max-new-tokens", type=int, default=200)
    p.add_argument("--sample", action="store_true", help="seeded sampling instead of greedy decoding")
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(func=_generate)

    p = sub.add_parser("compare", help="base vs fine-tuned on a prompt list; prints the comparison table")
    p.add_argument("--adapter", required=True)
    p.add_argument("--prompts", required=True, help='JSONL of {"input": ...}')
    p.add_argument("--out", help="write evaluation_results.md-style markdown here")
    p.add_argument("--max-new-tokens", type=int, default=200)
    p.set_defaults(func=_compare)

    p = sub.add_parser("evaluate", help="perplexity and style, base vs fine-tuned, on held-out pairs")
    p.add_argument("--adapter", required=True)
    p.add_argument("--data", required=True, help="JSONL of held-out {input, output} pairs")
    p.add_argument("--json", action="store_true")
    p.add_argument("--max-new-tokens", type=int, default=200)
    p.add_argument("--course-text-base", action="store_true",
                   help="also measure the base model in the course text's '### User:' format (vs its chat template)")
    p.set_defaults(func=_evaluate)

    p = sub.add_parser("report", help="write the mini-project report from run.json and `evaluate --json` output")
    p.add_argument("--adapter", required=True, help="adapter folder holding run.json")
    p.add_argument("--eval", required=True, help="JSON written by `lora-course evaluate --json`")
    p.add_argument("--out", required=True)
    p.add_argument("--title", default="Mini-project report")
    p.add_argument("--domain", default="TechCo customer support")
    p.set_defaults(func=_report)
    return parser


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    from .data import DatasetError
    from .models import ModelError

    try:
        return args.func(args)
    except (DatasetError, ModelError) as exc:  # the message already says what to do; a traceback would not
        print(f"❌ {exc}", file=sys.stderr)
        return 1
    except OSError as exc:
        print(f"❌ Cannot read {exc.filename or ''}: {exc.strerror or exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
