"""Will it fit? Per-GPU memory of a stage on the cluster, from the real architecture's numbers, before sbatch.

``python -m srpo.cluster plan --size 32b`` prints, for every GPU stage of the 7b or 32b recipes, the memory one
GPU needs and refuses (exit 2) a plan that cannot fit, naming the setting to change. Every sbatch script runs
the same check for its own stage first (``python -m srpo.cluster fit``), so a run that cannot fit stops in
seconds, not hours into the queue.

The numbers come from the published configs of Qwen2.5-VL-7B/32B-Instruct (``srpo/cluster/arch/*.json``, with
their source URL) and the recipe:

* training (DeepSpeed, bf16 with fp32 master weights): parameters 2 B each, gradients 2 B per trainable
  parameter, AdamW 12 B per trainable parameter (fp32 master copy, m, v); ZeRO-3 shards all three over the
  training ranks, ZeRO-2 shards gradients and optimizer states, ``offload_optimizer`` moves the optimizer
  states to CPU; plus ZeRO-3's gathered working set (``stage3_max_live_parameters``). Activations with
  gradient checkpointing: one saved layer input per layer (micro-batch x sequence x hidden x 2 B) plus one
  layer recomputed in backward (~ (5 hidden + 3 intermediate) x 2 B per token, SwiGLU MLP, sdpa attention
  without the score matrix), plus the logits of the tokens the loss reads (x vocab: bf16 logits and their
  gradient, 4 B per entry, and one sequence's fp32 log-softmax for GRPO, whose loss reads the completion;
  10 B per entry for SFT, whose cross-entropy upcasts the whole sequence's logits to fp32);
* vLLM: weights / tensor-parallel size plus the KV cache of one ``max_model_len`` sequence (2 x layers x KV
  heads x head dim x 2 B per token / TP), inside ``gpu_memory_utilization`` of the GPU, minus ~3 GiB for
  activations, CUDA graphs and the vision encoder's profile run;
* sequence budgets: a prompt's image tokens at the recipe's ``max_pixels`` (one token per 28 x 28 pixels, +2
  for the vision start/end tokens) plus its text must fit the SFT ``max_length`` (else truncation cuts image
  tokens: "image features and image tokens do not match"), and prompt + completion must fit vLLM's
  ``max_model_len``.

These are estimates (fragmentation, NCCL buffers and kernels' workspaces are a fixed allowance), good to a
few GiB: the check refuses plans that cannot fit, it does not promise that every plan it accepts fits.
Published comparison (7B): EasyR1's hardware table (README of hiyouga/EasyR1) runs GRPO full fine-tuning of a
7B model with fp32 ("AMP") states on 8 x 40 GB and of a 32B model on 16 x 80 GB; our model-state estimate
at 16 B per parameter is 15.4 GiB per GPU for Qwen2.5-VL-7B over 8 ranks and 31.2 GiB for 32B over 16 ranks,
under those budgets with room for activations and rollouts (``tests/test_fit.py`` checks this).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

ARCH_DIR = Path(__file__).resolve().parent / "arch"
ARCHES = {"7b": "qwen2_5_vl_7b", "32b": "qwen2_5_vl_32b"}
GIB = 1024**3
H100_GIB = 79.6  # nvidia-smi: 81,559 MiB on an H100 80GB
TRAIN_OVERHEAD_GIB = 3.0  # CUDA context, NCCL buffers, allocator fragmentation
VLLM_OVERHEAD_GIB = 3.0  # vLLM's activation profile, CUDA graphs, the vision encoder's dummy run
PIXELS_PER_TOKEN = 28 * 28  # 14 px patches, merged 2 x 2
IMAGE_EXTRA_TOKENS = 2  # <|vision_start|> ... <|vision_end|>


class FitError(ValueError):
    """A plan that cannot fit; the message names the setting to change."""


def load_arch(size: str) -> dict:
    """The architecture config of Qwen2.5-VL-``size`` (``7b`` or ``32b``) kept in the repository."""
    if size not in ARCHES:
        raise FitError(f"no architecture for size {size!r}; sizes: {', '.join(ARCHES)}")
    return json.loads((ARCH_DIR / f"{ARCHES[size]}.json").read_text())


def param_counts(arch: dict) -> dict:
    """Parameters of the language model and of the vision tower + merger (weights and biases)."""
    h, i, n_layers = arch["hidden_size"], arch["intermediate_size"], arch["num_hidden_layers"]
    heads, kv = arch["num_attention_heads"], arch["num_key_value_heads"]
    hd = h // heads
    attn = h * heads * hd + 2 * h * kv * hd + heads * hd * h + heads * hd + 2 * kv * hd  # q, k, v (+bias), o
    layer = attn + 3 * h * i + 2 * h  # SwiGLU MLP, two RMSNorms
    vocab = arch["vocab_size"] * h * (1 if arch.get("tie_word_embeddings") else 2)
    text = n_layers * layer + vocab + h
    v = arch["vision_config"]
    vh, vi = v["hidden_size"], v["intermediate_size"]
    block = 3 * vh * vh + 3 * vh + vh * vh + vh + 3 * vh * vi + 2 * vi + vh + 2 * vh
    merged = vh * v["spatial_merge_size"] ** 2
    merger = merged * merged + merged + merged * v["out_hidden_size"] + v["out_hidden_size"] + vh
    patch = 3 * v["temporal_patch_size"] * v["patch_size"] ** 2 * vh
    vision = v["depth"] * block + merger + patch
    return {"text": text, "vision": vision, "total": text + vision}


def image_tokens(max_pixels: int) -> int:
    """Tokens of one image at the processor's pixel cap (plus its start/end tokens)."""
    return max_pixels // PIXELS_PER_TOKEN + IMAGE_EXTRA_TOKENS


