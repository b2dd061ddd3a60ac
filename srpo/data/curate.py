"""Build the two splits of stage 01: read each source to its quota, filter, de-duplicate, mix, write.

For every split (sft_pool, rl_train) and every source of its plan (srpo.data.mixing):

    raw row --adapter--> records --filters--> accepted, until the source's quota is filled
                     \\--> RowRejected ----\\--> quarantine (reason, detail)

Accepted records stream into an Arrow file (constant memory for 100K images), which is shuffled with the
seed and saved with ``Dataset.save_to_disk`` (shards) to ``<run_dir>/data_curation/<split>/``. A finished
split leaves ``_progress/<split>.json``; a re-run with the same settings reuses it (long runs resume).
"""

from __future__ import annotations

import hashlib
import json
import logging
import shutil
import time
from collections import Counter
from dataclasses import asdict
from pathlib import Path

from srpo import paths
from srpo.data import hub, mixing, schema
from srpo.data.filters import Deduplicator, FilterSettings, apply_filters
from srpo.data.quarantine import Quarantine
from srpo.data.sources import RowRejected, get_source
from srpo.data.sources.base import row_id
from srpo.progress import Lines

log = logging.getLogger("srpo.data")


def settings_fingerprint(args) -> str:
    return hashlib.sha256(json.dumps(asdict(args), sort_keys=True, default=str).encode()).hexdigest()[:16]


def curate_source(spec, quota, split, args, *, local, quarantine, dedup, writer, stats) -> dict:
    """Read ``spec`` until ``quota`` records were accepted (None: the whole source). Returns its counts."""
    counts: Counter = Counter()
    root = hub.image_dir(spec, args.image_root, local)
    rows = hub.open_rows(
        spec,
        split=split,
        seed=args.seed,
        streaming=args.streaming,
        shuffle_buffer=args.shuffle_buffer,
        local=local,
        synthetic=args.synthetic_settings(),
    )
    settings = FilterSettings.from_args(args)
    lines = Lines(f"{split}/{spec.name}", quota, every=max(1, quota // 10) if quota else 1000, quiet_s=10.0)
    for row in rows:
        if quota is not None and counts["accepted"] >= quota:
            break
        counts["rows_read"] += 1
        try:
            records = spec.to_records(row)
        except RowRejected as exc:
            quarantine.add(row_id(spec, row, "id"), spec.name, exc.reason, exc.detail)
            counts["rows_rejected"] += 1
            continue
        for rec in records:
            if quota is not None and counts["accepted"] >= quota:
                counts["records_not_needed"] += 1  # later turns of a multi-question row, quota already full
                continue
            counts["records"] += 1
            try:
                key = apply_filters(rec, settings, root, dedup, stats)
            except RowRejected as exc:
                quarantine.add(rec["id"], spec.name, exc.reason, exc.detail)
                counts["records_rejected"] += 1
                continue
            dedup.add(key, rec["id"])
            writer.write(schema.FEATURES.encode_example(schema.normalize_record(rec)))
            counts["accepted"] += 1
            counts[f"type:{rec['answer_type']}"] += 1
            lines.update(counts["accepted"])
    counts["shortfall"] = max(0, (quota or 0) - counts["accepted"])
    if counts["shortfall"]:
        log.warning("source %s ran out of rows for %s: %d of %d", spec.name, split, counts["accepted"], quota)
    return {"quota": quota, **counts}


def curate_split(split: str, plan: dict, args, stage_dir: Path, local: dict) -> dict:
    """Build one split; returns its stats (also written to ``_progress/<split>.json``)."""
    from datasets import Dataset
    from datasets.arrow_writer import ArrowWriter
    from datasets.info import DatasetInfo

    work = stage_dir / "_work"
    work.mkdir(parents=True, exist_ok=True)
    arrow_path, start = work / f"{split}.arrow", time.time()
    dedup, stats, by_source = Deduplicator(), {"resized_images": 0}, {}
    with Quarantine(work / f"quarantine_{split}.jsonl", split) as quarantine:
        writer = ArrowWriter(features=schema.FEATURES, path=str(arrow_path), writer_batch_size=256)
        for name, quota in plan.items():
            if quota == 0:
                continue
            t0 = time.time()
            by_source[name] = curate_source(
                get_source(name),
                quota,
                split,
                args,
                local=local.get(name),
                quarantine=quarantine,
                dedup=dedup,
                writer=writer,
                stats=stats,
            )
            by_source[name]["seconds"] = round(time.time() - t0, 2)
            log.info("%s/%s: %s", split, name, by_source[name])
        writer.finalize()
    ds = Dataset.from_file(str(arrow_path), info=DatasetInfo(features=schema.FEATURES))
    ds = ds.shuffle(seed=args.seed)  # interleave the sources; deterministic for the seed
    out, new = stage_dir / split, stage_dir / f"{split}.new"
    shutil.rmtree(new, ignore_errors=True)
    ds.save_to_disk(str(new), max_shard_size=args.max_shard_size)
    paths.replace_dir(new, out)  # a split finished earlier stays whole until the new one is complete
    del ds
    arrow_path.unlink(missing_ok=True)
    result = split_stats(split, plan, by_source, quarantine, stats, time.time() - start)
    progress = stage_dir / "_progress" / f"{split}.json"
    progress.parent.mkdir(parents=True, exist_ok=True)
    progress.write_text(json.dumps({"fingerprint": settings_fingerprint(args), "stats": result}, indent=1))
    return result


def split_stats(split, plan, by_source, quarantine, stats, seconds) -> dict:
    answer_types: Counter = Counter()
    for counts in by_source.values():
        for key in [k for k in counts if k.startswith("type:")]:
            answer_types[key[5:]] += counts.pop(key)
    return {
        "records": sum(c.get("accepted", 0) for c in by_source.values()),
        "target": None if any(q is None for q in plan.values()) else sum(plan.values()),
        "by_source": {name: c.get("accepted", 0) for name, c in by_source.items()},
        "by_answer_type": dict(answer_types),
        "rejections": dict(quarantine.by_reason),
        "rejections_by_source": {s: dict(c) for s, c in quarantine.by_source.items()},
        "sources": by_source,
        "resized_images": stats.get("resized_images", 0),
        "seconds": round(seconds, 2),
    }


def reusable(split: str, args, stage_dir: Path) -> dict | None:
    """Stats of a split finished earlier with the same settings, or None."""
    progress = stage_dir / "_progress" / f"{split}.json"
    if not (progress.exists() and (stage_dir / split).exists()):
        return None
    saved = json.loads(progress.read_text())
    return saved["stats"] if saved.get("fingerprint") == settings_fingerprint(args) else None


def curate(args, stage_dir: Path, splits=None) -> dict:
    """Build every split of the plan (reusing finished ones) and return the stage summary (no timings)."""
    plan = mixing.split_plan(args)
    local = hub.parse_local_sources(args.local_sources)
    results = {}
    for split in splits or plan:
        results[split] = reusable(split, args, stage_dir)
        if results[split] is not None:
            log.info("%s: reusing the split finished earlier with the same settings", split)
            continue
        results[split] = curate_split(split, plan[split], args, stage_dir, local)
    return results
