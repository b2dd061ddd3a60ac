"""A tiny Qwen2.5-VL built offline, saved as an ordinary checkpoint folder.

Every stage loads it with ``AutoModelForImageTextToText`` / ``AutoProcessor`` from a folder, exactly as it
loads ``Qwen/Qwen2.5-VL-7B-Instruct``. Recipes name it ``tiny://random`` (random weights) or
``tiny://instruct`` (the same model after a short single-pass warm-up, see ``srpo.tiny.warmup``: the
tiny stand-in for an instruction-tuned base). ``tiny://hub`` is ``tiny://instruct`` saved with the image
processor a Hub checkpoint ships (``hub_processor``: Qwen2.5-VL-7B-Instruct's 3,136 to 12,845,056 pixels, no
practical cap), the stand-in for arms that start from a Hub model. ``resolve_model`` builds each once per
spec into the cache (``$SRPO_CACHE``, default ``<repo>/.cache``) and returns the folder.

What makes it a faithful stand-in:
* the real ``Qwen2_5_VLForConditionalGeneration`` class; text 128 hidden / 2 layers, vision 64 / depth 2;
* a byte-level BPE trained locally with Qwen's special tokens; digits are single tokens and the
  reasoning tags are NON-special added tokens (TRL decodes completions with ``skip_special_tokens=True``,
  special tags would vanish before the reward sees them);
* the Qwen2.5-VL chat template byte-identical to TRL's, so TRL recognises it;
* Qwen2-VL image and video processors; a 56x56 image becomes 4 image tokens.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path

from srpo import formats
from srpo.paths import cache_dir
from srpo.tiny import sevenseg

SPECIAL_TOKENS = [
    "<|endoftext|>",
    "<|im_start|>",
    "<|im_end|>",
    "<|vision_start|>",
    "<|vision_end|>",
    "<|image_pad|>",
    "<|video_pad|>",
]
CHAT_TEMPLATE_FILE = Path(__file__).parents[1] / "templates" / "qwen2_5_vl_chat_template.jinja"
BUILDER_VERSION = 2  # bump when the build changes in a way the spec does not capture
HUB_BUILD = 1  # tiny://hub: bump when build_hub_standin changes


@dataclass(frozen=True)
class TinySpec:
    """Sizes of the tiny model (small and fast beats bigger on 2 cores)."""

    hidden: int = 128
    layers: int = 2
    heads: int = 4
    kv_heads: int = 2
    vision_hidden: int = 64
    vision_depth: int = 2
    image_width: int = 56  # 56x28 -> 2x4 patches of 14 px -> 2 merged image tokens, one per digit
    image_height: int = 28
    vocab_size: int = 1024  # saturates at ~850: every template phrase becomes one token
    seed: int = 0

    def key(self) -> str:
        payload = json.dumps({**asdict(self), "builder": BUILDER_VERSION, "corpus": _corpus_digest()})
        return sevenseg.stable_hash(payload)


# ---------------------------------------------------------------------------------------------- tokenizer
def tokenizer_corpus(seed: int = 0, n: int = 1500):
    """Text the tokenizer is trained on: prompts, questions, correct and flawed attempts, reflections."""
    rng = random.Random(seed)
    for _ in range(n // 10):  # prompts open every sample: weight them so BPE merges them into few tokens
        yield from formats.PROMPTS.values()
        yield "system\nYou are a helpful assistant.\nuser\nassistant\n"
    for p in sevenseg.make_problems(n, seed, width=28, height=14):
        yield p.record()["question"]
        for attempt in (sevenseg.correct_attempt(p), sevenseg.flawed_attempt(p, rng)):
            yield attempt.think
            yield f"\\boxed{{{attempt.answer}}}"
            yield sevenseg.template_reflection(p, attempt.text)


def _corpus_digest() -> str:
    return sevenseg.stable_hash(*tokenizer_corpus(0, 50))


def build_tokenizer(spec: TinySpec):
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE(unk_token=None))
    # Digits are split before byte-level BPE, so every digit is its own token (as in Qwen's tokenizer) and
    # no merge holds a digit. Without the whitespace regex, BPE merges whole template phrases, which keeps
    # sequences short: the main lever for speed on 2 cores.
    tok.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Digits(individual_digits=True),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
        ]
    )
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=spec.vocab_size,
        special_tokens=SPECIAL_TOKENS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    corpus = [_strip_tags(t) for t in tokenizer_corpus(spec.seed)]
    tok.train_from_iterator(corpus, trainer=trainer)
    tok.add_tokens(list(formats.TAGS))  # NON-special added tokens: they survive skip_special_tokens=True
    hf_tok = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        eos_token="<|im_end|>",
        pad_token="<|endoftext|>",
        unk_token="<|endoftext|>",
        additional_special_tokens=SPECIAL_TOKENS[1:],
        model_max_length=4096,
        padding_side="left",
    )
    hf_tok.chat_template = CHAT_TEMPLATE_FILE.read_text()
    return hf_tok


def _strip_tags(text: str) -> str:
    for tag in formats.TAGS:  # tags are added tokens; keep them out of the BPE merges
        text = text.replace(tag, "\n")
    return text


# ---------------------------------------------------------------------------------------------- processor, model
def build_processor(tokenizer, spec: TinySpec):
    from transformers import Qwen2_5_VLProcessor
    from transformers.models.qwen2_vl.image_processing_qwen2_vl import Qwen2VLImageProcessor
    from transformers.models.qwen2_vl.video_processing_qwen2_vl import Qwen2VLVideoProcessor

    px = spec.image_width * spec.image_height  # min = max pixels: images keep this many pixels
    geometry = dict(patch_size=14, temporal_patch_size=2, merge_size=2)  # must equal the vision config's
    return Qwen2_5_VLProcessor(
        image_processor=Qwen2VLImageProcessor(min_pixels=px, max_pixels=px, **geometry),
        video_processor=Qwen2VLVideoProcessor(min_pixels=px, max_pixels=px, **geometry),  # required, unused
        tokenizer=tokenizer,
        chat_template=CHAT_TEMPLATE_FILE.read_text(),
    )


def mrope_section(head_dim: int) -> list[int]:
    """Split head_dim/2 rotary frequencies into (temporal, height, width); Qwen's [16, 24, 24] for 128."""
    half = head_dim // 2
    hw = (half - half // 4) // 2
    return [half - 2 * hw, hw, hw]


def build_model(tokenizer, spec: TinySpec):
    import torch
    from transformers import Qwen2_5_VLConfig, Qwen2_5_VLForConditionalGeneration

    ids = {t: tokenizer.convert_tokens_to_ids(t) for t in SPECIAL_TOKENS}
    text = dict(
        vocab_size=len(tokenizer),
        hidden_size=spec.hidden,
        intermediate_size=2 * spec.hidden,
        num_hidden_layers=spec.layers,
        num_attention_heads=spec.heads,
        num_key_value_heads=spec.kv_heads,
        max_position_embeddings=4096,
        bos_token_id=None,
        eos_token_id=ids["<|im_end|>"],
        pad_token_id=ids["<|endoftext|>"],
        tie_word_embeddings=True,
        rope_parameters={
            "rope_type": "default",
            "rope_theta": 10000.0,
            "mrope_section": mrope_section(spec.hidden // spec.heads),
        },
    )
    vision = dict(
        depth=spec.vision_depth,
        hidden_size=spec.vision_hidden,
        intermediate_size=2 * spec.vision_hidden,
        num_heads=4,
        patch_size=14,
        temporal_patch_size=2,
        spatial_merge_size=2,
        window_size=112,
        fullatt_block_indexes=[spec.vision_depth - 1],
        out_hidden_size=spec.hidden,
        in_channels=3,
    )
    config = Qwen2_5_VLConfig(
        text_config=text,
        vision_config=vision,
        tie_word_embeddings=True,
        image_token_id=ids["<|image_pad|>"],
        video_token_id=ids["<|video_pad|>"],
        vision_start_token_id=ids["<|vision_start|>"],
        vision_end_token_id=ids["<|vision_end|>"],
    )
    torch.manual_seed(spec.seed)
    model = Qwen2_5_VLForConditionalGeneration(config)
    model.generation_config.eos_token_id = [ids["<|im_end|>"], ids["<|endoftext|>"]]
    model.generation_config.pad_token_id = ids["<|endoftext|>"]
    model.generation_config.bos_token_id = None
    return model


def build_tiny_qwen25vl(out_dir: str | os.PathLike, spec: TinySpec = TinySpec()) -> Path:
    """Build tokenizer, processor and random-weight model and save them as one checkpoint folder."""
    tokenizer = build_tokenizer(spec)
    processor = build_processor(tokenizer, spec)
    model = build_model(tokenizer, spec)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out)
    processor.save_pretrained(out)
    (out / "tiny_spec.json").write_text(json.dumps(asdict(spec), indent=1))
    return out


def hub_processor(processor):
    """Give ``processor`` the image limits of Qwen/Qwen2.5-VL-7B-Instruct's ``preprocessor_config.json``
    (``min_pixels`` 3,136, ``max_pixels`` 12,845,056): what vLLM or a reloaded processor sees for a Hub model."""
    from srpo.pixels import HUB_MAX_PIXELS, HUB_MIN_PIXELS, PixelBudget

    budget = PixelBudget(HUB_MIN_PIXELS, HUB_MAX_PIXELS)
    processor.video_processor.size = {"shortest_edge": budget.min_pixels, "longest_edge": budget.max_pixels}
    return budget.apply(processor)


def build_hub_standin(instruct_dir, out_dir) -> Path:
    """``tiny://hub``: the ``tiny://instruct`` weights with a Hub-default processor (``hub_processor``)."""
    from transformers import AutoProcessor

    out = Path(out_dir)
    shutil.copytree(instruct_dir, out, dirs_exist_ok=True)
    hub_processor(AutoProcessor.from_pretrained(instruct_dir)).save_pretrained(out)
    return out


# ---------------------------------------------------------------------------------------------- cache
TINY_MODELS = ("random", "instruct", "hub")


def resolve_model(name_or_path: str, spec: TinySpec = TinySpec()) -> str:
    """Map ``tiny://random`` / ``tiny://instruct`` / ``tiny://hub`` to a cached checkpoint folder (building it
    once); return any other name or path unchanged."""
    if not str(name_or_path).startswith("tiny://"):
        return str(name_or_path)
    kind = str(name_or_path).removeprefix("tiny://")
    if kind not in TINY_MODELS:
        raise ValueError(f"unknown tiny model {name_or_path!r}; choose tiny://random, tiny://instruct or tiny://hub")
    key = spec.key() if kind == "random" else sevenseg.stable_hash(spec.key(), _warmup_recipe())
    if kind == "hub":
        key = sevenseg.stable_hash(key, "hub-processor", HUB_BUILD)
    target = cache_dir() / "models" / f"tiny-qwen2.5-vl-{kind}-{key}"
    if (target / "config.json").exists():
        return str(target)
    if kind == "random":
        return str(_atomic_build(target, lambda tmp: build_tiny_qwen25vl(tmp, spec)))
    if kind == "hub":
        instruct = resolve_model("tiny://instruct", spec)
        return str(_atomic_build(target, lambda tmp: build_hub_standin(instruct, tmp)))
    from srpo.tiny.warmup import warm_up  # heavy (TRL); only when the instruct model is missing

    base = resolve_model("tiny://random", spec)
    return str(_atomic_build(target, lambda tmp: warm_up(base, tmp, seed=spec.seed)))


def _warmup_recipe() -> str:
    from srpo.tiny import warmup as t

    return (
        f"{t.WARMUP_STEPS}-{t.WARMUP_BATCH}-{t.WARMUP_PROBLEMS}-{t.WARMUP_SEED}-{t.WARMUP_LR}-frozen-visual"
        f"-threads{t.WARMUP_THREADS}"
    )


def _atomic_build(target: Path, build) -> Path:
    """Build into a temporary sibling folder and rename, so a killed build never leaves half a model."""
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=target.name + ".tmp-", dir=target.parent))
    try:
        build(tmp)
        try:
            tmp.rename(target)
        except OSError:  # another process finished first
            if not (target / "config.json").exists():
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return target
