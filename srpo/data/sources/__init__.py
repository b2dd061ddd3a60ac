"""The registry of source adapters: ``SOURCES[name] -> SourceSpec`` for every source the paper names.

Released by the authors (docs/paper_vs_release.md, row "Data sizes"): ``srpo_sft_released``, ``srpo_rl_released``.
SFT pool (§3): ``mulberry_sft``, ``llava_cot_100k``, ``mathv360k``.
RL pool (§5): ``scienceqa``, ``geoqa``, ``chartqa``, ``dvqa``, ``ai2d``, ``math``, ``virgo``, ``r1_onevision``,
``mmk12``, ``phyx``.
Tiny profile: ``synthetic``.
"""

from __future__ import annotations

from srpo.data.sources import released, rl_reasoning, rl_vqa, sevenseg, sft_pool
from srpo.data.sources.base import MissingColumn, RowRejected, SourceError, SourceSpec

SOURCES: dict[str, SourceSpec] = {
    spec.name: spec for module in (released, sft_pool, rl_vqa, rl_reasoning, sevenseg) for spec in module.SPECS
}


def get_source(name: str) -> SourceSpec:
    try:
        return SOURCES[name]
    except KeyError:
        raise SourceError(f"unknown source {name!r}; known sources: {', '.join(sorted(SOURCES))}") from None


__all__ = ["SOURCES", "MissingColumn", "RowRejected", "SourceError", "SourceSpec", "get_source"]
