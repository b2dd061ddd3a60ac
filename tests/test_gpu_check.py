"""scripts/gpu_check.py on CPU with its tiny config: the SFT step and the GRPO step (transformers generation)
run and report their numbers; on a GPU the same script builds the 7B architecture."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_gpu_check_runs_with_a_tiny_config(tmp_path):
    out = tmp_path / "gpu_check.json"
    done = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "gpu_check.py"), "--tiny", "--json", str(out)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(out.read_text())
    sft, grpo = report["results"][:2]
    assert sft["step"] == "SFT" and sft["tokens"] > 16 and sft["loss"] > 0 and sft["seconds"] > 0
    assert grpo["generated_tokens"] == 8 * 8 and grpo["tokens_per_s"] > 0  # 2 prompts x 4 completions x 8 tokens
    assert "vLLM step skipped" in done.stdout


def test_gpu_check_refuses_to_run_the_7b_model_on_cpu():
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    done = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "gpu_check.py")], capture_output=True, text=True, timeout=300
    )
    assert done.returncode != 0 and "--tiny" in done.stderr
