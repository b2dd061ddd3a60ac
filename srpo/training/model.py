"""Model side of the two training stages (cold-start SFT and GRPO): resolving and loading the model and
processor, freezing the vision tower, screening training rows, and the held-out check."""

from __future__ import annotations

import json
import logging
import os
import time
from pathlib import Path

from srpo import paths, pixels, threads

log = logging.getLogger(__package__)


def setup(cfg):
    """The start both training stages share: threads, seed, output folders (checkpoints and TensorBoard in
    the stage folder), then the model to train with its processor and the vision side frozen (paper §4).

    Returns (model_path, processor, model, number of frozen parameters)."""
    from transformers import set_seed

    args, trl_args, model_args = cfg.args, cfg.trl, cfg.model
    threads.configure(cfg.launch.torch_threads, label=cfg.stage)
    set_seed(trl_args.seed)
    trl_args.output_dir = str(cfg.stage_dir / "checkpoints")
    set_tensorboard_dir(cfg.stage_dir)
    model_path = paths.resolve_model(model_args.model_name_or_path, cfg.run.run_dir)
    # the paper caps images at 262,144 px; vLLM gets the same budget (srpo.generation.trl_vllm_engine)
    processor = pixels.load_processor(model_path, pixels.PixelBudget(args.image_min_pixels, args.image_max_pixels))
    model = load_model(model_path, model_args)
    frozen = freeze_vision(model) if args.freeze_vision else 0
    return model_path, processor, model, frozen


def set_tensorboard_dir(stage_dir: Path) -> None:
    """TensorBoard event files go to ``<stage_dir>/tensorboard`` (transformers 5 reads the directory from
    ``TENSORBOARD_LOGGING_DIR``; TrainingArguments no longer has ``logging_dir``)."""
    os.environ["TENSORBOARD_LOGGING_DIR"] = str(Path(stage_dir) / "tensorboard")


def load_model(path: str, model_args):
    """Load with the Auto class exactly as for Qwen/Qwen2.5-VL-7B-Instruct; dtype/attention from ModelConfig."""
    import torch
    from transformers import AutoModelForImageTextToText

    dtype = model_args.dtype if model_args.dtype not in (None, "auto") else "auto"
    dtype = getattr(torch, dtype) if isinstance(dtype, str) and dtype != "auto" else dtype
    kwargs = {"dtype": dtype}
    if model_args.attn_implementation:
        kwargs["attn_implementation"] = model_args.attn_implementation
    return AutoModelForImageTextToText.from_pretrained(path, **kwargs)


def freeze_vision(model) -> int:
    """Freeze the vision tower and the merger (paper §4: "vision tower and projector frozen").

    Returns the number of frozen parameters."""
    frozen = 0
    for name, param in model.named_parameters():
        if ".visual." in f".{name}":
            param.requires_grad_(False)
            frozen += _numel(param)
    if frozen == 0:
        raise ValueError("freeze_vision: found no parameters under 'visual' in this model")
    return frozen


QUARANTINE = "quarantine.jsonl"  # <stage_dir>/quarantine.jsonl: training rows left out, each with its reason


def screen_rows(dataset, stage_dir: Path, *, what: str, required_text: tuple[str, ...] = ()):
    """Leave out the rows training cannot use, before the first step rather than hours into the run: rows whose
    images do not decode (``image_unreadable``) and rows with an empty ``required_text`` column such as the
    gold answer (``missing_<column>``). Each one goes to ``<stage_dir>/quarantine.jsonl`` with its reason.

    Returns (the kept rows, the number quarantined). Raises ``ValueError`` naming ``what`` when no row is left."""
    if len(dataset) == 0:
        raise ValueError(f"{what} has no rows: check the dataset path or the stage that builds it")
    bad: list[dict] = []
    for index in range(len(dataset)):
        reason = _row_problem(dataset, index, required_text)
        if reason:
            bad.append({"index": index, **reason})
    path = Path(stage_dir) / QUARANTINE
    if is_main_process():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("".join(json.dumps(b, ensure_ascii=False) + "\n" for b in bad))
    if bad:
        reasons = sorted({b["reason"] for b in bad})
        log.warning(f"{what}: left out {len(bad)} of {len(dataset)} rows ({', '.join(reasons)}); see {path}")
    if len(bad) == len(dataset):
        raise ValueError(
            f"{what}: none of its {len(dataset)} rows is usable ({bad[0]['reason']}: {bad[0]['detail']}); "
            f"every row is listed in {path}"
        )
    keep = sorted(set(range(len(dataset))) - {b["index"] for b in bad})
    return (dataset.select(keep) if bad else dataset), len(bad)


def _row_problem(dataset, index: int, required_text: tuple[str, ...]) -> dict | None:
    try:
        row = dataset[index]  # decodes the images: a corrupt one raises here
        for image in row.get("images") or []:
            if image is not None and hasattr(image, "load"):
                image.load()
    except Exception as exc:
        return {"reason": "image_unreadable", "detail": f"{type(exc).__name__}: {exc}"[:200]}
    for column in required_text:
        value = row.get(column)
        if value is None or (isinstance(value, str) and not value.strip()) or (isinstance(value, list) and not value):
            return {"id": row.get("id"), "reason": f"missing_{column}", "detail": f"column {column!r} is empty"}
    return None


def parameter_counts(model) -> dict:
    total = sum(_numel(p) for p in model.parameters())
    trainable = sum(_numel(p) for p in model.parameters() if p.requires_grad)
    return {"total": total, "trainable": trainable}


def _numel(param) -> int:
    """Elements of a parameter; under ZeRO-3 the local tensor is an empty shard and DeepSpeed keeps the size."""
    return getattr(param, "ds_numel", None) or param.numel()


def held_out_check(model, processor, args, prompt: str, seed: int) -> dict | None:
    """Score ``args.eval_samples`` held-out synthetic test problems (at most ``args.eval_max_new_tokens`` new
    tokens each), greedy and sampled at T=1 (the rollout distribution), with ``prompt``.

    Greedy numbers alone hide what SFT and RL change: a model that sometimes errs on purpose, or whose
    reflection is a rubber stamp, can look the same under greedy decoding. Returns None when ``eval_samples`` is
    0, on every rank but the main one, and in multi-process runs (said in the log)."""
    n, max_new_tokens = args.eval_samples, args.eval_max_new_tokens
    if not n or not is_main_process():
        return None
    if int(os.environ.get("WORLD_SIZE", "1")) > 1:  # generation in one rank of a sharded model would hang
        log.warning("held-out check skipped: it runs in single-process runs only (eval_samples > 0)")
        return None
    from srpo.bench import evaluate
    from srpo.generation import GenerationSettings

    was_training = model.training
    out = {}
    for mode, temperature in (("greedy", 0.0), ("sampled", 1.0)):
        settings = GenerationSettings(
            max_new_tokens=max_new_tokens, temperature=temperature, seed=seed, batch_size=100
        )
        start = time.time()
        result = evaluate((model, processor), "synthetic", settings=settings, prompt=prompt, limit=n)
        out[mode] = {**result["metrics"], "seconds": round(time.time() - start, 1)}
        keep = ("id", "response", "first_answer", "final_answer", "first_correct", "final_correct")
        out[f"{mode}_examples"] = [{k: r.get(k) for k in keep} for r in result["records"][:4]]
    model.train(was_training)
    return out


def is_main_process() -> bool:
    return int(os.environ.get("RANK", "0")) == 0
