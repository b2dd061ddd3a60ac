"""Metrics over scored responses: accuracy of both answers and what the reflection did (paper §4).

* ``final_acc`` / ``first_acc``: share of responses whose final / first answer is right (a response with
  no first answer counts as wrong for ``first_acc``);
* ``fix_rate`` = P(final right | first wrong), ``break_rate`` = P(final wrong | first right), over responses
  that have a first answer; ``unchanged_rate``: share whose final answer repeats the first;
* ``structure_rate``: share of strict five-block completions; ``parse_fail_rate``: share with no final
  answer at all (graded wrong, never guessed; MMMU-Pro's official parser would pick a random letter);
* ``mean_tokens``, ``truncated_rate`` (hit the token limit), ``wall_s`` and ``tokens_per_s`` of generation.

A rate whose denominator is empty is None (JSON null), not 0.
"""

from __future__ import annotations

from collections import defaultdict


def _ratio(num: float, den: float):
    return num / den if den else None


def compute_metrics(records: list[dict], prefix: str = "") -> dict:
    """Metrics of ``records``; ``prefix="judge_"`` reads the LLM judge's verdicts instead of the rules'."""
    n = len(records)
    first = [r.get(f"{prefix}first_correct") for r in records]
    final = [bool(r.get(f"{prefix}final_correct")) for r in records]
    first_right = [i for i, f in enumerate(first) if f is True]
    first_wrong = [i for i, f in enumerate(first) if f is False]
    fixed = sum(final[i] for i in first_wrong)
    broken = sum(not final[i] for i in first_right)
    with_first = [r for r in records if r.get("unchanged") is not None]
    tokens = sum(int(r.get("num_tokens") or 0) for r in records)
    gen_s = sum(float(r.get("gen_s") or 0.0) for r in records)
    counts = {
        "n_prompts": len({r["id"] for r in records}),
        "n_first_answer": len(first_right) + len(first_wrong),
        "n_first_right": len(first_right),
        "n_first_wrong": len(first_wrong),
        "n_fixed": int(fixed),
        "n_broken": int(broken),
        "n_parse_fail": sum(not r.get("parsed") for r in records),
        "n_five_block": sum(bool(r.get("five_block")) for r in records),
        "n_truncated": sum(r.get("finish_reason") == "length" for r in records),
    }
    if prefix:  # calls that kept failing: their verdicts count as wrong
        counts[f"n_{prefix}errors"] = sum(bool(r.get(f"{prefix}error")) for r in records)
    return {
        "n": n,
        "final_acc": _ratio(sum(final), n),
        "first_acc": _ratio(len(first_right), n),
        "fix_rate": _ratio(fixed, len(first_wrong)),
        "break_rate": _ratio(broken, len(first_right)),
        "unchanged_rate": _ratio(sum(bool(r["unchanged"]) for r in with_first), len(with_first)),
        "structure_rate": _ratio(counts["n_five_block"], n),
        "parse_fail_rate": _ratio(counts["n_parse_fail"], n),
        "truncated_rate": _ratio(counts["n_truncated"], n),
        "mean_tokens": _ratio(tokens, n),
        "tokens_per_s": _ratio(tokens, gen_s),
        "wall_s": gen_s,
        **counts,
    }


def group_values(record: dict, key: str) -> list:
    """The breakdown values of a record for ``key`` (a list for multi-label keys such as MathVista skills)."""
    value = (record.get("groups") or {}).get(key)
    if value is None:
        return []
    return [str(v) for v in value] if isinstance(value, list | tuple) else [str(value)]


def breakdowns(records: list[dict], keys, prefix: str = "") -> dict:
    """``{key: {value: metrics}}`` for each breakdown key, values sorted."""
    out = {}
    for key in keys:
        groups: dict[str, list] = defaultdict(list)
        for r in records:
            for value in group_values(r, key):
                groups[value].append(r)
        if groups:
            out[key] = {v: compute_metrics(groups[v], prefix) for v in sorted(groups)}
    return out
