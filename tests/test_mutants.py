"""Mutation suite: plausible wrong work must lose points when autograded.

Each mutant is a reference solution with one change in one graded cell: the kind of mistake a learner
makes when they skim the specification (an off-by-one boundary, a case-sensitive match, a mean of means)
or take a shortcut it forbids (handing in the course's own data). Every mutant and the unchanged
reference are graded by real nbgrader with the real hidden tests; the reference must keep full marks and
every mutant must lose points on the test of the cell it changed.

Grading whole notebooks would train models for every mutant, so each notebook is cut down to the cells the
graded tests need (found from the names each cell reads and writes, plus the files listed in WRITES); the
few cells that generate or train are replaced by STAND_INS with fixed values of the same shape.
"""

import ast
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import nbformat
import pytest

from lora_course import nbgrader_course

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "grader"))
import verdict  # noqa: E402
from release import filled_release  # noqa: E402

pytestmark = pytest.mark.notebooks

SHIPPED_TECHCO = ('examples = [json.loads(line) for line in '
                  'data_file("techco_support.jsonl").read_text(encoding="utf-8").splitlines() if line.strip()]')
OFF_DOMAIN = ('[{"input": f"What is the capital city of imaginary country number {i}?", '
              '"output": f"The capital of imaginary country number {i} is Capital City {i}, a lovely place."} '
              'for i in range(1, 5)]')

