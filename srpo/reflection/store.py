"""A resumable JSONL store: one JSON object per line, keyed by ``id``, appended and flushed as results arrive.

A killed run loses at most the results that were still in flight: every finished one is on disk (flushed
and fsynced), and the next run skips the ids it finds. A line cut short by the kill is dropped on open,
so no half-written result is ever read back (both from ``srpo.jsonl``). A sidecar ``<name>.meta.json`` records the settings that
produced the results; reopening with different settings fails instead of mixing two experiments.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from srpo.jsonl import JsonlWriter


class StoreMismatch(RuntimeError):
    """The store on disk was made with other settings than the current run's."""


class JsonlStore:
    """Append-only results keyed by ``id``. Only one process may write a store at a time."""

    def __init__(self, path: str | os.PathLike, fingerprint: dict | None = None):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._check_fingerprint(fingerprint)
        self._writer = JsonlWriter(self.path, key="id")
        self.dropped_partial = self._writer.torn
        self._rows: dict[str, dict] = {}
        self.duplicates = 0
        for row in self._writer.rows:
            self._remember(row)

    def _check_fingerprint(self, fingerprint: dict | None) -> None:
        if fingerprint is None:
            return
        meta = self.path.with_suffix(".meta.json")
        wanted = json.loads(json.dumps(fingerprint, default=str))
        if meta.exists() and self.path.exists():
            found = json.loads(meta.read_text())
            if found != wanted:
                diff = sorted(k for k in set(found) | set(wanted) if found.get(k) != wanted.get(k))
                raise StoreMismatch(
                    f"{self.path} was made with other settings ({', '.join(diff)}: "
                    f"{ {k: found.get(k) for k in diff} } now { {k: wanted.get(k) for k in diff} }). "
                    f"Use a new run_dir, or delete {self.path} and {meta.name} to start this step again."
                )
        meta.write_text(json.dumps(wanted, indent=1, sort_keys=True))

    def _remember(self, row: dict) -> None:
        if row["id"] in self._rows:  # never written by this class; counted so a test can prove it
            self.duplicates += 1
            return
        self._rows[row["id"]] = row

    def __contains__(self, key: str) -> bool:
        return key in self._rows

    def __len__(self) -> int:
        return len(self._rows)

    def get(self, key: str) -> dict | None:
        return self._rows.get(key)

    def rows(self) -> list[dict]:
        """Stored rows in the order they were written."""
        return list(self._rows.values())

    def append(self, rows: dict | list[dict]) -> None:
        """Write ``rows`` (one or many) and make them durable before returning. Known ids are skipped."""
        for r in self._writer.append(rows):
            self._remember(r)