def kv_bytes_per_token(arch: dict) -> int:
    hd = arch["hidden_size"] // arch["num_attention_heads"]
    return 2 * arch["num_hidden_layers"] * arch["num_key_value_heads"] * hd * 2


@dataclass
class Estimate:
    """One GPU's memory for one role of a stage, by component (GiB), and whether it fits."""

    role: str
    parts: dict[str, float]
    budget_gib: float
    problems: list[str] = field(default_factory=list)

    @property
    def total_gib(self) -> float:
        return sum(self.parts.values())

    @property
    def fits(self) -> bool:
        return not self.problems and self.total_gib <= self.budget_gib

    def line(self) -> str:
        parts = ", ".join(f"{k} {v:.1f}" for k, v in self.parts.items())
        verdict = "fits" if self.fits else "DOES NOT FIT"
        return f"{self.role}: {self.total_gib:.1f} GiB of {self.budget_gib:.1f} GiB per GPU ({parts}) -> {verdict}"


@dataclass
class Training:
    """What the training memory depends on (all from the recipe, the accelerate config and the allocation)."""

    ranks: int
    micro_batch: int
    seq_len: int
    loss_tokens: int  # tokens whose logits the loss reads per sequence
    zero_stage: int = 3
    offload_optimizer: bool = False
    offload_params: bool = False
    max_live_parameters: float = 1e9
    frozen_vision: bool = True
    gradient_checkpointing: bool = True
    lora: bool = False
    logit_bytes: int = 4  # per logit: bf16 logits + their gradient
    fp32_rows: int = 1  # sequences whose fp32 log-softmax (and its gradient) is alive at once (TRL: one)


def training_estimate(arch: dict, t: Training, budget_gib: float, role: str = "training") -> Estimate:
    """Per-GPU memory of a DeepSpeed (or DDP, ``zero_stage`` 0) training rank."""
    p = param_counts(arch)
    trainable = 0.01 * p["total"] if t.lora else p["text"] + (0 if t.frozen_vision else p["vision"])
    shard = max(1, t.ranks)
    params = 2 * p["total"] / (shard if t.zero_stage >= 3 and not t.offload_params else 1)
    if t.offload_params:
        params = 0
    grads = 2 * trainable / (shard if t.zero_stage >= 2 else 1)
    optim = 0 if t.offload_optimizer else 12 * trainable / (shard if t.zero_stage >= 1 else 1)
    live = 2 * min(t.max_live_parameters, p["total"]) if t.zero_stage >= 3 else 0
    h, i, layers = arch["hidden_size"], arch["intermediate_size"], arch["num_hidden_layers"]
    tokens = t.micro_batch * t.seq_len
    if t.gradient_checkpointing:
        acts = tokens * h * 2 * layers + tokens * (5 * h + 3 * i) * 2
    else:
        acts = tokens * (5 * h + 3 * i) * 2 * layers
    logits = (t.micro_batch * t.logit_bytes + 8 * t.fp32_rows) * t.loss_tokens * arch["vocab_size"]
    parts = {
        "params": params,
        "grads": grads,
        "adam": optim,
        "zero3 live": live,
        "activations": acts,
        "logits": logits,
    }
    parts = {k: v / GIB for k, v in parts.items() if v}
    parts["overhead"] = TRAIN_OVERHEAD_GIB
    return Estimate(role, parts, budget_gib)


