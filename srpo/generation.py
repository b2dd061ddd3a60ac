"""Generation backends shared by reflection generation (02), evaluation and the benchmarks (05).

Two implementations of one small interface, ``backend.generate(requests, settings) -> list[Generation]``:

* ``HFBackend``   transformers ``generate`` in batches (CPU, tests, small GPU runs);
* ``VLLMBackend`` vLLM offline inference for the cluster: ``tensor_parallel_size`` GPUs per engine and
  ``data_parallel_size`` engines, each in its own process on its own GPUs, the requests sharded over them.

Both build the prompt text with the model's own chat template (``processor.apply_chat_template``), so a
prompt is byte-identical whichever backend runs it, and both apply the settings' image pixel budget
(``min_pixels``/``max_pixels``, ``srpo.pixels``) to every image, so both see the same image tokens.
"""

from __future__ import annotations

import contextlib
import json
import os
from dataclasses import dataclass, field


@dataclass
class GenerationRequest:
    id: str
    messages: list  # chat messages with {"type": "image"} placeholders (srpo.formats.build_messages)
    images: list = field(default_factory=list)  # PIL images, in placeholder order


@dataclass
class GenerationSettings:
    max_new_tokens: int = 512
    temperature: float = 0.0  # 0 means greedy
    top_p: float = 1.0
    top_k: int = 0  # 0 means off: sample from the full distribution, as GRPO rollouts do
    n: int = 1  # samples per request
    seed: int = 0
    batch_size: int = 32  # HF backend: requests per generate() call
    # Image pixel budget (srpo.pixels): both set, or both 0 for the checkpoint's own processor (whatever it
    # saved; right only for a processor the caller already set, as the trainers' in-process checks do).
    min_pixels: int = 0
    max_pixels: int = 0

    def __post_init__(self):
        self.pixel_budget  # noqa: B018  (validates the pair now, before any model loads)

    @property
    def greedy(self) -> bool:
        return self.temperature <= 0

    @property
    def pixel_budget(self):
        """The ``srpo.pixels.PixelBudget`` to apply, or None for the checkpoint's own processor."""
        from srpo.pixels import budget_or_none

        return budget_or_none(self.min_pixels, self.max_pixels)

    def processor_kwargs(self) -> dict:
        """Per-call processor kwargs (HF) and vLLM's ``mm_processor_kwargs``: the budget, both numbers."""
        budget = self.pixel_budget
        return budget.processor_kwargs() if budget else {}


@dataclass
class Generation:
    id: str
    sample: int
    text: str
    num_tokens: int
    finish_reason: str  # "stop" | "length"
    prompt_ids: list[int] = field(default_factory=list, repr=False)  # the prompt's token ids, images expanded


def make_backend(name: str, model_path: str, **kwargs):
    """``hf`` or ``vllm`` backend for a checkpoint folder or Hub id (``tiny://`` names are resolved)."""
    from srpo.tiny import resolve_model

    model_path = resolve_model(model_path)
    if name == "hf":
        return HFBackend(model_path, **kwargs)
    if name == "vllm":
        return VLLMBackend(model_path, **kwargs)
    raise ValueError(f"unknown generation backend {name!r}; choose hf or vllm")


def prompt_text(processor, messages: list) -> str:
    return processor.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)


def _expand(requests: list[GenerationRequest], n: int) -> list[tuple[GenerationRequest, int]]:
    return [(r, s) for r in requests for s in range(n)]


