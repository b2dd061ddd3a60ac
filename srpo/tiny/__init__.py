"""The tiny CPU profile's own pieces: a tiny Qwen2.5-VL built offline (``model``), its short warm-up into the
``tiny://instruct`` stand-in for an instruct base (``warmup``), and the generated seven-segment task the tiny
profile trains and is tested on (``sevenseg``). The cluster profiles use none of this."""

from srpo.tiny.model import TinySpec, build_tiny_qwen25vl, mrope_section, resolve_model

__all__ = ["TinySpec", "build_tiny_qwen25vl", "mrope_section", "resolve_model"]
