"""Stage 01 end to end: the tiny recipe, splits on disk, quarantine and summary, determinism, resume, a mix of
local copies with rejections and a source that runs dry, and the ``python -m srpo.data`` entry point."""

import json
import subprocess
import sys

import pytest
from fixtures.data_sources import FIXTURES

from srpo import config, paths
from srpo.data import SPLITS, load_quarantine, load_split
from srpo.data.__main__ import main
from srpo.tiny import sevenseg


@pytest.fixture(autouse=True)
def datasets_cache(tmp_path, monkeypatch):
    monkeypatch.setattr("datasets.config.HF_DATASETS_CACHE", str(tmp_path / "hf_cache"))


def run(run_dir, overrides):
    cfg = config.load("data_curation", "tiny-cpu", run_dir, overrides)
    return main(config.load_resolved("data_curation", config.save_resolved(cfg)))


def test_tiny_recipe_is_the_contract():
    args = config.load("data_curation", "tiny-cpu").args
    assert (args.sft_pool_size, args.rl_train_size) == (3000, 4000)
    assert args.sft_mix == ["synthetic:1"] and args.rl_mix == ["synthetic:1"] and not args.use_released_data
    assert tuple(args.synthetic_question_types) == sevenseg.QUESTION_TYPES and args.synthetic_max_difficulty == 1.0
    assert (args.synthetic_width, args.synthetic_height) == (56, 28)
    released = config.load("data_curation", "7b", overrides="--use_released_data true").args
    assert released.use_released_data  # the documented one-key switch


def test_synthetic_stage_writes_splits_summary_and_quarantine(run_dir):
    summary = run(run_dir, "--sft_pool_size 24 --rl_train_size 32")
    assert paths.is_done(run_dir, "data_curation")
    assert summary["counts"] == {"sft_pool": 24, "rl_train": 32} and summary["quarantined"] == 0
    assert set(summary["splits"]["rl_train"]["by_answer_type"]) == {"integer", "float", "multiple_choice"}
    splits = {s: load_split(run_dir, s) for s in SPLITS}
    assert {s: len(d) for s, d in splits.items()} == {"sft_pool": 24, "rl_train": 32}
    expected = {p.id for p in sevenseg.make_problems(24, sevenseg.SPLIT_SEEDS["sft_pool"])}
    assert set(splits["sft_pool"]["id"]) == expected  # the split IS the seeded synthetic stream
    assert not set(splits["sft_pool"]["id"]) & set(splits["rl_train"]["id"])
    rec = splits["rl_train"][0]
    problem = sevenseg.Problem.from_record(rec)
    assert problem.answer == rec["answer"] and rec["images"][0].size == (56, 28)
    assert (run_dir / "data_curation" / "quarantine.jsonl").read_text() == ""
    on_disk = json.loads((run_dir / "data_curation" / "summary.json").read_text())
    assert (
        on_disk["timings"]["total_seconds"] > 0
        and on_disk["splits"]["sft_pool"]["sources"]["synthetic"]["accepted"] == 24
    )


def test_same_seed_same_split_and_finished_splits_are_reused(tmp_path):
    a = run(tmp_path / "a", "--sft_pool_size 10 --rl_train_size 10 --seed 3")
    first = load_split(tmp_path / "a", "rl_train")["id"]
    run(tmp_path / "b", "--sft_pool_size 10 --rl_train_size 10 --seed 3")
    assert load_split(tmp_path / "b", "rl_train")["id"] == first
    run(tmp_path / "c", "--sft_pool_size 10 --rl_train_size 10 --seed 4")
    assert load_split(tmp_path / "c", "rl_train")["id"] != first  # the seed orders the mix
    shard = next((tmp_path / "a" / "data_curation" / "rl_train").glob("*.arrow"))
    before = shard.stat().st_mtime_ns
    again = run(tmp_path / "a", "--sft_pool_size 10 --rl_train_size 10 --seed 3")
    assert shard.stat().st_mtime_ns == before and again["counts"] == a["counts"]  # resumed, not rebuilt
    run(tmp_path / "a", "--sft_pool_size 10 --rl_train_size 12 --seed 3")
    assert len(load_split(tmp_path / "a", "rl_train")) == 12  # changed settings rebuild


def test_mix_of_local_copies_counts_every_rejection_and_shortfall(tmp_path):
    for name in ("scienceqa", "chartqa"):
        FIXTURES[name](tmp_path / name)
    summary = run(
        tmp_path / "run",
        "--sft_pool_size 4 --rl_train_size 6 --rl_mix scienceqa:1 chartqa:1 synthetic:1 "
        f"--local_sources scienceqa={tmp_path / 'scienceqa'} chartqa={tmp_path / 'chartqa'}",
    )
    rl = summary["splits"]["rl_train"]
    assert rl["by_source"] == {"scienceqa": 1, "chartqa": 2, "synthetic": 2} and rl["records"] == 5
    sq = rl["sources"]["scienceqa"]  # quota 2, but one of its two rows is text-only
    assert (sq["quota"], sq["rows_read"], sq["rows_rejected"], sq["accepted"], sq["shortfall"]) == (2, 2, 1, 1, 1)
    assert set(load_split(tmp_path / "run", "rl_train")["source"]) == {"scienceqa", "chartqa", "synthetic"}
    assert rl["rejections"] == {"no_image": 1} and summary["quarantined"] == 1
    (entry,) = load_quarantine(tmp_path / "run")
    assert entry["source"] == "scienceqa" and entry["split"] == "rl_train" and entry["reason"] == "no_image"
    assert entry["id"] and entry["detail"]


def test_unknown_source_in_a_recipe_fails_before_any_work(run_dir):
    from srpo.data.sources import SourceError

    with pytest.raises(SourceError, match="unknown source 'chartqaa'"):
        run(run_dir, "--rl_mix chartqaa:1")
    assert not paths.is_done(run_dir, "data_curation")


def test_load_split_names_what_is_missing(run_dir):
    with pytest.raises(paths.StageNotReady, match="01_data_curation"):
        load_split(run_dir, "rl_train")
    with pytest.raises(ValueError, match="unknown split"):
        load_split(run_dir, "train")


def test_entry_point_runs_as_a_module(run_dir):
    cfg = config.load("data_curation", "tiny-cpu", run_dir, "--sft_pool_size 5 --rl_train_size 5")
    path = config.save_resolved(cfg)
    result = subprocess.run(
        [sys.executable, "-m", "srpo.data", "--config", str(path)], capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert paths.read_summary(run_dir, "data_curation")["counts"] == {"sft_pool": 5, "rl_train": 5}


def test_notebook_figures_and_browser(run_dir):
    import matplotlib

    matplotlib.use("Agg")
    from srpo.data import SOURCES, plots

    summary = run(run_dir, "--sft_pool_size 6 --rl_train_size 6")
    assert set(plots.sources_table().index) == set(SOURCES)
    assert len(plots.plot_summary(summary).axes) == 3
    ds = load_split(run_dir, "rl_train")
    assert len([ax for ax in plots.sample_grid(ds, n=4).axes if ax.images]) == 4
    browser = plots.record_browser(ds)
    browser.children[0].value = 3  # moving the slider shows another record
    assert ds[3]["id"] in plots.record_text(ds[3])
