"""Selection to the SFT set (paper §3.1): a target size with a target share of correct first attempts.

The paper kept 10K of 100K attempts, about 30% correct and 70% wrong: mostly attempts that a reflection
can fix, plus some correct ones so the model also learns to confirm (and tighten) a right answer.

Deterministic for a seed: candidates are sorted by id, then shuffled with a generator seeded by
(seed, pool, class), and taken in that order while respecting ``max_per_problem``. The correct class is
filled first (it is usually the scarce one), then the wrong class. With ``fill`` (attempt source
``mixed``), the generator's attempts fill only what the primary pool lacks, on problems not yet used.
A class that cannot be filled is reported as a shortfall; the set is then smaller than the target.

``keep`` and ``exclude`` refill a selection after the teacher rejected some of it (docs/paper_vs_release.md,
row "Teacher rejections"): the kept rows stay, the excluded ids and their problems are not used again, and the
next candidates of each class in the same order take the free places, so the set keeps its size and share.
"""

from __future__ import annotations

import random
from collections import Counter


def quotas(target_size: int, correct_ratio: float) -> tuple[int, int]:
    """(correct, wrong) sample counts for a target size and share of correct attempts."""
    n_correct = round(target_size * correct_ratio)
    return n_correct, target_size - n_correct


def _shuffled(rows: list[dict], seed: int, tag: str) -> list[dict]:
    rows = sorted(rows, key=lambda r: r["id"])
    random.Random(f"{seed}|{tag}").shuffle(rows)
    return rows


def select(
    candidates: list[dict],
    target_size: int,
    correct_ratio: float,
    seed: int,
    *,
    max_per_problem: int = 1,
    fill: list[dict] | None = None,
    keep: list[dict] | tuple = (),
    exclude: set[str] | frozenset[str] = frozenset(),
) -> tuple[list[dict], dict]:
    """Pick attempts for the SFT set; returns (rows in a seeded shuffled order, a report).

    ``keep``: rows already picked that stay picked. ``exclude``: attempt ids never picked; their problems count
    as used (a problem whose attempt the teacher rejected does not come back through another attempt).
    """
    wanted = dict(zip((True, False), quotas(target_size, correct_ratio), strict=True))
    pools = (("primary", candidates), ("fill", fill or []))
    used: Counter = Counter(r["problem_id"] for r in keep)
    used.update(r["problem_id"] for _, pool in pools for r in pool if r["id"] in exclude)
    skip = set(exclude) | {r["id"] for r in keep}
    picked: list[dict] = list(keep)
    for correct in (True, False):
        taken = sum(r["correct"] == correct for r in keep)
        for tag, pool in pools:
            for row in _shuffled([r for r in pool if r["correct"] == correct], seed, f"{tag}|{correct}"):
                if taken >= wanted[correct]:
                    break
                if row["id"] in skip or used[row["problem_id"]] >= max_per_problem:
                    continue
                used[row["problem_id"]] += 1
                picked.append(row)
                taken += 1
    picked = _shuffled(picked, seed, "order")
    return picked, selection_report(picked, wanted[True], wanted[False])


def selection_report(picked: list[dict], want_correct: int, want_wrong: int) -> dict:
    n_correct = sum(r["correct"] for r in picked)
    by_source: dict = {}
    for r in picked:
        entry = by_source.setdefault(r["attempt_source"], {"correct": 0, "wrong": 0})
        entry["correct" if r["correct"] else "wrong"] += 1
    return {
        "target_correct": want_correct,
        "target_wrong": want_wrong,
        "selected": len(picked),
        "correct": n_correct,
        "wrong": len(picked) - n_correct,
        "correct_share": round(n_correct / len(picked), 4) if picked else None,
        "by_attempt_source": by_source,
        "shortfall": {"correct": want_correct - n_correct, "wrong": want_wrong - (len(picked) - n_correct)},
        "problems": len({r["problem_id"] for r in picked}),
    }
