"""Stage 05: every model on every benchmark, greedy (and sampled), into ``<run_dir>/benchmarks/``.

Outputs (paper §4, Table 1):

* ``results.csv`` / ``results.json``: one row per (model, benchmark, decoding mode, scorer) with every metric;
* ``breakdowns.csv``: the same metrics per official breakdown value (MathVerse version, MathVision subject
  and level, MathVista category/task/skill, MMMU-Pro subject; question type and difficulty on the synthetic set);
* ``paper_comparison.csv``: our greedy final accuracies beside the paper's Table 1 rows;
* ``records/<model>/<benchmark>__<split>__<mode>.jsonl``: every response with its grading;
* ``cache/<model>.jsonl``: the generation cache (a re-run only generates what is missing);
* ``figures/*.png``; ``summary.json`` last, with every number and the scorer that produced it.
"""

from __future__ import annotations

import dataclasses
import gc
import json
import logging
import time
from pathlib import Path

from srpo import paths
from srpo.bench import plots, report
from srpo.bench.evaluation import CHUNK_BATCHES, evaluate
from srpo.bench.prompts import TRAINED, check_prompt, trained_prompt
from srpo.bench.registry import expand, label
from srpo.configs.base import parse_pairs

log = logging.getLogger(__package__)


def check_config(cfg) -> None:
    """The stage's start (``srpo.stages``): unknown prompt, benchmark or split names fail here, before any
    model loads (``srpo.config.load`` runs it on every parse)."""
    args = cfg.args
    for prompt in [args.prompt, *parse_pairs(args.model_prompts, "model_prompts").values()]:
        check_prompt(prompt)
    expand(args.benchmarks)


def decoding_modes(args):
    """``[(mode, settings, limit)]``: greedy (the paper's numbers) and, if asked, sampled. The settings carry
    the image pixel budget, so both backends apply it to every model alike and it is part of the generation
    cache key (``srpo.bench.cache.settings_key``)."""
    from srpo.generation import GenerationSettings

    greedy = GenerationSettings(
        max_new_tokens=args.max_new_tokens,
        temperature=0.0,
        batch_size=args.batch_size,
        seed=args.seed,
        min_pixels=args.min_pixels,
        max_pixels=args.max_pixels,
    )
    modes = [("greedy", greedy, None)]
    if args.sampled_n > 0:
        sampled = dataclasses.replace(greedy, temperature=args.sampled_temperature, n=args.sampled_n)
        modes.append(("sampled", sampled, args.sampled_limit or None))
    return modes


def load_items(args) -> dict:
    """``{label: (benchmark, split, records)}``, each benchmark loaded once for all models."""
    out = {}
    for bench, split in expand(args.benchmarks):
        limit = args.synthetic_n if bench.name == "synthetic" else None
        if args.limit:
            limit = min(limit or args.limit, args.limit)
        start = time.time()
        items = bench.records(split, limit=limit, data_root=args.data_root or None)
        log.info(f"{label(bench, split)}: {len(items)} items ({time.time() - start:.0f}s)")
        out[label(bench, split)] = (bench, split, items)
    return out


def backend_kwargs(args) -> dict:
    if args.backend == "vllm":
        return dict(
            tensor_parallel_size=args.tensor_parallel_size,
            data_parallel_size=args.data_parallel_size,
            gpu_memory_utilization=args.gpu_memory_utilization,
            max_model_len=args.max_model_len,
            enforce_eager=args.enforce_eager,
        )
    return {}


def chunk_size(args) -> int:
    """Prompts per generate() call between cache writes: 4 HF batches; for vLLM one call (0), whose engines
    start once per call."""
    return args.chunk_size or (CHUNK_BATCHES * args.batch_size if args.backend == "hf" else 0)


class LazyBackend:
    """Builds the backend at its first ``generate`` call: a re-run served by the cache loads no model."""

    def __init__(self, build):
        self.build, self.backend = build, None

    def generate(self, requests, settings):
        if self.backend is None:
            self.backend = self.build()
        return self.backend.generate(requests, settings)


def make_judge(args, out: Path):
    """The LLM judge the recipe asks for (``judge_model``; ``judge_mode``: ``extract_compare`` or ``verdict``),
    with a resumable store under ``<out>/judge/``; None when ``judge_model`` is empty. Fails here, before any
    model loads, when the API key variable is not set."""
    if not args.judge_model:
        return None
    from srpo.bench.judge import ExtractThenCompare, LLMJudge
    from srpo.reflection.client import ApiSettings
    from srpo.reflection.store import JsonlStore

    two_step = args.judge_mode == "extract_compare"
    settings = ApiSettings(
        model=args.judge_model,
        base_url=args.judge_base_url or None,
        api_key_env=args.judge_api_key_env,
        temperature=0.0,
        json_mode=two_step,
        max_tokens=512 if two_step else 16,
        price_input_per_mtok=args.judge_price_input_per_mtok,
        price_output_per_mtok=args.judge_price_output_per_mtok,
    )
    fingerprint = {"model": args.judge_model, "base_url": args.judge_base_url, "mode": args.judge_mode}
    store = JsonlStore(out / "judge" / f"{report.slug(args.judge_mode + '__' + args.judge_model)}.jsonl", fingerprint)
    return ExtractThenCompare(settings, store) if two_step else LLMJudge(settings, store)


