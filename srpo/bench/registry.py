"""The benchmark registry and ``name:split`` specs."""

from __future__ import annotations

from srpo.bench import mathverse, mathvision, mathvista, mmmu_pro, sevenseg
from srpo.bench.base import Benchmark, BenchmarkError

BENCHMARKS: dict[str, Benchmark] = {
    m.BENCHMARK.name: m.BENCHMARK for m in (mathvista, mathverse, mathvision, mmmu_pro, sevenseg)
}


def get_benchmark(name: str) -> Benchmark:
    try:
        return BENCHMARKS[name]
    except KeyError:
        raise BenchmarkError(f"unknown benchmark {name!r}; benchmarks: {sorted(BENCHMARKS)}") from None


def resolve(spec) -> tuple[Benchmark, str]:
    """``"mathvision:testmini"`` -> (benchmark, split); a bare name takes the benchmark's first default split."""
    if isinstance(spec, Benchmark):
        return spec, spec.default_splits[0]
    name, _, split = str(spec).partition(":")
    bench = get_benchmark(name.strip())
    return bench, bench.split_name(split.strip() or None)


def expand(specs) -> list[tuple[Benchmark, str]]:
    """Each spec as (benchmark, split); a bare name expands to every split the paper reports."""
    out = []
    for spec in specs:
        name, sep, _ = str(spec).partition(":")
        if sep:
            pair = resolve(spec)
            out.append(pair)
        else:
            bench = get_benchmark(name.strip())
            out.extend((bench, s) for s in bench.default_splits)
    seen, unique = set(), []
    for bench, split in out:
        if (bench.name, split) not in seen:
            seen.add((bench.name, split))
            unique.append((bench, split))
    return unique


def label(bench: Benchmark, split: str) -> str:
    return f"{bench.name}:{split}"
