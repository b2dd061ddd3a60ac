"""One image pixel budget for every side (srpo.pixels): the trainer's processor, the transformers generation
backend, vLLM's ``mm_processor_kwargs`` (offline, GRPO colocate, ``trl vllm-serve``) and the generation cache.

The Hub stand-in ``tiny://hub`` carries Qwen2.5-VL-7B-Instruct's processor limits (3,136 to 12,845,056 px):
a 56x28 synthetic image becomes 6 image tokens under them, 2 under the tiny recipes' budget (1,568 px)."""

import json
from pathlib import Path

import pytest
from PIL import Image

from srpo import config, formats, pixels
from srpo.bench.cache import settings_key
from srpo.generation import GenerationRequest, GenerationSettings, HFBackend, trl_colocate_engine, trl_vllm_serve_args
from srpo.tiny import resolve_model, sevenseg

TINY = pixels.PixelBudget(1568, 1568)  # recipes/tiny-cpu: image_min_pixels = image_max_pixels = 1568


@pytest.fixture(scope="module")
def hub_path():
    return resolve_model("tiny://hub")


@pytest.fixture(scope="module")
def hub_backend(hub_path):
    return HFBackend(hub_path)


def requests(images):
    msgs = formats.build_messages("What is the sum of the two numbers in the image?", 1, "single_pass")
    return [GenerationRequest(str(i), msgs, [im]) for i, im in enumerate(images)]


def image_tokens(batch, processor) -> list[int]:
    return (batch["input_ids"] == processor.image_token_id).sum(dim=1).tolist()


def test_transformers_ignores_max_pixels_given_alone(hub_backend):
    """Why the budget is always passed as both numbers (transformers 5.17, Qwen2VLImageProcessor)."""
    big = Image.new("RGB", (1200, 900), "white")
    lone = hub_backend.processor.image_processor(images=[big], max_pixels=262_144)
    both = hub_backend.processor.image_processor(images=[big], **pixels.PixelBudget(3136, 262_144).processor_kwargs())
    assert lone["image_grid_thw"].tolist() == [[1, 64, 86]]  # the Hub limit: 1,376 image tokens
    assert both["image_grid_thw"].tolist() == [[1, 30, 42]]  # 262,144 px: 315 image tokens
    assert pixels.PixelBudget(3136, 262_144).image_tokens(1200, 900) == 30 * 42 // 4


def test_hub_standin_has_the_hub_processor_and_the_instruct_weights(hub_path):
    from transformers import AutoProcessor

    assert pixels.processor_budget(AutoProcessor.from_pretrained(hub_path)) == pixels.PixelBudget(3136, 12_845_056)
    instruct = resolve_model("tiny://instruct")
    assert Path(hub_path, "model.safetensors").read_bytes() == Path(instruct, "model.safetensors").read_bytes()


def test_hf_backend_sees_the_trainers_image_grid_from_a_hub_checkpoint(hub_path, hub_backend):
    """Fault 3/6 on the transformers side: the trainer caps its in-memory processor, a backend that reloads
    the checkpoint got the Hub's limits (6 image tokens where training used 2) unless given the budget."""
    problems = sevenseg.make_problems(3, seed=1)
    reqs = requests([p.image for p in problems])
    trainer = pixels.load_processor(hub_path, TINY)  # what SFT and GRPO train with (srpo.training.setup)
    text = [trainer.apply_chat_template(r.messages, add_generation_prompt=True, tokenize=False) for r in reqs]
    trained = trainer(text=text, images=[r.images[0] for r in reqs], padding=True, return_tensors="pt")
    budgeted = hub_backend.encode(reqs, GenerationSettings(min_pixels=TINY.min_pixels, max_pixels=TINY.max_pixels))
    unbudgeted = hub_backend.encode(reqs, GenerationSettings())
    assert image_tokens(trained, trainer) == [2, 2, 2]
    assert budgeted["input_ids"].tolist() == trained["input_ids"].tolist()
    assert budgeted["image_grid_thw"].tolist() == trained["image_grid_thw"].tolist()
    assert image_tokens(unbudgeted, trainer) == [6, 6, 6]  # the stand-in really has no cap