def run(cfg) -> dict:
    """Evaluate, write every output, and return the summary (written last by ``main``)."""
    from srpo.generation import make_backend

    args, out, start = cfg.args, cfg.stage_dir, time.time()
    items_by_label = load_items(args)
    judge = make_judge(args, out)
    paper_rows = parse_pairs(args.paper_models, "paper_models")
    rows, parts, models = [], [], {}
    for name, source in args.model_specs().items():
        path = paths.resolve_model(source, cfg.run.run_dir)
        prompt, placement = args.prompt_for(name), args.placement
        if prompt == TRAINED:
            prompt, placement = trained_prompt(path)
        models[name] = {
            "source": source,
            "path": path,
            "prompt": prompt,
            "placement": placement,
            "paper_row": paper_rows.get(name),
        }
        log.info(f"model {name}: {source} ({prompt} prompt)")
        backend = LazyBackend(lambda path=path: make_backend(args.backend, path, **backend_kwargs(args)))
        for lab, (bench, split, items) in items_by_label.items():
            for mode, settings, limit in decoding_modes(args):
                res = evaluate(
                    path,
                    bench,
                    settings=settings,
                    prompt=prompt,
                    placement=placement,
                    items=items,
                    limit=limit,
                    backend=backend,
                    cache_path=out / "cache" / f"{report.slug(name)}.jsonl",
                    judge=judge,
                    chunk_size=chunk_size(args),
                )
                res["split"], res["label"] = split, lab
                write_records(report.records_path(out, name, lab, mode), res)
                rows += report.result_rows(name, mode, res)
                parts += report.breakdown_rows(name, mode, res)
        del backend
        gc.collect()
    rows += report.overall_rows(rows)
    comparison = report.paper_comparison(rows, paper_rows)
    files = write_tables(out, rows, parts, comparison)
    files.update(plots.save_figures(rows, out / "figures"))
    files = {k: str(Path(v).relative_to(out)) for k, v in files.items()}  # relative to <run_dir>/benchmarks
    print(report.format_table(rows), flush=True)
    return {
        "profile": cfg.profile,
        "models": models,
        "benchmarks": list(items_by_label),
        "n_items": {lab: len(v[2]) for lab, v in items_by_label.items()},
        "modes": {m: {**dataclasses.asdict(s), "limit": lim} for m, s, lim in decoding_modes(args)},
        "scorers": sorted({r["scorer"] for r in rows}),
        "results": rows,
        "breakdowns": parts,
        "paper_comparison": comparison,
        "files": files,
        "wall_s": round(time.time() - start, 1),
        "judge_usage": judge_usage(judge),
        "note": report.NOTE,
    }


def judge_usage(judge) -> dict | None:
    """Tokens and estimated cost of every judge request in the store (this run and the ones it resumed)."""
    if judge is None:
        return None
    from srpo.reflection.client import usage_summary

    usage = usage_summary(judge.store.rows(), judge.settings)
    log.info(
        f"{judge.name}: {usage['requests']} requests, {usage['prompt_tokens']} + "
        f"{usage['completion_tokens']} tokens, estimated ${usage['estimated_cost_usd']:.4f}"
    )
    return usage


def write_records(path: Path, result: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as f:
        for r in result["records"]:
            f.write(json.dumps(r, ensure_ascii=False, default=str) + "\n")


def write_tables(out: Path, rows: list, parts: list, comparison: list) -> dict:
    import pandas as pd

    out.mkdir(parents=True, exist_ok=True)
    files = {
        "results_csv": out / "results.csv",
        "results_json": out / "results.json",
        "breakdowns_csv": out / "breakdowns.csv",
        "paper_comparison_csv": out / "paper_comparison.csv",
    }
    pd.DataFrame(rows).to_csv(files["results_csv"], index=False)
    files["results_json"].write_text(json.dumps(rows, indent=1, default=str))
    pd.DataFrame(parts).to_csv(files["breakdowns_csv"], index=False)
    pd.DataFrame(comparison).to_csv(files["paper_comparison_csv"], index=False)
    return {k: str(v) for k, v in files.items()}


def main(cfg) -> dict:
    from srpo.threads import configure

    configure(cfg.launch.torch_threads, label="benchmarks")
    summary = run(cfg)
    paths.write_summary(cfg.run.run_dir, "benchmarks", summary)
    return summary
