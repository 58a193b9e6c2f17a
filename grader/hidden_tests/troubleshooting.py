"""Exercise 4's hidden tests, run where no learner code runs (grader/verdict.py): `detect_overfitting` and
`estimate_training_memory` against the solution's on the stated rules and generated inputs; `general_perplexity`
on the course's models (loaded in the learner's process) against the solution's, measured here."""

from hypothesis import strategies as st
from verdict import differential, learner_global, model, reference

from lora_course.dataset import read_jsonl
from lora_course.models import load_base_model, load_tokenizer
from lora_course.paths import data_file

ASSIGNMENT = "04_troubleshooting"
RUN_UNTIL = "impl_general_perplexity"


def solution(name: str):
    return reference(ASSIGNMENT, "impl_detect_overfitting", "impl_estimate_training_memory",
                     "impl_general_perplexity")[name]


LOSS = st.sampled_from([0.5, 0.9, 1.0, 1.2, 1.5, 2.0, 2.4, 2.5, 2.6, 2.7, 3.0]) | st.floats(0.1, 4.0)


@st.composite
def runs(draw):
    size = draw(st.integers(0, 12))
    shape = draw(st.sampled_from(["falling", "flat", "random"]))
    train = {"falling": [3.4 - 0.15 * i for i in range(size)], "flat": [2.0] * size,
             "random": draw(st.lists(LOSS, min_size=size, max_size=size))}[shape]
    evals = draw(st.lists(LOSS, min_size=size, max_size=size))
    kwargs = draw(st.sampled_from([{}, {"patience": 1}, {"patience": 2}, {"patience": 3}, {"patience": 5}]))
    return train, evals, kwargs


def overfitting_agrees(learner, case) -> None:
    train, evals, kwargs = case
    got = learner.call("detect_overfitting", train, evals, returns=("int", "NoneType"), **kwargs)
    want = solution("detect_overfitting")(train, evals, **kwargs)
    assert got is None or (isinstance(got, int) and not isinstance(got, bool)), "return an int index or None"
    assert got == want, f"train {train}, eval {evals}, {kwargs}: expected {want}, got {got}"


def test_detect_overfitting(learner, files) -> None:
    falling = [3.4 - 0.15 * i for i in range(12)]
    for case in [([3.0, 2.5, 2.0, 1.6, 1.2, 0.9], [3.1, 2.8, 2.6, 2.5, 2.45, 2.4], {}),
                 ([3.0, 2.2, 1.5, 1.0, 0.6, 0.3, 0.1], [3.0, 2.6, 2.4, 2.5, 2.7, 2.9, 3.2], {}),
                 (falling[:8], [3.0, 2.5, 2.5, 2.6, 2.7, 2.8, 2.9, 3.0], {}),                  # a tie: the first
                 (falling[:7], [3.0, 2.9, 2.8, 2.7, 2.75, 2.8, 2.85], {"patience": 2}),
                 ([2.0] * 9, [2.5, 2.4, 2.3, 2.35, 2.4, 2.45, 2.5, 2.55, 2.6], {}),          # flat train
                 ([1.0, 0.9, 0.8], [2.0, 2.1, 2.2], {}), ([1.0, 0.9, 0.8, 0.7], [2.0, 2.1, 2.2, 2.3], {}),
                 ([3.0, 2.5, 2.0, 2.1, 1.8, 1.9, 1.5], [3.0, 2.5, 2.6, 2.7, 2.8, 2.9, 3.0], {}),
                 (falling, [3.2, 3.0, 2.9, 2.8, 2.75, 2.7, 2.66, 2.63, 2.61, 2.6, 2.59, 2.585], {}),
                 (falling, [3.2, 3.0, 2.8, 2.7, 2.65, 2.7, 2.8, 2.9, 3.0, 3.1, 3.2, 3.3], {}),
                 (falling, [3.2, 3.0, 3.05, 2.9, 2.95, 2.8, 2.85, 2.82, 2.7, 2.74, 2.6, 2.62], {}),
                 (falling[:8], [2.9, 2.5, 2.6, 2.7, 2.8, 2.9, 3.0, 3.1], {}),
                 (falling[:6], [3.0, 2.9, 2.8, 2.7, 2.6, 2.7], {}),
                 (falling[:7], [3.0, 2.9, 2.8, 2.7, 2.75, 2.8, 2.85], {"patience": 5}),
                 ([1.0, 0.9], [2.0, 2.1], {})]:
        overfitting_agrees(learner, case)
    differential(runs(), lambda case: overfitting_agrees(learner, case), examples=80)


