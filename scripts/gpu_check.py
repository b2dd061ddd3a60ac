"""What only a GPU can tell: one SFT step and one GRPO step of a Qwen2.5-VL with the 7B architecture.

    python scripts/gpu_check.py               # one H100/H200, under 8 minutes, nothing downloaded
    python scripts/gpu_check.py --tiny        # the same code path on CPU with a tiny config (the tests)

The model is built from the 7B config kept in the repository (``srpo/cluster/arch/qwen2_5_vl_7b.json``) with
random bf16 weights; the processor is the repository's tiny one (its tokenizer has few tokens, which a random
model does not care about) with the cluster recipes' pixel budget (3,136 .. 262,144 px). Prompts are synthetic:
text-only rows beside images of very different sizes and a two-image row, as in the cluster RL mix.

Steps, each timed with its peak GPU memory:

1. SFT: one forward/backward/AdamW step on one sequence (image prompt + a ``--sft-tokens`` completion),
   vision tower frozen, gradient checkpointing (stage 03's setup on one GPU; the cluster shards with ZeRO);
2. GRPO, transformers generation: one step of ``srpo.grpo_trainer.SRPOGRPOTrainer`` (our accuracy filter,
   the mixed-batch workaround), generated tokens per second;
3. GRPO, vLLM colocated: the same step with vLLM generating, when vLLM is importable and the GPU has more
   than 100 GiB (an H200; on an 80 GB H100 the training states and the engine do not fit one GPU together).

AdamW keeps its moments in bf16 here (the parameters are bf16, no fp32 master copy): 8 B per trainable
parameter, so the 7B model's states fit one 80 GB GPU; the cluster recipes use DeepSpeed ZeRO-3 with fp32
states over 8 GPUs (``python -m srpo.cluster plan --size 7b``).
"""

from __future__ import annotations

import argparse
import gc
import importlib.util
import json
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

MIN_PIXELS, MAX_PIXELS = 3136, 262_144  # recipes/7b/*: the paper's image budget
IMAGE_SIZES = [None, (640, 480), (1600, 1200), (120, 90), None, [(448, 448), (900, 300)], (300, 1400), None]


def device_and_dtype(tiny: bool):
    import torch

    if torch.cuda.is_available():
        return "cuda", torch.bfloat16
    if not tiny:
        raise SystemExit("error: no GPU here; run with --tiny for the CPU rehearsal of this check")
    return "cpu", torch.float32


def build_config(processor, tiny: bool):
    """Qwen2.5-VL-7B's architecture (or a tiny one with the same structure), special tokens from ``processor``."""
    from transformers import Qwen2_5_VLConfig

    from srpo.cluster.fit import load_arch
    from srpo.tiny import mrope_section

    arch = load_arch("7b")
    tok = processor.tokenizer
    text = {
        k: arch[k]
        for k in (
            "hidden_size",
            "intermediate_size",
            "num_hidden_layers",
            "num_attention_heads",
            "num_key_value_heads",
            "vocab_size",
            "max_position_embeddings",
            "rms_norm_eps",
        )
    }
    vision = {k: v for k, v in arch["vision_config"].items() if k not in ("in_chans", "spatial_patch_size")}
    if tiny:
        text.update(
            hidden_size=64,
            intermediate_size=128,
            num_hidden_layers=2,
            num_attention_heads=4,
            num_key_value_heads=2,
            vocab_size=len(tok),
        )
        vision.update(depth=2, hidden_size=32, intermediate_size=64, num_heads=2, fullatt_block_indexes=[1])
    vision["out_hidden_size"] = text["hidden_size"]
    head_dim = text["hidden_size"] // text["num_attention_heads"]
    text["rope_parameters"] = {
        "rope_type": "default",
        "rope_theta": arch["rope_theta"],
        "mrope_section": mrope_section(head_dim),
    }
    ids = {
        name: tok.convert_tokens_to_ids(t)
        for name, t in (
            ("image", "<|image_pad|>"),
            ("video", "<|video_pad|>"),
            ("start", "<|vision_start|>"),
            ("end", "<|vision_end|>"),
            ("eos", "<|im_end|>"),
            ("pad", "<|endoftext|>"),
        )
    }
    text.update(eos_token_id=ids["eos"], pad_token_id=ids["pad"], bos_token_id=None)
    config = Qwen2_5_VLConfig(
        text_config=text,
        vision_config=vision,
        image_token_id=ids["image"],
        video_token_id=ids["video"],
        vision_start_token_id=ids["start"],
        vision_end_token_id=ids["end"],
        tie_word_embeddings=False,
    )
    return config, ids


