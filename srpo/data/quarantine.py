"""The quarantine file: one JSON line per rejected row or record, with the reason and a detail.

Nothing is dropped silently: every row read from a source either becomes records in a split or lands
here (``<run_dir>/data_curation/quarantine.jsonl``), and summary.json counts both.
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from pathlib import Path


class Quarantine:
    def __init__(self, path: Path, split: str):
        self.path, self.split = Path(path), split
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._file = open(self.path, "w")  # noqa: SIM115 - closed in close()
        self.by_reason: Counter = Counter()
        self.by_source: dict[str, Counter] = defaultdict(Counter)

    def add(self, rid: str, source: str, reason: str, detail: str = "") -> None:
        entry = {"id": rid, "source": source, "split": self.split, "reason": reason, "detail": detail}
        self._file.write(json.dumps(entry, ensure_ascii=False) + "\n")
        self.by_reason[reason] += 1
        self.by_source[source][reason] += 1

    def close(self) -> None:
        self._file.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def read_quarantine(path) -> list[dict]:
    from srpo.jsonl import read_jsonl

    return read_jsonl(path)


def merge(parts, path) -> int:
    """Concatenate per-split quarantine files into one; returns the number of lines."""
    n = 0
    with open(path, "w") as out:
        for part in parts:
            if Path(part).exists():
                text = Path(part).read_text()
                out.write(text)
                n += text.count("\n")
    return n