PARTS = ("weights", "adapters", "gradients", "optimizer", "activations", "total")
SHAPE = {"total_params": 134_515_008, "trainable_params": 921_600, "hidden_size": 576, "num_layers": 30}


def memory_agrees(learner, kwargs) -> None:
    got, want = learner.call("estimate_training_memory", **kwargs), solution("estimate_training_memory")(**kwargs)
    assert isinstance(got, dict) and set(got) == set(PARTS), f"keys {sorted(PARTS)}, got {str(got)[:100]}"
    for part in PARTS:
        assert isinstance(got[part], (int, float)) and abs(got[part] - want[part]) <= 0.01 * want[part] + 1e-9, \
            f"{part}: expected {want[part]:.3f} MiB, got {got[part]} for {kwargs}"


def test_estimate_training_memory(learner, files) -> None:
    memory_agrees(learner, dict(total_params=1_000_000, trainable_params=10_000, batch_size=2, seq_len=8,
                                hidden_size=16, num_layers=2, activation_k=10))
    strategy = st.fixed_dictionaries(
        {"total_params": st.integers(1, 10**11), "trainable_params": st.integers(0, 10**9),
         "batch_size": st.integers(1, 64), "seq_len": st.integers(1, 8192), "hidden_size": st.integers(1, 16384),
         "num_layers": st.integers(1, 128), "activation_k": st.integers(1, 80)},
        optional={"weight_bytes": st.sampled_from([0.5, 1, 2, 4]), "activation_bytes": st.sampled_from([2, 4]),
                  "gradient_checkpointing": st.booleans()})
    differential(strategy, lambda kwargs: memory_agrees(learner, kwargs), examples=60)
    plain = learner.call("estimate_training_memory", **SHAPE, batch_size=4, seq_len=128)
    k = plain["activations"] * 2**20 / (4 * 128 * 576 * 30 * 4)
    assert 8 <= k <= 60, f"your default activation_k ({k:.1f}) is implausible for a Llama block"
    checkpointed = learner.call("estimate_training_memory", **SHAPE, batch_size=4, seq_len=128,
                                gradient_checkpointing=True)
    assert checkpointed["activations"] < plain["activations"], "checkpointing keeps fewer activations"


TEXTS = ["Glaciers carve U-shaped valleys as they slowly flow downhill under their own weight.",
         "The printing press, developed around 1440, made books far cheaper and helped spread literacy across "
         "Europe within a few generations, changing religion, science and politics along the way."]


def test_general_perplexity(learner, files) -> None:
    general = [row["text"] for row in read_jsonl(data_file("general_text.jsonl"))][:4]
    models = {None: load_base_model()[0], "tiny": load_base_model("tiny")[0]}
    tokenizer = load_tokenizer()
    for name, texts, max_length in ((None, general, 64), (None, TEXTS, 64), (None, TEXTS, 12), ("tiny", TEXTS, 40),
                                    (None, TEXTS[:1], 200)):
        got = learner.call("general_perplexity", model(name), learner_global("tokenizer"), texts, max_length=max_length)
        want = solution("general_perplexity")(models[name], tokenizer, texts, max_length=max_length)
        assert isinstance(got, (int, float)), f"return a number, got {str(got)[:60]}"
        assert abs(got - want) <= 1e-3 * want, \
            f"{name or 'base'} model, max_length={max_length}: expected {want:.4f}, got {got:.4f} (pool every " \
            "text's tokens; do not average per-text perplexities)"


TESTS = {"test_detect_overfitting": test_detect_overfitting,
         "test_estimate_training_memory": test_estimate_training_memory,
         "test_general_perplexity": test_general_perplexity}
