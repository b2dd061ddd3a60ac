"""The one record schema every source is mapped to (paper §3.1 and §4.1), as ``datasets`` Features."""

from __future__ import annotations

import json

from datasets import Features, Image, List, Value

ANSWER_TYPES = ("multiple_choice", "integer", "float", "expression", "text")

FEATURES = Features(
    {
        "id": Value("string"),
        "source": Value("string"),
        "images": List(Image()),
        "question": Value("string"),
        "options": List(Value("string")),  # empty unless multiple choice
        "answer": Value("string"),  # for multiple choice: the gold letter
        "answer_type": Value("string"),  # one of ANSWER_TYPES
        "precision": Value("int32"),  # decimals for float answers, else null
        "metadata": Value("string"),  # free JSON
    }
)


def normalize_record(record: dict) -> dict:
    """Fill defaults and serialise ``metadata`` so a record fits ``FEATURES``."""
    out = {name: record.get(name) for name in FEATURES}
    out["options"] = list(out["options"] or [])
    meta = out["metadata"]
    out["metadata"] = meta if isinstance(meta, str) else json.dumps(meta or {}, sort_keys=True)
    if out["answer_type"] not in ANSWER_TYPES:
        raise ValueError(f"record {out['id']!r}: answer_type {out['answer_type']!r} is not one of {ANSWER_TYPES}")
    return out


def to_dataset(records: list[dict]):
    """A ``datasets.Dataset`` in the common schema."""
    from datasets import Dataset

    return Dataset.from_list([normalize_record(r) for r in records], features=FEATURES)
