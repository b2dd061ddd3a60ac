"""Append-only JSONL files (one JSON object per line) that survive a kill at any moment.

Every log and store of the project that grows while a stage runs (GRPO's ``completions.jsonl``, stage 02's
``attempts.jsonl`` and ``teacher.jsonl``, stage 05's generation cache) goes through this module:

* ``JsonlWriter`` opens a file for appending, first cutting a last line that a kill left unterminated or
  unparseable (so the next row never lands glued to half a row), and skips rows whose key is already in
  the file (a resumed run re-doing steps after its last checkpoint logs each step once). Each append is
  flushed and fsynced before it returns.
* ``read_jsonl`` reads the complete rows and skips a torn last line, counting it; any other unreadable
  line is an error naming the file and the line, since a kill cannot produce it.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable, Iterable
from pathlib import Path

log = logging.getLogger(__package__)


class JsonlError(ValueError):
    """A line other than the last one is not a JSON object: the file was edited or is not ours."""


def drop_torn_tail(path: str | os.PathLike) -> bool:
    """Cut a last line that is unterminated or not a JSON object (a write cut short by a kill).

    Returns True if a line was cut."""
    path = Path(path)
    if not path.exists() or path.stat().st_size == 0:
        return False
    data = path.read_bytes()
    last_start = data.rstrip(b"\n").rfind(b"\n") + 1
    tail = data[last_start:]
    if tail.endswith(b"\n") and _parse(tail) is not None:
        return False
    with open(path, "r+b") as f:
        f.truncate(last_start)
    return True


def read_rows(path: str | os.PathLike, *, lenient: bool = False) -> tuple[list[dict], int]:
    """(the complete rows of ``path``, the number of torn lines skipped); a missing file gives ([], 0).

    The last line, when unterminated or unparseable, is skipped and counted. Any other bad line raises
    ``JsonlError`` naming the file and line, unless ``lenient`` (a cache, which can always regenerate a row):
    then it is skipped and counted too."""
    path = Path(path)
    if not path.exists():
        return [], 0
    data = path.read_bytes()
    lines = data.split(b"\n")  # the last item is what follows the last newline: b"" or a torn line
    skipped = int(bool(lines[-1].strip()))
    numbered = [(n, line) for n, line in enumerate(lines[:-1], 1) if line.strip()]
    rows = []
    for i, (number, line) in enumerate(numbered):
        row = _parse(line)
        if row is not None:
            rows.append(row)
        elif lenient or (i == len(numbered) - 1 and not skipped):
            skipped += 1
        else:
            raise JsonlError(
                f"{path}:{number} is not a JSON object (only a last line can be torn by a kill). Remove that line, "
                f"or delete the file to have the stage regenerate it."
            )
    return rows, skipped


def read_jsonl(path: str | os.PathLike, *, lenient: bool = False) -> list[dict]:
    """The complete rows of ``path`` (see ``read_rows``); says so when it skipped a torn line."""
    rows, skipped = read_rows(path, lenient=lenient)
    if skipped:
        log.warning(f"{path}: skipped {skipped} unreadable line(s) (a write cut short by a kill)")
    return rows


class JsonlWriter:
    """Appends rows to ``path``; with ``key`` (a field name or a function of the row), a row whose key is
    already in the file or was appended before is skipped. Only one process may write a file at a time
    (stage folders are locked: ``srpo.paths.StageLock``).

    ``lenient`` skips unreadable lines anywhere (see ``read_rows``). After opening, ``rows`` holds what the file
    held and ``torn`` says whether a torn last line was cut."""

    def __init__(
        self, path: str | os.PathLike, key: str | Callable[[dict], object] | None = None, lenient: bool = False
    ):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._key = (lambda row: row[key]) if isinstance(key, str) else key
        self.torn = drop_torn_tail(self.path)
        self.rows, _ = read_rows(self.path, lenient=lenient)
        self.keys = {self._key(r) for r in self.rows} if self._key else set()

    def __contains__(self, key) -> bool:
        return key in self.keys

    def append(self, rows: dict | Iterable[dict]) -> list[dict]:
        """Write ``rows`` (one or many) durably; returns the rows written (new keys only)."""
        rows = [rows] if isinstance(rows, dict) else list(rows)
        if self._key:
            fresh, seen = [], set(self.keys)
            for row in rows:
                k = self._key(row)
                if k not in seen:
                    seen.add(k)
                    fresh.append(row)
            rows = fresh
        if not rows:
            return []
        data = "".join(json.dumps(r, ensure_ascii=False, default=str) + "\n" for r in rows)
        with open(self.path, "a", encoding="utf-8") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        if self._key:
            self.keys.update(self._key(r) for r in rows)
        return rows


def _parse(line: bytes) -> dict | None:
    try:
        row = json.loads(line)
    except ValueError:
        return None
    return row if isinstance(row, dict) else None
