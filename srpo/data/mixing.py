"""Per-source quotas for a split: weights in the recipe, scaled to the split's target size.

A mix is written ``["name:weight", ...]`` (a weight may be a count; only ratios matter). Quotas use the
largest-remainder rule, so they always sum to the target exactly and do not depend on the order of the
list. Every source reads its rows in a seeded random order until its quota of ACCEPTED records is filled,
so rejections do not shrink the split; a source that runs dry is reported as a shortfall in summary.json.
"""

from __future__ import annotations

import math

from srpo.configs.base import parse_pairs
from srpo.data.sources import SourceError, get_source


def parse_mix(items, what: str = "mix") -> dict[str, float]:
    """``["chartqa:4000", "math:0.1"]`` -> {name: weight}; unknown names and bad weights fail clearly."""
    mix: dict[str, float] = {}
    for name, weight in parse_pairs(items, what, sep=":", default="1", error=SourceError).items():
        get_source(name)  # unknown source names fail here, naming the source
        try:
            w = float(weight)
        except ValueError:
            raise SourceError(f"{what}: weight of {name!r} must be a number, got {weight!r}") from None
        if w < 0 or not math.isfinite(w):
            raise SourceError(f"{what}: weight of {name!r} must be >= 0, got {w}")
        mix[name] = w
    return mix


def quotas(mix: dict[str, float], target: int) -> dict[str, int]:
    """Integer quotas proportional to ``mix`` that sum to ``target`` (largest remainder; ties by name)."""
    total = sum(mix.values())
    if target < 0:
        raise SourceError(f"target size must be >= 0, got {target}")
    if total <= 0:
        if target:
            raise SourceError(f"a target of {target} records needs at least one source with weight > 0")
        return dict.fromkeys(mix, 0)
    exact = {name: target * w / total for name, w in mix.items()}
    out = {name: int(math.floor(x)) for name, x in exact.items()}
    left = target - sum(out.values())
    for name in sorted(exact, key=lambda n: (-(exact[n] - out[n]), n))[:left]:
        out[name] += 1
    return out


def split_plan(args) -> dict[str, dict[str, int | None]]:
    """{split: {source: quota}}; with ``use_released_data`` every row of the authors' release (quota None)."""
    if args.use_released_data:
        return {"sft_pool": {"srpo_sft_released": None}, "rl_train": {"srpo_rl_released": None}}
    return {
        "sft_pool": quotas(parse_mix(args.sft_mix, "sft_mix"), args.sft_pool_size),
        "rl_train": quotas(parse_mix(args.rl_mix, "rl_mix"), args.rl_train_size),
    }