# (assignment, name, cell grade_id, old text, new text, the test that must lose points)
MUTANTS = [
    # 01: validate_dataset
    ("01", "undecodable line read with errors='replace'", "impl_validate_dataset",
     'raw.decode("utf-8-sig" if number == 1 else "utf-8")', 'raw.decode("utf-8", errors="replace")',
     "test_validate_dataset_hidden"),
    ("01", "duplicate reported on the first line", "impl_validate_dataset",
     'issues.append(f"line {number}: same question as line {seen[key]}',
     'issues.append(f"line {seen[key]}: same question as line {number}', "test_validate_dataset_hidden"),
    ("01", "blank lines not counted in line numbers", "impl_validate_dataset",
     "raw_lines = Path(path).read_bytes().splitlines()",
     "raw_lines = [l for l in Path(path).read_bytes().splitlines() if l.strip()]", "test_validate_dataset_hidden"),
    ("01", "a question of exactly 10 characters rejected", "impl_validate_dataset",
     "len(value.strip()) < MIN_CHARS[field]", "len(value.strip()) <= MIN_CHARS[field]", "test_validate_dataset_hidden"),
    ("01", "length counted with surrounding spaces", "impl_validate_dataset",
     "len(value.strip()) < MIN_CHARS[field]", "len(value) < MIN_CHARS[field]", "test_validate_dataset_hidden"),
    ("01", "a missing file raises", "impl_validate_dataset",
     'return [f"file: cannot read {path} ({error.strerror}) — check the path"]', "raise",
     "test_validate_dataset_hidden"),
    ("01", "duplicates compared case-sensitively", "impl_validate_dataset",
     'key = " ".join(question.lower().split())', 'key = " ".join(question.split())', "test_validate_dataset_hidden"),
    # 01: the dataset
    ("01", "the course's own TechCo set handed in", "impl_dataset", "examples = [", SHIPPED_TECHCO + "\n_unused = [",
     "test_dataset"),
    ("01", "the course's set with reworded questions", "impl_dataset", "examples = [",
     SHIPPED_TECHCO + '\nexamples = [dict(e, input="Hello, " + e["input"]) for e in examples]\n_unused = [',
     "test_dataset"),
    # 02: lora_config and build_labels
    ("02", "adapters on every attention projection", "impl_lora_config", 'target_modules=["q_proj", "v_proj"]',
     'target_modules=["q_proj", "k_proj", "v_proj", "o_proj"]', "test_lora_config"),
    ("02", "alpha set to the rank", "impl_lora_config", "lora_alpha=SETTINGS.alpha", "lora_alpha=SETTINGS.rank",
     "test_lora_config"),
    ("02", "the course text's dropout, not SETTINGS'", "impl_lora_config", "lora_dropout=SETTINGS.dropout",
     "lora_dropout=0.05",
     "test_lora_config"),
    ("02", "padding left as targets", "impl_build_labels", "if position >= prompt_length and real else",
     "if position >= prompt_length else", "test_build_labels"),
    ("02", "padding found by token id (EOS masked too)", "impl_build_labels",
     "if position >= prompt_length and real else", "if position >= prompt_length and token != input_ids[-1] else",
     "test_build_labels"),
    ("02", "prompt mask one token short", "impl_build_labels", "position >= prompt_length", "position > prompt_length",
     "test_build_labels"),
    # 02: tokenize (rows in the chat template with the learner's mask)
    ("02", "labels are the input ids (the prompt is trained)", "impl_tokenize",
     '"labels": build_labels(input_ids, len(prompt_ids), [1] * len(input_ids))', '"labels": list(input_ids)',
     "test_tokenize"),
    ("02", "the course text's ### User: format", "impl_tokenize", 'prompt_text(tokenizer, row["input"])',
     'prompt_text(tokenizer, row["input"], COURSE_TEXT)', "test_tokenize"),
    ("02", "a space before the answer", "impl_tokenize", 'tokenizer(row["output"]', 'tokenizer(" " + row["output"]',
     "test_tokenize"),
    ("02", "no EOS after the answer", "impl_tokenize", ' + [tokenizer.eos_token_id]', "", "test_tokenize"),
    ("02", "not cut to max_length", "impl_tokenize", "[:SETTINGS.max_length]", "", "test_tokenize"),
    # 03: the five criteria
    ("03", "emoji: only U+1F000-1FAFF", "impl_has_emojis", "(0x1F000, 0x1FAFF), (0x2600, 0x27BF)", "(0x1F000, 0x1FAFF)",
     "test_has_emojis"),
    ("03", "emoji: any character outside ASCII", "impl_has_emojis", "return any(lo <= ord(ch) <= hi",
     "return any(ord(ch) > 0x2000 and ch != '→'", "test_has_emojis"),
    ("03", "emoji: any 'other symbol' character (unicodedata)", "impl_has_emojis", "return any(lo <= ord(ch) <= hi",
     "return any(__import__('unicodedata').category(ch) == 'So'", "test_has_emojis"),
    ("03", "emoji: range ends left out", "impl_has_emojis", "lo <= ord(ch) <= hi", "lo <= ord(ch) < hi",
     "test_has_emojis"),
    ("03", "greeting anywhere in the answer", "impl_friendly_tone", 'return re.match(r"\\W*(', 'return re.search(r"(',
     "test_friendly_tone"),
    ("03", "greeting as a prefix, not a whole word", "impl_friendly_tone",
     '"|".join(GREETINGS) + r")\\b", answer', '"|".join(GREETINGS) + r")", answer', "test_friendly_tone"),
    ("03", "warm words as substrings", "impl_friendly_tone", 'r"\\b(" + "|".join(WARM_WORDS) + r")\\b"',
     'r"(" + "|".join(WARM_WORDS) + r")"', "test_friendly_tone"),
    ("03", "specific info counts digits, not numbers", "impl_specific_info", 'r"\\d+"', 'r"\\d"', "test_specific_info"),
    ("03", "specific info forgets the arrows", "impl_specific_info", ' + answer.count("→")', "", "test_specific_info"),
    ("03", "specific info not capped at 3", "impl_specific_info", "return min(count, 3) / 3",
     "return min(count / 3, 1.5)", "test_specific_info"),
    ("03", "specific info counts '@' and '.com' apart", "impl_specific_info",
     'sum("@" in word or ".com" in word for word in answer.split())', 'answer.count("@") + answer.count(".com")',
     "test_specific_info"),
    ("03", "on topic: keywords longer than 4 letters", "impl_on_topic", "len(w) >= 4", "len(w) > 4", "test_on_topic"),
    ("03", "on topic: whole words only", "impl_on_topic", "sum(w in answer.lower() for w in keywords)",
     'sum(w in re.findall(r"[a-z\']+", answer.lower()) for w in keywords)', "test_on_topic"),
    ("03", "on topic: digits count as keyword letters", "impl_on_topic", 're.findall(r"[a-z\']+", question.lower())',
     're.findall(r"[\\w\']+", question.lower())', "test_on_topic"),
    ("03", "on topic: stopwords kept", "impl_on_topic", " and w not in STOPWORDS", "", "test_on_topic"),
    ("03", "company style: one numbered step is enough", "impl_company_style", "MULTILINE)) >= 2",
     "MULTILINE)) >= 1", "test_company_style"),
    ("03", "company style: help offer case-sensitive", "impl_company_style", "phrase in answer.lower()",
     "phrase in answer", "test_company_style"),
    ("03", "company style: steps with '.' only", "impl_company_style", 'r"^\\s*\\d+[.)]\\s"', 'r"^\\s*\\d+\\.\\s"',
     "test_company_style"),
    # 03: the table and the results file
    ("03", "winner from the unrounded numbers", "impl_comparison_table",
     "base, tuned = round(base_means[name], 2), round(tuned_means[name], 2)",
     "base, tuned = base_means[name], tuned_means[name]", "test_comparison_table"),
    ("03", "lower-is-better ignored", "impl_comparison_table", "== (name in lower_is_better)", "== False",
     "test_comparison_table"),
    ("03", "results without the table", "impl_write_results", '"", table, "",', '"",', "test_results_file"),
    ("03", "results with the answers swapped", "impl_write_results",
     'f"**Base:** {b}", "", f"**Fine-tuned:** {t}"', 'f"**Base:** {t}", "", f"**Fine-tuned:** {b}"',
     "test_results_file"),
    # 04: detect_overfitting, estimate_training_memory, general_perplexity
    ("04", "patience ignored (always 3)", "impl_detect_overfitting", "len(eval_losses) - 1 - best >= patience",
     "len(eval_losses) - 1 - best >= 3", "test_detect_overfitting"),
    ("04", "train loss not checked", "impl_detect_overfitting", "no_improvement and still_fitting", "no_improvement",
     "test_detect_overfitting"),
    ("04", "returns the last evaluation, not the best", "impl_detect_overfitting", "return best if",
     "return len(eval_losses) - 1 if", "test_detect_overfitting"),
    ("04", "the last of tied best evaluations", "impl_detect_overfitting",
     "best = eval_losses.index(min(eval_losses))",
     "best = len(eval_losses) - 1 - eval_losses[::-1].index(min(eval_losses))", "test_detect_overfitting"),
    ("04", "train loss must fall at every evaluation", "impl_detect_overfitting",
     "still_fitting = train_losses[-1] < train_losses[best]",
     "still_fitting = all(b < a for a, b in zip(train_losses[best:], train_losses[best + 1:]))",
     "test_detect_overfitting"),
    ("04", "one optimizer state instead of two", "impl_estimate_training_memory", '"optimizer": trainable_params * 8',
     '"optimizer": trainable_params * 4', "test_estimate_training_memory"),
    ("04", "weights always float32", "impl_estimate_training_memory", '"weights": total_params * weight_bytes',
     '"weights": total_params * 4', "test_estimate_training_memory"),
    ("04", "checkpointing halves the activations", "impl_estimate_training_memory",
     "(num_layers + activation_k) if gradient_checkpointing",
     "(num_layers * activation_k / 2) if gradient_checkpointing", "test_estimate_training_memory"),
    ("04", "perplexity: mean of per-text perplexities", "impl_general_perplexity",
     "return math.exp(total_nll / total_tokens)",
     "return math.exp(total_nll / total_tokens) * 0 + _mean_of_texts(model, tokenizer, texts, max_length)",
     "test_general_perplexity"),
    ("04", "perplexity: max_length ignored", "impl_general_perplexity", '["input_ids"][:max_length]', '["input_ids"]',
     "test_general_perplexity"),
    # 05: the dataset and domain_score (medical)
    ("05", "reference pairs plus off-domain filler", "impl_dataset", "MY_PAIRS = MY_PAIRS_BY_DOMAIN[DOMAIN]",
     f"MY_PAIRS = REFERENCE + {OFF_DOMAIN}", "test_dataset"),
    ("05", "own pairs padded with off-domain filler", "impl_dataset", "MY_PAIRS = MY_PAIRS_BY_DOMAIN[DOMAIN]",
     f"MY_PAIRS = MY_PAIRS_BY_DOMAIN[DOMAIN][:27] + {OFF_DOMAIN}", "test_dataset"),
    ("05", "disclaimer matched case-sensitively", "impl_domain_score", '"not medical advice" in answer.lower()',
     '"not medical advice" in answer', "test_domain_score"),
    ("05", "a professional without a condition counts", "impl_domain_score",
     "PROFESSIONAL.search(s) and CONDITION.search(s)", "PROFESSIONAL.search(s)", "test_domain_score"),
    ("05", "length bound exclusive", "impl_domain_score", "30 <= len(answer.split()) <= 150",
     "30 < len(answer.split()) < 150", "test_domain_score"),
]

