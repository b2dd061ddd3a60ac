"""The SRPO reward (paper §3.2, Eq. 4-8), its released and baseline variants, and the TRL functions."""

import math
import pickle

import pytest

from srpo import rewards
from srpo.rewards import make_reward_funcs, score_completion


def count_z(text: str) -> int:
    """A token counter that makes L and S easy to set: every "z" is one token (no tag contains a z)."""
    return text.count("z")


def five(a1="4", a2="4", think1="z" * 10, refl="z" * 4, think2="z" * 6) -> str:
    """Five blocks with S = 10 and L = 20 = 2S, so f_len = 1."""
    return (
        f"<think>{think1}</think>\n<answer>\\boxed{{{a1}}}</answer>\n<reflection>{refl}</reflection>\n"
        f"<think>{think2}</think>\n<answer>\\boxed{{{a2}}}</answer>"
    )


def score(completion, variant="paper", **kw):
    return score_completion(completion, "4", count_tokens=count_z, variant=variant, **kw)


def terms(s: dict) -> tuple:
    return tuple(round(s[k], 6) for k in (*rewards.COMPONENTS, "total"))


# first answer / second answer -> (format, accuracy, effectiveness, reflection, length, total) at f_len = 1
PAPER = {
    "TT": (five("4", "4"), (0.5, 0.5, 0.25, 0.25, 0.1, 1.6)),
    "FT": (five("5", "4"), (0.5, 0.0, 0.5, 0.25, 0.1, 1.35)),
    "TF": (five("4", "5"), (0.5, 0.5, -0.25, 0.25, 0.1, 1.1)),
    "FF": (five("5", "6"), (0.5, 0.0, 0.0, 0.25, 0.1, 0.85)),
}
RELEASED = {"TT": 1.35, "FT": 1.6, "TF": 0.85, "FF": 0.6}  # 0.5 format + table (0.75/1.0/0.25/0) + 0.1 f_len


@pytest.mark.parametrize("case", PAPER)
def test_paper_table(case):
    completion, expected = PAPER[case]
    s = score(completion)
    assert terms(s) == expected
    assert s["well_formed"] and s["first_correct"] is (case[0] == "T") and s["final_correct"] is (case[1] == "T")


@pytest.mark.parametrize("case", RELEASED)
def test_released_table(case):
    s = score(PAPER[case][0], variant="released")
    assert s["effectiveness"] == s["reflection"] == 0.0 and s["format"] == 0.5
    assert s["total"] == pytest.approx(RELEASED[case]) and s["length"] == pytest.approx(0.1)


SINGLE_RIGHT = "<think>z</think><answer>\\boxed{4}</answer>"
SINGLE_WRONG = "<think>z</think><answer>\\boxed{5}</answer>"
# (completion, paper terms (format, accuracy, effectiveness, reflection, length, total), first_correct)
MALFORMED = [
    (SINGLE_RIGHT, (0, 0.5, 0, 0, 0, 0.5), True),  # one think + one answer: accuracy only
    (SINGLE_WRONG, (0, 0, 0, 0, 0, 0), False),
    ("the answer is 4", (0, 0, 0, 0, 0, 0), None),  # no tags at all
    ("", (0, 0, 0, 0, 0, 0), None),
    (None, (0, 0, 0, 0, 0, 0), None),
    (12345, (0, 0, 0, 0, 0, 0), None),
    ([{"foo": 1}], (0, 0, 0, 0, 0, 0), None),
    (five() + " trailing", (0, 0.5, 0.25, 0.25, 0, 1.0), True),  # stray text: no format, no length
    (five().replace("<think>zzzzzz</think>\n", ""), (0, 0.5, 0.25, 0.25, 0, 1.0), True),  # no second think
    (five().rsplit("<think>", 1)[0], (0, 0.5, 0, 0.25, 0, 0.75), True),  # truncated after the reflection
    (five(refl=" "), (0, 0.5, 0, 0, 0, 0.5), True),  # empty reflection
    ("<reflection>z</reflection>" + SINGLE_RIGHT, (0, 0.5, 0, 0, 0, 0.5), True),  # reflection before the attempt
    (five() + "<answer>5</answer>", (0, 0.5, -0.25, 0.25, 0, 0.5), True),  # extra block: last answer counts
    (five().replace("</think>", "<think>z</think>", 1), (0, 0.5, 0.25, 0.25, 0, 1.0), True),  # nested think
    (five(a1=""), (0, 0, 0.5, 0.25, 0, 0.75), False),  # empty \boxed{}: wrong, and no format or length reward
    (five().replace("\\boxed{4}", "\\boxed{4", 1), (0.5, 0, 0.5, 0.25, 0.1, 1.35), False),  # unbalanced brace
    ("<answer>4</answer>" * 3, (0, 0.5, 0, 0, 0, 0.5), True),  # repeated answers, no think
]


