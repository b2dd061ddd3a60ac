"""How often our rule-based scorer agrees with the benchmarks' OFFICIAL verdicts on real model replies.

Reads ``../shared/external/<benchmark>_<model>.jsonl`` (replies released by the maintainers of MathVista,
MathVision and MMMU-Pro, each with the maintainers' verdict ``official.correct``; format in that folder's
README), scores every reply with ``srpo.bench.score_response`` and prints, per benchmark and model: n,
official accuracy, ours, agreement, the 2x2 confusion (both right / official only / ours only / both wrong),
the share of replies where we found no answer, and which extraction rule decided the disagreements.
Every disagreement is written to ``--out`` (JSON lines) with both verdicts, the gold, our extracted answer
and the official extraction, to be read by hand. A row that cannot become a record (a malformed option
list) is quarantined with its reason; the split still runs.

MathVista is graded with its documented letter-first rule in both modes; ``--mode mathvista_nearest`` adds
its documented nearest-option mapping (official ``get_most_similar``) for a stated answer that names no
option (``srpo.bench.scoring``). The default mode never guesses. Empty replies and refusals are never
credited in either mode.

    python scripts/bench_agreement.py                      # all files, default mode
    python scripts/bench_agreement.py --benchmark mathvista --mode mathvista_nearest
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
from collections import Counter, defaultdict
from pathlib import Path

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from srpo import bench  # noqa: E402
from srpo.bench.scoring import MODES, grade  # noqa: E402
from srpo.grading.choices import LETTERS, match_option, parse_options  # noqa: E402
from srpo.grading.conventions import is_refusal  # noqa: E402
from srpo.grading.extract import own_part  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA = ROOT / ".." / "shared" / "external"
CELLS = {
    (True, True): "both right",
    (True, False): "official only",
    (False, True): "ours only",
    (False, False): "both wrong",
}
FLOORS = {"mathvista": 0.95, "mathvision": 0.985, "mmmu_pro:standard (10 options)": 0.98, "mmmu_pro:vision": 0.98}


def family(benchmark: str) -> str:
    """The key of FLOORS a benchmark falls under: MMMU-Pro per setting, the others per benchmark."""
    return benchmark if benchmark.startswith("mmmu_pro") else benchmark.split(":")[0]


_LETTER_LABEL = re.compile(r"^\W*(?:\\(?:text|textbf|mathrm|mathbf)\s*\{\s*)?\(?([A-J])\)")


def cause(line: dict, ours: dict) -> str:
    """A named cause for one disagreement, from what each side extracted (checked by hand on samples)."""
    record, extraction = ours["record"], str(line["official"].get("extraction") or "").strip()
    mc = record["answer_type"] == "multiple_choice"
    if line["official"]["correct"]:  # official right, ours wrong
        if not (line["response"] or "").strip():
            return "official: empty reply credited"
        if line["benchmark"].startswith("mmmu_pro") and not ours["parsed"]:
            return "official: a letter from a non-answer (random fallback, the word I)"
        if is_refusal(ours["final_answer"]):
            return "official: a refusal credited (an answer guessed or mapped to the nearest option)"
        if line["benchmark"].startswith("mathvista") and mc and not grade(extraction, record):
            return "official: a non-answer mapped to the nearest option"
        if mc and ours["parsed"] and not in_reply(extraction, line["response"] or "", record):
            return "official: its extraction is nowhere in the reply"
        if mc and states_one_option(ours, record):
            return "official: credits another option than the one the reply states (letter and text agree)"
        return "ours: no answer found" if not ours["parsed"] else "ours: answer read or graded differently"
    if own_part(line["response"] or "") != (line["response"] or ""):
        return "official: read the answer to a made-up follow-up question"
    label = _LETTER_LABEL.match(ours["final_answer"] or "")
    if (
        line["benchmark"].startswith("mathvision")
        and label
        and label.group(1) == record["answer"]
        and len(extraction) > 1
    ):
        return "official: option letter glued to the value"
    if line["benchmark"].startswith("mathvision") and mc and not label:
        return "official: value not matched to the option text (units, LaTeX)"
    return "official: another answer extracted or graded differently"


def in_reply(extraction: str, response: str, record: dict) -> bool:
    """Whether an official multiple-choice extraction appears in the reply: its text, or for a letter X the
    label "(X)" or option X's text."""
    text, options = response.lower(), parse_options(record.get("options") or None)
    letter = re.fullmatch(r"\(?([A-J])\)?", extraction)
    if letter:
        index = LETTERS.index(letter.group(1))
        option = options[index].lower() if index < len(options) else None
        return f"({letter.group(1).lower()})" in text or bool(option and option in text)
    return bool(extraction) and extraction.lower() in text


def states_one_option(ours: dict, record: dict) -> bool:
    """Whether our answer is an explicit statement ("The answer is (B) 18.") whose letter and option text agree,
    so that the reply names that option beyond doubt."""
    stated = ours["final_rule"].startswith("tag:") or ours["final_rule"] in ("box", "answer_is", "label")
    m = re.fullmatch(r"\W*\(?([A-J])\)?[\s.:)(-]*(.+?)\)?", ours["final_answer"] or "")
    options = parse_options(record.get("options") or None)
    return bool(stated and m) and match_option(m.group(2), options) == LETTERS.index(m.group(1))


def score(line: dict, mode: str) -> dict:
    record = bench.to_record(line["benchmark"], line["row"])
    return {"record": record, **bench.score_response(line["benchmark"], record, line["response"], mode)}


