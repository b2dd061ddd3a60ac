"""A resumable generation cache: one JSONL line per (model, prompt, item, sample, decoding settings).

Lines are appended as each chunk of generations finishes, so an evaluation killed halfway resumes from
what it already has. A line whose key is not asked for again is ignored; a later line with the same key
wins. The key hashes the model's identity (path plus the size and mtime of its weight files, or a
fingerprint of an in-memory model's weights), the prompt name and placement, the item's id and question
text, the number of images, the decoding settings and the sample index: change any of them and the cache
misses instead of returning stale text.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import asdict
from pathlib import Path

from srpo.jsonl import JsonlWriter


def _digest(obj) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()[:24]


def model_key(model) -> str:
    """Identity of a model: a folder (path + weight-file stats), a Hub id, or a loaded (model, processor)."""
    if isinstance(model, tuple | list):
        return "weights:" + weights_fingerprint(model[0])
    path = Path(str(model))
    if path.is_dir():
        stats = sorted(
            (p.name, p.stat().st_size, int(p.stat().st_mtime))
            for p in path.iterdir()
            if p.suffix in (".safetensors", ".bin", ".json")
        )
        return f"dir:{path.resolve()}:{_digest(stats)}"
    return f"name:{model}"


def weights_fingerprint(model) -> str:
    """A cheap fingerprint of a model's current weights (sums of each parameter), for in-process evaluation."""
    import torch

    h = hashlib.sha256()
    with torch.no_grad():
        for name, p in model.named_parameters():
            h.update(
                f"{name}:{tuple(p.shape)}:{float(p.float().sum()):.6e}:{float(p.float().abs().sum()):.6e}".encode()
            )
    return h.hexdigest()[:24]


def settings_key(settings) -> dict:
    """The decoding settings that change what is generated (the batch size only changes the speed)."""
    d = asdict(settings)
    d.pop("batch_size", None)
    d.pop("n", None)  # each sample is cached under its own index
    return d


class GenerationCache:
    """Append-only JSONL cache. ``path=None`` gives an in-memory cache that is never written."""

    def __init__(self, path: str | os.PathLike | None):
        self.path = Path(path) if path else None
        self.entries: dict[str, dict] = {}
        self._writer = None
        if self.path:  # a line torn by a kill is cut on open; a later line with the same key wins
            self._writer = JsonlWriter(self.path, lenient=True)
            self.entries = {e["key"]: e for e in self._writer.rows}
            self._writer.rows = []

    @staticmethod
    def key(
        model_id: str,
        prompt: str,
        placement: str,
        settings: dict,
        item_id: str,
        question: str,
        n_images: int,
        sample: int,
    ) -> str:
        return _digest([model_id, prompt, placement, settings, item_id, _digest(question), n_images, sample])

    def get(self, key: str) -> dict | None:
        return self.entries.get(key)

    def put_many(self, entries: list[dict]) -> None:
        for e in entries:
            self.entries[e["key"]] = e
        if self.path is None or not entries:
            return
        self._writer.append(entries)
