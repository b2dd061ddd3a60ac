"""Config is plain data: ``srpo/configs/`` imports nothing from a stage, and the checks that need a stage's
registries (benchmarks, prompts, question types, stage names) still fail clearly before any work starts."""

import ast
from pathlib import Path

import pytest
import yaml

from srpo import config, launch, paths

CONFIGS = Path(__file__).resolve().parents[1] / "srpo" / "configs"


def srpo_imports(path: Path) -> list[str]:
    """Every ``srpo...`` module a file imports, at any depth (function-level imports included)."""
    out = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            out += [a.name for a in node.names if a.name.split(".")[0] == "srpo"]
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "srpo":
            # `from srpo import stats` imports srpo.stats
            out += [f"{node.module}.{a.name}" if node.module == "srpo" else node.module for a in node.names]
    return out


def test_configs_import_nothing_but_configs():
    files = sorted(CONFIGS.glob("*.py"))
    assert len(files) >= 7
    outside = {f.name: [m for m in srpo_imports(f) if not m.startswith("srpo.configs")] for f in files}
    assert not any(outside.values()), f"srpo/configs must stay plain data; imports from outside: {outside}"


def test_the_import_check_sees_function_level_imports(tmp_path):
    sample = tmp_path / "sample.py"
    sample.write_text("from srpo import stats\n\ndef f():\n    from srpo.bench.registry import expand\n")
    assert srpo_imports(sample) == ["srpo.stats", "srpo.bench.registry"]


def test_default_question_types_are_the_synthetic_tasks():
    from srpo.configs.data_curation import CurationArgs
    from srpo.tiny import sevenseg

    assert tuple(CurationArgs().synthetic_question_types) == sevenseg.QUESTION_TYPES
    from srpo.configs.data_curation import SYNTHETIC_FIRST_PASSES

    assert SYNTHETIC_FIRST_PASSES == sevenseg.FIRST_PASSES


@pytest.mark.parametrize(
    ("stage", "overrides", "message"),
    [
        ("benchmarks", "--benchmarks mathvistaa", "unknown benchmark 'mathvistaa'"),
        ("benchmarks", "--benchmarks mathvision:testmaxi", "mathvision"),
        ("benchmarks", "--prompt srpo", "unknown evaluation prompt 'srpo'"),
        ("benchmarks", "--model_prompts base=srpo", "unknown evaluation prompt 'srpo'"),
        ("benchmarks", "--models base=a sft=stage:grpo srpo=b", r"unknown stage in \['stage:grpo'\]"),
        ("grpo_rl", "--dataset stage:data_curatio", r"unknown stage in \['stage:data_curatio'\]"),
        ("grpo_rl", "--model_name_or_path stage:cold_start", r"unknown stage in \['stage:cold_start'\]"),
        ("data_curation", "--synthetic_question_types sum sums", r"synthetic_question_types: unknown \['sums'\]"),
    ],
)
def test_stage_checks_fail_before_the_stage_starts(stage, overrides, message, tmp_path, monkeypatch):
    """``run_stage`` refuses before it writes the stage folder or starts the entry point's process."""

    def no_process(*args, **kwargs):
        raise AssertionError("the stage's process started")

    monkeypatch.setattr(launch, "stream_subprocess", no_process)
    with pytest.raises(config.ConfigError, match=message):
        launch.run_stage(stage, "tiny-cpu", tmp_path, overrides, echo=False)
    assert not paths.stage_dir(tmp_path, stage).exists()


@pytest.mark.parametrize(
    ("stage", "entry", "key", "value", "message"),
    [
        ("benchmarks", "srpo.bench.__main__:main", "benchmarks", ["mathvistaa"], "unknown benchmark"),
        ("benchmarks", "srpo.bench.__main__:main", "prompt", "srpo", "unknown evaluation prompt"),
        ("data_curation", "srpo.data.__main__:cli", "synthetic_question_types", ["sums"], "synthetic_question_types"),
    ],
)
def test_entry_points_check_an_edited_config_before_any_work(stage, entry, key, value, message, tmp_path, capsys):
    """A resolved config edited by hand reaches the entry point: it fails in the parse, before the stage runs,
    with one line naming the problem (exit status 2, argparse's usage error)."""
    import importlib

    cfg = config.load(stage, "tiny-cpu", tmp_path)
    path = config.save_resolved(cfg)
    values = yaml.safe_load(path.read_text())
    values[key] = value
    path.write_text(yaml.safe_dump(values))
    module, name = entry.split(":")
    with pytest.raises(SystemExit) as exited:
        getattr(importlib.import_module(module), name)(["--config", str(path)])
    err = capsys.readouterr().err
    assert exited.value.code == 2 and message in err and "error: " in err and "Traceback" not in err
    written = sorted(p.name for p in paths.stage_dir(tmp_path, stage).iterdir())
    assert written == ["config.yaml", "config_full.json"]  # nothing but what save_resolved wrote


def test_config_name_lists_match_the_code_they_choose_from():
    """The plain-data configs spell out the names a stage's code accepts; these must not drift apart."""
    from srpo import rewards
    from srpo.configs.grpo_rl import FILTER_METRICS, REWARD_VARIANTS
    from srpo.grpo_trainer import completion_accuracy

    assert REWARD_VARIANTS == rewards.VARIANTS
    verdict = {"accuracy": 0.5, "effectiveness": 0.25, "first_correct": True, "final_correct": False}
    assert [completion_accuracy(verdict, m) for m in FILTER_METRICS] == [0.75, 0.5, 1.0, 0.0]
