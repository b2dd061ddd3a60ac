"""Every source adapter on a local copy written in that dataset's real layout (tests/fixtures/data_sources.py),
read through the same loader as a Hub copy (``local_sources``); and the Hub calls themselves, checked
without network by recording what ``datasets.load_dataset`` is asked for."""

import pytest
from fixtures.data_sources import FIXTURES

from srpo.data import SOURCES, hub
from srpo.data.filters import Deduplicator, FilterSettings, apply_filters
from srpo.data.sources import MissingColumn, RowRejected, SourceError, get_source
from srpo.data.sources.base import open_image, split_options, typed_answer

HUB_SOURCES = [name for name in SOURCES if name != "synthetic"]


@pytest.fixture(autouse=True)
def datasets_cache(tmp_path, monkeypatch):
    """Local copies are read without streaming (streamed parquet waits 5 s on shutdown, datasets#45214);
    the Arrow cache that this writes goes to the test's folder, not ~/.cache."""
    monkeypatch.setattr("datasets.config.HF_DATASETS_CACHE", str(tmp_path / "hf_cache"))


def curate_local(name, folder):
    """Rows of the local copy -> (answer, type) per accepted record, ("reject", reason) per rejection."""
    spec = get_source(name)
    root = hub.image_dir(spec, "", folder)
    dedup, stats, out, records = Deduplicator(), {}, [], []
    for row in hub.open_rows(spec, split="train", seed=0, local=folder, streaming=False):
        try:
            recs = spec.to_records(row)
        except RowRejected as exc:
            out.append(("reject", exc.reason))
            continue
        for rec in recs:
            try:
                dedup.add(apply_filters(rec, FilterSettings(), root, dedup, stats), rec["id"])
            except RowRejected as exc:
                out.append(("reject", exc.reason))
                continue
            out.append((rec["answer"], rec["answer_type"]))
            records.append(rec)
    return out, records


def test_every_hub_source_has_a_fixture():
    assert set(FIXTURES) == set(HUB_SOURCES)


@pytest.mark.parametrize("name", HUB_SOURCES)
def test_adapter_on_a_fixture_in_the_real_layout(name, tmp_path):
    expected = FIXTURES[name](tmp_path / "copy")
    got, records = curate_local(name, tmp_path / "copy")
    assert sorted(got) == sorted(expected)
    for rec in records:
        assert rec["source"] == name and rec["id"].startswith(name) and rec["question"].strip()
        assert "<image>" not in rec["question"]
        for img in rec["images"]:  # stored as encoded bytes that decode again
            assert open_image(img).size[0] > 0
        if rec["answer_type"] == "multiple_choice":
            assert len(rec["options"]) >= 2 and "(A)" in rec["question"]
    if name != "math":  # MATH is text only; every other source is multimodal
        assert all(len(r["images"]) == 1 for r in records)


def test_released_sft_keeps_the_full_target_for_stage_02(tmp_path):
    FIXTURES["srpo_sft_released"](tmp_path / "copy")
    _, records = curate_local("srpo_sft_released", tmp_path / "copy")
    rec = next(r for r in records if r["answer"] == "7")
    meta = rec["metadata"]
    assert meta["released_target"].startswith("<think>") and meta["released_target"].endswith("</answer>")
    assert meta["released_first_answer"] == "8" and "3 + 4 = 7" in meta["released_reflection"]
    assert meta["released_system"] == "You are a reasoning expert."


@pytest.mark.parametrize("name", HUB_SOURCES)
def test_hub_call_uses_the_documented_id_config_and_split(name, monkeypatch):
    from datasets import Dataset

    spec = get_source(name)
    calls = []

    def fake_load_dataset(path, name=None, **kwargs):
        calls.append((path, name, kwargs))
        return Dataset.from_list([dict.fromkeys(spec.columns, None)])

    monkeypatch.setattr("datasets.load_dataset", fake_load_dataset)
    rows = list(hub.open_rows(spec, split="rl_train", seed=0, streaming=True))
    assert len(rows) == len(spec.configs)
    assert [c[1] for c in calls] == list(spec.configs)
    for path, _, kwargs in calls:
        assert path == spec.hub_id and "/" in path
        assert kwargs == {"split": spec.split, "data_files": spec.data_files, "streaming": True}


def test_missing_column_names_source_and_column(tmp_path):
    from datasets import Dataset

    Dataset.from_list([{"image": None, "query": "q"}]).to_parquet(str(tmp_path / "train.parquet"))
    with pytest.raises(MissingColumn, match=r"source 'chartqa': column 'label' is missing"):
        list(hub.open_rows(get_source("chartqa"), split="train", seed=0, local=tmp_path, streaming=False))
    with pytest.raises(MissingColumn, match=r"source 'mmk12': column 'answer'"):
        get_source("mmk12").to_records({"image": None, "question": "q"})


def test_unknown_source_and_bad_local_copy():
    with pytest.raises(SourceError, match=r"unknown source 'chartqaa'.*chartqa"):
        get_source("chartqaa")
    with pytest.raises(SourceError, match="name=path"):
        hub.parse_local_sources(["chartqa"])
    with pytest.raises(SourceError, match="local copy of source 'chartqa' not found"):
        hub.parse_local_sources(["chartqa=/nonexistent/chartqa"])


def test_option_and_answer_parsing():
    stem, options = split_options("Which?\nChoices:\n(A) 3\n(B) 4\nAnswer with the letter.")
    assert stem == "Which?" and options == ["3", "4"]
    assert split_options("A. only one line here") == ("A. only one line here", [])
    assert typed_answer("(B) 4", ["3", "4"])[:2] == ("B", "multiple_choice")
    assert typed_answer("4", ["3", "4"])[0] == "B"  # the option's text names its letter
    assert typed_answer("1,200", []) == ("1200", "integer", None)
    assert typed_answer("0.25", []) == ("0.25", "float", 2)
    with pytest.raises(RowRejected, match="answer_not_an_option"):
        typed_answer("E", ["3", "4"])