# Cells that generate or train, replaced (matched by their first line) with fixed values of the same shape.
STAND_INS = {
    ("03", "candidates = [Path("): '''
from peft import LoraConfig, get_peft_model
from lora_course.models import load_base_model
model, tokenizer = load_base_model("tiny")
model = get_peft_model(model, LoraConfig(r=4, target_modules=["q_proj", "v_proj"], task_type="CAUSAL_LM"))
''',
    ("03", "MAX_NEW_TOKENS = 150"): '''
from lora_course.generation import Generation
_TUNED = ["Hi there! 👋 No worries.\\n1. Go to techco.com/login.\\n2. Click \\"Forgot password?\\"."
          "\\nAnything else? 😊",
          "Sorry about that! 📦 Returns are free for 30 days: open Orders → Return. Let me know if you need us."]
_BASE = ["You can reset it on the website.", "Our policy allows returns. Contact support@techco.com for details."]
base_outputs = [Generation(q, _BASE[i % 2], ended_with_eos=i % 3 != 0, new_tokens=12) for i, q in enumerate(questions)]
tuned_outputs = [Generation(q, _TUNED[i % 2], ended_with_eos=True, new_tokens=30) for i, q in enumerate(questions)]
base_answers, tuned_answers = [g.text for g in base_outputs], [g.text for g in tuned_outputs]
''',
    ("04", "def losses_per_evaluation(run):"): '''
bad_train = [3.2, 2.6, 2.1, 1.7, 1.3, 1.0, 0.7, 0.5, 0.35, 0.25, 0.18, 0.12]
bad_eval = [3.0, 2.7, 2.55, 2.5, 2.52, 2.6, 2.7, 2.85, 3.0, 3.1, 3.25, 3.4]
best = bad_eval.index(min(bad_eval))
''',
}
HELPERS = {"04": '''  # what the mean-of-means mutant calls
def _mean_of_texts(model, tokenizer, texts, max_length):
    import math, torch
    values = []
    for text in texts:
        ids = tokenizer(text, add_special_tokens=False)["input_ids"][:max_length]
        x = torch.tensor([ids])
        with torch.no_grad():
            nll = torch.nn.functional.cross_entropy(model(input_ids=x).logits[0, :-1].float(), x[0, 1:])
        values.append(math.exp(nll.item()))
    return sum(values) / len(values)
'''}
# Files a test reads that an earlier cell writes (the name analysis cannot see a file).
WRITES = {("03", "test_results_file"): 'write_results("evaluation_results.md"',
          ("05", "test_dataset"): 'DATA_PATH = Path("mini_project_data.jsonl")'}

