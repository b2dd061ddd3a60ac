"""The glance variant of the synthetic task, the outcome reward, the paired intervals and the reflection
experiment end to end at a toy scale (README "A task where reflection has room to help")."""

from __future__ import annotations

import json
import random
import re

import pytest

from srpo import formats, rewards
from srpo.ablations import reflection_experiment as rx
from srpo.reflection import attempts, teacher
from srpo.stats import t95
from srpo.tiny import sevenseg

READING = re.compile(r"The left number is (\d) and the right number is (\d)\.")


def glance_records(n=40):
    return [p.record() for p in sevenseg.make_problems(n, 2, first_pass="glance")]


def test_glance_attempts_are_cut_to_the_budget_and_the_reflection_rereads_the_image():
    for problem in sevenseg.make_problems(40, 2, first_pass="glance"):
        record = problem.record()
        assert record["metadata"]["first_pass"] == "glance"
        for attempt in (sevenseg.correct_attempt(problem), sevenseg.flawed_attempt(problem, random.Random(1))):
            row = attempts.attempt_row(record, "a", "generator", attempt.text)
            assert row["think"] == sevenseg.GLANCE_THINK and not READING.search(row["text"])  # no reading first
            reply = teacher.template_reply(record, row, "two_pass")
            reading = READING.search(reply["reflection"])  # the reflection reads the image ...
            assert reading and (int(reading[1]), int(reading[2])) == (problem.left, problem.right)
            verdict = "right" if row["correct"] else "wrong"  # ... and judges the first answer by it
            assert reply["reflection"].endswith(f"is {verdict}."), reply["reflection"]
            assert teacher.check_reflection(reply, gold=record["answer"], options=record["options"])[1] is None


def test_the_policys_own_attempt_keeps_its_answer_but_loses_its_reasoning():
    record = glance_records(1)[0]
    own = "<think>The left number is 3 and the right number is 4. 3 + 4 = 7.</think><answer>\\boxed{7}</answer>"
    row = attempts.attempt_row({**record, "metadata": json.dumps(record["metadata"])}, "p", "policy", own)
    assert row["text"] == formats.think(sevenseg.GLANCE_THINK) + formats.answer("7") and row["answer"] == "7"


def test_the_default_task_is_unchanged():
    problem = sevenseg.make_problems(1, 2)[0]
    assert "first_pass" not in problem.record()["metadata"]
    attempt = sevenseg.correct_attempt(problem)
    assert READING.search(attempt.think)
    record = problem.record()
    assert attempts.attempt_row(record, "a", "generator", attempt.text)["text"] == attempt.text
    assert sevenseg.template_reflection(problem, attempt.text).startswith("Both numbers are read correctly")


def test_an_unknown_first_pass_is_refused_by_the_config():
    from srpo.configs.data_curation import CurationArgs

    with pytest.raises(ValueError, match="synthetic_first_pass must be one of full, glance, got 'skim'"):
        CurationArgs(synthetic_first_pass="skim")
    assert CurationArgs(synthetic_first_pass="glance").synthetic_settings()["first_pass"] == "glance"


def test_the_outcome_reward_looks_only_at_the_final_answer_of_five_blocks():
    def reply(first, final):
        return (
            f"<think>{sevenseg.GLANCE_THINK}</think><answer>\\boxed{{{first}}}</answer><reflection>check"
            f"</reflection><think>redo</think><answer>\\boxed{{{final}}}</answer>"
        )

    score = {
        k: rewards.score_completion(reply(*k), "5", count_tokens=len, variant="outcome")["total"]
        for k in [("5", "5"), ("4", "5"), ("5", "4"), ("4", "4")]
    }
    assert score == {("5", "5"): 1.5, ("4", "5"): 1.5, ("5", "4"): 0.5, ("4", "4"): 0.5}
    single = "<think>x</think><answer>\\boxed{5}</answer>"
    assert rewards.score_completion(single, "5", count_tokens=len, variant="outcome")["format"] == 0.0
    paper = rewards.score_completion(reply("4", "5"), "5", count_tokens=len)["total"]
    assert paper < rewards.score_completion(reply("5", "5"), "5", count_tokens=len)["total"]  # SRPO's differs