def vllm_estimate(
    arch: dict,
    *,
    gpu_gib: float,
    utilization: float,
    tensor_parallel: int,
    max_model_len: int | None,
    role: str = "vLLM",
    setting: str = "max_model_len",
) -> Estimate:
    """Per-GPU memory of a vLLM engine: it refuses to start unless one ``max_model_len`` sequence's KV cache
    fits in ``utilization x GPU`` after the weights. ``max_model_len=None`` is the model's 128K context."""
    p = param_counts(arch)
    length = max_model_len or arch["max_position_embeddings"]
    budget = utilization * gpu_gib
    weights = 2 * p["total"] / tensor_parallel / GIB
    kv = kv_bytes_per_token(arch) * length / tensor_parallel / GIB
    est = Estimate(
        f"{role} (TP {tensor_parallel}, {utilization:.2f} of {gpu_gib:.0f} GiB, {length} tokens)",
        {"weights": weights, "KV cache (1 sequence)": kv, "overhead": VLLM_OVERHEAD_GIB},
        budget,
    )
    if not est.fits:
        free = budget - weights - VLLM_OVERHEAD_GIB
        fits_len = int(max(0.0, free) * GIB * tensor_parallel / kv_bytes_per_token(arch))
        advice = (
            f"set {setting} (now {max_model_len or 'unset: the model maximum ' + str(length)}) to at most {fits_len}"
            if fits_len >= 4096
            else "raise the tensor-parallel size (GPUs per engine)"
        )
        est.problems.append(
            f"{role}: {weights:.1f} GiB of weights per GPU leave {max(0.0, free):.1f} GiB of the "
            f"{utilization:.2f} x {gpu_gib:.0f} GiB budget, and one {length}-token sequence needs {kv:.1f} GiB of "
            f"KV cache: vLLM refuses to start. {advice[0].upper() + advice[1:]}"
        )
    return est


def check_sequence(what: str, needed: int, budget: int | None, setting: str, detail: str) -> list[str]:
    """A problem line if ``needed`` tokens do not fit ``budget`` (None = no limit set)."""
    if budget is None or needed <= budget:
        return []
    return [
        f"{what}: {detail} = {needed} tokens do not fit {setting} = {budget}: raise {setting} or lower the "
        f"pixel budget (max_pixels)"
    ]


# ------------------------------------------------------------------------------------------- stages

PROMPT_TEXT_TOKENS = 1024  # the released RL scripts' prompt cap; system prompt + question
TRAIN_IMAGES = 2  # images in the largest prompts of the SFT/RL mix (multi-image rows)
BENCH_IMAGES = 7  # MMMU-Pro's largest items
STAGE_SCRIPTS = {
    "data_curation": "data.sh",
    "reflection_generation": "reflect.sh",
    "cold_start_sft": "sft_{}.sh",
    "grpo_rl": "grpo_{}.sh",
    "benchmarks": "bench_{}.sh",
    "ablations": "ablations.sh",
}
GPU_STAGES = ("reflection_generation", "cold_start_sft", "grpo_rl", "benchmarks")


@dataclass
class Assumptions:
    """What the check cannot read from a recipe: the largest prompt, and the GPU."""

    gpu_gib: float = H100_GIB
    prompt_text_tokens: int = PROMPT_TEXT_TOKENS
    train_images: int = TRAIN_IMAGES
    bench_images: int = BENCH_IMAGES