@pytest.mark.parametrize("completion,expected,first_correct", MALFORMED)
def test_malformed(completion, expected, first_correct):
    s = score(completion)
    assert terms(s) == tuple(float(x) for x in expected)
    assert s["first_correct"] is first_correct and not s["well_formed"] or expected[0] == 0.5


def test_baseline_variant():
    base = lambda c: score(c, variant="grpo_baseline")  # noqa: E731
    assert terms(base(SINGLE_RIGHT)) == (0.5, 1.0, 0, 0, 0, 1.5) and base(SINGLE_RIGHT)["well_formed"]
    assert terms(base(SINGLE_WRONG)) == (0.5, 0, 0, 0, 0, 0.5)
    assert terms(base(five())) == (0, 1.0, 0, 0, 0, 1.0) and not base(five())["well_formed"]
    assert terms(base(" no tags ")) == (0,) * 6
    assert score_completion(SINGLE_RIGHT, "4", count_tokens=None, variant="grpo_baseline")["total"] == 1.5


def test_length_term():
    assert score(five(think2="z" * 11))["length"] == pytest.approx(0.1 * math.exp(-1))  # L = 2.5S
    assert score(five(think2="z" * 26))["length"] == pytest.approx(0.1 * math.exp(-16))  # L = 4S
    assert score(five(think1="", a1="4"))["length"] == 0.0  # empty first think: no structure
    assert score(five(think1="v"))["length"] == 0.0  # S = 0
    assert score(five(), completion_tokens=25)["length"] == pytest.approx(0.1 * math.exp(-1))
    assert rewards.length_factor(200, 100) == 1.0 and rewards.length_factor(5, 0) == 0.0


def test_ablations_and_alpha():
    assert score(five(), effectiveness=False)["total"] == pytest.approx(1.35)
    assert score(five(), length=False)["total"] == pytest.approx(1.5)
    assert score(five(), alpha=0.3)["total"] == pytest.approx(1.8)
    assert score(five(), alpha=0.05)["length"] == pytest.approx(0.05)
    assert score_completion(five(), "4", count_tokens=None, length=False)["total"] == pytest.approx(1.5)


def test_bad_settings_name_the_problem():
    with pytest.raises(ValueError, match="variant"):
        score(five(), variant="openrlhf")
    with pytest.raises(ValueError, match="alpha"):
        score(five(), alpha=-1)
    with pytest.raises(ValueError, match="effectiveness"):
        score(five(), variant="released", effectiveness=False)
    with pytest.raises(ValueError, match="count_tokens"):
        score_completion(five(), "4", count_tokens=None)


def test_grading_fields_reach_the_grader():
    mc = five("B", "(A)")
    s = score_completion(mc, "A", count_tokens=count_z, options=["x", "y"], answer_type="multiple_choice")
    assert (s["first_correct"], s["final_correct"]) == (False, True)
    s = score_completion(five("4.449", "4.4"), "4.45", count_tokens=count_z, answer_type="float", precision=2)
    assert (s["first_correct"], s["final_correct"]) == (True, False)