# ---------------------------------------------------------------------------------------------- transformers
class HFBackend:
    """Batched ``model.generate`` with left padding. Loads the model once; reusable across calls."""

    def __init__(self, model_path: str, dtype: str = "auto", device: str | None = None, model=None, processor=None):
        import torch
        from transformers import AutoModelForImageTextToText, AutoProcessor

        self.device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        torch_dtype = {
            "auto": torch.bfloat16 if self.device == "cuda" else torch.float32,
            "float32": torch.float32,
            "bfloat16": torch.bfloat16,
        }[dtype]
        self.processor = processor or AutoProcessor.from_pretrained(model_path)
        self.processor.tokenizer.padding_side = "left"
        self.model = model or AutoModelForImageTextToText.from_pretrained(model_path, dtype=torch_dtype)
        self.model.to(self.device).eval()
        eos = self.model.generation_config.eos_token_id
        self.eos_ids = set(eos if isinstance(eos, list) else [eos])

    def generate(self, requests: list[GenerationRequest], settings: GenerationSettings) -> list[Generation]:
        import torch

        torch.manual_seed(settings.seed)
        jobs = _expand(requests, settings.n)
        out: list[Generation] = []
        for start in range(0, len(jobs), settings.batch_size):
            out.extend(self._generate_batch(jobs[start : start + settings.batch_size], settings))
        return out

    def _generate_batch(self, jobs, settings: GenerationSettings) -> list[Generation]:
        import torch

        batch = self.encode([r for r, _ in jobs], settings)
        sampling = (
            dict(do_sample=True, temperature=settings.temperature, top_p=settings.top_p, top_k=settings.top_k)
            if not settings.greedy
            else dict(do_sample=False, temperature=None, top_p=None, top_k=None)
        )
        with torch.no_grad():
            output = self.model.generate(**batch, max_new_tokens=settings.max_new_tokens, **sampling)
        new_tokens = output[:, batch["input_ids"].shape[1] :].tolist()
        prompts = [ids[mask.bool()].tolist() for ids, mask in zip(batch["input_ids"], batch["attention_mask"])]
        results = []
        for (request, sample), ids, prompt_ids in zip(jobs, new_tokens, prompts, strict=True):
            stop = next((i for i, t in enumerate(ids) if t in self.eos_ids), None)
            kept = ids if stop is None else ids[:stop]
            text = self.processor.tokenizer.decode(kept, skip_special_tokens=True)
            results.append(
                Generation(
                    request.id,
                    sample,
                    text,
                    len(kept) + (stop is not None),
                    "length" if stop is None else "stop",
                    prompt_ids,
                )
            )
        return results

    def encode(self, requests: list[GenerationRequest], settings: GenerationSettings):
        """The model inputs of ``requests`` (left-padded ``input_ids``, ``pixel_values``, ``image_grid_thw``)
        with the settings' pixel budget applied to every image."""
        texts = [prompt_text(self.processor, r.messages) for r in requests]
        images = [img for r in requests for img in r.images]
        pixels = settings.processor_kwargs() if images else {}
        return self.processor(text=texts, images=images or None, padding=True, return_tensors="pt", **pixels).to(
            self.device
        )


# ---------------------------------------------------------------------------------------------- vLLM
@dataclass
class VLLMBackend:
    """vLLM offline inference. With ``data_parallel_size`` > 1, each engine runs in its own process with
    ``CUDA_VISIBLE_DEVICES`` set to its own ``tensor_parallel_size`` GPUs and gets a contiguous shard.
    The settings' pixel budget becomes the engine's ``mm_processor_kwargs``; ``enforce_eager`` skips CUDA
    graphs (GPU) and the Inductor compile (CPU, about a minute per engine start)."""

    model_path: str
    tensor_parallel_size: int = 1
    data_parallel_size: int = 1
    gpu_memory_utilization: float = 0.9
    max_model_len: int = 8192
    max_images_per_prompt: int = 8  # MMMU-Pro has up to seven images
    enforce_eager: bool = False
    dtype: str = "auto"  # vLLM's "auto" is bfloat16 for a float32 checkpoint on CPU

    def generate(self, requests: list[GenerationRequest], settings: GenerationSettings) -> list[Generation]:
        if self.data_parallel_size <= 1:
            return _vllm_generate_shard(self._engine_kwargs(settings), self.model_path, requests, settings)
        import multiprocessing as mp

        ctx = mp.get_context("spawn")  # CUDA must not be initialised before the GPUs are assigned
        shards = shard(requests, self.data_parallel_size)
        gpus = gpu_groups(self.data_parallel_size, self.tensor_parallel_size)
        with ctx.Pool(self.data_parallel_size) as pool:
            parts = pool.starmap(
                _vllm_worker,
                [
                    (self._engine_kwargs(settings), self.model_path, s, settings, g)
                    for s, g in zip(shards, gpus, strict=True)
                ],
            )
        return [g for part in parts for g in part]

    def _engine_kwargs(self, settings: GenerationSettings) -> dict:
        kwargs = dict(
            tensor_parallel_size=self.tensor_parallel_size,
            gpu_memory_utilization=self.gpu_memory_utilization,
            max_model_len=self.max_model_len,
            limit_mm_per_prompt={"image": self.max_images_per_prompt},
            enforce_eager=self.enforce_eager,
            dtype=self.dtype,
        )
        if settings.processor_kwargs():
            kwargs["mm_processor_kwargs"] = settings.processor_kwargs()
        return kwargs