ASSIGNMENTS = {name[:2]: name for name in nbgrader_course.ASSIGNMENTS}  # "01" -> "01_dataset_preparation"


def names(source: str) -> tuple[set[str], set[str]]:
    """(names a cell defines, names it reads without defining them)."""
    from IPython.core.inputtransformer2 import TransformerManager

    tree = ast.parse(TransformerManager().transform_cell(source))
    defined, used, parameters = set(), set(), set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name):
            (defined if isinstance(node.ctx, ast.Store) else used).add(node.id)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            defined.add(node.name)
        elif isinstance(node, ast.arg):  # a parameter shadows the notebook's variable of that name
            parameters.add(node.arg)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            defined.update((alias.asname or alias.name).split(".")[0] for alias in node.names)
    return defined, used - defined - parameters


def cut_down(number: str, test: str) -> nbformat.NotebookNode:
    """The solution notebook with only the cells one graded test needs, stand-ins in place of the slow ones."""
    assignment = ASSIGNMENTS[number]
    notebook = nbformat.read(nbgrader_course.SOURCE_DIR / assignment / f"{assignment}.ipynb", as_version=4)
    for cell in notebook.cells:
        for (nb, first_line), replacement in STAND_INS.items():
            if nb == number and cell.source.startswith(first_line):
                cell.source, cell.metadata = replacement.strip(), {}
    code = {i: names(cell.source) for i, cell in enumerate(notebook.cells) if cell.cell_type == "code"}
    todo = [i for i, cell in enumerate(notebook.cells) if cell.metadata.get("nbgrader", {}).get("grade_id") == test]
    writer = WRITES.get((number, test))
    if writer:
        todo.append(next(i for i, cell in enumerate(notebook.cells) if cell.source.startswith(writer)))
    keep = set()
    while todo:
        i = todo.pop()
        if i in keep:
            continue
        keep.add(i)
        for name in code[i][1]:
            definers = [j for j in code if j < i and name in code[j][0]]
            if definers:
                todo.append(definers[-1])
    helpers = [nbformat.v4.new_code_cell(HELPERS[number].strip())] if number in HELPERS else []
    notebook.cells = helpers + [cell for i, cell in enumerate(notebook.cells) if i in keep]
    return notebook