def test_conversational_completions():
    text = five()
    for completion in (
        [{"role": "assistant", "content": text}],
        [{"role": "assistant", "content": [{"type": "text", "text": text}]}],
    ):
        assert score(completion)["total"] == pytest.approx(1.6)


# ---------------------------------------------------------------------------------------------- TRL
def call_all(funcs, completions, **columns):
    return {f.__name__: f(prompts=["q"] * len(completions), completions=completions, **columns) for f in funcs}


def test_reward_funcs_names_and_totals():
    funcs = make_reward_funcs(count_z)
    # TRL names a callable reward by getattr(func, "__name__") (trl.trainer.utils.get_callable_name)
    assert [f.__name__ for f in funcs] == list(rewards.COMPONENTS) == list(rewards.component_names())
    assert rewards.reward_weights() == [1.0] * 5 and rewards.reward_weights("grpo_baseline") == [1.0] * 2
    completions = [five(*p) for p in ("44", "54", "45", "56")] + ["garbage"]
    out = call_all(funcs, completions, answer=["4"] * 5, trainer_state=None)
    totals = [round(sum(out[name][i] for name in out), 6) for i in range(5)]
    assert totals == [1.6, 1.35, 1.1, 0.85, 0.0]
    assert all(isinstance(v, float) for values in out.values() for v in values)


def test_reward_funcs_read_columns_and_completion_ids():
    funcs = make_reward_funcs(count_z)
    convo = [[{"role": "assistant", "content": five("B", "A")}]]
    out = call_all(
        funcs,
        convo,
        answer=["A"],
        options=[["p", "q"]],
        answer_type=["multiple_choice"],
        precision=[None],
        completion_ids=[[0] * 25],
    )
    assert out["accuracy"] == [0.0] and out["effectiveness"] == [0.5]
    assert out["length"] == [pytest.approx(0.1 * math.exp(-1))]  # L = 25 tokens from completion_ids


def test_reward_funcs_score_each_completion_once(monkeypatch):
    calls = []
    real = rewards.score_completion
    monkeypatch.setattr(rewards, "score_completion", lambda *a, **k: calls.append(a[0]) or real(*a, **k))
    funcs = make_reward_funcs(count_z)
    call_all(funcs, [five(), five("5"), "x"], answer=["4"] * 3)
    assert len(calls) == 3


def test_reward_funcs_bad_batches_name_the_problem():
    funcs = make_reward_funcs(count_z)
    with pytest.raises(ValueError, match="'answer'"):
        funcs[0](prompts=["q"], completions=[five()], solution=["4"])
    with pytest.raises(ValueError, match="answer_type"):
        funcs[0](prompts=["q"], completions=[five()], answer=["4"], answer_type=["integer", "integer"])
    with pytest.raises(ValueError, match="count_tokens"):
        make_reward_funcs(None)


def test_baseline_reward_funcs_and_pickling():
    funcs = make_reward_funcs(None, variant="grpo_baseline")
    assert [f.__name__ for f in funcs] == ["format", "accuracy"]
    assert call_all(funcs, [SINGLE_RIGHT], answer=["4"]) == {"format": [0.5], "accuracy": [1.0]}
    restored = pickle.loads(pickle.dumps(make_reward_funcs(len)))
    assert [f.__name__ for f in restored] == list(rewards.COMPONENTS)


def test_token_counter_with_the_tiny_tokenizer(tiny_model_path):
    from types import SimpleNamespace

    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tiny_model_path)
    text = five("\\frac{1}{2}", "0.5", think1="The left number is 7.", refl="Fine.", think2="7 + 2 = 9.")
    expected = len(tokenizer.encode(text, add_special_tokens=False))
    assert rewards.token_counter(tokenizer)(text) == expected
    processor = SimpleNamespace(tokenizer=tokenizer)  # GRPOTrainer's processing_class for a VLM: a processor
    assert rewards.token_counter(processor)(text) == expected
    assert rewards.token_counter(tokenizer)("") == 0
    assert 0 < score_completion(text, "0.5", count_tokens=tokenizer)["length"] <= 0.1
    with pytest.raises(TypeError, match="count_tokens"):
        rewards.token_counter(42)


