"""Plain statements of what each arm's numbers show and do not show, computed from the table.

Each note compares an arm with its reference arm on the sampled (T = 1) run, which reveals more than greedy
decoding, and says whether the difference is larger than the sampling noise of the test set (a two-
proportion z over the answers scored; seeds add their own spread, reported in the table).
"""

from __future__ import annotations

from srpo.ablations.collect import two_proportion_z

# (arm, reference arm, what the comparison isolates)
COMPARISONS = [
    ("sft_only", "base", "the reflection cold start (SFT on the policy's own attempts and the teacher's reflections)"),
    ("srpo", "sft_only", "GRPO with the paper's reflection-aware reward, after the cold start"),
    ("grpo_no_sft", "base", "plain GRPO (single pass, format + accuracy reward) without any SFT"),
    ("srpo", "grpo_no_sft", "SRPO against plain GRPO (Table 1: 75.8 vs 72.3 on MathVista at 7B)"),
    ("srpo_no_sft", "srpo", "removing the reflection cold start (Table 3: 51.2 vs 53.5)"),
    ("no_effectiveness", "srpo", "removing I_eff (Table 3: 52.0 vs 53.5)"),
    ("no_length", "srpo", "removing the length term (Table 3: 53.1 vs 53.5)"),
    ("alpha_0.05", "srpo", "alpha 0.05 instead of 0.1 (Table 6)"),
    ("alpha_0.3", "srpo", "alpha 0.3 instead of 0.1 (Table 6)"),
    ("cot_sft_grpo", "srpo", "plain-CoT SFT + plain GRPO against reflection SFT + SRPO"),
]


def _fmt(x) -> str:
    return "–" if x is None else f"{100 * x:.1f}%"


def _compare(a: dict, b: dict, metric: str) -> tuple[float, float] | None:
    if a.get(metric) is None or b.get(metric) is None:
        return None
    n_a, n_b = a["n"] * a["seeds"], b["n"] * b["seeds"]
    return a[metric] - b[metric], two_proportion_z(a[metric], n_a, b[metric], n_b)


def _verdict(diff_z) -> str:
    if diff_z is None:
        return "not measured"
    diff, z = diff_z
    size = f"{100 * diff:+.1f} points"
    return (
        f"{size}, beyond the test-set noise (z = {z:.1f})"
        if abs(z) >= 2
        else f"{size}, within the noise (z = {z:.1f})"
    )


def arm_notes(rows: list[dict], label: str = "synthetic:test") -> list[str]:
    by = {(r["arm"], r["mode"]): r for r in rows if r["benchmark"] == label}
    notes = []
    for arm, ref, what in COMPARISONS:
        a, b = by.get((arm, "sampled")), by.get((ref, "sampled"))
        if not a or not b:
            continue
        final = _compare(a, b, "final_acc")
        first = _compare(a, b, "first_acc")
        notes.append(f"**{arm} vs {ref}** ({what}): final answer {_fmt(a['final_acc'])} vs {_fmt(b['final_acc'])} "
                     f"({_verdict(final)}); first answer {_fmt(a['first_acc'])} vs {_fmt(b['first_acc'])} "
                     f"({_verdict(first)}).{_net(a, b)}{_reflection_effect(a, b)}")  # fmt: skip
    if ("srpo_no_sft", "greedy") in by and (by[("srpo_no_sft", "greedy")].get("structure_rate") or 0) < 0.05:
        notes.append("**srpo_no_sft** almost never writes the five blocks: a policy that was never shown the format "
                     "gets no format, reflection or length reward, so the SRPO reward reduces to first-answer "
                     "accuracy. A 7B instruct model follows the RL prompt's instructions; a tiny model cannot, so "
                     "this arm says more about the tiny model than about the paper's Table 3 row.")  # fmt: skip
    notes.append("One seed per arm measures one training run: differences 'within the noise' may still be real, and "
                 "differences 'beyond the noise' may not survive other seeds. Add seeds (`--seeds 0 1 2`) to see the "
                 "spread between runs.")  # fmt: skip
    return notes


def _net(a: dict, b: dict) -> str:
    """The reflection's net effect, final minus first answer accuracy, for both arms."""
    if min(a.get("structure_rate") or 0, b.get("structure_rate") or 0) < 0.5:
        return ""
    return (f" Net effect of the reflection (final minus first): {100 * (a['final_acc'] - a['first_acc']):+.1f} vs "
            f"{100 * (b['final_acc'] - b['first_acc']):+.1f} points.")  # fmt: skip


def _reflection_effect(a: dict, b: dict) -> str:
    """Flag a reflection that became a rubber stamp: answers change less and fewer wrong ones get fixed."""
    ua, ub, fa, fb = a.get("unchanged_rate"), b.get("unchanged_rate"), a.get("fix_rate"), b.get("fix_rate")
    if None in (ua, ub, fa, fb) or (a.get("structure_rate") or 0) < 0.5 or (b.get("structure_rate") or 0) < 0.5:
        return ""
    text = f" The reflection leaves the answer unchanged {_fmt(ua)} vs {_fmt(ub)} of the time and fixes {_fmt(fa)} vs {_fmt(fb)} of wrong first answers."
    if ua - ub > 0.1 and fa < fb:
        text += " Accuracy moved with the first answer while the reflection changed less: a rubber stamp, not a better reflection."
    return text
