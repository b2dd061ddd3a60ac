"""Sampled evaluation: a resumed run gives the samples of an uninterrupted one (docs/paper_vs_release.md, row
"Decoding")."""

import random

import pytest

from srpo.bench import evaluate
from srpo.generation import Generation, GenerationSettings

RIGHT = "<think>a</think><answer>\\boxed{{{gold}}}</answer><reflection>ok</reflection><think>b</think><answer>\\boxed{{{gold}}}</answer>"


class StreamBackend:
    """Samples like the transformers backend: one random stream per call, seeded by the call's seed, so a sample
    depends on the seed and on its place in the call. After ``fail_after`` calls it raises (a killed run)."""

    def __init__(self, fail_after=None):
        self.fail_after, self.calls = fail_after, 0

    def generate(self, requests, settings):
        if self.fail_after is not None and self.calls >= self.fail_after:
            raise KeyboardInterrupt("killed")
        self.calls += 1
        rng = random.Random(settings.seed)
        return [
            Generation(r.id, s, RIGHT.format(gold=rng.randint(0, 99)), 12, "stop")
            for r in requests
            for s in range(settings.n)
        ]


@pytest.fixture
def items():
    from srpo.bench import BENCHMARKS

    return BENCHMARKS["synthetic"].records(limit=12)


def responses(result):
    return [(r["id"], r["sample"], r["response"]) for r in result["records"]]


def test_a_resumed_sampled_evaluation_gives_the_samples_of_an_uninterrupted_one(items, tmp_path):
    sampled = GenerationSettings(max_new_tokens=8, temperature=1.0, n=2, batch_size=4, seed=5)
    kw = dict(settings=sampled, items=items, chunk_size=4)
    whole = evaluate("m", "synthetic", backend=StreamBackend(), cache_path=tmp_path / "a.jsonl", **kw)
    with pytest.raises(KeyboardInterrupt):  # killed after the first of three chunks was cached
        evaluate("m", "synthetic", backend=StreamBackend(fail_after=1), cache_path=tmp_path / "b.jsonl", **kw)
    resumed = evaluate("m", "synthetic", backend=StreamBackend(), cache_path=tmp_path / "b.jsonl", **kw)
    assert responses(whole) == responses(resumed)
    assert len({text for _, _, text in responses(whole)}) > 4, "the chunks sample different streams"


def test_a_partly_cached_chunk_is_sampled_whole_again(items, tmp_path):
    """A chunk with some samples cached (e.g. a run with another chunk size) is regenerated as a whole, so the
    samples it adds are the ones an uninterrupted run would have made."""
    sampled = GenerationSettings(max_new_tokens=8, temperature=1.0, n=1, batch_size=4, seed=2)
    whole = evaluate(
        "m",
        "synthetic",
        settings=sampled,
        items=items[:8],
        chunk_size=8,
        backend=StreamBackend(),
        cache_path=tmp_path / "a.jsonl",
    )
    cache = tmp_path / "b.jsonl"
    evaluate(
        "m", "synthetic", settings=sampled, items=items[:3], chunk_size=8, backend=StreamBackend(), cache_path=cache
    )
    later = evaluate(
        "m", "synthetic", settings=sampled, items=items[:8], chunk_size=8, backend=StreamBackend(), cache_path=cache
    )
    assert responses(later)[3:] == responses(whole)[3:]
