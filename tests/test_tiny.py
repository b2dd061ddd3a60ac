"""The tiny Qwen2.5-VL: built offline, reloads through the Auto classes, runs forward and generate."""

import json
import random

import pytest
import torch

from srpo import formats, tiny
from srpo.tiny import sevenseg


@pytest.fixture(scope="module")
def loaded(tiny_model_path):
    from transformers import AutoModelForImageTextToText, AutoProcessor

    return AutoModelForImageTextToText.from_pretrained(tiny_model_path), AutoProcessor.from_pretrained(tiny_model_path)


def test_reloads_through_auto_classes(loaded):
    model, processor = loaded
    assert type(model).__name__ == "Qwen2_5_VLForConditionalGeneration"
    assert type(processor).__name__ == "Qwen2_5_VLProcessor"
    assert model.config.text_config.hidden_size == model.config.vision_config.out_hidden_size


def test_forward_and_generate_on_an_image_prompt(loaded):
    model, processor = loaded
    problem = sevenseg.make_problems(1, seed=5)[0]
    text = processor.apply_chat_template(
        formats.build_messages(problem.question), add_generation_prompt=True, tokenize=False
    )
    batch = processor(text=[text], images=[problem.image], return_tensors="pt")
    assert int((batch["input_ids"] == model.config.image_token_id).sum()) == 2  # 56x28 -> 8 patches -> 2 tokens
    logits = model(**batch).logits
    assert logits.shape[-1] == len(processor.tokenizer) and torch.isfinite(logits).all()
    out = model.generate(**batch, max_new_tokens=5, do_sample=False)
    assert out.shape[1] > batch["input_ids"].shape[1]


def test_tokenizer_keeps_tags_and_digits(loaded):
    _, processor = loaded
    tok = processor.tokenizer
    problem = sevenseg.make_problems(1, seed=2)[0]
    attempt = sevenseg.flawed_attempt(problem, random.Random(0))
    text = attempt.text + formats.reflection(sevenseg.template_reflection(problem, attempt.text))
    ids = tok(text)["input_ids"]
    assert tok.decode(ids, skip_special_tokens=True) == text  # tags are NOT special tokens
    for tag in formats.TAGS:
        assert len(tok(tag)["input_ids"]) == 1
    for digit in "0123456789":
        assert len(tok(digit)["input_ids"]) == 1
    assert tok("18")["input_ids"] == tok("1")["input_ids"] + tok("8")["input_ids"]


def test_chat_template_is_trls_so_trl_recognises_it(loaded):
    from trl.chat_template_utils import qwen2_5_vl_chat_template

    assert loaded[1].chat_template == qwen2_5_vl_chat_template


def test_build_is_deterministic_and_cached(tmp_path, tiny_model_path):
    spec = tiny.TinySpec()
    tiny.build_tiny_qwen25vl(tmp_path / "a", spec)
    tiny.build_tiny_qwen25vl(tmp_path / "b", spec)
    for name in ("model.safetensors", "tokenizer.json"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()
    assert json.loads((tmp_path / "a" / "tiny_spec.json").read_text())["seed"] == 0
    assert tiny.resolve_model("tiny://random") == tiny_model_path  # second call: the cached folder
    assert tiny.resolve_model("Qwen/Qwen2.5-VL-7B-Instruct") == "Qwen/Qwen2.5-VL-7B-Instruct"
    with pytest.raises(ValueError, match="tiny://random, tiny://instruct or tiny://hub"):
        tiny.resolve_model("tiny://huge")
