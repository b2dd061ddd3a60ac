"""The common interface of the benchmarks (paper §4).

Every benchmark module turns its Hub rows into the project's record schema (``srpo.data.schema``: id,
source, images, question, options, answer, answer_type, precision, metadata) with ``to_record``. All
benchmark-specific conventions live in that one function (MathVista's option-text golds, MMMU-Pro's
stringified option lists, MathVision's placeholder options ...), so scoring, caching and metrics see one
shape. ``metadata`` holds the values of the official breakdowns under the names in ``breakdowns``.

A benchmark is addressed as ``name`` or ``name:split`` (``mathvision:testmini``, ``mmmu_pro:vision``);
a bare name expands to the splits the paper reports (``default_splits``).
"""

from __future__ import annotations

import ast
import itertools
import json
import logging
import os
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

log = logging.getLogger(__package__)

LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
_INT_RE = re.compile(r"^[+-]?\d+$")
_FLOAT_RE = re.compile(r"^[+-]?(\d+\.\d*|\.\d+|\d+)([eE][+-]?\d+)?$")


class BenchmarkError(ValueError):
    """A benchmark name, split or row that cannot be used; the message names the row and column."""


@dataclass(frozen=True)
class Benchmark:
    """One benchmark: where its rows come from and how a row becomes a record."""

    name: str
    title: str  # the column name in the paper's Table 1, or a display name
    hub_id: str | None
    splits: dict[str, tuple[str | None, str]]  # our split name -> (Hub config, Hub split)
    default_splits: tuple[str, ...]
    breakdowns: tuple[str, ...]  # metadata keys reported per value (the official breakdowns)
    to_record: Callable[[dict, str], dict]  # (Hub row, split) -> record
    load_rows: Callable[..., Iterable[dict]] | None = None  # custom loader (the synthetic set); else the Hub
    aliases: dict[str, str] = field(default_factory=dict)  # short split names -> split

    def split_name(self, split: str | None) -> str:
        if split is None:
            return self.default_splits[0]
        split = self.aliases.get(split, split)
        if split not in self.splits:
            raise BenchmarkError(
                f"benchmark {self.name!r} has no split {split!r}; splits: {sorted(self.splits)}"
                + (f", aliases: {sorted(self.aliases)}" if self.aliases else "")
            )
        return split

    def rows(self, split: str, limit: int | None = None, data_root: str | None = None) -> Iterable[dict]:
        """Raw rows of ``split`` (the first ``limit``), from ``data_root`` if a local copy exists, else the Hub."""
        if self.load_rows is not None:
            return self.load_rows(split, limit=limit)
        return load_hub_rows(self, split, limit=limit, data_root=data_root)

    def records(self, split: str | None = None, limit: int | None = None, data_root: str | None = None) -> Records:
        """The split's records. A row that cannot become one (a column its adapter reads is missing, a malformed
        option list, an empty gold answer) is quarantined with its reason (``records.quarantined``: row and
        reason) and the split goes on; the count is reported with the scores. Raises ``BenchmarkError`` naming
        the benchmark and row when a row cannot be read at all (rows decode lazily: a corrupt image fails here)
        or when no row is usable."""
        split = self.split_name(split)
        rows, out = iter(self.rows(split, limit=limit, data_root=data_root)), Records()
        for i in itertools.count():
            where = f"benchmark {self.name}:{split}, row {i}"
            try:
                row = next(rows)
            except StopIteration:
                break
            except Exception as exc:
                raise BenchmarkError(f"{where}: cannot be read ({type(exc).__name__}: {exc})"[:400]) from exc
            try:
                record = self.to_record(row, split)
                if not str(record["answer"]).strip():
                    raise BenchmarkError(f"id {record['id']!r}: the gold answer is empty; it cannot be scored")
            except KeyError as exc:
                reason = (
                    f"column {exc} is missing (the row has: {', '.join(sorted(map(str, row)))}); the dataset's "
                    f"layout is not the one this adapter reads (srpo/bench/{self.name}.py)"
                )
            except BenchmarkError as exc:
                reason = str(exc)
            else:
                out.append(record)
                continue
            out.quarantined.append({"row": i, "reason": reason})
            log.warning(f"{where}: quarantined: {reason}")
        if out.quarantined and not out:
            raise BenchmarkError(
                f"benchmark {self.name}:{split}: no usable row; row "
                f"{out.quarantined[0]['row']}: {out.quarantined[0]['reason']}"
            )
        return out


class Records(list):
    """A list of records that also lists the rows quarantined on the way (``quarantined``)."""

    def __init__(self, *args):
        super().__init__(*args)
        self.quarantined: list[dict] = []


def local_copy(data_root: str | os.PathLike, name: str, split: str) -> Path:
    """Where a ``save_to_disk`` copy of a split may live: ``<data_root>/<name>/<split, spaces as _>``."""
    return Path(data_root) / name / re.sub(r"[^A-Za-z0-9_.-]+", "_", split).strip("_")