def slices() -> dict[str, tuple[str, str, list[tuple]]]:
    """{nbgrader assignment name: (notebook number, graded test, its mutants)}, one cut-down notebook per test."""
    by_test = {}
    for mutant in MUTANTS:
        by_test.setdefault(f"{mutant[0]}-{mutant[5]}", (mutant[0], mutant[5], []))[2].append(mutant)
    return by_test


WORKERS = 2  # slices graded at once: a slice's time is mostly kernel start-up and imports, one core each


def nbgrader(root: Path, *args: str) -> None:
    env = {key: value for key, value in os.environ.items() if key != "LORA_COURSE_MODEL"}  # the notebooks' own model
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"  # nbgrader runs `alembic`
    threads = str(max(1, (os.cpu_count() or 1) // WORKERS))  # two kernels that each think they own the CPU crawl
    done = subprocess.run([str(Path(sys.executable).with_name("nbgrader")), *args], cwd=root, capture_output=True,
                          text=True, env={**env, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1",
                                          "OMP_NUM_THREADS": threads, "MKL_NUM_THREADS": threads})
    assert done.returncode == 0, done.stderr[-3000:]


def grade_slice(root: Path, name: str, number: str, test: str, mutants: list) -> dict:
    """Autograde the reference and every mutant of one slice in a course folder of its own (own gradebook)."""
    root = root / name
    (root / "source" / name).mkdir(parents=True)
    (root / "nbgrader_config.py").write_text(  # the course's timeout and stubs (nbgrader_course), its own gradebook
        "c = get_config()\n"
        f"c.CourseDirectory.root = {str(root)!r}\n"
        'c.CourseDirectory.course_id = "mutants"\n'
        f"c.Execute.timeout = {nbgrader_course.CELL_TIMEOUT_SECONDS!r}\n"
        f"c.ClearSolutions.code_stub = {{'python': {nbgrader_course.CODE_STUB!r}}}\n"
        f"c.ClearSolutions.text_stub = {nbgrader_course.ANSWER_STUB!r}\n")
    from nbgrader.api import Gradebook

    source = cut_down(number, test)
    nbformat.write(source, root / "source" / name / f"{name}.ipynb")
    nbgrader(root, "generate_assignment", name, "--force")
    release = nbformat.read(root / "release" / name / f"{name}.ipynb", as_version=4)
    versions = {"reference": None} | {f"m{k:02d}": mutant[2:5] for k, mutant in enumerate(mutants)}
    for student, mutation in versions.items():
        (root / "submitted" / student / name).mkdir(parents=True)
        nbformat.write(filled_release(release, source, mutation), root / "submitted" / student / name / f"{name}.ipynb")
    nbgrader(root, "autograde", name, "--force")
    scores = {}
    with Gradebook(f"sqlite:///{root / 'gradebook.db'}", course_id="mutants") as gradebook:
        for student in versions:
            notebook = gradebook.find_submission_notebook(name, name, student)
            scores[name, student] = {g.name: (g.score, g.max_score) for g in notebook.grades
                                     if g.max_score and g.cell_type == "code"}
    return scores


def grade_all(root: Path) -> dict:
    """{(slice, student): {grade_id: (score, max)}}: one autograde run per slice, "reference" and m00, m01, …"""
    with ThreadPoolExecutor(WORKERS) as pool:
        done = pool.map(lambda item: grade_slice(root, item[0], *item[1]), slices().items())
    return {key: value for scores in done for key, value in scores.items()}


def test_every_mutation_changes_its_cell_once():
    for name, (number, test, mutants) in slices().items():
        source = cut_down(number, test)
        graded = {cell.metadata.get("nbgrader", {}).get("grade_id"): cell.source for cell in source.cells}
        assert test in graded, name
        for _, label, grade_id, old, _, _ in mutants:
            assert graded.get(grade_id, "").count(old) == 1, f"{name} {label}: {old!r} not once in {grade_id}"


def test_every_wrong_implementation_loses_points_and_the_reference_keeps_full_marks(tmp_path, summary):
    scores = grade_all(tmp_path)
    problems, caught = [], 0
    for name, (_number, test, mutants) in slices().items():
        problems += [f"{name} reference: {grade_id} {score}/{maximum}"
                     for grade_id, (score, maximum) in scores[name, "reference"].items() if score < maximum]
        for k, mutant in enumerate(mutants):
            score, maximum = scores[name, f"m{k:02d}"][test]
            if score < maximum:
                caught += 1
            else:
                problems.append(f"{name}: kept full marks: {mutant[1]}")
    summary.append(f"mutants: {len(MUTANTS)} wrong implementations, {caught} lost points")
    assert not problems, "\n".join(problems)


# The hidden tests that call the learner's functions only (no file of the learner's run): the re-check decides
# these outside the learner's process (grader/verdict.py), so every mutant of them must lose points there too.
CALLED = {"test_validate_dataset_visible", "test_validate_dataset_hidden", "test_lora_config", "test_build_labels",
          "test_tokenize", "test_has_emojis", "test_friendly_tone", "test_specific_info", "test_on_topic",
          "test_company_style", "test_comparison_table", "test_detect_overfitting", "test_estimate_training_memory",
          "test_general_perplexity", "test_domain_score"}


def recheck_passes(number: str, mutation, tests: set[str], work: Path) -> dict[str, bool]:
    """The full notebook, filled with the reference answers (one of them mutated), in a sandboxed learner process;
    each hidden test of `tests` run from the trusted side: {test: passed}."""
    assignment = ASSIGNMENTS[number]
    release_path = REPO / "notebooks" / assignment / f"{assignment}.ipynb"
    source = nbformat.read(nbgrader_course.SOURCE_DIR / assignment / f"{assignment}.ipynb", as_version=4)
    filled = filled_release(nbformat.read(release_path, as_version=4), source, mutation)
    if number in HELPERS:
        filled.cells.insert(0, nbformat.v4.new_code_cell(HELPERS[number].strip()))
    work.mkdir(parents=True)
    nbformat.write(filled, work / f"{assignment}.ipynb")
    module = verdict.hidden_tests(assignment)
    learner = verdict.Learner(verdict.cells_to_run(work / f"{assignment}.ipynb", release_path, module.RUN_UNTIL),
                              work, [], threads=None, unsandboxed=False, seconds=600)
    passed = {}
    try:
        for test in sorted(tests):
            try:
                module.TESTS[test](learner, None)
                passed[test] = True
            except Exception:  # noqa: BLE001 - a failed check or a learner error: the test is lost
                passed[test] = False
    finally:
        learner.close()
    return passed


def test_every_wrong_function_loses_points_in_the_recheck_outside_the_learners_process(tmp_path, summary,
                                                                                     monkeypatch):
    monkeypatch.delenv("LORA_COURSE_MODEL", raising=False)  # both sides on the notebooks' own model, as in grading
    called = [mutant for mutant in MUTANTS if mutant[5] in CALLED]
    problems = []
    for number in sorted({mutant[0] for mutant in called}):
        tests = {mutant[5] for mutant in called if mutant[0] == number}
        reference = recheck_passes(number, None, tests, tmp_path / f"{number}-reference")
        problems += [f"{number} reference failed {test}" for test, ok in reference.items() if not ok]
    for k, (number, label, grade_id, old, new, test) in enumerate(called):
        if recheck_passes(number, (grade_id, old, new), {test}, tmp_path / f"m{k:02d}")[test]:
            problems.append(f"{number} {label}: kept {test} in the re-check")
    summary.append(f"mutants in the re-check: {len(called)} wrong functions, {len(called) - len(problems)} lost points")
    assert not problems, "\n".join(problems)
