"""Plain statements of what each arm's numbers show and do not show, computed from the table.

Each note compares an arm with its reference arm on the sampled (T = 1) run, which reveals more than greedy
decoding. With several seeds it gives the paired difference over the seeds both arms ran (same test problems,
same seeds) and its 95% t-interval: an interval that excludes zero supports a difference; one that includes zero
does not show one (nor rule it out). With one seed it falls back to a two-proportion z over the answers scored,
which counts only the evaluation's sampling noise, not the run-to-run spread of training, and says so.
"""

from __future__ import annotations

from srpo.stats import Interval, paired_difference, two_proportion_z

# (arm, reference arm, what the comparison isolates)
COMPARISONS = [
    ("sft_only", "base", "the reflection cold start (SFT on the policy's own attempts and the teacher's reflections)"),
    ("srpo", "sft_only", "GRPO with the paper's reflection-aware reward, after the cold start"),
    ("grpo_no_sft", "base", "plain GRPO (single pass, format + accuracy reward) without any SFT"),
    ("srpo", "grpo_no_sft", "SRPO against plain GRPO (Table 1: 75.8 vs 72.3 on MathVista at 7B)"),
    ("srpo_no_sft", "srpo", "removing the reflection cold start (Table 3: 51.2 vs 53.5)"),
    ("srpo_released", "srpo", "the released code's reward table (TT 0.75, FT 1.0) against the paper's Eq. 4-8"),
    ("no_effectiveness", "srpo", "removing I_eff (Table 3: 52.0 vs 53.5)"),
    ("no_length", "srpo", "removing the length term (Table 3: 53.1 vs 53.5)"),
    ("alpha_0.05", "srpo", "alpha 0.05 instead of 0.1 (Table 6)"),
    ("alpha_0.3", "srpo", "alpha 0.3 instead of 0.1 (Table 6)"),
    ("cot_sft_grpo", "srpo", "plain-CoT SFT + plain GRPO against reflection SFT + SRPO"),
]


def _fmt(x) -> str:
    return "–" if x is None else f"{100 * x:.1f}%"


def comparison(a: dict, b: dict, metric: str) -> tuple[float, Interval | None, float | None] | None:
    """(mean difference, paired interval over seeds or None, z of one evaluation or None) of ``metric``.

    ``b`` with one seed while ``a`` has several (e.g. the untrained base model) is held fixed: then the interval
    holds ``a``'s spread only, and the note says so."""
    if a.get(metric) is None or b.get(metric) is None:
        return None
    sa, sb = a.get(f"{metric}_by_seed") or {}, b.get(f"{metric}_by_seed") or {}
    if len(sb) == 1 and len(sa) > 1:
        sb = {None: next(iter(sb.values()))}
    paired = paired_difference(sa, sb) if sa and sb else None
    if paired is not None and paired.n > 1:
        return paired.mean, paired, None
    common = sorted(sa.keys() & sb.keys(), key=str)
    if common:  # one shared seed: the two runs of that seed, each over its own n answers
        s = common[0]
        return sa[s] - sb[s], None, two_proportion_z(sa[s], a["n"], sb[s], b["n"])
    z = two_proportion_z(a[metric], a["n"] * a["seeds"], b[metric], b["n"] * b["seeds"])
    return a[metric] - b[metric], None, z


def verdict(result) -> str:
    """One phrase: the difference, its interval or z, and what that supports."""
    if result is None:
        return "not measured"
    diff, interval, z = result
    size = f"{100 * diff:+.1f} points"
    if interval is not None:
        ci = f"95% CI {100 * interval.low:+.1f} to {100 * interval.high:+.1f}, {interval.n} paired seeds"
        return f"{size} ({ci}): " + ("a difference" if interval.excludes_zero() else "no difference shown")
    where = "beyond" if abs(z) >= 2 else "within"
    return f"{size}, one seed: {where} the test-set noise (z = {z:.1f}; the spread between training runs is not in it)"


def arm_notes(rows: list[dict], label: str = "synthetic:test") -> list[str]:
    by = {(r["arm"], r["mode"]): r for r in rows if r["benchmark"] == label}
    notes = []
    for arm, ref, what in COMPARISONS:
        a, b = by.get((arm, "sampled")), by.get((ref, "sampled"))
        if not a or not b:
            continue
        fixed = " (" + ref + " has one run: held fixed)" if b["seeds"] == 1 and a["seeds"] > 1 else ""
        notes.append(
            f"**{arm} vs {ref}** ({what}){fixed}: final answer {_fmt(a['final_acc'])} vs "
            f"{_fmt(b['final_acc'])}, {verdict(comparison(a, b, 'final_acc'))}; first answer "
            f"{_fmt(a['first_acc'])} vs {_fmt(b['first_acc'])}, {verdict(comparison(a, b, 'first_acc'))}."
            f"{_net(a, b)}{_reflection_effect(a, b)}"
        )
    if ("srpo_no_sft", "greedy") in by and (by[("srpo_no_sft", "greedy")].get("structure_rate") or 0) < 0.05:
        notes.append(
            "**srpo_no_sft** almost never writes the five blocks: a policy that was never shown the format "
            "gets no format, reflection or length reward, so the SRPO reward reduces to first-answer "
            "accuracy. A 7B instruct model follows the RL prompt's instructions; a tiny model cannot, so "
            "this arm says more about the tiny model than about the paper's Table 3 row."
        )
    seeds = sorted({r["seeds"] for r in rows})
    notes.append(
        f"Seeds per arm: {', '.join(map(str, seeds))}. A seed is a whole training run; the data (stages "
        "01-02), the test problems and the evaluation's sampling seed are shared, so an interval measures the "
        "spread between training runs on these test problems; a new test set would add its own sampling noise "
        "(what a one-run z measures). Three seeds give wide intervals: a difference 'not shown' may still be "
        "real, and the intervals say nothing about a 7B model. Add seeds (`--seeds 0 1 2 3 4`) to narrow them."
    )
    return notes


def _net(a: dict, b: dict) -> str:
    """The reflection's net effect, final minus first answer accuracy, for both arms."""
    if min(a.get("structure_rate") or 0, b.get("structure_rate") or 0) < 0.5:
        return ""
    return (
        f" Net effect of the reflection (final minus first): {100 * (a['final_acc'] - a['first_acc']):+.1f} vs "
        f"{100 * (b['final_acc'] - b['first_acc']):+.1f} points."
    )


def _reflection_effect(a: dict, b: dict) -> str:
    """Flag a reflection that became a rubber stamp: answers change less and fewer wrong ones get fixed."""
    ua, ub, fa, fb = a.get("unchanged_rate"), b.get("unchanged_rate"), a.get("fix_rate"), b.get("fix_rate")
    if None in (ua, ub, fa, fb) or (a.get("structure_rate") or 0) < 0.5 or (b.get("structure_rate") or 0) < 0.5:
        return ""
    text = f" The reflection leaves the answer unchanged {_fmt(ua)} vs {_fmt(ub)} of the time and fixes {_fmt(fa)} vs {_fmt(fb)} of wrong first answers."
    if ua - ub > 0.1 and fa < fb:
        text += (
            " By these point estimates (not a tested difference) accuracy moved with the first answer while the "
            "reflection changed less: more a rubber stamp than a better reflection."
        )
    return text
