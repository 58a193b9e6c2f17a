"""`lora-course` command line: validate | prepare-model | train | generate | compare | evaluate | report."""

import argparse
import dataclasses
import json
import sys
import typing


def _validate(args) -> int:
    from .dataset import validate_file

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


_METAVARS = {int: "N", float: "X", str: "NAME"}


def _add_settings_options(parser: argparse.ArgumentParser) -> None:
    """One option per LoRASettings field: its name, type, default and help come from the field itself."""
    from .training import LoRASettings

    defaults, course_text = LoRASettings(), LoRASettings.course_text()
    for setting in dataclasses.fields(LoRASettings):
        meta = setting.metadata
        default = getattr(defaults, setting.name)
        shown = meta.get("unset", "None") if default is None else default
        preset = getattr(course_text, setting.name)
        help_text = meta["help"] + f" (default: {shown}" + (f"; course-text preset: {preset}" if preset != default
                                                              else "") + ")"
        flags = [f"--{setting.name.replace('_', '-')}", *meta.get("aliases", ())]
        kinds = set(typing.get_args(setting.type)) - {type(None)} or {setting.type}
        options = {"default": None, "help": help_text.replace("%", "%%"), "dest": setting.name}
        if kinds == {bool}:
            parser.add_argument(*flags, action=argparse.BooleanOptionalAction, **options)
        else:
            kind = kinds.pop()
            parser.add_argument(*flags, type=kind, choices=meta.get("choices"),
                                metavar=None if "choices" in meta else _METAVARS[kind], **options)


def _settings(args):
    from .training import LoRASettings

    base = LoRASettings.course_text() if args.preset == "course-text" else LoRASettings()
    chosen = {f.name: getattr(args, f.name) for f in dataclasses.fields(LoRASettings)}
    return dataclasses.replace(base, **{name: value for name, value in chosen.items() if value is not None})


def _train(args) -> int:
    from .memory import format_mb
    from .training import fine_tune

    try:
        settings = _settings(args)
    except ValueError as exc:  # a setting out of range (LoRASettings checks them): said before any model loads
        print(f"❌ {exc}", file=sys.stderr)
        return 2
    run = fine_tune(args.data, settings, args.out, base_model=args.model, resume=args.resume)
    first, last = run.train_losses[0]["loss"], run.final_train_loss
    print(f"train loss {first:.3f} -> {last:.3f} over {len(run.train_losses)} steps")
    if run.eval_losses:
        print("eval loss per epoch: " + ", ".join(f"{e['loss']:.3f}" for e in run.eval_losses))
    print(f"{run.wall_seconds:.1f} s, {run.tokens_per_second:.0f} tokens/s, peak RSS {format_mb(run.peak_rss_mb)}"
          + (" (stopped early)" if run.stopped_early else ""))
    print(f"✅ Adapter saved to {run.adapter_dir} (details in run.json)")
    return 0


def _generate(args) -> int:
    from .generation import respond
    from .models import load_adapter, load_base_model, prompt_format_of

    model, tokenizer = load_adapter(args.adapter)[:2] if args.adapter else load_base_model(args.model)
    answer = respond(model, tokenizer, args.question, prompt_format_of(model),
                     max_new_tokens=args.max_new_tokens, do_sample=args.sample, seed=args.seed)
    why = "the model stopped at once" if answer.ended_with_eos else "only whitespace"
    print(answer.text or f"(an empty answer: {why})")
    return 0


def _compare(args) -> int:
    from pathlib import Path

    from .dataset import read_jsonl
    from .evaluation import compare_models
    from .models import load_adapter

    model, tokenizer, _ = load_adapter(args.adapter)
    questions = [row["input"] for row in read_jsonl(args.prompts)]
    comparison = compare_models(model, tokenizer, questions, max_new_tokens=args.max_new_tokens)
    print(comparison.table())
    print(f"\nclean stops (EOS): base {comparison.eos_rate('base'):.0%}, fine-tuned {comparison.eos_rate('tuned'):.0%}")
    if args.out:
        Path(args.out).write_text(comparison.markdown() + "\n", encoding="utf-8")
        print(f"✅ Written to {args.out}")
    return 0


def _evaluate(args) -> int:
    from .dataset import load_examples
    from .evaluation import evaluate_adapter
    from .models import load_adapter

    model, tokenizer, _ = load_adapter(args.adapter)
    result = evaluate_adapter(model, tokenizer, load_examples(args.data), max_new_tokens=args.max_new_tokens,
                              course_text_base=args.course_text_base)
    base, tuned = result.base, result.tuned
    if args.json:
        print(json.dumps(result.to_dict(), indent=2))
    else:
        print(f"answer perplexity: base {base['perplexity']:.2f} -> tuned {tuned['perplexity']:.2f} "
              f"(ratio {result.ratio('perplexity'):.2f})")
        print(f"style score: base {base['style_score']:.2f} -> tuned {tuned['style_score']:.2f}")
        print(f"answers ending with EOS within {args.max_new_tokens} tokens: base {base['eos_rate']:.0%} -> "
              f"tuned {tuned['eos_rate']:.0%} (of {result.n_examples})")
        if args.course_text_base:
            other = result.base_course_text
            print(f"base model in the course text's `### User:` format instead of its chat template: perplexity "
                  f"{other['perplexity']:.2f}, style {other['style_score']:.2f}, EOS {other['eos_rate']:.0%}, "
                  f"{other['empty_answers']} empty answers")
    return 0


