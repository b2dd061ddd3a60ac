"""The machine's speed as one number: the seconds of a fixed reference computation, printed beside run times.

A run's minutes depend on the machine more than on anything in the recipes (two "2-core" machines of one kind can
differ by 2x). ``reference_seconds`` times a fixed piece of work shaped like the tiny profile's (small matmuls in
a transformer layer, forward and backward, with Python overhead per step) on one thread, so a reader can scale the
README's times: a machine whose figure is twice the README's should take about twice as long.
"""

from __future__ import annotations

import time

STEPS = 60


def reference_seconds(steps: int = STEPS) -> float:
    """Seconds for ``steps`` forward+backward passes of one fixed transformer layer (d 64, 4 heads, batch 16 x
    128 tokens, float32) on one CPU thread; the thread count is restored afterwards. Best of two runs."""
    import torch

    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        generator = torch.Generator().manual_seed(0)
        layer = torch.nn.TransformerEncoderLayer(64, 4, dim_feedforward=256, batch_first=True)
        x = torch.randn(16, 128, 64, generator=generator)
        best = float("inf")
        for _ in range(2):
            start = time.perf_counter()
            for _ in range(steps):
                layer(x).square().mean().backward()
            best = min(best, time.perf_counter() - start)
        return round(best, 2)
    finally:
        torch.set_num_threads(previous)
