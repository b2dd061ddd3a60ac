"""A CPU rehearsal of the 7b and 32b recipes: ``python -m srpo run --profile 7b --rehearse``.

The six notebooks run the cluster recipes of the profile with the checkpoint replaced by the tiny model and
the scale divided; everything else is the recipe's own value. ``RULE`` below is the ONE place that says what
changes, and ``describe`` prints it before the run, so a reader sees exactly what the rehearsal did not
exercise. What it proves and what only a GPU can: README, "Rehearsing the cluster recipes on CPU".

Data: the Hub cannot be read here, so stage 01 takes the recipe's documented shortest path to the paper,
``use_released_data``, from local copies in the released layouts (``write_local_copies``) with the cluster
mix's shapes: text-only prompts beside image prompts in one batch, images from 64 x 48 to 2400 x 1800 px
(above the 262,144 px budget, so the processor shrinks them), and two-image prompts.
"""

from __future__ import annotations

import importlib.util
import json
import logging
import os
import shlex
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__package__)

PROFILES = ("7b", "32b")
REHEARSAL_PROCESSES = 2  # training ranks on CPU (gloo): the cluster's 8 or 24 GPUs divided
SCALE_TOKENS = 128  # generation budgets divided by this (2048 completion tokens -> 16)
N_SFT, N_RL = 24, 48  # rows of the local copies
TINY_CONTEXT = 4096  # max_position_embeddings of the tiny Qwen2.5-VL (srpo.tiny)


@dataclass(frozen=True)
class Change:
    """One recipe key the rehearsal changes: ``stage``, ``key``, the new value (a function of the profile's value
    and the profile) and why."""

    stage: str
    key: str
    value: object  # a value, or callable(cluster_value, profile) -> value
    why: str
    kind: str = "replaced"  # "replaced" (cannot run on CPU) or "scaled" (divided, ratios kept)

    def resolve(self, cluster_value, profile: str):
        return self.value(cluster_value, profile) if callable(self.value) else self.value


