"""Open a source's raw rows: from the Hugging Face Hub (the cluster path), a local copy, or the generator.

The Hub path is one ``datasets.load_dataset(hub_id, config, split=..., streaming=...)`` per config, exactly as
the dataset card documents it, shuffled with the run's seed so that a quota takes a random, reproducible
subset. Images are not decoded by ``datasets`` (``decode(False)``): the filters decode each image once, and
the original encoded bytes are what gets written, so nothing is re-compressed.

``local_sources`` (``name=path``) reads a local copy instead: a file or a folder of ``*.parquet`` /
``*.json(l)`` files in the same layout (e.g. a ``huggingface-cli download`` of the repository). Tests use
this path with fixtures written in each dataset's real layout; no test ever calls the Hub.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

from srpo.configs.base import parse_pairs
from srpo.data.sources import SourceError, SourceSpec, get_source


def parse_local_sources(items) -> dict[str, Path]:
    """``["name=path", ...]`` -> {name: Path}; unknown names and missing paths fail naming the item."""
    out = {}
    for name, path in parse_pairs(items, "local_sources (name=path)", error=SourceError).items():
        get_source(name)
        if not Path(path).expanduser().exists():
            raise SourceError(f"local copy of source {name!r} not found: {path}")
        out[name] = Path(path).expanduser()
    return out


def image_dir(spec: SourceSpec, image_root: str = "", local: Path | None = None) -> str | None:
    """Where relative image paths of ``spec`` resolve: its local copy's folder, else ``image_root/<name>``."""
    if local is not None:
        return str(local if local.is_dir() else local.parent)
    return os.path.join(image_root, spec.name) if image_root else None


def open_rows(
    spec: SourceSpec,
    *,
    split: str,
    seed: int,
    streaming: bool = True,
    shuffle_buffer: int = 10_000,
    local: Path | None = None,
    synthetic: dict | None = None,
) -> Iterator[dict]:
    """Raw rows of ``spec`` in a seeded random order (synthetic: generation order, seeded by ``split``)."""
    if spec.family == "synthetic":
        return _synthetic_rows(split, synthetic or {})
    ds = _load_local(spec, local, streaming) if local is not None else _load_hub(spec, streaming)
    _check_columns(spec, ds)
    if hasattr(ds, "to_iterable_dataset"):  # a map-style Dataset: exact shuffle, then stream it
        ds = ds.shuffle(seed=seed).to_iterable_dataset()
    else:
        ds = ds.shuffle(seed=seed, buffer_size=shuffle_buffer)
    return iter(ds.decode(False) if ds.features else ds)  # JSON streams have no declared features to decode


def _load_hub(spec: SourceSpec, streaming: bool):
    from datasets import concatenate_datasets, load_dataset

    parts = [
        load_dataset(spec.hub_id, config, split=spec.split, data_files=spec.data_files, streaming=streaming)
        for config in spec.configs
    ]
    return parts[0] if len(parts) == 1 else concatenate_datasets(parts)


def _load_local(spec: SourceSpec, path: Path, streaming: bool):
    from datasets import load_dataset

    if path.is_dir() and spec.data_files:  # the same file the Hub call names, inside the local snapshot
        files = sorted(str(p) for p in path.glob(spec.data_files))
        if not files:
            raise SourceError(f"source {spec.name!r}: no {spec.data_files} under {path}")
    elif path.is_dir():
        suffixes = (".parquet",) if spec.file_format == "parquet" else (".json", ".jsonl")
        files = sorted(str(p) for p in path.rglob("*") if p.suffix in suffixes)
        if not files:
            raise SourceError(f"source {spec.name!r}: no {'/'.join(suffixes)} files under {path}")
    else:
        files = [str(path)]
    return load_dataset(spec.file_format, data_files=files, split="train", streaming=streaming)


def _check_columns(spec: SourceSpec, ds) -> None:
    """Fail before reading when a required column is absent (a renamed column or a wrong config)."""
    names = ds.column_names
    if names is None:  # a streaming dataset whose features are only known after the first row
        return
    for column in spec.columns:
        if column not in names:
            from srpo.data.sources import MissingColumn

            raise MissingColumn(spec.name, column, names)


def _synthetic_rows(split: str, settings: dict) -> Iterator[dict]:
    from srpo.tiny import sevenseg

    if split not in sevenseg.SPLIT_SEEDS:
        raise SourceError(f"source 'synthetic' has no seed for split {split!r}; seeds: {sevenseg.SPLIT_SEEDS}")
    for problem in sevenseg.iter_problems(sevenseg.SPLIT_SEEDS[split], **settings):
        yield {"problem": problem}


def describe(name: str) -> dict:
    """One registry entry as a flat dict (for the notebook's table of sources)."""
    s = get_source(name)
    return {
        "source": s.name,
        "family": s.family,
        "hub_id": s.hub_id or "(generated)",
        "config": ",".join(c for c in s.configs if c) or "-",
        "split": s.split,
        "columns": ", ".join(s.columns),
        "images": s.images,
        "card_checked": s.verified,
        "note": s.note,
    }
