"""The online accuracy filter and the reflection metrics of srpo.grpo_trainer, on hand-made groups."""

from types import SimpleNamespace

import pytest
import torch

from srpo.grpo_trainer import SRPOGRPOTrainer, completion_accuracy, groups_to_keep, reflection_metrics


def grade(first, final, **extra):
    return {
        "first_correct": first,
        "final_correct": final,
        "well_formed": True,
        "unchanged": first == final,
        "reflection_tokens": 4,
        **extra,
    }


def test_completion_accuracy_metrics():
    assert completion_accuracy(grade(True, False), "mean") == 0.5
    assert completion_accuracy(grade(False, True), "final") == 1.0
    assert completion_accuracy(grade(None, None), "first") == 0.0


@pytest.mark.parametrize(
    ("accuracies", "expected"),
    [
        ([1, 1, 1, 1], [False]),  # always solved: no signal about correctness
        ([0, 0, 0, 0], [False]),  # never solved
        ([1, 0, 0, 0], [True]),  # 0.25 is inside [0.1, 0.9]
        ([1, 1, 1, 0.5], [True]),  # 0.875
        ([0.5, 0, 0, 0, 0, 0, 0, 0], [False]),  # mean 0.0625: one half-right rollout in eight is below 0.1
    ],
)
def test_groups_to_keep(accuracies, expected):
    assert groups_to_keep(accuracies, len(accuracies), 0.1, 0.9) == expected


def test_groups_to_keep_boundaries_and_errors():
    assert groups_to_keep([0.1, 0.1], 2, 0.1, 0.9) == [True]  # bounds are inclusive
    assert groups_to_keep([0.9, 0.9, 1, 0.8], 2, 0.1, 0.9) == [True, True]
    with pytest.raises(ValueError, match="groups of 4"):
        groups_to_keep([1, 0, 1], 4, 0.1, 0.9)


def fake_trainer(loss_type, grades, group=4, processes=1, index=0):
    """The attributes _apply_filter uses, without building a model."""
    trainer = SimpleNamespace(
        num_generations=group,
        loss_type=loss_type,
        _accuracy_filter=(0.1, 0.9),
        _filter_metric="mean",
        _grades=grades,
        _metrics={"train": {"srpo/filter_kept": []}},
        accelerator=SimpleNamespace(process_index=index, num_processes=processes, gather=lambda t: t),
    )
    trainer._apply_filter = SRPOGRPOTrainer._apply_filter.__get__(trainer)
    trainer._keep = SRPOGRPOTrainer._keep.__get__(trainer)
    return trainer


def batch(n, length=3):
    return {
        "advantages": torch.arange(1.0, n + 1),
        "completion_mask": torch.ones(n, length),
        "num_items_in_batch": torch.tensor(float(n * length)),
    }


def test_filter_drops_solved_and_unsolved_groups_and_reweights():
    # three groups of 4: always right, half right, never right -> only the middle group is kept
    grades = [grade(True, True)] * 4 + [grade(True, True), grade(False, False)] * 2 + [grade(False, False)] * 4
    trainer = fake_trainer("grpo", grades)
    out = batch(12)
    trainer._apply_filter(out, "train")
    kept = torch.tensor([0] * 4 + [1] * 4 + [0] * 4, dtype=torch.float)
    assert torch.equal(out["completion_mask"].sum(1) > 0, kept.bool())
    # sequence-mean loss: kept advantages are scaled by 12/4 so the loss is the mean over the kept group alone
    assert torch.allclose(out["advantages"], torch.arange(1.0, 13) * kept * 3)
    assert trainer._metrics["train"]["srpo/filter_kept"] == [pytest.approx(1 / 3)]


def test_filter_recounts_tokens_for_token_normalised_loss():
    grades = [grade(True, False)] * 4 + [grade(True, True)] * 4
    trainer = fake_trainer("dapo", grades)
    out = batch(8)
    trainer._apply_filter(out, "train")
    assert out["num_items_in_batch"].item() == 4 * 3  # only the kept group's tokens
    assert torch.equal(out["advantages"][:4], torch.arange(1.0, 5))  # no rescaling for token-level losses


def test_filter_slices_the_local_rows_of_a_multi_process_batch():
    grades = [grade(False, False)] * 4 + [grade(True, False)] * 4  # group 0 dropped, group 1 kept
    trainer = fake_trainer("bnpo", grades, processes=2, index=1)  # process 1 holds rows 4..7
    out = batch(4)
    trainer._apply_filter(out, "train")
    assert out["completion_mask"].sum().item() == 4 * 3


def test_reflection_metrics():
    grades = [grade(True, True), grade(False, True), grade(True, False), grade(False, False, well_formed=False)]
    m = reflection_metrics(grades)
    assert m["srpo/first_acc"] == 0.5 and m["srpo/final_acc"] == 0.5
    assert m["srpo/fix_rate"] == 0.5 and m["srpo/break_rate"] == 0.5 and m["srpo/well_formed"] == 0.75


# ---------------------------------------------------------------- the release's filter metric (fault 5)

FIVE_BLOCK = "<think>t</think><answer>\\boxed{{{a}}}</answer><reflection>r</reflection><think>u</think><answer>\\boxed{{{b}}}</answer>"


@pytest.mark.parametrize("variant", ["released", "paper"])
def test_reward_metric_keeps_groups_answered_right_twice(variant):
    """The release averaged its reward's accuracy term (TT 0.75): an all-TT group is kept there, while the mean
    of first/final correctness (1.0) drops it; all-FF groups (0) are dropped by both."""
    from srpo.rewards import score_completion

    def graded(a, b):
        return score_completion(FIVE_BLOCK.format(a=a, b=b), "4", count_tokens=len, variant=variant, length=False)

    all_tt = [completion_accuracy(graded(4, 4), "reward") for _ in range(8)]
    all_ff = [completion_accuracy(graded(5, 5), "reward") for _ in range(8)]
    assert groups_to_keep(all_tt + all_ff, 8, 0.1, 0.9) == [True, False]
    assert completion_accuracy(graded(5, 4), "reward") == (1.0 if variant == "released" else 0.5)  # FT
    assert groups_to_keep([completion_accuracy(graded(4, 4), "mean")] * 8, 8, 0.1, 0.9) == [False]


def test_recipes_filter_with_the_release_metric():
    from srpo import config

    for profile in ("7b", "32b"):
        assert config.recipe_value(profile, "grpo_rl", "accuracy_filter_metric") == "reward"
