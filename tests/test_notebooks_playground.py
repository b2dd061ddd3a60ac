"""Notebook 04's reward playground (srpo.playground) and the rules its "What this shows" section states."""

import math

import pytest

from srpo import playground
from srpo.training import plots


@pytest.mark.parametrize(
    ("first", "final", "total"), [(True, True, 1.6), (False, True, 1.35), (True, False, 1.1), (False, False, 0.85)]
)
def test_paper_totals_of_eq_4_to_8(first, final, total):
    """Format right and f_len = 1 (L = 2S): the paper's totals TT 1.6 > FT 1.35 > TF 1.1 > FF 0.85."""
    terms = playground.reward_terms(first, final, reflection=True, L=200, S=100)
    assert terms["total"] == pytest.approx(total)
    assert terms["total"] == pytest.approx(sum(terms[k] for k in playground.TERMS[:-1]))


def test_released_table_pays_a_fix_more_than_right_twice():
    fixed = playground.reward_terms(False, True, L=200, S=100, variant="released")
    right = playground.reward_terms(True, True, L=200, S=100, variant="released")
    assert (fixed["accuracy"], right["accuracy"]) == (1.0, 0.75) and fixed["total"] > right["total"]


def test_length_term_follows_eq_7():
    at_max = playground.reward_terms(True, True, L=250, S=100)
    assert at_max["f_len"] == pytest.approx(math.exp(-1)) and at_max["length"] == pytest.approx(0.1 * math.exp(-1))
    assert playground.reward_terms(True, True, L=400, S=100)["length"] < 1e-6


def test_no_reflection_is_a_single_pass_reply():
    paper = playground.reward_terms(True, True, reflection=False, L=100, S=100)
    baseline = playground.reward_terms(True, True, reflection=False, L=100, S=100, variant="grpo_baseline")
    assert (paper["format"], paper["reflection"], paper["effectiveness"]) == (0.0, 0.0, 0.0)
    assert (baseline["format"], baseline["accuracy"]) == (0.5, 1.0)


def test_bad_lengths_are_named():
    with pytest.raises(ValueError, match="L .* below S"):
        playground.reward_terms(True, True, L=50, S=100)
    with pytest.raises(ValueError, match="S .* >= 2"):
        playground.reward_terms(True, True, L=50, S=1)


def test_widget_answers_a_slider_change():
    box = playground.widget(S=100)
    controls, out = box.children
    by_class = {c._dom_classes[0]: c for c in controls.children}
    before = out.value
    assert "0.100" in before  # L = 2S: 0.1 * f_len = 0.1
    by_class["srpo-L"].value = 250
    assert out.value != before and f"{0.1 * math.exp(-1):+.3f}" in out.value
    by_class["srpo-L"].value = 50
    assert "Not a valid reply" in out.value


def test_static_table_has_every_variant():
    table = playground.table(S=100)
    assert len(table) == 6 * 3 and list(table.columns) == list(playground.TERMS)


SUMMARY = {
    "curves": {"reward": [[i, 0.5 + 0.01 * i] for i in range(20)]},
    "held_out": {
        "before": {
            "greedy": {
                "n": 400,
                "structure_rate": 0.9,
                "first_acc": 0.5,
                "final_acc": 0.55,
                "fix_rate": 0.3,
                "break_rate": 0.1,
                "unchanged_rate": 0.6,
            },
            "sampled": {
                "n": 400,
                "structure_rate": 0.8,
                "first_acc": 0.4,
                "final_acc": 0.42,
                "fix_rate": 0.2,
                "break_rate": 0.2,
                "unchanged_rate": 0.5,
            },
        },
        "after": {
            "greedy": {
                "n": 400,
                "structure_rate": 1.0,
                "first_acc": 0.6,
                "final_acc": 0.61,
                "fix_rate": 0.1,
                "break_rate": 0.05,
                "unchanged_rate": 0.8,
            },
            "sampled": {
                "n": 400,
                "structure_rate": 0.9,
                "first_acc": 0.41,
                "final_acc": 0.43,
                "fix_rate": 0.2,
                "break_rate": 0.2,
                "unchanged_rate": 0.5,
            },
        },
    },
}


def test_grpo_checks_apply_the_stated_rules():
    checks = plots.grpo_checks(SUMMARY)["holds"]
    assert checks["reward rose"] and checks["reflection became a rubber stamp (greedy)"]
    flat = {**SUMMARY, "curves": {"reward": [[i, 1.0 - 0.01 * i] for i in range(20)]}}
    assert not plots.grpo_checks(flat)["holds"]["reward rose"]
    assert plots.sft_checks(SUMMARY)["holds"].tolist() == [True]  # sampled break 0.2 >= fix 0.2


def test_held_out_changes_z_and_verdicts():
    table = plots.held_out_changes(SUMMARY).set_index(["decoding", "metric"])
    assert table.loc[("greedy", "first_acc"), "verdict"] == "beyond the noise"  # 0.50 -> 0.60 on 400: z ~ 2.8
    assert table.loc[("sampled", "first_acc"), "verdict"] == "could be noise"
    assert table.loc[("greedy", "fix_rate"), "verdict"] == ""  # a subset's rate: no z


def test_notebook_05_demo_grades_first_and_final_answers():
    from srpo.bench import report

    demo = report.scoring_demo()
    assert demo["first right"].tolist() == [True, False, True]
    assert demo["final right"].tolist() == [True, True, False]
    assert demo["the reflection"].tolist() == ["kept a right answer", "fixed a wrong answer", "broke a right answer"]
