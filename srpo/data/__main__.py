"""Entry point of stage 01: ``python -m srpo.data --config <run_dir>/data_curation/config.yaml``.

Writes ``sft_pool/`` and ``rl_train/`` (save_to_disk shards), ``quarantine.jsonl`` and, last,
``summary.json`` (counts per split, source, answer type and rejection reason; timings).
"""

from __future__ import annotations

import logging
import time
from collections import Counter

from srpo import paths
from srpo.config import parse_entry_point
from srpo.data import curate, quarantine
from srpo.data.sources import get_source

log = logging.getLogger(__package__)


def build_summary(cfg, results: dict, n_quarantined: int, seconds: float) -> dict:
    args = cfg.args
    rejections: Counter = Counter()
    for stats in results.values():
        rejections.update(stats["rejections"])
    used = sorted({name for stats in results.values() for name in stats["sources"]})
    return {
        "profile": cfg.profile,
        "use_released_data": args.use_released_data,
        "seed": args.seed,
        "counts": {split: stats["records"] for split, stats in results.items()},
        "splits": results,
        "rejections": dict(rejections),
        "quarantined": n_quarantined,
        "quarantine_file": "quarantine.jsonl",
        "sources": {
            name: {"hub_id": get_source(name).hub_id, "card_checked": get_source(name).verified} for name in used
        },
        "timings": {"total_seconds": round(seconds, 2), **{s: r["seconds"] for s, r in results.items()}},
    }


def main(cfg) -> dict:
    start = time.time()
    stage_dir = cfg.stage_dir
    stage_dir.mkdir(parents=True, exist_ok=True)
    results = curate.curate(cfg.args, stage_dir)
    parts = [stage_dir / "_work" / f"quarantine_{split}.jsonl" for split in results]
    n_quarantined = quarantine.merge(parts, stage_dir / "quarantine.jsonl")
    summary = build_summary(cfg, results, n_quarantined, time.time() - start)
    for split, stats in results.items():
        log.info(f"{split}: {stats['records']} records {stats['by_source']} types {stats['by_answer_type']}")
    log.info(f"quarantined {n_quarantined}: {summary['rejections']}")
    paths.write_summary(cfg.run.run_dir, "data_curation", summary)  # last: marks the stage finished
    return summary


def cli(argv=None) -> None:
    cfg, _ = parse_entry_point("data_curation", argv, prog="python -m srpo.data", description=__doc__)
    from datasets.utils.logging import disable_progress_bar

    disable_progress_bar()  # per-shard bars would flood the notebook; the log lines say what happened
    main(cfg)


if __name__ == "__main__":
    cli()