def shard(items: list, parts: int) -> list[list]:
    """Split ``items`` into ``parts`` contiguous shards whose sizes differ by at most one (order kept)."""
    size, extra = divmod(len(items), parts)
    out, start = [], 0
    for i in range(parts):
        end = start + size + (i < extra)
        out.append(items[start:end])
        start = end
    return out


def gpu_groups(data_parallel_size: int, tensor_parallel_size: int) -> list[str]:
    """``CUDA_VISIBLE_DEVICES`` for each engine: dp=4, tp=2 -> ["0,1", "2,3", "4,5", "6,7"]."""
    return [
        ",".join(str(r * tensor_parallel_size + i) for i in range(tensor_parallel_size))
        for r in range(data_parallel_size)
    ]


def _vllm_worker(engine_kwargs, model_path, requests, settings, visible_devices):
    os.environ["CUDA_VISIBLE_DEVICES"] = visible_devices
    return _vllm_generate_shard(engine_kwargs, model_path, requests, settings)


def _vllm_generate_shard(engine_kwargs, model_path, requests, settings: GenerationSettings) -> list[Generation]:
    from transformers import AutoProcessor
    from vllm import LLM, SamplingParams

    if not requests:
        return []
    processor = AutoProcessor.from_pretrained(model_path)
    llm = LLM(model=model_path, seed=settings.seed, **engine_kwargs)
    params = SamplingParams(
        n=settings.n,
        temperature=max(settings.temperature, 0.0),
        top_p=settings.top_p,
        top_k=settings.top_k if settings.top_k > 0 else -1,
        max_tokens=settings.max_new_tokens,
        seed=settings.seed,
    )
    prompts = [
        {"prompt": prompt_text(processor, r.messages), "multi_modal_data": {"image": r.images}}
        if r.images
        else {"prompt": prompt_text(processor, r.messages)}
        for r in requests
    ]
    try:
        outputs = llm.generate(prompts, params)
    finally:
        _shutdown(llm)
    return [
        Generation(
            r.id,
            i,
            c.text,
            len(c.token_ids),
            "length" if c.finish_reason == "length" else "stop",
            list(o.prompt_token_ids),
        )
        for r, o in zip(requests, outputs, strict=True)
        for i, c in enumerate(o.outputs)
    ]


def _shutdown(llm) -> None:
    """Stop the engine's processes (and free their memory) now rather than at interpreter exit: stage 05 starts
    one engine per model in turn, and a lingering one still holds its share of the GPU."""
    core = getattr(getattr(llm, "llm_engine", None), "engine_core", None)
    if core is not None:
        core.shutdown()


# ---------------------------------------------------------------------------------------------- vLLM in GRPO (TRL)
def grpo_vllm_engine_kwargs(args) -> dict:
    """vLLM engine settings for GRPO rollouts that TRL's ``GRPOConfig`` does not carry: the trainer's image
    pixel budget (``image_min_pixels``/``image_max_pixels``) as ``mm_processor_kwargs``, so vLLM expands every
    image into as many tokens as the trainer's processor does, whatever processor the checkpoint saved (a Hub
    checkpoint's has no practical cap), and ``enforce_eager``. ``args``: ``srpo.configs.grpo_rl.GRPOArgs``."""
    from srpo.pixels import PixelBudget

    budget = PixelBudget(args.image_min_pixels, args.image_max_pixels)
    return {"mm_processor_kwargs": budget.processor_kwargs(), "enforce_eager": bool(args.vllm_enforce_eager)}