def test_benchmark_budget_is_in_the_cache_key_and_changes_the_image_tokens(hub_backend):
    big = [Image.new("RGB", (1200, 900), "white")]
    small, paper = (
        GenerationSettings(min_pixels=3136, max_pixels=262_144),
        GenerationSettings(min_pixels=3136, max_pixels=1_003_520),
    )
    assert settings_key(small) != settings_key(paper)
    assert image_tokens(hub_backend.encode(requests(big), small), hub_backend.processor) == [315]
    assert image_tokens(hub_backend.encode(requests(big), paper), hub_backend.processor) == [
        pixels.PixelBudget(3136, 1_003_520).image_tokens(1200, 900)
    ]


def test_benchmark_recipes_give_every_model_one_budget_in_the_settings():
    from srpo.bench.stage import backend_kwargs, decoding_modes

    for profile in ("tiny-cpu", "7b", "32b"):
        args = config.load("benchmarks", profile).args
        for _, settings, _ in decoding_modes(args):
            assert settings.pixel_budget == pixels.PixelBudget(args.min_pixels, args.max_pixels)
        assert "max_pixels" not in backend_kwargs(args)  # the budget travels with the settings, for both backends


@pytest.mark.parametrize(("lo", "hi"), [(0, 262_144), (3136, 0), (5000, 4000)])
def test_a_half_set_or_inverted_budget_fails_before_any_model_loads(lo, hi):
    with pytest.raises(ValueError, match="min_pixels"):
        GenerationSettings(min_pixels=lo, max_pixels=hi)


def test_grpo_vllm_engines_get_the_trainers_budget(monkeypatch):
    """Colocate: TRL's engine is built with the budget; server mode: trl vllm-serve passes it to vllm serve."""
    from types import SimpleNamespace

    from trl.generation import vllm_generation

    from srpo.configs.grpo_rl import GRPOArgs

    budget = {k: config.recipe_value("7b", "grpo_rl", f"image_{k}") for k in ("min_pixels", "max_pixels")}
    args = GRPOArgs(
        image_min_pixels=budget["min_pixels"], image_max_pixels=budget["max_pixels"], vllm_enforce_eager=True
    )
    colocate = SimpleNamespace(use_vllm=True, vllm_mode="colocate")  # the 7b recipe's (bf16 cannot parse on CPU)
    seen = []

    class FakeLLM:  # records what TRL's engine is built with and what it is given
        def __init__(self, **kw):
            seen.append(kw)
            config = SimpleNamespace(hf_config=SimpleNamespace(image_token_id=5))
            self.llm_engine, self.prompts = SimpleNamespace(model_config=config), None

        def generate(self, prompts, **kw):
            self.prompts = prompts

    monkeypatch.setattr(vllm_generation, "LLM", FakeLLM, raising=False)
    with trl_colocate_engine(colocate, args):
        engine = vllm_generation.LLM(model="m", max_model_len=1024)
    assert seen == [
        {
            "model": "m",
            "max_model_len": 1024,
            "enforce_eager": True,
            "mm_processor_kwargs": {"min_pixels": 3136, "max_pixels": 262_144},
        }
    ]
    # TRL sends the trainer's ids, images expanded; vLLM gets one image token per image and expands it itself
    image = {"prompt_token_ids": [1, 3, 5, 5, 5, 4, 2, 3, 5, 5, 4], "multi_modal_data": {"image": [0, 0]}}
    text_only = {"prompt_token_ids": [1, 5, 5]}
    engine.generate([image, text_only], sampling_params=None)
    assert engine.prompts == [{**image, "prompt_token_ids": [1, 3, 5, 4, 2, 3, 5, 4]}, text_only]
    vllm_generation.LLM(model="m")
    assert seen[-1] == {"model": "m"}  # only while the trainer is built
    with trl_colocate_engine(SimpleNamespace(use_vllm=True, vllm_mode="server"), args):
        vllm_generation.LLM(model="m")
    assert seen[-1] == {"model": "m"}
    serve = trl_vllm_serve_args(GRPOArgs(image_min_pixels=3136, image_max_pixels=262_144))
    assert serve == ["--mm-processor-kwargs=" + json.dumps({"max_pixels": 262_144, "min_pixels": 3136})]