def _report(args) -> int:
    from pathlib import Path

    from .evaluation import Evaluation
    from .report import write_report
    from .runs import TrainingRun

    evaluation = Evaluation.from_dict(json.loads(Path(args.eval).read_text(encoding="utf-8")))
    path = write_report(args.out, TrainingRun.load(args.adapter), evaluation, title=args.title, domain=args.domain)
    print(f"✅ Report written to {path}")
    return 0


MODEL_HELP = "base model: an alias, a local folder or a Hub id (default: $LORA_COURSE_MODEL or the bundled SmolLM2)"
MAX_NEW_TOKENS_HELP = "longest answer, in tokens (default: %(default)s)"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="lora-course", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("validate", help="check a JSONL dataset before training")
    p.add_argument("path", help='JSONL file, one {"input": ..., "output": ...} object per line')
    p.add_argument("--min-examples", type=int, default=1, metavar="N",
                   help="fail with fewer valid examples than this (default: 1)")
    p.add_argument("--max-tokens", type=int, default=None, metavar="N",
                   help="warn about examples longer than this many tokens, which training would cut (default: no "
                        "check; counting loads the tokenizer)")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.set_defaults(func=_validate)

    p = sub.add_parser("prepare-model", help="convert the bundled SmolLM2 once into a fast-loading cache")
    p.add_argument("--model", default=None, help=MODEL_HELP)
    p.add_argument("--rebuild", action="store_true", help="convert again even if a cached conversion exists")
    p.set_defaults(func=_prepare_model)

    p = sub.add_parser("train", help="LoRA fine-tune on a JSONL dataset; writes the adapter and run.json")
    p.add_argument("data", help="JSONL training examples (check them first with `lora-course validate`)")
    p.add_argument("--out", required=True, help="folder for the adapter, run.json and checkpoints")
    p.add_argument("--model", default=None, help=MODEL_HELP)
    p.add_argument("--preset", choices=["default", "course-text"], default="default",
                   help="start from the course's defaults, or from the values in the course text (rank 8, lr 2e-4, "
                        "...; they barely move this model on ~20 examples); the options below override either")
    _add_settings_options(p)
    p.add_argument("--resume", action="store_true", help="continue from the newest checkpoint in --out")
    p.set_defaults(func=_train)

    p = sub.add_parser("generate", help="answer one question with the base model or an adapter")
    p.add_argument("question", help="the question to answer, in quotes")
    p.add_argument("--adapter", help="adapter folder from `train` (default: the base model alone)")
    p.add_argument("--model", default=None, help=MODEL_HELP + "; ignored with --adapter, which names its own")
    p.add_argument("--max-new-tokens", type=int, default=200, metavar="N", help=MAX_NEW_TOKENS_HELP)
    p.add_argument("--sample", action="store_true", help="seeded sampling instead of greedy decoding (default: greedy)")
    p.add_argument("--seed", type=int, default=0, metavar="N", help="sampling seed (default: 0)")
    p.set_defaults(func=_generate)

    p = sub.add_parser("compare", help="base vs fine-tuned on a prompt list; prints the comparison table")
    p.add_argument("--adapter", required=True, help="adapter folder from `train`")
    p.add_argument("--prompts", required=True, help='JSONL of {"input": ...} questions')
    p.add_argument("--out", help="also write evaluation_results.md-style markdown here (default: print only)")
    p.add_argument("--max-new-tokens", type=int, default=200, metavar="N", help=MAX_NEW_TOKENS_HELP)
    p.set_defaults(func=_compare)

    p = sub.add_parser("evaluate", help="perplexity and style, base vs fine-tuned, on held-out pairs")
    p.add_argument("--adapter", required=True, help="adapter folder from `train`")
    p.add_argument("--data", required=True, help="JSONL of held-out {input, output} pairs, never trained on")
    p.add_argument("--json", action="store_true", help="print every figure and the answers as JSON (for `report`)")
    p.add_argument("--max-new-tokens", type=int, default=200, metavar="N", help=MAX_NEW_TOKENS_HELP)
    p.add_argument("--course-text-base", action="store_true",
                   help="also measure the base model in the course text's '### User:' format (vs its chat template)")
    p.set_defaults(func=_evaluate)

    p = sub.add_parser("report", help="write the mini-project report from run.json and `evaluate --json` output")
    p.add_argument("--adapter", required=True, help="adapter folder holding run.json")
    p.add_argument("--eval", required=True, help="JSON written by `lora-course evaluate --json`")
    p.add_argument("--out", required=True, help="Markdown file to write")
    p.add_argument("--title", default="Mini-project report", help="the report's heading (default: %(default)s)")
    p.add_argument("--domain", default="TechCo customer support", help="what the model was tuned for (default: "
                   "%(default)s)")
    p.set_defaults(func=_report)
    return parser


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    from .dataset import DatasetError
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
