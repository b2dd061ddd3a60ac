"""Stage 01, data curation: the paper's sources in one schema, filtered, de-duplicated and mixed.

* ``SOURCES``: the registry of source adapters (name -> SourceSpec: Hub id, config, split, columns, adapter);
* ``load_split(run_dir, split)``: how later stages read this stage's output (``SPLITS``);
* the stage itself: ``python -m srpo.data --config <resolved.yaml>`` (srpo.data.__main__).
"""

from __future__ import annotations

from pathlib import Path

from srpo import paths
from srpo.data.sources import SOURCES, get_source

SPLITS = ("sft_pool", "rl_train")

__all__ = [
    "SOURCES",
    "SPLITS",
    "check_config",
    "get_source",
    "load_folder",
    "load_quarantine",
    "load_split",
    "split_dir",
]


def check_config(cfg) -> None:
    """The stage's start (``srpo.stages``): synthetic question types the task does not have fail here, before
    any source is read (``srpo.config.load`` runs it on every parse)."""
    from srpo.tiny import sevenseg

    unknown = sorted(set(cfg.args.synthetic_question_types) - set(sevenseg.QUESTION_TYPES))
    if unknown:
        raise ValueError(f"synthetic_question_types: unknown {unknown}; choose from {sevenseg.QUESTION_TYPES}")


def load_folder(path, what: str):
    """A ``save_to_disk`` dataset folder. A missing or unreadable one raises naming ``what``, the path and the
    fix (``datasets`` cannot reload a dataset saved with no rows; its own error names neither)."""
    from datasets import load_from_disk

    if not Path(path).exists():
        raise FileNotFoundError(f"{what}: there is no dataset folder at {path}")
    try:
        return load_from_disk(str(path))
    except Exception as exc:
        reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:200]
        raise ValueError(
            f"{what}: {path} cannot be loaded as a dataset ({type(exc).__name__}: {reason}). A dataset saved "
            f"with no rows cannot be reloaded; rebuild it (or point to another folder)"
        ) from exc


def split_dir(run_dir, split: str):
    return paths.stage_dir(run_dir, "data_curation") / split


def load_split(run_dir, split: str):
    """The curated ``split`` of a run as a ``datasets.Dataset`` in the common schema (srpo.data.schema)."""
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; stage 01 writes {SPLITS}")
    path = split_dir(run_dir, split)
    if not path.exists():
        paths.require_done(run_dir, ["data_curation"], for_stage=f"reading split {split!r}")
        raise FileNotFoundError(f"data curation finished but wrote no split {split!r} at {path}")
    return load_folder(path, f"split {split!r} of stage 01")


def load_quarantine(run_dir) -> list[dict]:
    """Every rejected row of the run (id, source, split, reason, detail)."""
    from srpo.data.quarantine import read_quarantine

    return read_quarantine(paths.stage_dir(run_dir, "data_curation") / "quarantine.jsonl")