@contextlib.contextmanager
def trl_colocate_engine(trl_args, args):
    """While active, TRL's colocated ``vllm.LLM`` is built with ``grpo_vllm_engine_kwargs(args)`` added, and
    its ``generate`` receives one image token per image (``collapse_image_tokens``).

    TRL 1.16 builds the colocate engine in ``VLLMGeneration._init_vllm`` (trl/generation/vllm_generation.py)
    with a fixed argument list and no hook for extra engine arguments, so the module's ``LLM`` name is wrapped
    for the duration of the trainer's construction. A no-op unless ``use_vllm`` and ``vllm_mode: colocate``."""
    if not (getattr(trl_args, "use_vllm", False) and getattr(trl_args, "vllm_mode", "") == "colocate"):
        yield
        return
    from trl.generation import vllm_generation

    original, extra = vllm_generation.LLM, grpo_vllm_engine_kwargs(args)

    def llm(*a, **kwargs):
        engine = original(*a, **{**kwargs, **extra})
        config = getattr(getattr(getattr(engine, "llm_engine", None), "model_config", None), "hf_config", None)
        image_token = getattr(config, "image_token_id", None)
        if image_token is not None:
            generate = engine.generate

            def generate_collapsed(prompts, *ga, **gk):
                if isinstance(prompts, list):
                    prompts = [collapse_image_tokens(p, image_token) for p in prompts]
                return generate(prompts, *ga, **gk)

            engine.generate = generate_collapsed
        return engine

    vllm_generation.LLM = llm
    try:
        yield
    finally:
        vllm_generation.LLM = original


def collapse_image_tokens(prompt, image_token_id: int):
    """A vLLM token prompt with each run of image tokens cut to one token, which vLLM expands itself.

    TRL's colocate mode sends the trainer's token ids, with every image already expanded to its N image
    tokens, plus the images. vLLM 0.31 treats token prompts as unexpanded and replaces the first image token
    of each run with N more (2 tokens became 3 for a 56x28 image on the tiny model), so rollouts were sampled
    from another context than the one trained on (log-prob gap ~0.7 nats/token against ~3e-4 with this).
    Other prompts are returned unchanged."""
    if not (isinstance(prompt, dict) and prompt.get("multi_modal_data") and "prompt_token_ids" in prompt):
        return prompt
    ids = list(prompt["prompt_token_ids"])
    kept = [t for i, t in enumerate(ids) if not (t == image_token_id and i and ids[i - 1] == image_token_id)]
    return {**prompt, "prompt_token_ids": kept}


def trl_vllm_serve_args(args) -> list[str]:
    """Arguments for ``trl vllm-serve`` (server mode) with the same engine settings: ``--enforce_eager`` is
    TRL's own flag; ``--mm-processor-kwargs=<json>`` is passed through to ``vllm serve`` unchanged."""
    kwargs = grpo_vllm_engine_kwargs(args)
    out = [f"--mm-processor-kwargs={json.dumps(kwargs['mm_processor_kwargs'], sort_keys=True)}"]
    return (["--enforce_eager", "true"] if kwargs["enforce_eager"] else []) + out


def use_vllm_reload_on_cpu(trainer) -> None:
    """Colocate mode with vLLM on a CPU: sync weights through vLLM's in-place reload API.

    TRL 1.16 pushes each parameter with ``model.load_weights([(name, param)])``
    (``VLLMGeneration.sync_weights``). vLLM's CPU backend prepacks every linear layer's weight for its GEMM
    kernels and frees the original (``dispatch_cpu_unquantized_gemm(..., remove_weight=True)`` in
    vllm/model_executor/layers/utils.py), so that call fails with "'Parameter' object has no attribute
    'weight_loader'". ``model_runner.reload_weights(weights_iterator=...)`` restores the layers, loads all
    weights in one pass and prepacks again (vllm/v1/worker/gpu_model_runner.py, which the CPU runner
    inherits). On GPUs nothing changes: TRL's own path runs. A no-op unless ``trainer`` has a colocated
    engine and vLLM runs on the CPU."""
    gen = getattr(trainer, "vllm_generation", None)
    if gen is None or getattr(gen, "mode", None) != "colocate":
        return
    from vllm.platforms import current_platform

    if not current_platform.is_cpu():
        return

    def sync_weights():
        runner = gen.llm.llm_engine.model_executor.driver_worker.model_runner
        runner.reload_weights(weights_iterator=gen._iter_named_params())
        gen.llm.reset_prefix_cache()

    gen.sync_weights = sync_weights