def deepspeed_settings(accelerate_config: str) -> dict:
    """ZeRO stage, offloads and ZeRO-3's live-parameter cap of an accelerate config (DDP: stage 0)."""
    from srpo import config as srpo_config
    from srpo.paths import project_root

    if not accelerate_config:
        return {"zero_stage": 0}
    path = Path(accelerate_config) if Path(accelerate_config).is_absolute() else project_root() / accelerate_config
    acc = srpo_config.read_yaml_mapping(path)
    ds_file = (acc.get("deepspeed_config") or {}).get("deepspeed_config_file")
    if not ds_file:
        return {"zero_stage": 0}
    ds = json.loads((project_root() / ds_file).read_text())["zero_optimization"]
    return {
        "zero_stage": int(ds.get("stage", 0)),
        "offload_optimizer": (ds.get("offload_optimizer") or {}).get("device", "none") == "cpu",
        "offload_params": (ds.get("offload_param") or {}).get("device", "none") == "cpu",
        "max_live_parameters": float(ds.get("stage3_max_live_parameters", 1e9)),
    }


def stage_estimates(cfg, size: str, plan, assume: Assumptions | None = None) -> tuple[list[Estimate], list[str]]:
    """(per-GPU estimates, sequence-budget problems) of one stage's config on a launch plan (``LaunchPlan``)."""
    assume = assume or Assumptions()
    arch = load_arch(size)
    stage, args, trl = cfg.stage if isinstance(cfg.stage, str) else cfg.stage.key, cfg.args, cfg.trl
    gpu = assume.gpu_gib
    estimates, problems = [], []
    if stage == "cold_start_sft":
        prompt = assume.prompt_text_tokens + assume.train_images * image_tokens(args.image_max_pixels)
        problems += check_sequence(
            "SFT prompt",
            prompt,
            trl.max_length,
            "max_length",
            f"{assume.prompt_text_tokens} text + {assume.train_images} images x "
            f"{image_tokens(args.image_max_pixels)} at image_max_pixels {args.image_max_pixels}",
        )
        t = Training(
            ranks=plan.world_size,
            micro_batch=trl.per_device_train_batch_size,
            seq_len=trl.max_length,
            loss_tokens=trl.max_length,
            logit_bytes=10,
            fp32_rows=0,
            frozen_vision=args.freeze_vision,
            gradient_checkpointing=trl.gradient_checkpointing,
            lora=cfg.model.use_peft,
            **deepspeed_settings(cfg.launch.accelerate_config),
        )
        estimates.append(training_estimate(arch, t, gpu, f"SFT training rank (world size {plan.world_size})"))
    elif stage == "grpo_rl":
        prompt = assume.prompt_text_tokens + assume.train_images * image_tokens(args.image_max_pixels)
        budget_train = gpu
        if trl.use_vllm:
            problems += check_sequence(
                "GRPO rollout",
                prompt + trl.max_completion_length,
                trl.vllm_max_model_length,
                "vllm_max_model_length",
                f"prompt {prompt} + max_completion_length {trl.max_completion_length}",
            )
            server = trl.vllm_mode == "server"
            role = "vLLM server replica" if server else "vLLM colocated engine"
            estimates.append(
                vllm_estimate(
                    arch,
                    gpu_gib=gpu,
                    utilization=trl.vllm_gpu_memory_utilization,
                    tensor_parallel=trl.vllm_tensor_parallel_size,
                    max_model_len=trl.vllm_max_model_length,
                    role=role,
                    setting="vllm_max_model_length",
                )
            )
            if server and plan.server_nodes and plan.procs_per_node % trl.vllm_tensor_parallel_size:
                problems.append(
                    f"vllm_tensor_parallel_size {trl.vllm_tensor_parallel_size} does not divide the "
                    f"{plan.procs_per_node} GPUs of the server node"
                )
            if not server:
                budget_train = (1 - trl.vllm_gpu_memory_utilization) * gpu
        t = Training(
            ranks=plan.world_size,
            micro_batch=trl.per_device_train_batch_size,
            seq_len=prompt + trl.max_completion_length,
            loss_tokens=trl.max_completion_length,
            frozen_vision=args.freeze_vision,
            gradient_checkpointing=trl.gradient_checkpointing,
            lora=cfg.model.use_peft,
            **deepspeed_settings(cfg.launch.accelerate_config),
        )
        est = training_estimate(arch, t, budget_train, f"GRPO training rank (world size {plan.world_size})")
        if not est.fits and not (trl.use_vllm and trl.vllm_mode == "colocate"):
            est.problems.append(
                f"{est.role}: needs {est.total_gib:.1f} GiB: lower per_device_train_batch_size "
                f"(raise gradient_accumulation_steps to keep the batch)"
            )
        elif not est.fits:
            est.problems.append(
                f"{est.role}: needs {est.total_gib:.1f} GiB beside the colocated vLLM engine "
                f"({trl.vllm_gpu_memory_utilization:.2f} of the GPU): lower "
                f"vllm_gpu_memory_utilization or per_device_train_batch_size"
            )
        estimates.append(est)
    elif stage == "benchmarks" and args.backend == "vllm":
        prompt = assume.prompt_text_tokens + assume.bench_images * image_tokens(args.max_pixels)
        problems += check_sequence(
            "benchmark prompt",
            prompt + args.max_new_tokens,
            args.max_model_len,
            "max_model_len",
            f"{assume.bench_images} images x {image_tokens(args.max_pixels)} "
            f"+ {assume.prompt_text_tokens} text + max_new_tokens {args.max_new_tokens}",
        )
        estimates.append(
            vllm_estimate(
                arch,
                gpu_gib=gpu,
                utilization=args.gpu_memory_utilization,
                tensor_parallel=args.tensor_parallel_size,
                max_model_len=args.max_model_len,
                role="benchmark vLLM engine",
            )
        )
    elif stage == "reflection_generation" and args.attempt_backend == "vllm" and args.attempt_source != "generator":
        estimates.append(
            vllm_estimate(
                arch,
                gpu_gib=gpu,
                utilization=args.attempt_gpu_memory_utilization,
                tensor_parallel=args.attempt_tensor_parallel_size,
                max_model_len=args.attempt_max_model_len or None,
                role="first-attempt vLLM engine",
                setting="attempt_max_model_len",
            )
        )
    for est in estimates:
        if not est.fits and not est.problems:
            est.problems.append(f"{est.role}: needs {est.total_gib:.1f} GiB of {est.budget_gib:.1f} GiB")
        problems += est.problems
    return estimates, problems


