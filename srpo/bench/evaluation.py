"""``evaluate``: generate (through the shared backends, with a resumable cache), score, and measure.

Used by the benchmarks stage for every model and benchmark, and in-process by the SFT and GRPO stages
(``evaluate((model, processor), "synthetic", ...)``) to check a model before and after training.
"""

from __future__ import annotations

import dataclasses
import logging
import time

from srpo import progress
from srpo.bench import registry
from srpo.bench.base import metadata_of
from srpo.bench.cache import GenerationCache, model_key, settings_key
from srpo.bench.metrics import breakdowns, compute_metrics
from srpo.bench.prompts import check_prompt, messages_for
from srpo.bench.scoring import SCORER, score_record

log = logging.getLogger(__package__)

CHUNK_BATCHES = 4  # HF backend: cache writes every CHUNK_BATCHES generate() batches


def evaluate(
    model,
    benchmark,
    *,
    settings,
    prompt: str = "srpo_rl",
    placement: str = "system",
    limit=None,
    backend="hf",
    backend_kwargs=None,
    cache_path=None,
    items=None,
    judge=None,
    chunk_size=None,
    num_threads: int | None = None,
    verbose: bool = True,
) -> dict:
    """Evaluate ``model`` on ``benchmark`` (``"synthetic"``, ``"mathvision:testmini"``, ...).

    ``model``: a checkpoint folder, a Hub id, a ``tiny://`` name, or a loaded ``(model, processor)`` pair (the
    model's train/eval mode and the processor's padding side are restored afterwards). ``backend``: ``"hf"``,
    ``"vllm"``, or an already built backend object (then ``model`` only names it for the cache).
    ``items``: records already loaded (the stage loads each benchmark once for all models).
    ``chunk_size``: prompts per ``generate`` call between cache writes (default: 4 HF batches; everything
    at once for vLLM, which starts its engines once per call).
    ``num_threads``: torch CPU threads while generating (restored afterwards). The tiny model on a busy
    2-core machine generated 3-20x faster with 1 thread than with 2: its ops are too small to split.
    ``verbose``: write progress lines and the judge's usage line.
    Returns ``metrics`` (rule-based), ``metrics_by_scorer``, ``breakdowns`` and one record per response.
    """
    bench, split = registry.resolve(benchmark)
    check_prompt(prompt)
    records_in = items if items is not None else bench.records(split, limit=limit)
    records_in = records_in[:limit] if limit is not None else records_in
    _check_unique_ids(records_in, f"{bench.name}:{split}")
    gen_backend, restore = _backend(model, backend, backend_kwargs)
    cache = GenerationCache(cache_path)
    model_id = model_key(model) if cache_path else "uncached"
    if chunk_size is None:
        chunk_size = CHUNK_BATCHES * settings.batch_size if _is_hf(gen_backend) else 0
    threads = _set_threads(num_threads)
    try:
        texts = _generate(
            gen_backend,
            records_in,
            settings,
            prompt,
            placement,
            cache,
            model_id,
            chunk_size,
            label=f"{bench.name}:{split}" if verbose else None,
        )
    finally:
        restore()
        _set_threads(threads)
    records = [_record(item, gen, bench.breakdowns) for item in records_in for gen in texts[item["id"]]]
    by_scorer = {SCORER: compute_metrics(records)}
    parts = {SCORER: breakdowns(records, bench.breakdowns)}
    usage = None
    if judge is not None:  # its verdicts go under its own scorer name, beside the rule score
        usage = judge.score_records(records_in, records)
        by_scorer[judge.name] = compute_metrics(records, prefix=judge.prefix)
        parts[judge.name] = breakdowns(records, bench.breakdowns, prefix=judge.prefix)
        if verbose and usage:
            log.info(
                f"{judge.name} on {bench.name}:{split}: {usage['requests']} requests so far, "
                f"{usage['prompt_tokens']} + {usage['completion_tokens']} tokens, estimated "
                f"${usage['estimated_cost_usd']:.4f}, {usage['rejected']} rejected"
            )
    return {
        "benchmark": bench.name,
        "split": split,
        "label": f"{bench.name}:{split}",
        "prompt": prompt,
        "placement": placement,
        "settings": dataclasses.asdict(settings),
        "scorer": SCORER,
        "metrics": by_scorer[SCORER],
        "metrics_by_scorer": by_scorer,
        "breakdowns": parts,
        "records": records,
        "judge_usage": usage,
    }


def _check_unique_ids(items: list[dict], label: str) -> None:
    seen = set()
    for item in items:
        if item["id"] in seen:
            raise ValueError(f"{label}: id {item['id']!r} appears twice; ids key the cache and the records")
        seen.add(item["id"])


