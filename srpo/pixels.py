"""The image pixel budget: one definition, applied the same way by the trainer, the transformers generation
backend and vLLM (offline engines, GRPO colocate and ``trl vllm-serve``).

Qwen2-VL's image processor resizes every image so that its area lies in ``[min_pixels, max_pixels]`` and both
sides are multiples of 28 (14 px patches, 2x2 merge): ``smart_resize`` in transformers'
``models/qwen2_vl/image_processing_qwen2_vl.py``. The area decides the image grid and so the number of image
tokens in the prompt, which must be identical where a rollout is generated (vLLM) and where it is trained on
(the trainer's processor), or the forward pass fails ("Image features and image tokens do not match") or
trains on another tokenisation than the one sampled. Two things make that easy to get wrong:

* a Hub checkpoint's processor has no practical cap: Qwen2.5-VL-7B-Instruct's ``preprocessor_config.json``
  says ``min_pixels`` 3,136 and ``max_pixels`` 12,845,056. Everything that loads the processor from the
  checkpoint folder (vLLM, ``trl vllm-serve``, the hf backend) sees those limits, not the 262,144 px the
  trainer set on its in-memory copy (paper §4; the released SFT yaml's ``image_max_pixels``);
* transformers 5.17's ``Qwen2VLImageProcessor._standardize_kwargs`` uses per-call ``min_pixels`` /
  ``max_pixels`` only when BOTH are given: a lone ``max_pixels`` (what vLLM's ``mm_processor_kwargs``
  usually carries) is silently dropped.

So the budget is always passed as both numbers, built here.
"""

from __future__ import annotations

from dataclasses import dataclass

PATCH = 14  # Qwen2-VL / Qwen2.5-VL vision patch size (px)
MERGE = 2  # 2x2 patches merge into one image token
FACTOR = PATCH * MERGE

HUB_MIN_PIXELS = 3136  # Qwen/Qwen2.5-VL-7B-Instruct preprocessor_config.json
HUB_MAX_PIXELS = 12_845_056


@dataclass(frozen=True)
class PixelBudget:
    """Image area limits in pixels, ``min_pixels <= area <= max_pixels`` after resizing (both > 0)."""

    min_pixels: int
    max_pixels: int

    def __post_init__(self):
        if not (isinstance(self.min_pixels, int) and isinstance(self.max_pixels, int)):
            raise TypeError(f"pixel budget must be integers, got {self.min_pixels!r}, {self.max_pixels!r}")
        if not 0 < self.min_pixels <= self.max_pixels:
            raise ValueError(
                f"pixel budget needs 0 < min_pixels <= max_pixels, got min_pixels={self.min_pixels} "
                f"max_pixels={self.max_pixels}; set both in the recipe (e.g. 3136 and 262144)"
            )

    def processor_kwargs(self) -> dict:
        """``{"min_pixels": …, "max_pixels": …}``: per-call processor kwargs and vLLM's ``mm_processor_kwargs``."""
        return {"min_pixels": self.min_pixels, "max_pixels": self.max_pixels}

    def apply(self, processor):
        """Set this budget on a loaded processor (in place; ``save_pretrained`` then writes it). Returns it."""
        processor.image_processor.size = {"shortest_edge": self.min_pixels, "longest_edge": self.max_pixels}
        return processor

    def image_tokens(self, width: int, height: int) -> int:
        """Image tokens of a ``width`` x ``height`` image under this budget (after the 2x2 merge)."""
        h, w = smart_resize(height, width, self.min_pixels, self.max_pixels)
        return (h // FACTOR) * (w // FACTOR)


def smart_resize(height: int, width: int, min_pixels: int, max_pixels: int, factor: int = FACTOR) -> tuple[int, int]:
    """(height, width) the Qwen2-VL processor resizes to; transformers' ``smart_resize``, imported from there."""
    from transformers.models.qwen2_vl.image_processing_qwen2_vl import smart_resize as hf_smart_resize

    return hf_smart_resize(height, width, factor=factor, min_pixels=min_pixels, max_pixels=max_pixels)


def processor_budget(processor) -> PixelBudget:
    """The budget a loaded processor applies when a call passes none (its saved ``size``)."""
    size = processor.image_processor.size
    get = size.get if isinstance(size, dict) else lambda k: getattr(size, k, None)
    return PixelBudget(int(get("shortest_edge")), int(get("longest_edge")))


def load_processor(path: str, budget: PixelBudget):
    """The checkpoint's processor (``AutoProcessor``) with ``budget`` set."""
    from transformers import AutoProcessor

    return budget.apply(AutoProcessor.from_pretrained(path))


def budget_or_none(min_pixels: int, max_pixels: int) -> PixelBudget | None:
    """A recipe's pair: both 0 means "the checkpoint's own processor"; otherwise both must be set."""
    if min_pixels == 0 and max_pixels == 0:
        return None
    if min_pixels <= 0 or max_pixels <= 0:
        raise ValueError(
            f"set both min_pixels and max_pixels (got {min_pixels} and {max_pixels}): transformers' Qwen2-VL "
            "processor ignores max_pixels given alone; 0 and 0 keep the checkpoint's own processor"
        )
    return PixelBudget(min_pixels, max_pixels)