def size_of(profile: str) -> str | None:
    """The architecture a profile's recipes train (None: no GPU plan, e.g. tiny-cpu)."""
    return profile if profile in ARCHES else None


def check_stage(
    stage: str,
    profile: str,
    run_dir,
    overrides: str,
    script: str | None = None,
    size: str | None = None,
    assume: Assumptions | None = None,
    env=None,
) -> tuple[list[str], list[str]]:
    """(report lines, problems) of one stage on its allocation: the SLURM job's when inside one, else the one the
    stage's sbatch script asks for."""
    import os

    from srpo.cluster.__main__ import allocation_env, load_for_plan
    from srpo.cluster.plan import plan_launch
    from srpo.cluster.slurm_env import Allocation, read_sbatch_header, simulated_allocation
    from srpo.paths import project_root

    assume = assume or Assumptions()
    size = size or size_of(profile)
    if size is None or stage not in GPU_STAGES:
        return [f"{stage}: no GPU memory to check (profile {profile})"], []
    cfg, _ = load_for_plan(stage, profile, run_dir, overrides)
    env = dict(os.environ if env is None else env)
    alloc = Allocation.from_env(env)
    if alloc is None:
        script = script or str(project_root() / "slurm" / STAGE_SCRIPTS[stage].format(size))
        alloc = simulated_allocation(read_sbatch_header(script))
        env = allocation_env(alloc)
    plan = plan_launch(cfg.launch, alloc, env)
    estimates, problems = stage_estimates(cfg, size, plan, assume)
    where = f"{alloc.num_nodes} node(s) x {alloc.gpus_per_node} GPU(s)"
    lines = [f"{stage} ({profile} recipe, Qwen2.5-VL-{size.upper()}, {where}, {assume.gpu_gib:.1f} GiB per GPU):"]
    lines += ["  " + e.line() for e in estimates] or ["  (no GPU engine in this configuration)"]
    return lines, problems