def _set_threads(n: int | None) -> int | None:
    """Set torch's CPU threads to ``n`` (if given) and return the previous number."""
    if not n:
        return None
    import torch

    previous = torch.get_num_threads()
    torch.set_num_threads(n)
    return previous


def _is_hf(backend) -> bool:
    from srpo.generation import HFBackend

    return isinstance(backend, HFBackend)


def _backend(model, backend, backend_kwargs):
    """(backend, restore) for a backend object, a loaded (model, processor) pair, or a path/name."""
    if not isinstance(backend, str):
        return backend, lambda: None
    if isinstance(model, tuple | list):
        if backend != "hf":
            raise ValueError("a loaded (model, processor) pair can only be evaluated with backend='hf'")
        from srpo.generation import HFBackend

        net, processor = model
        was_training, side = net.training, processor.tokenizer.padding_side
        device = str(next(net.parameters()).device)
        built = HFBackend("", model=net, processor=processor, device=device, **(backend_kwargs or {}))

        def restore():
            net.train(was_training)
            processor.tokenizer.padding_side = side

        return built, restore
    from srpo.generation import make_backend

    return make_backend(backend, str(model), **(backend_kwargs or {})), lambda: None


def _generate(backend, items, settings, prompt, placement, cache, model_id, chunk_size, label) -> dict:
    """``{item id: [cache entry per sample]}``, generating only what the cache does not hold.

    The chunks are a fixed partition of ``items`` and chunk ``i`` samples with seed ``settings.seed + i``, so a
    resumed run regenerates a missing chunk with the same requests and seed as an uninterrupted run and gets the
    same samples. (The transformers backend samples a whole call from one random stream, so a sample depends on
    its chunk; vLLM seeds every request with the call's seed, so there it depends only on the item and sample
    index.) Sampled decoding regenerates a chunk whole and stores what was missing; greedy asks only for the
    missing items. docs/paper_vs_release.md, row "Decoding".
    """
    skey = settings_key(settings)
    keys = {
        it["id"]: [
            cache.key(model_id, prompt, placement, skey, it["id"], it["question"], len(it["images"]), s)
            for s in range(settings.n)
        ]
        for it in items
    }
    pending = {it["id"] for it in items if any(cache.get(k) is None for k in keys[it["id"]])}
    size = chunk_size if chunk_size and chunk_size > 0 else max(len(items), 1)
    done = len(items) - len(pending)
    if label and done:
        log.info(f"{label}: {done}/{len(items)} prompts from the cache")
    lines = progress.Lines(label.replace(" ", "_"), len(items), every=1) if label else None  # one line per chunk
    if lines:
        lines.update(done)
    for index, lo in enumerate(range(0, len(items), size)):
        chunk = items[lo : lo + size]
        todo = [it for it in chunk if it["id"] in pending]
        if not todo:
            continue
        asked = todo if settings.greedy else chunk
        requests = [_request(it, prompt, placement) for it in asked]
        # a distinct seed per chunk, so sampled chunks do not replay the same random stream
        chunk_settings = dataclasses.replace(settings, seed=settings.seed + index)
        t0 = time.time()
        generations = backend.generate(requests, chunk_settings)
        per = (time.time() - t0) / max(len(generations), 1)
        by_id = {(g.id, g.sample): g for g in generations}
        entries = []
        for it in todo:
            for s, key in enumerate(keys[it["id"]]):
                g = by_id.get((it["id"], s))
                if g is None:
                    raise RuntimeError(f"{label}: the backend returned no sample {s} for {it['id']!r}")
                entries.append(
                    {
                        "key": key,
                        "id": it["id"],
                        "sample": s,
                        "text": g.text,
                        "num_tokens": g.num_tokens,
                        "finish_reason": g.finish_reason,
                        "gen_s": per,
                        "prompt_tokens": len(g.prompt_ids) or None,
                    }
                )
        cache.put_many(entries)
        done += len(todo)
        if lines:
            lines.update(done)
    return {it["id"]: [cache.get(k) for k in keys[it["id"]]] for it in items}


def _request(item: dict, prompt: str, placement: str):
    from srpo.generation import GenerationRequest

    return GenerationRequest(
        item["id"], messages_for(item["question"], len(item["images"]), prompt, placement), list(item["images"])
    )


def _record(item: dict, gen: dict, keys) -> dict:
    meta = metadata_of(item)
    return {
        "id": item["id"],
        "sample": gen["sample"],
        "question": item["question"],
        "gold": item["answer"],
        "answer_type": item["answer_type"],
        "options": list(item.get("options") or []),
        **score_record(item, gen["text"]),
        "response": gen["text"],
        "num_tokens": gen["num_tokens"],
        "finish_reason": gen["finish_reason"],
        "gen_s": gen["gen_s"],
        "prompt_tokens": gen.get("prompt_tokens"),  # images expanded: shows the pixel budget at work
        "groups": {k: meta.get(k) for k in keys},
    }