def _div(factor):
    return lambda v, profile: max(1, int(v) // factor)


def _procs(v, profile):
    return REHEARSAL_PROCESSES


def _per_device(v, profile):  # 8 or 24 GPUs -> 2 ranks: keep per-device x ranks / num_generations integral
    return max(1, int(v) // 4)


TRAIN = ("cold_start_sft", "grpo_rl")
CPU = [Change(s, k, v, "no GPU here") for s in TRAIN for k, v in (("use_cpu", True), ("bf16", False))]
RULE: list[Change] = [
    # ---------------------------------------------------------------- what cannot run on CPU
    *CPU,
    *[Change(s, "dtype", "float32", "bf16 matmuls are slow on CPU") for s in TRAIN],
    Change(
        "data_curation",
        "use_released_data",
        True,
        "no Hub access: the released SFT/RL sets (the recipe's shortest path), as local copies with the "
        "cluster mix's shapes",
    ),
    Change("data_curation", "streaming", False, "local copies, not Hub streams"),
    Change("data_curation", "local_sources", "<local copies>", "written by srpo.rehearsal.write_local_copies"),
    Change(
        "cold_start_sft",
        "model_name_or_path",
        "tiny://hub",
        "the checkpoint: the tiny Qwen2.5-VL stands in for Qwen/Qwen2.5-VL-*-Instruct, saved with the Hub "
        "processor's defaults (no practical pixel cap), so every arm that starts from it must apply the "
        "recipe's pixel budget itself",
    ),
    Change("cold_start_sft", "gpus_per_node", _procs, "ranks on CPU", "scaled"),
    Change("grpo_rl", "gpus_per_node", _procs, "ranks on CPU", "scaled"),
    Change(
        "grpo_rl",
        "use_vllm",
        lambda v, p: bool(v) and vllm_available(),
        "vLLM generation where vLLM is importable; else transformers generation",
    ),
    Change(
        "grpo_rl",
        "vllm_server_nodes",
        lambda v, p: v if vllm_available() else 0,
        "the server node needs vLLM; outside SLURM it runs on this machine (loopback) beside the trainer, whose "
        "NCCL weight sync to it needs CUDA and is skipped (the server keeps the initial weights; colocate "
        "mode syncs for real)",
    ),
    Change("grpo_rl", "vllm_enforce_eager", True, "no Inductor compile on CPU (~60 s per engine)"),
    *[
        Change(
            s,
            "accelerate_config",
            lambda v, p: v if deepspeed_available() else DDP,
            "the recipe's DeepSpeed config where DeepSpeed is importable; else plain DDP (the vLLM venv has no "
            "DeepSpeed: there the rehearsal proves vLLM, the CPU venv's proves ZeRO)",
        )
        for s in TRAIN
    ],
    Change("benchmarks", "backend", lambda v, p: v if vllm_available() else "hf", "vLLM where importable"),
    Change("benchmarks", "enforce_eager", True, "no Inductor compile on CPU"),
    Change("reflection_generation", "attempt_enforce_eager", True, "no Inductor compile on CPU"),
    Change(
        "benchmarks",
        "models",
        ["base=tiny://hub", "sft=stage:cold_start_sft", "srpo=stage:grpo_rl"],
        "the base checkpoint: the tiny model",
    ),
    Change("benchmarks", "benchmarks", ["synthetic"], "no Hub access: the generated test set"),
    Change(
        "ablations",
        "mode",
        "run",
        "no SLURM here: the arms run in this job (slurm/pipeline.sh --rehearse submits their job chains)",
    ),
    Change(
        "ablations",
        "arms",
        ["sft_only", "grpo_no_sft", "srpo"],
        "three arms: the SFT-only model with its own prompt, GRPO from the base checkpoint, and SRPO, which "
        "reuses notebook 04's GRPO (reuse_main_srpo) and is only evaluated (the other arms differ only in "
        "overrides that tests/test_ablations.py parses; the plain-CoT arm needs stage 02's two-pass targets, "
        "which the released set does not have)",
    ),
    # ---------------------------------------------------------------- scale divided, ratios kept
    Change("cold_start_sft", "max_steps", 3, "three optimizer steps", "scaled"),
    Change("cold_start_sft", "dataloader_num_workers", 0, "no worker processes on 2 cores", "scaled"),
    Change(
        "grpo_rl",
        "per_device_train_batch_size",
        _per_device,
        "8 (7b) -> 2 per rank; accumulation and "
        "steps_per_generation kept, so 8 optimizer updates per rollout as on the cluster",
        "scaled",
    ),
    Change("grpo_rl", "max_completion_length", _div(SCALE_TOKENS), "tokens / 128", "scaled"),
    Change("grpo_rl", "max_steps", lambda v, p: 8, "one rollout = 8 optimizer updates", "scaled"),
    Change("grpo_rl", "save_steps", 8, "a checkpoint at the end of the rollout", "scaled"),
    Change(
        "grpo_rl", "accuracy_filter_max_refills", 1, "one refill round at most (the mode, refill, is kept)", "scaled"
    ),
    Change("benchmarks", "max_new_tokens", _div(SCALE_TOKENS), "tokens / 128", "scaled"),
    Change("benchmarks", "data_parallel_size", 1, "one engine (tensor_parallel_size kept)", "scaled"),
    Change(
        "benchmarks",
        "max_model_len",
        lambda v, p: min(int(v), TINY_CONTEXT),
        "the tiny model's 4,096 positions (vLLM refuses a longer context)",
        "scaled",
    ),
    Change("benchmarks", "synthetic_n", 8, "8 test problems", "scaled"),
    Change("ablations", "grpo_max_steps", 8, "one rollout per trained arm", "scaled"),
    Change("ablations", "eval_n", 8, "8 test problems per arm", "scaled"),
    Change("ablations", "eval_sampled_limit", 0, "greedy only", "scaled"),
    Change("ablations", "eval_sampled_n", 0, "greedy only", "scaled"),
    Change("ablations", "workers", 1, "one arm at a time on 2 cores", "scaled"),
]
KEPT = [
    "prompts and their placement (srpo_rl / srpo_sft as system messages), the SFT layout (paper) and its prompt",
    "processor pixel caps (image_min_pixels 3,136, image_max_pixels 262,144) and images larger than them",
    "the accelerate/DeepSpeed config of each training stage (ZeRO-3 at 7b; ZeRO-2 + optimizer offload for the "
    "32b SFT), here over gloo with 2 ranks",
    "the update schedule: gradient_accumulation_steps and steps_per_generation (8 updates per rollout)",
    "num_generations, the reward, the accuracy filter (metric, bounds, refill of filtered groups with new prompts'"
    " groups, empty-update skip), the learning rates",
    "the benchmark prompts per model (sft=trained, base=released_single) and the ablation arms' overrides",
    "the fit check of the unscaled recipes (python -m srpo.cluster plan --size)",
    "vLLM (where importable): the 7b colocate engines (one per rank, TP 1) with real weight sync; the 32b server "
    "(`trl vllm-serve`, TP 2; data-parallel replicas = the server node's ranks / TP, so 1 here) on its own node "
    "(SLURM) or on loopback, the trainer on the others; the benchmarks' engines with the recipe's TP",
]
KV_CACHE_GIB = "1"  # VLLM_CPU_KVCACHE_SPACE: on CPU vLLM sizes its KV cache from this, not the memory fraction


DDP = "recipes/accelerate/ddp.yaml"


def vllm_available() -> bool:
    return importlib.util.find_spec("vllm") is not None


def deepspeed_available() -> bool:
    return importlib.util.find_spec("deepspeed") is not None


def overrides(profile: str, data_dir) -> dict[str, str]:
    """``{stage: "--key value ..."}`` for ``srpo.runner.run_notebooks``: the rule applied to the profile's recipes."""
    if profile not in PROFILES:
        raise ValueError(f"--rehearse rehearses the cluster profiles {PROFILES}, not {profile!r}")
    out: dict[str, list[str]] = {}
    for change in RULE:
        value = change.resolve(_recipe(profile, change.stage, change.key), profile)
        if change.key == "local_sources":
            value = [f"srpo_sft_released={Path(data_dir) / 'sft'}", f"srpo_rl_released={Path(data_dir) / 'rl'}"]
        out.setdefault(change.stage, []).append(f"--{change.key} {_flag(value)}")
    return {stage: " ".join(flags) for stage, flags in out.items()}


def _recipe(profile: str, stage: str, key: str):
    """The recipe's value, or TRL's default (``"(default)"``) for a key the recipe leaves out."""
    from srpo import config

    values = config.read_yaml_mapping(config.recipe_path(profile, stage))
    return values.get(key, "(default)")


def _flag(value) -> str:
    if isinstance(value, list):
        return " ".join(str(v) for v in value)
    return str(value).lower() if isinstance(value, bool) else str(value)


def describe(profile: str) -> str:
    """The rule as text: what is replaced, what is scaled (cluster value -> rehearsal value), what is kept."""
    lines = [f"[rehearsal] the {profile} recipes on CPU. Replaced (cannot run here) and scaled (divided):"]
    for change in RULE:
        cluster = _recipe(profile, change.stage, change.key)
        value = "<local copies>" if change.key == "local_sources" else change.resolve(cluster, profile)
        lines.append(f"  {change.kind:8s} {change.stage}.{change.key}: {cluster} -> {value}  ({change.why})")
    lines.append("[rehearsal] kept as on the cluster:")
    lines += [f"  - {k}" for k in KEPT]
    if not vllm_available():
        lines.append(
            "[rehearsal] skipped: vLLM is not importable here, so GRPO generates with transformers, the "
            "32b vLLM server node is not started, and the benchmarks use the hf backend"
        )
    return "\n".join(lines)


# ------------------------------------------------------------------------------------------- local copies

SIZES = [(64, 48), (640, 480), (2400, 1800), (300, 1400), (1200, 160), (900, 900)]


def _picture(seed: int, size):
    from PIL import Image, ImageDraw

    img = Image.new("RGB", size, (255, 255, 255))
    draw = ImageDraw.Draw(img)
    w, h = size
    draw.rectangle((w // 8, h // 4, w // 2, 3 * h // 4), fill=(seed * 37 % 255, 90, 160))
    draw.text((2, 2), str(seed), fill=(0, 0, 0))
    return img


def _save(folder: Path, rel: str, seed: int) -> str:
    path = folder / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    _picture(seed, SIZES[seed % len(SIZES)]).save(path)
    return rel


def image_counts(i: int) -> int:
    """Images of row ``i``: one in most rows, none in every fourth (text-only), two in every fifth."""
    return 0 if i % 4 == 3 else 2 if i % 5 == 4 else 1


def write_local_copies(folder, n_sft: int = N_SFT, n_rl: int = N_RL, seed: int = 0) -> Path:
    """The released SFT set (``messages`` + ``images`` paths) and RL set (``id``, ``message`` JSON with image parts,
    ``answer``) in their layouts (srpo/data/sources/released.py), ``n_sft`` and ``n_rl`` rows."""
    folder = Path(folder)
    sft, rl = folder / "sft", folder / "rl"
    rows = []
    for i in range(n_sft):
        k = max(1, image_counts(i))  # SFT samples have images in the release
        a, b = i % 7 + 2, i % 5 + 3
        images = [_save(sft, f"images/s{i}_{j}.png", seed + i + j) for j in range(k)]
        wrong, right = a * b + 1, a * b
        first = right if i % 3 == 0 else wrong
        note = "Checked: the product is right." if first == right else f"I miscounted: {a} x {b} is {right}."
        target = (
            f"<think>The figure shows {a} rows of {b}: {a} x {b} = {first}.</think><answer>\\boxed{{{first}}}"
            f"</answer><reflection>{note}</reflection><answer>\\boxed{{{right}}}</answer>"
        )
        user = "<image>" * k + f"How many squares are there in {a} rows of {b}?"
        rows.append(
            {
                "messages": [
                    {"role": "system", "content": "You are a reasoning expert."},
                    {"role": "user", "content": user},
                    {"role": "assistant", "content": target},
                ],
                "images": images,
            }
        )
    sft.mkdir(parents=True, exist_ok=True)
    (sft / "sft_train_shuffle_updated.json").write_text(json.dumps(rows))
    lines = []
    for i in range(n_rl):
        k = image_counts(i)
        parts = [
            {
                "type": "image",
                "image": "file:///mnt/bn/authors/" + _save(rl, f"images/r{i}_{j}.png", seed + 100 + i + j),
            }
            for j in range(k)
        ]
        x, y = i % 9 + 1, i % 4 + 2
        question = f"What is {x} + {y}?" if k == 0 else f"The figure has {x} red and {y} blue parts. How many parts?"
        message = [{"role": "user", "content": [*parts, {"type": "text", "text": question}]}]
        lines.append(json.dumps({"id": str(i), "message": json.dumps(message), "answer": f"${x + y}$"}))
    rl.mkdir(parents=True, exist_ok=True)
    (rl / "train.jsonl").write_text("\n".join(lines) + "\n")
    return folder


def prepare(profile: str, run_name: str, extra: dict[str, str] | None = None) -> dict[str, str]:
    """Print the rule and the fit check of the unscaled recipes, write the local copies into the run directory,
    put the rule's overrides into ``SRPO_REHEARSAL`` for every stage started from here, and return ``extra``
    (the caller's own per-stage overrides, which win)."""
    from srpo import paths
    from srpo.cluster import fit

    print(describe(profile), flush=True)
    print(f"[rehearsal] the fit check of the unscaled {profile} recipes on their sbatch allocations:", flush=True)
    for stage in fit.GPU_STAGES:
        lines, problems = fit.check_stage(stage, profile, None, "")
        print("\n".join(lines + [f"  PROBLEM: {p}" for p in problems]), flush=True)
    data = write_local_copies(paths.default_run_dir(profile, run_name) / "rehearsal_data")
    os.environ[ENV] = json.dumps(overrides(profile, data))  # every stage of this process tree, arms included
    os.environ.update(cpu_vllm_env(os.environ))
    return dict(extra or {})


def cpu_vllm_env(env) -> dict[str, str]:
    """vLLM on CPU: the KV cache size (GiB; on CPU it comes from here, not from the memory fraction) and no OpenMP
    thread binding (vLLM binds each worker of a TP > 1 engine to its own NUMA node, and refuses to start on a
    machine with one). A variable already set wins."""
    return {
        "VLLM_CPU_KVCACHE_SPACE": env.get("VLLM_CPU_KVCACHE_SPACE", KV_CACHE_GIB),
        "VLLM_CPU_OMP_THREADS_BIND": env.get("VLLM_CPU_OMP_THREADS_BIND", "nobind"),
    }


def active() -> bool:
    """True inside a rehearsal (``SRPO_REHEARSAL`` set by ``prepare`` or ``slurm/pipeline.sh --rehearse``)."""
    return bool(os.environ.get(ENV))


def skip_server_weight_sync_without_cuda(trl_cfg) -> bool:
    """Apply ``skip_server_weight_sync`` when this process is a rehearsal's GRPO in server mode without CUDA:
    a rehearsal (``active``), vLLM importable, no CUDA device, and ``trl_cfg`` (the parsed ``GRPOConfig``) with
    ``use_vllm`` and ``vllm_mode: server``. ``srpo.grpo``'s entry point calls it on every rank after parsing
    its config and before training. Returns whether the patch was applied."""
    server_mode = bool(getattr(trl_cfg, "use_vllm", False)) and getattr(trl_cfg, "vllm_mode", "") == "server"
    if not (server_mode and active() and vllm_available()):
        return False
    import torch

    if torch.cuda.is_available():
        return False
    skip_server_weight_sync()
    return True


def skip_server_weight_sync() -> None:
    """Server mode on CPU: TRL 1.16 pushes the trainer's weights to ``trl vllm-serve`` through vLLM's NCCL
    weight-transfer engine, which needs CUDA (``NotImplementedError`` at the trainer's start). A rehearsal skips
    that transfer and says so (a warning when the trainer connects); generation, image inputs, rewards and the
    loss still go through the server, which keeps the initial weights. Applied by
    ``skip_server_weight_sync_without_cuda``."""
    from trl.generation import vllm_client

    def init_communicator(self, device=0):
        log.warning(
            "rehearsal: vLLM server weight sync skipped: NCCL needs CUDA (the server keeps the initial weights)"
        )

    vllm_client.VLLMClient.init_communicator = init_communicator
    vllm_client.VLLMClient.update_named_params = lambda self, metadata, params: [None for _ in params]
    vllm_client.VLLMClient.close_communicator = lambda self: None


ENV = "SRPO_REHEARSAL"  # {stage: "--flags"}: the rule's overrides, set by ``prepare`` (or slurm/pipeline.sh)


def with_rehearsal(stage: str, overrides):
    """``overrides`` preceded by the rehearsal rule's flags for ``stage`` when a rehearsal is running (the
    ``SRPO_REHEARSAL`` environment variable, inherited by notebooks, stage processes and SLURM jobs); the
    caller's flags come last, so they win."""
    rule = os.environ.get(ENV)
    if not rule:
        return overrides
    flags = json.loads(rule).get(stage, "")
    if not flags:
        return overrides
    if overrides is None or isinstance(overrides, str):
        return f"{flags} {overrides or ''}".strip()
    return [*shlex.split(flags), *overrides]


def recipe_value(profile: str, stage: str, key: str):
    """``config.recipe_value``, or the rehearsal's value of a single-token key when a rehearsal is running (e.g.
    the SFT base model an ablation arm starts from, read before the main run's SFT has a resolved config)."""
    from srpo import config

    flags = shlex.split(json.loads(os.environ.get(ENV) or "{}").get(stage, ""))
    for i, flag in enumerate(flags[:-1]):
        if flag == f"--{key}":
            return flags[i + 1]
    return config.recipe_value(profile, stage, key)


def cli(argv=None) -> int:
    """``python -m srpo.rehearsal --profile 32b [--run-name rehearsal]``: print the rule (stderr), write the local
    copies into the run directory and print the overrides as JSON (stdout) for ``SRPO_REHEARSAL``; what
    ``slurm/pipeline.sh --rehearse`` exports to its jobs."""
    import argparse
    import sys

    from srpo import paths

    parser = argparse.ArgumentParser(prog="python -m srpo.rehearsal", description=cli.__doc__.splitlines()[0])
    parser.add_argument("--profile", required=True, choices=PROFILES)
    parser.add_argument("--run-name", default="rehearsal")
    ns = parser.parse_args(argv)
    print(describe(ns.profile), file=sys.stderr)
    data = write_local_copies(paths.default_run_dir(ns.profile, ns.run_name) / "rehearsal_data")
    print(json.dumps(overrides(ns.profile, data)))
    return 0


if __name__ == "__main__":
    raise SystemExit(cli())
