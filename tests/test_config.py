"""Recipes: every recipe parses, the three profiles keep the same keys, unknown keys fail clearly."""

import pytest
import yaml

from srpo import config, paths
from srpo.stages import STAGES

# Keys one profile may set and another not (hardware-only knobs). Keep this short: a knob that only the
# 7b recipe has escapes the tiny-cpu path that CI runs.
PROFILE_ONLY_KEYS = {"use_cpu", "bf16", "env", "deepspeed"}


def recipe_keys(profile, stage):
    return set(yaml.safe_load(config.recipe_path(profile, stage).read_text())) - PROFILE_ONLY_KEYS


@pytest.mark.parametrize("stage", list(STAGES))
def test_profiles_have_the_same_keys(stage):
    keys = {p: recipe_keys(p, stage) for p in config.PROFILES}
    reference = keys["7b"]
    for profile, k in keys.items():
        assert k == reference, (
            f"{stage}: {profile} differs from 7b: only in {profile}: {sorted(k - reference)}, missing: {sorted(reference - k)}"
        )


@pytest.mark.parametrize("profile", config.PROFILES)
@pytest.mark.parametrize("stage", list(STAGES))
def test_every_recipe_parses(profile, stage, tmp_path):
    # GPU recipes ask for bf16, which TRL refuses on a CPU-only machine: parse them with use_cpu.
    overrides = "--use_cpu true" if profile != "tiny-cpu" and STAGES[stage].dataclasses[1].startswith("trl") else ""
    cfg = config.load(stage, profile, run_dir=tmp_path, overrides=overrides)
    assert cfg.profile == profile and cfg.stage == stage


def test_misspelled_key_in_a_recipe_names_key_and_file(tmp_path, monkeypatch):
    root = tmp_path / "proj"
    (root / "recipes" / "tiny-cpu").mkdir(parents=True)
    recipe = root / "recipes" / "tiny-cpu" / "cold_start_sft.yaml"
    recipe.write_text("lerning_rate: 1.0e-5\nuse_cpu: true\nbf16: false\n")
    monkeypatch.setenv("SRPO_HOME", str(root))
    with pytest.raises(
        config.ConfigError, match=r"unknown key 'lerning_rate' in .*cold_start_sft.yaml.*learning_rate"
    ):
        config.load("cold_start_sft", "tiny-cpu", run_dir=tmp_path)


def test_misspelled_override_and_bad_value(tmp_path):
    with pytest.raises(config.ConfigError, match="unknown key 'max_step'"):
        config.load("grpo_rl", "tiny-cpu", tmp_path, overrides="--max_step 3")
    with pytest.raises(config.ConfigError, match="invalid float value: 'fast'"):
        config.load("grpo_rl", "tiny-cpu", tmp_path, overrides="--learning_rate fast")


def test_unknown_profile_and_stage(tmp_path):
    with pytest.raises(config.ConfigError, match="profiles"):
        config.load("grpo_rl", "70b", tmp_path)
    with pytest.raises(ValueError, match="unknown stage"):
        config.load("grpo", "tiny-cpu", tmp_path)


def test_overrides_win_and_resolved_config_round_trips(tmp_path):
    cfg = config.load("grpo_rl", "tiny-cpu", tmp_path, overrides={"learning_rate": 3e-4, "max_steps": 7})
    assert cfg.trl.learning_rate == 3e-4 and cfg.trl.max_steps == 7
    path = config.save_resolved(cfg)
    assert path == tmp_path / "grpo_rl" / "config.yaml" and (tmp_path / "grpo_rl" / "config_full.json").exists()
    again = config.load_resolved("grpo_rl", path)
    assert again.trl.learning_rate == 3e-4 and again.trl.max_steps == 7 and again.values == cfg.values


def test_stage_refuses_to_start_before_its_inputs(tmp_path):
    from srpo.launch import prepare_stage

    with pytest.raises(paths.StageNotReady, match=r"notebooks/02_reflection_generation.ipynb first"):
        prepare_stage("cold_start_sft", "tiny-cpu", tmp_path)
    paths.write_summary(tmp_path, "reflection_generation", {"ok": True})
    cfg, resolved = prepare_stage("cold_start_sft", "tiny-cpu", tmp_path)
    assert resolved.exists() and not paths.is_done(tmp_path, "cold_start_sft")


def test_summary_is_atomic_and_finite(tmp_path):
    paths.write_summary(tmp_path, "benchmarks", {"acc": float("nan"), "n": [1.0, float("inf")]})
    assert paths.read_summary(tmp_path, "benchmarks") == {"stage": "benchmarks", "acc": None, "n": [1.0, None]}


@pytest.mark.parametrize("stage", ["grpo_rl", "benchmarks"])
def test_a_config_is_read_once_per_load(stage, tmp_path, monkeypatch):
    """``config.load`` and the entry point's ``load_resolved`` each parse their YAML file once (TrlParser is
    handed the mapping already read), and the recipe's ``env:`` still reaches the environment."""
    reads = []
    real = yaml.safe_load
    monkeypatch.setattr(yaml, "safe_load", lambda stream: reads.append(1) or real(stream))
    cfg = config.load(stage, "tiny-cpu", tmp_path, overrides="--seed 3" if stage == "benchmarks" else "--max_steps 3")
    assert len(reads) == 1
    reads.clear()
    again = config.load_resolved(stage, config.save_resolved(cfg))
    assert len(reads) == 1 and again.values == cfg.values


def test_a_recipe_env_mapping_is_exported(tmp_path, monkeypatch):
    root = tmp_path / "proj"
    (root / "recipes" / "tiny-cpu").mkdir(parents=True)
    text = (paths.project_root() / "recipes" / "tiny-cpu" / "ablations.yaml").read_text()
    (root / "recipes" / "tiny-cpu" / "ablations.yaml").write_text(text + "\nenv:\n  SRPO_TEST_ENV_KEY: from-recipe\n")
    monkeypatch.setenv("SRPO_HOME", str(root))
    monkeypatch.delenv("SRPO_TEST_ENV_KEY", raising=False)
    config.load("ablations", "tiny-cpu", run_dir=tmp_path)
    import os

    assert os.environ.pop("SRPO_TEST_ENV_KEY") == "from-recipe"


@pytest.mark.parametrize(
    "stage, override",
    [
        ("cold_start_sft", "--eval_prompt srpo_rll"),  # read only after training: must fail at the parse
        ("cold_start_sft", "--eval_base_prompt nope"),
        ("grpo_rl", "--prompt nope"),
        ("grpo_rl", "--prompt_placement sideways"),
        ("reflection_generation", "--attempt_prompt nope"),
        ("reflection_generation", "--sft_prompt nope"),
    ],
)
def test_prompt_names_are_checked_when_the_config_is_parsed(stage, override, tmp_path):
    field = override.split()[0].removeprefix("--")
    with pytest.raises(ValueError, match=f"{field}: unknown prompt"):
        config.load(stage, "tiny-cpu", tmp_path, overrides=override)