def load_hub_rows(bench: Benchmark, split: str, limit: int | None = None, data_root: str | None = None):
    """The rows of one split as a ``datasets.Dataset`` (rows decode lazily, one at a time)."""
    from datasets import load_dataset, load_from_disk

    config, hub_split = bench.splits[split]
    local = local_copy(data_root, bench.name, split) if data_root else None
    if local is not None and local.exists():
        ds = load_from_disk(str(local))
    else:
        try:
            ds = load_dataset(bench.hub_id, config, split=hub_split)
        except Exception as exc:  # offline, gated or renamed: say what was asked for
            raise BenchmarkError(
                f"could not load {bench.hub_id} (config {config!r}, split {hub_split!r}) for benchmark "
                f"{bench.name}:{split}: {exc}. On a machine without Hub access, download it first "
                f"(python -m srpo.bench --prefetch --config ...) or save a copy to {local or '<data_root>/...'}"
            ) from exc
    if limit is not None and limit < len(ds):
        ds = ds.select(range(limit))
    return ds


# ---------------------------------------------------------------------------------------------- row helpers
def parse_option_list(value, *, row_id: str, column: str = "options") -> list[str]:
    """A list of option strings from a list or a stringified list (MMMU-Pro stores ``"['a', 'b']"``).

    Parsed with ``ast.literal_eval`` (then ``json``), never ``eval``.

    >>> parse_option_list("['1', \\"it's 2\\"]", row_id="x")
    ['1', "it's 2"]
    """
    if value is None:
        return []
    if isinstance(value, list | tuple):
        return parse_option_list(repr(list(value)), row_id=row_id, column=column)
    if not isinstance(value, str):
        raise BenchmarkError(f"row {row_id!r}: column {column!r} is a {type(value).__name__}, not a list")
    text = value.strip()
    if not text:
        return []
    for parse in (ast.literal_eval, json.loads):
        try:
            parsed = parse(text)
        except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
            continue
        if isinstance(parsed, list | tuple):
            if any(isinstance(v, list | tuple | dict) for v in parsed):
                raise BenchmarkError(
                    f"row {row_id!r}: column {column!r} is a nested list, not option texts: {text[:80]!r}"
                )
            return [str(v) for v in parsed]
    raise BenchmarkError(f"row {row_id!r}: column {column!r} is not a list literal: {text[:80]!r}")


def option_letter(index: int) -> str:
    """The label of option ``index`` (0 -> ``A``), as the benchmarks print their options."""
    return LETTERS[index]


def check_gold_letter(gold: str, n_options: int, *, row_id: str, column: str = "answer") -> str:
    """The gold letter, upper-cased, checked against the number of options (A.. the last one)."""
    letter = str(gold).strip().strip("()").upper()
    if len(letter) != 1 or letter not in LETTERS[: max(n_options, 1)]:
        raise BenchmarkError(
            f"row {row_id!r}: {column} {gold!r} is not an option letter A-{LETTERS[max(n_options, 1) - 1]}"
        )
    return letter


def infer_answer_type(gold: str) -> str:
    """integer / float / expression for free-form golds that carry no type (MathVerse, MathVision).

    >>> [infer_answer_type(g) for g in ["12", "-3.5", "\\\\frac{1}{2}"]]
    ['integer', 'float', 'expression']
    """
    text = str(gold).strip()
    if re.fullmatch(r"[+-]?\d{1,3}(,\d{3})+", text):  # "1,000" is a thousands separator, not a list
        text = text.replace(",", "")
    if _INT_RE.match(text):
        return "integer"
    if _FLOAT_RE.match(text):
        return "float"
    return "expression"


def to_rgb(image):
    """PIL images in RGB: benchmark images come as P, RGBA, L or CMYK, and processors expect RGB."""
    if image is None:
        return None
    return image if getattr(image, "mode", "RGB") == "RGB" else image.convert("RGB")


def options_block(options: list[str], style: str = "({letter}) {text}") -> str:
    """``(A) first\\n(B) second`` for a question text."""
    return "\n".join(style.format(letter=option_letter(i), text=o) for i, o in enumerate(options))


def make_record(*, id, source, images, question, options, answer, answer_type, precision=None, metadata=None) -> dict:
    """A record in the common schema (``srpo.data.schema``), ``metadata`` kept as a dict."""
    return {
        "id": str(id),
        "source": source,
        "images": [to_rgb(i) for i in images if i is not None],
        "question": question,
        "options": list(options),
        "answer": str(answer),
        "answer_type": answer_type,
        "precision": precision,
        "metadata": dict(metadata or {}),
    }


RECORD_KEYS = frozenset(
    {"id", "source", "images", "question", "options", "answer", "answer_type", "precision", "metadata"}
)


def is_record(row: dict) -> bool:
    return set(row) >= RECORD_KEYS


def metadata_of(record: dict) -> dict:
    meta = record.get("metadata") or {}
    return json.loads(meta) if isinstance(meta, str) else meta
