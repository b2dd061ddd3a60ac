"""Filters, quarantine and mixing of stage 01: corrupt images, missing answers, duplicates, unverifiable
golds and length limits are each rejected with their reason; quotas are exact and deterministic."""

import io

import pytest
from fixtures.data_sources import png

from srpo.data import mixing
from srpo.data.filters import Deduplicator, FilterSettings, apply_filters, resolve_path
from srpo.data.sources import RowRejected, SourceError, get_source
from srpo.data.sources.base import open_image


def rec(answer="7", image=None, question="What is the value of the tallest bar?", answer_type="integer", **kw):
    image = {"bytes": png(1), "path": None} if image is None else image
    return {
        "id": kw.pop("id", "r1"),
        "question": question,
        "answer": answer,
        "answer_type": answer_type,
        "options": kw.pop("options", []),
        "precision": kw.pop("precision", None),
        "images": [image],
        **kw,
    }


def reason(record, settings=None, dedup=None, root=None, stats=None):
    try:
        apply_filters(
            record, settings or FilterSettings(), root, dedup or Deduplicator(), {} if stats is None else stats
        )
    except RowRejected as exc:
        return exc.reason
    return "accepted"


def big_png(w, h):
    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (w, h), (10, 200, 30)).save(buf, format="PNG")
    return {"bytes": buf.getvalue(), "path": None}


def test_corrupt_and_missing_images_are_rejected(tmp_path):
    assert reason(rec(image={"bytes": png(1)[:50], "path": None})) == "image_unreadable"
    assert reason(rec(image={"bytes": b"not an image at all", "path": None})) == "image_unreadable"
    assert reason(rec(image="images/missing.png"), root=str(tmp_path)) == "image_unreadable"
    (tmp_path / "images").mkdir()
    (tmp_path / "images" / "ok.png").write_bytes(png(2))
    record = rec(image="images/ok.png")
    assert reason(record, root=str(tmp_path)) == "accepted"
    assert record["images"][0]["bytes"] == png(2)  # the file's own bytes, not re-encoded


def test_absolute_author_paths_fall_back_to_their_tail_under_the_root(tmp_path):
    (tmp_path / "images").mkdir()
    (tmp_path / "images" / "x.png").write_bytes(png(3))
    assert resolve_path("/mnt/bn/someone/images/x.png", str(tmp_path)) == str(tmp_path / "images" / "x.png")


def test_pixel_limits_reject_small_and_shrink_or_reject_large():
    assert reason(rec(image=big_png(20, 20))) == "image_too_small"
    stats = {}
    record = rec(image=big_png(700, 500))
    assert reason(record, stats=stats) == "accepted" and stats["resized_images"] == 1
    w, h = open_image(record["images"][0]).size
    assert w * h <= 262_144 and abs(w / h - 700 / 500) < 0.02
    strict = FilterSettings(resize_large_images=False)
    assert reason(rec(image=big_png(700, 500)), settings=strict) == "image_too_large"
    assert reason(rec(image=big_png(20, 20)), settings=FilterSettings(min_pixels=100)) == "accepted"


def test_missing_and_unverifiable_gold_answers():
    assert reason(rec(answer="")) == "missing_answer"
    assert reason(rec(answer="x^{}", answer_type="expression")) == "unverifiable_gold"
    assert reason(rec(answer="\\frac{3}{4}", answer_type="expression")) == "accepted"
    assert reason(rec(answer="E", answer_type="multiple_choice", options=["a", "b"])) == "unverifiable_gold"
    assert reason(rec(answer="B", answer_type="multiple_choice", options=["a", "b"])) == "accepted"
    assert reason(rec(answer="x^{}", answer_type="expression"), settings=FilterSettings(require_verifiable=False)) == (
        "accepted"
    )
    with pytest.raises(RowRejected, match="missing_answer"):  # adapters refuse rows without a gold answer
        get_source("chartqa").to_records({"image": None, "query": "q", "label": [], "human_or_machine": 0})


def test_length_limits():
    assert reason(rec(question="  ")) == "empty_question"
    assert reason(rec(question="x" * 3001)) == "question_too_long"
    assert reason(rec(answer="1" * 201)) == "answer_too_long"
    many = rec()
    many["images"] = [{"bytes": png(i), "path": None} for i in range(5)]
    assert reason(many) == "too_many_images"


def test_duplicates_need_the_same_image_and_the_same_normalised_question():
    dedup, settings = Deduplicator(), FilterSettings()
    dedup.add(apply_filters(rec(id="a"), settings, None, dedup, {}), "a")
    assert reason(rec(id="b", question="what is the VALUE of the tallest  bar? "), dedup=dedup) == "duplicate"
    assert reason(rec(id="c", image={"bytes": png(9), "path": None}), dedup=dedup) == "accepted"
    assert reason(rec(id="d", question="What is the value of the shortest bar?"), dedup=dedup) == "accepted"


def test_quotas_sum_to_the_target_and_follow_the_weights():
    q = mixing.quotas(mixing.parse_mix(["chartqa:1", "math:1", "dvqa:1"]), 100)
    assert sum(q.values()) == 100 and sorted(q.values()) == [33, 33, 34]
    q = mixing.quotas(mixing.parse_mix(["mulberry_sft:260", "mathv360k:360", "llava_cot_100k:100"]), 100_000)
    assert q == {"mulberry_sft": 36111, "mathv360k": 50000, "llava_cot_100k": 13889}
    assert mixing.quotas(mixing.parse_mix(["math:3", "chartqa:1"]), 0) == {"math": 0, "chartqa": 0}
    assert mixing.quotas({"math": 0.0}, 0) == {"math": 0}


@pytest.mark.parametrize(
    ("items", "message"),
    [
        (["charqa:1"], "unknown source 'charqa'"),
        (["math:x"], "weight of 'math' must be a number"),
        (["math:-1"], "must be >= 0"),
        (["math:1", "math:2"], "listed twice"),
    ],
)
def test_bad_mixes_fail_naming_the_source(items, message):
    with pytest.raises(SourceError, match=message):
        mixing.parse_mix(items)


def test_released_switch_replaces_both_mixes():
    from types import SimpleNamespace

    args = SimpleNamespace(use_released_data=True, sft_mix=["charqa:1"], rl_mix=[], sft_pool_size=5, rl_train_size=5)
    assert mixing.split_plan(args) == {"sft_pool": {"srpo_sft_released": None}, "rl_train": {"srpo_rl_released": None}}


def test_the_notebook_demo_catches_each_kind_of_bad_row():
    from srpo.data.demo import filter_demo

    table = filter_demo()
    verdicts = table.groupby("verdict").size().to_dict()
    assert verdicts == {
        "accepted": 5,
        "duplicate": 1,
        "image_unreadable": 1,
        "missing_answer": 1,
        "no_image": 1,
        "unverifiable_gold": 1,
    }