def build_model(config, ids, device, dtype):
    import torch
    from transformers import Qwen2_5_VLForConditionalGeneration

    torch.manual_seed(0)
    default = torch.get_default_dtype()
    torch.set_default_dtype(dtype)  # initialise in bf16 directly: no fp32 copy of 8B parameters on the GPU
    try:
        with torch.device(device):
            model = Qwen2_5_VLForConditionalGeneration(config)
    finally:
        torch.set_default_dtype(default)
    model.generation_config.eos_token_id = [ids["eos"], ids["pad"]]
    model.generation_config.pad_token_id = ids["pad"]
    model.generation_config.bos_token_id = None
    for name, p in model.named_parameters():
        if "visual" in name:
            p.requires_grad_(False)  # paper: vision tower and merger frozen
    return model


def synthetic_rows(n: int):
    from PIL import Image

    from srpo import formats

    rows = []
    for i in range(n):
        size = IMAGE_SIZES[i % len(IMAGE_SIZES)]
        sizes = [] if size is None else (size if isinstance(size, list) else [size])
        images = [Image.new("RGB", s, ((37 * i) % 255, 120, 200)) for s in sizes]
        question = f"In the figure, the segment measures {i + 3} cm. What is twice its length?"
        rows.append(
            {
                "prompt": formats.build_messages(question, len(images), "srpo_rl", "system"),
                "images": images,
                "answer": str(2 * (i + 3)),
            }
        )
    return rows


class Meter:
    """Wall time and peak memory of one block (CUDA: synchronized, peak reset at the start)."""

    def __init__(self, device):
        import torch

        self.device, self.torch = device, torch

    def __enter__(self):
        if self.device == "cuda":
            self.torch.cuda.synchronize()
            self.torch.cuda.reset_peak_memory_stats()
        self.start = time.perf_counter()
        return self

    def __exit__(self, *exc):
        if self.device == "cuda":
            self.torch.cuda.synchronize()
            self.peak_gib = self.torch.cuda.max_memory_allocated() / 1024**3
        else:
            self.peak_gib = None
        self.seconds = time.perf_counter() - self.start


def _gib(value):
    return None if value is None else round(value, 1)


def sft_step(model, processor, device, completion_tokens: int) -> dict:
    """One optimizer step on one image prompt + ``completion_tokens`` target tokens (loss on the completion)."""
    import torch

    row = synthetic_rows(2)[1]  # a 640x480 image
    text = processor.apply_chat_template(row["prompt"], add_generation_prompt=True, tokenize=False)
    enc = processor(text=[text], images=[row["images"]], return_tensors="pt")
    gen = torch.Generator().manual_seed(0)
    completion = torch.randint(10, len(processor.tokenizer) - 10, (1, completion_tokens), generator=gen)
    input_ids = torch.cat([enc["input_ids"], completion], dim=1).to(device)
    labels = torch.cat([torch.full_like(enc["input_ids"], -100), completion], dim=1).to(device)
    model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    model.config.use_cache = False
    model.train()
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-5)
    with Meter(device) as m:
        out = model(
            input_ids=input_ids,
            attention_mask=torch.ones_like(input_ids),
            labels=labels,
            pixel_values=enc["pixel_values"].to(device, model.dtype),
            image_grid_thw=enc["image_grid_thw"].to(device),
        )
        out.loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
    del optimizer
    return {
        "step": "SFT",
        "tokens": int(input_ids.shape[1]),
        "loss": round(float(out.loss), 3),
        "seconds": round(m.seconds, 2),
        "peak_gib": _gib(m.peak_gib),
    }


