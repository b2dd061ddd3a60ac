"""Generation backends shared by reflection generation (02), evaluation and the benchmarks (05).

Two implementations of one small interface, ``backend.generate(requests, settings) -> list[Generation]``:

* ``HFBackend``   transformers ``generate`` in batches (CPU, tests, small GPU runs);
* ``VLLMBackend`` vLLM offline inference for the cluster: ``tensor_parallel_size`` GPUs per engine and
  ``data_parallel_size`` engines, each in its own process on its own GPUs, the requests sharded over them.

Both build the prompt text with the model's own chat template (``processor.apply_chat_template``), so a
prompt is byte-identical whichever backend runs it.
"""

from __future__ import annotations

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

    @property
    def greedy(self) -> bool:
        return self.temperature <= 0


@dataclass
class Generation:
    id: str
    sample: int
    text: str
    num_tokens: int
    finish_reason: str  # "stop" | "length"


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
        torch_dtype = {"auto": torch.bfloat16 if self.device == "cuda" else torch.float32,
                       "float32": torch.float32, "bfloat16": torch.bfloat16}[dtype]  # fmt: skip
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

        texts = [prompt_text(self.processor, r.messages) for r, _ in jobs]
        images = [img for r, _ in jobs for img in r.images]
        batch = self.processor(text=texts, images=images or None, padding=True, return_tensors="pt").to(self.device)
        sampling = (dict(do_sample=True, temperature=settings.temperature, top_p=settings.top_p, top_k=settings.top_k)
                    if not settings.greedy else dict(do_sample=False, temperature=None, top_p=None, top_k=None))  # fmt: skip
        with torch.no_grad():
            output = self.model.generate(**batch, max_new_tokens=settings.max_new_tokens, **sampling)
        new_tokens = output[:, batch["input_ids"].shape[1] :].tolist()
        results = []
        for (request, sample), ids in zip(jobs, new_tokens, strict=True):
            stop = next((i for i, t in enumerate(ids) if t in self.eos_ids), None)
            kept = ids if stop is None else ids[:stop]
            text = self.processor.tokenizer.decode(kept, skip_special_tokens=True)
            results.append(Generation(request.id, sample, text, len(kept) + (stop is not None),
                                      "length" if stop is None else "stop"))  # fmt: skip
        return results


# ---------------------------------------------------------------------------------------------- vLLM
@dataclass
class VLLMBackend:
    """vLLM offline inference. With ``data_parallel_size`` > 1, each engine runs in its own process with
    ``CUDA_VISIBLE_DEVICES`` set to its own ``tensor_parallel_size`` GPUs and gets a contiguous shard."""

    model_path: str
    tensor_parallel_size: int = 1
    data_parallel_size: int = 1
    gpu_memory_utilization: float = 0.9
    max_model_len: int = 8192
    max_images_per_prompt: int = 8  # MMMU-Pro has up to seven images
    max_pixels: int = 1_003_520  # Qwen2.5-VL default 1280 * 28 * 28

    def generate(self, requests: list[GenerationRequest], settings: GenerationSettings) -> list[Generation]:
        if self.data_parallel_size <= 1:
            return _vllm_generate_shard(self._engine_kwargs(), self.model_path, requests, settings)
        import multiprocessing as mp

        ctx = mp.get_context("spawn")  # CUDA must not be initialised before the GPUs are assigned
        shards = shard(requests, self.data_parallel_size)
        gpus = gpu_groups(self.data_parallel_size, self.tensor_parallel_size)
        with ctx.Pool(self.data_parallel_size) as pool:
            parts = pool.starmap(_vllm_worker, [(self._engine_kwargs(), self.model_path, s, settings, g)
                                                for s, g in zip(shards, gpus, strict=True)])  # fmt: skip
        return [g for part in parts for g in part]

    def _engine_kwargs(self) -> dict:
        return dict(tensor_parallel_size=self.tensor_parallel_size, gpu_memory_utilization=self.gpu_memory_utilization,
                    max_model_len=self.max_model_len, limit_mm_per_prompt={"image": self.max_images_per_prompt},
                    mm_processor_kwargs={"max_pixels": self.max_pixels})  # fmt: skip


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
    return [",".join(str(r * tensor_parallel_size + i) for i in range(tensor_parallel_size))
            for r in range(data_parallel_size)]  # fmt: skip


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
    params = SamplingParams(n=settings.n, temperature=max(settings.temperature, 0.0), top_p=settings.top_p,
                            top_k=settings.top_k if settings.top_k > 0 else -1,
                            max_tokens=settings.max_new_tokens, seed=settings.seed)  # fmt: skip
    prompts = [{"prompt": prompt_text(processor, r.messages), "multi_modal_data": {"image": r.images}}
               if r.images else {"prompt": prompt_text(processor, r.messages)} for r in requests]  # fmt: skip
    outputs = llm.generate(prompts, params)
    return [Generation(r.id, i, c.text, len(c.token_ids), "length" if c.finish_reason == "length" else "stop")
            for r, o in zip(requests, outputs, strict=True) for i, c in enumerate(o.outputs)]  # fmt: skip