# ---------------------------------------------------------------- edge cases of docs/paper_vs_release.md
def test_an_empty_first_box_earns_no_format_in_any_variant():
    """Under the released table wrong-then-fixed pays most; an empty first box must not buy it with format."""
    for variant in ("paper", "released"):
        hack, honest = score(five(a1=""), variant), score(five(a1="4"), variant)
        assert hack["format"] == 0.0 and hack["length"] == 0.0 and not hack["well_formed"]
        assert honest["total"] > hack["total"]
    assert score("<think>z</think><answer>\\boxed{}</answer>", "grpo_baseline")["format"] == 0.0


def test_released_variant_allows_leading_text_the_paper_variant_does_not():
    text = "Let me solve it.\n" + five()
    paper, released = score(text), score(text, "released")
    assert paper["format"] == 0.0 and paper["length"] == 0.0 and not paper["well_formed"]
    assert released["format"] == 0.5 and released["well_formed"] and released["total"] == pytest.approx(1.35)


def test_released_second_answer_is_the_last_answer_whatever_precedes_it():
    no_reflection = five("5", "4").replace("<reflection>zzzz</reflection>\n", "")
    released = score(no_reflection, "released")
    assert released["accuracy"] == 1.0 and released["format"] == 0.0  # FT in the table, no format
    assert score(no_reflection)["effectiveness"] == 0.0  # paper: I_eff needs a reflection
    assert score(SINGLE_RIGHT, "released")["accuracy"] == 0.25  # one answer: the second counts as wrong


def test_answer_inside_the_first_think_is_not_graded_as_the_first_answer():
    text = five("5", "4").replace("<think>zzzzzzzzzz</think>", "<think>zzzzzzzzzz <answer>4</answer></think>", 1)
    s = score(text)
    assert s["first_correct"] is False and s["accuracy"] == 0.0 and s["format"] == 0.0


def test_a_reflection_quoting_a_tag_keeps_i_ref_and_i_eff():
    s = score(five("5", "4", refl="zzzz I wrote </think> too early"))
    assert s["reflection"] == 0.25 and s["effectiveness"] == 0.5 and s["format"] == 0.0


def test_latest_verdicts_are_the_reward_functions_own():
    """What the GRPO trainer's metrics and filter read: the verdicts of the batch the reward functions scored
    last, for exactly those completions (no second grading)."""
    funcs = make_reward_funcs(count_z)
    convo = [[{"role": "assistant", "content": five("4", "5")}], five("5", "4")]
    call_all(funcs, convo, answer=["4", "4"])
    verdicts = rewards.latest_verdicts(funcs, [five("4", "5"), five("5", "4")])
    assert [(v["first_correct"], v["final_correct"], v["unchanged"]) for v in verdicts] == [
        (True, False, False),
        (False, True, False),
    ]
    assert verdicts[0]["reflection_tokens"] == 4 and verdicts[0]["effectiveness"] == -0.25
    with pytest.raises(RuntimeError, match="not these 1"):
        rewards.latest_verdicts(funcs, [five()])
    with pytest.raises(ValueError, match="make_reward_funcs"):
        rewards.latest_verdicts([lambda **kw: [0.0]], [five()])


def test_a_string_is_refused_as_a_token_counter_with_the_fix():
    # the public cases write "count_tokens": "whitespace"; passing that string on must not fail deep in encode()
    with pytest.raises(TypeError, match="is a string, not a token counter.*len\\(text.split\\(\\)\\)"):
        rewards.score_completion("<answer>4</answer>", "4", count_tokens="whitespace")