def run(data: Path, benchmarks: list[str] | None, mode: str, out: Path | None, limit: int | None = None) -> dict:
    """Score every file under ``data``; returns {(benchmark, model): stats} and writes disagreements."""
    stats: dict = defaultdict(lambda: Counter())
    rules: dict = defaultdict(Counter)
    causes: dict = defaultdict(Counter)
    disagreements = []
    for path in sorted(data.glob("*.jsonl")):
        if benchmarks and not any(path.name.startswith(b) for b in benchmarks):
            continue
        for i, text in enumerate(path.open()):
            if limit is not None and i >= limit:
                break
            line = json.loads(text)
            key = (line["benchmark"], line["model"])
            try:
                ours = score(line, mode)
            except (bench.BenchmarkError, ValueError) as exc:
                stats[key]["quarantined"] += 1
                disagreements.append(
                    {"quarantined": str(exc)[:300], "benchmark": key[0], "model": key[1], "id": line["id"]}
                )
                continue
            official, mine = bool(line["official"]["correct"]), bool(ours["final_correct"])
            s = stats[key]
            s["n"] += 1
            s["official"] += official
            s["ours"] += mine
            s["agree"] += official == mine
            s[CELLS[(official, mine)]] += 1
            s["no_answer"] += not ours["parsed"]
            if official != mine:
                rules[key][ours["final_rule"]] += 1
                causes[family(key[0])][cause(line, ours)] += 1
                disagreements.append(
                    {
                        "benchmark": key[0],
                        "model": key[1],
                        "id": line["id"],
                        "official": official,
                        "ours": mine,
                        "gold": ours["record"]["answer"],
                        "answer_type": ours["record"]["answer_type"],
                        "options": ours["record"]["options"],
                        "our_answer": ours["final_answer"],
                        "rule": ours["final_rule"],
                        "cause": cause(line, ours),
                        "official_extraction": line["official"].get("extraction"),
                        "response_tail": (line["response"] or "")[-600:],
                    }
                )
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        with out.open("w") as f:
            for d in disagreements:
                f.write(json.dumps(d, ensure_ascii=False) + "\n")
    out = {key: Counter({**s, "rules": dict(rules[key])}) for key, s in stats.items()}
    return {**out, "causes": {f: dict(c) for f, c in causes.items()}}


def pct(a: int, n: int) -> str:
    return f"{100 * a / n:5.1f}" if n else "  n/a"


def table(results: dict) -> tuple[str, dict]:
    """A markdown table per model plus one total row per benchmark; returns (text, agreement per family)."""
    lines = [
        "| benchmark | model | n | official % | ours % | agreement % | both right / official only / "
        "ours only / both wrong | no answer % | quarantined | rules of the disagreements |",
        "|---|---|---:|---:|---:|---:|---|---:|---:|---|",
    ]
    totals: dict = defaultdict(Counter)
    for (b, model), s in sorted((k, v) for k, v in results.items() if k != "causes"):
        n = s["n"]
        confusion = " / ".join(str(s[k]) for k in ("both right", "official only", "ours only", "both wrong"))
        top = ", ".join(f"{r} {c}" for r, c in Counter(s["rules"]).most_common(4))
        lines.append(
            f"| {b} | {model} | {n} | {pct(s['official'], n)} | {pct(s['ours'], n)} | "
            f"{pct(s['agree'], n)} | {confusion} | {pct(s['no_answer'], n)} | {s['quarantined']} | {top} |"
        )
        totals[family(b)].update({k: v for k, v in s.items() if k != "rules"})
    agreement = {}
    for fam, s in sorted(totals.items()):
        agreement[fam] = s["agree"] / s["n"] if s["n"] else 0.0
        confusion = " / ".join(str(s[k]) for k in ("both right", "official only", "ours only", "both wrong"))
        lines.append(
            f"| **{fam}** | all | {s['n']} | {pct(s['official'], s['n'])} | {pct(s['ours'], s['n'])} | "
            f"**{pct(s['agree'], s['n'])}** | {confusion} | {pct(s['no_answer'], s['n'])} | "
            f"{s['quarantined']} | floor {100 * FLOORS.get(fam, 0):.1f} |"
        )
    for fam, counts in sorted(results.get("causes", {}).items()):
        lines.append(f"\n{fam}: " + "; ".join(f"{c} {n}" for c, n in Counter(counts).most_common()))
    return "\n".join(lines), agreement


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="folder of <benchmark>_<model>.jsonl")
    parser.add_argument("--benchmark", action="append", help="file-name prefix: mathvista, mathvision, mmmu_pro")
    parser.add_argument("--mode", choices=MODES, default="default")
    parser.add_argument("--out", type=Path, default=ROOT / "runs" / "bench_agreement" / "disagreements.jsonl")
    parser.add_argument("--limit", type=int, help="first N replies of each file")
    parser.add_argument("--check-floors", action="store_true", help="exit 1 when a benchmark is under its floor")
    args = parser.parse_args(argv)
    if not args.data.is_dir():
        print(f"no replies at {args.data}: nothing to compare (pass --data)", file=sys.stderr)
        return 2
    results = run(args.data, args.benchmark, args.mode, args.out, args.limit)
    text, agreement = table(results)
    print(f"mode: {args.mode}\n{text}\ndisagreements written to {args.out}")
    under = {f: a for f, a in agreement.items() if a < FLOORS.get(f, 0)}
    if args.check_floors and under:
        print(
            "under the floor: " + ", ".join(f"{f} {100 * a:.2f}% < {100 * FLOORS[f]:.1f}%" for f, a in under.items())
        )
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
