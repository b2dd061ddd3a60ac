"""Stage 01, data curation: the paper's sources in one schema, filtered, de-duplicated and mixed.

``load_split(run_dir, split)`` is how later stages read this stage's output.
"""

from __future__ import annotations

from srpo import paths

SPLITS = ("sft_pool", "rl_train")


def split_dir(run_dir, split: str):
    return paths.stage_dir(run_dir, "data_curation") / split


def load_split(run_dir, split: str):
    """The curated ``split`` of a run as a ``datasets.Dataset`` in the common schema (srpo.data.schema)."""
    from datasets import load_from_disk

    path = split_dir(run_dir, split)
    if not path.exists():
        paths.require_done(run_dir, ["data_curation"], for_stage=f"reading split {split!r}")
        raise FileNotFoundError(f"data curation finished but wrote no split {split!r} at {path}")
    return load_from_disk(str(path))