def test_paired_interval_and_verdict():
    a, b = {0: 0.6, 1: 0.7, 2: 0.65}, {0: 0.5, 1: 0.58, 2: 0.55}
    d = rx.paired_interval(a, b)
    assert d["diffs"] == pytest.approx({0: 0.1, 1: 0.12, 2: 0.1})
    half = 4.303 * (0.0004 / 3) ** 0.5 / 3**0.5  # t(0.975, 2) * sd / sqrt(n); sd^2 = sum of squares / (n - 1)
    assert (d["low"], d["high"]) == pytest.approx((0.32 / 3 - half, 0.32 / 3 + half))
    assert rx.verdict(d) == "higher"
    assert rx.verdict(rx.paired_interval(b, a)) == "lower"
    assert rx.verdict(rx.paired_interval({0: 0.5, 1: 0.7}, {0: 0.6, 1: 0.6})) == "unresolved"
    assert rx.verdict(rx.paired_interval({0: 0.9}, {0: 0.1})) == "unresolved"  # one seed: no interval
    with pytest.raises(ValueError, match="at least 1 degree of freedom"):
        t95(0)


@pytest.mark.slow
def test_the_experiment_runs_at_a_toy_scale(tmp_path):
    """~2 min on 2 cores: stages 01-03 on the glance variant, two arms x two seeds, the report."""
    from datasets import load_from_disk

    report = rx.run(tmp_path / "rx", [0, 1], "toy")
    sft = load_from_disk(str(tmp_path / "rx" / "reflection_generation" / "sft"))
    for row in sft:
        parsed = formats.parse_completion(row["completion"][0]["content"][0]["text"])
        assert parsed.is_five_block and parsed.first_think == sevenseg.GLANCE_THINK
        assert READING.search(parsed.reflection)
    assert set(report["results"]) == {"sft_only", "grpo_outcome", "srpo"}
    assert set(report["results"]["srpo"]) == {0, 1} and set(report["paired"]["sampled_fix"]["diffs"]) <= {0, 1}
    for arm, seed in [("srpo", 1), ("grpo_outcome", 0)]:  # each arm trained its own GRPO model
        grpo = tmp_path / "rx" / "ablations" / "arms" / arm / f"seed{seed}" / "grpo_rl"
        assert (grpo / "final" / "config.json").exists()
        variant = json.loads((grpo / "summary.json").read_text())["reward"]["variant"]
        assert variant == {"srpo": "paper", "grpo_outcome": "outcome"}[arm]
    text = (tmp_path / "rx" / "report.md").read_text()
    assert "Paired difference SRPO − plain GRPO" in text and "central claim" in text


def test_the_command_passes_its_threads_and_refuses_bad_or_changed_budgets(tmp_path, monkeypatch):
    calls = []
    monkeypatch.setattr(rx, "run_shared_stages", lambda run_dir, scale, threads=None: calls.append(threads))
    monkeypatch.setattr(rx, "run_arms", lambda *a, **k: None)
    monkeypatch.setattr(rx, "write_report", lambda *a, **k: {})
    rx.main(["--run-dir", str(tmp_path / "r"), "--torch-threads", "1", "--grpo-steps", "100", "--sft-epochs", "1"])
    assert calls == [1]  # --torch-threads reaches stages 01-03
    with pytest.raises(ValueError, match="was run with budget"):  # same folder, another budget: refused
        rx.main(["--run-dir", str(tmp_path / "r")])
    for bad in (["--grpo-steps", "-5"], ["--sft-epochs", "0"], ["--eval-n", "-3"], ["--workers", "0"]):
        with pytest.raises(ValueError, match="budget out of range"):
            rx.main(["--run-dir", str(tmp_path / "other"), *bad])
    assert calls == [1] and not (tmp_path / "other").exists()
