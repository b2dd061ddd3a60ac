"""``tiny://instruct``: the tiny model after a short single-pass warm-up, the stand-in for an instruct base.

The paper starts from Qwen2.5-VL-7B-Instruct, a model that already answers in a think/answer format and
is right often but not always. A random-weight tiny model answers nothing, so its "first attempts" in
stage 02 would teach nothing. This warm-up trains it briefly with TRL's ``SFTTrainer`` on single-pass
think/answer solutions of the synthetic task (its own seed, disjoint from every data split), stopping
early on purpose: the result answers about two thirds of held-out problems right (greedy), and its
mistakes are genuine: they grow with the image's difficulty (ghost segments, noise) and with the
question (halving for ``average``). Nothing here teaches the reflection format.

The vision tower and the merger stay frozen at their random initialisation: only the language model
learns, reading the digits from fixed random visual features. Trained at this learning rate, the tiny
tower collapsed to an image-independent output in 4 of 7 runs and never learnt to read; with the tower
frozen but the merger trained, reading stalled near 45% per digit (a learning rate of 2e-3 collapsed it
too); with both frozen, reading reached 88% per digit in 1,200 steps. A random ViT's features already
separate seven-segment digits. (Real VLMs start from a pretrained tower; the paper freezes tower and
projector in both of its stages, as our stages 03 and 04 do.)
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

from srpo import progress

WARMUP_SEED = 10_007  # problems for the warm-up; data curation uses other seeds
WARMUP_STEPS = 1200  # ~2.5 min on one core; greedy held-out accuracy ~0.65, sampled ~0.55
WARMUP_PROBLEMS = 6400  # three epochs: repeated images were read better than fresh ones at equal steps
WARMUP_BATCH = 16
WARMUP_LR = 1e-3
WARMUP_THREADS = 2  # fixed (see warm_up); part of the cache key


def warmup_dataset(n: int, seed: int):
    from datasets import Dataset

    from srpo import formats
    from srpo.tiny import sevenseg

    problems = sevenseg.make_problems(n, seed, id_prefix="warmup")
    return Dataset.from_dict(
        {
            "images": [[p.image] for p in problems],
            "prompt": [formats.build_messages(p.record()["question"], 1, "single_pass") for p in problems],
            "completion": [
                [{"role": "assistant", "content": [{"type": "text", "text": sevenseg.correct_attempt(p).text}]}]
                for p in problems
            ],
        }
    )


def warm_up(
    base_dir: str | os.PathLike, out_dir: str | os.PathLike, *, seed: int = 0, steps: int = WARMUP_STEPS
) -> Path:
    """Train ``base_dir`` for ``steps`` single-pass SFT steps and save the result to ``out_dir``.

    Runs on ``WARMUP_THREADS`` torch threads whatever the calling process set (restored afterwards): the thread
    count changes floating-point sums, so a model built by the test suite and one built by stage 02 must not
    differ, or the main job's numbers would depend on which built the cache."""
    import torch

    previous_threads = torch.get_num_threads()
    torch.set_num_threads(WARMUP_THREADS)
    try:
        return _warm_up(base_dir, out_dir, seed=seed, steps=steps)
    finally:
        torch.set_num_threads(previous_threads)


def _warm_up(base_dir, out_dir, *, seed: int, steps: int) -> Path:
    import torch
    from transformers import AutoModelForImageTextToText, AutoProcessor
    from trl import SFTConfig, SFTTrainer

    processor = AutoProcessor.from_pretrained(base_dir)
    model = AutoModelForImageTextToText.from_pretrained(base_dir, dtype=torch.float32)
    for name, param in model.named_parameters():
        if "visual" in name:  # tower and merger: see the module docstring
            param.requires_grad_(False)
    args = SFTConfig(
        output_dir=str(Path(out_dir) / "_trainer"),
        max_steps=steps,
        per_device_train_batch_size=WARMUP_BATCH,
        learning_rate=WARMUP_LR,
        lr_scheduler_type="cosine",
        warmup_steps=30,
        weight_decay=0.0,
        logging_steps=50,
        save_strategy="no",
        report_to="none",
        use_cpu=True,
        bf16=False,
        max_length=256,
        seed=seed,
        gradient_checkpointing=False,
        dataloader_num_workers=0,
        disable_tqdm=True,
    )
    trainer = SFTTrainer(
        model=model,
        args=args,
        processing_class=processor,
        train_dataset=warmup_dataset(WARMUP_PROBLEMS, WARMUP_SEED + seed),
    )
    progress.install(trainer, "tiny_instruct_warmup")  # built inside a stage: progress lines, not raw log dicts
    trainer.train()
    trainer.save_model(out_dir)
    if not (Path(out_dir) / "config.json").exists():  # save_model writes on the main process only
        raise RuntimeError(
            f"the tiny://instruct warm-up saved no model (process {trainer.args.process_index} of "
            f"{trainer.args.world_size}): build it in a single process first, e.g. "
            "`python -c \"from srpo.tiny import resolve_model; resolve_model('tiny://instruct')\"`"
        )
    processor.save_pretrained(out_dir)
    shutil.rmtree(Path(out_dir) / "_trainer", ignore_errors=True)
    losses = [round(h["loss"], 4) for h in trainer.state.log_history if "loss" in h]
    (Path(out_dir) / "warmup.json").write_text(json.dumps({"steps": steps, "seed": seed, "losses": losses}))
    return Path(out_dir)