def grpo_step(model, processor, device, ids, args, use_vllm: bool, out_dir: str) -> dict:
    """One step of our GRPO trainer on 2 prompts x 4 completions (a text-only row and an image row)."""
    from datasets import Dataset, Image, List
    from trl import GRPOConfig

    from srpo.grpo_trainer import SRPOGRPOTrainer

    dataset = Dataset.from_list(synthetic_rows(8)).cast_column("images", List(Image()))
    specials = [ids["image"], ids["video"], ids["start"], ids["end"]]  # a random model must not emit these
    gen_kwargs = {"logit_bias": dict.fromkeys(specials, -100.0)} if use_vllm else {"suppress_tokens": specials}
    config = GRPOConfig(
        output_dir=out_dir,
        per_device_train_batch_size=8,
        num_generations=4,
        max_completion_length=args.grpo_tokens,
        max_steps=1,
        learning_rate=1e-6,
        beta=0.0,
        report_to=[],
        save_strategy="no",
        logging_steps=1,
        gradient_checkpointing=True,
        bf16=device == "cuda",
        use_cpu=device == "cpu",
        shuffle_dataset=False,
        use_vllm=use_vllm,
        vllm_mode="colocate",
        vllm_gpu_memory_utilization=0.3,
        vllm_max_model_length=4096,
        generation_kwargs=gen_kwargs,
        temperature=1.0,
        seed=0,
    )
    counter = iter(range(10**9))

    def reward(completions, **kwargs):
        return [float(next(counter) % 3) for _ in completions]

    def grade(text, row):  # alternate right and wrong: every group passes the accuracy filter
        right = bool(next(counter) % 2)
        return {"first_correct": right, "final_correct": right}

    trainer = SRPOGRPOTrainer(
        model=model,
        reward_funcs=[reward],
        args=config,
        train_dataset=dataset,
        processing_class=processor,
        grade=grade,
        accuracy_filter=(0.1, 0.9),
        filter_metric="mean",
    )
    timing = {"seconds": 0.0, "tokens": 0}
    generate = trainer._generate

    def timed_generate(prompts):
        start = time.perf_counter()
        out = generate(prompts)
        timing["seconds"] += time.perf_counter() - start
        timing["tokens"] += sum(len(c) for c in out[1])
        return out

    trainer._generate = timed_generate
    with Meter(device) as m:
        trainer.train()
    del trainer
    gc.collect()
    tps = timing["tokens"] / timing["seconds"] if timing["seconds"] else 0.0
    return {
        "step": f"GRPO ({'vLLM colocate' if use_vllm else 'transformers'} generation)",
        "generated_tokens": timing["tokens"],
        "generation_seconds": round(timing["seconds"], 2),
        "tokens_per_s": round(tps, 1),
        "seconds": round(m.seconds, 2),
        "peak_gib": _gib(m.peak_gib),
    }


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tiny", action="store_true", help="a tiny config with the same structure (CPU tests)")
    parser.add_argument("--sft-tokens", type=int, default=None, help="SFT completion tokens (default 3072; tiny 16)")
    parser.add_argument("--grpo-tokens", type=int, default=None, help="GRPO max_completion_length (default 512)")
    parser.add_argument("--no-vllm", action="store_true", help="skip the vLLM step even if vLLM is importable")
    parser.add_argument("--json", default=None, help="also write the results to this file")
    args = parser.parse_args(argv)
    args.sft_tokens = args.sft_tokens or (16 if args.tiny else 3072)
    args.grpo_tokens = args.grpo_tokens or (8 if args.tiny else 512)
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    import torch

    from srpo import pixels
    from srpo.tiny import resolve_model

    device, dtype = device_and_dtype(args.tiny)
    start = time.perf_counter()
    processor = pixels.load_processor(resolve_model("tiny://random"), pixels.PixelBudget(MIN_PIXELS, MAX_PIXELS))
    config, ids = build_config(processor, args.tiny)
    name = "tiny config" if args.tiny else "Qwen2.5-VL-7B architecture"
    gpu = torch.cuda.get_device_name() if device == "cuda" else "CPU"
    print(f"[gpu_check] {name}, random {str(dtype).removeprefix('torch.')} weights, on {gpu}", flush=True)
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        with Meter(device) as m:
            model = build_model(config, ids, device, dtype)
        params = sum(p.numel() for p in model.parameters())
        print(f"[gpu_check] built {params / 1e9:.2f}B parameters in {m.seconds:.1f}s", flush=True)
        results.append(sft_step(model, processor, device, args.sft_tokens))
        print(f"[gpu_check] {json.dumps(results[-1])}", flush=True)
        results.append(grpo_step(model, processor, device, ids, args, False, tmp))
        print(f"[gpu_check] {json.dumps(results[-1])}", flush=True)
        total_gib = torch.cuda.get_device_properties(0).total_memory / 1024**3 if device == "cuda" else 0
        if args.no_vllm or importlib.util.find_spec("vllm") is None or device != "cuda" or total_gib < 100:
            why = (
                "--no-vllm"
                if args.no_vllm
                else "no GPU"
                if device != "cuda"
                else "not importable"
                if importlib.util.find_spec("vllm") is None
                else f"{total_gib:.0f} GiB: the 7B model's AdamW states and a colocated engine need > 100 GiB on one GPU"
            )
            print(f"[gpu_check] vLLM step skipped ({why})", flush=True)
        else:
            os.environ.update(
                {
                    k: v
                    for k, v in {
                        "RANK": "0",
                        "LOCAL_RANK": "0",
                        "WORLD_SIZE": "1",
                        "MASTER_ADDR": "127.0.0.1",
                        "MASTER_PORT": "29561",
                    }.items()
                    if k not in os.environ
                }
            )
            path = Path(tmp) / "model"
            model.save_pretrained(path)
            processor.save_pretrained(path)
            model.name_or_path = str(path)
            model.config._name_or_path = str(path)
            results.append(grpo_step(model, processor, device, ids, args, True, tmp))
            print(f"[gpu_check] {json.dumps(results[-1])}", flush=True)
    total = time.perf_counter() - start
    print(f"[gpu_check] done in {total:.0f}s", flush=True)
    if args.json:
        Path(args.json).write_text(
            json.dumps(
                {"device": gpu, "model": name, "parameters": params, "results": results, "seconds": round(total, 1)},
                indent=1,
            )
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
