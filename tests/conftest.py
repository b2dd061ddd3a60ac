"""Shared test set-up. Hub access is made impossible for every test: the offline variables are set before
any Hugging Face library is imported, so a stray download fails loudly instead of hanging."""

import os

for _var in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE", "TRANSFORMERS_OFFLINE"):
    os.environ[_var] = "1"
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("WANDB_MODE", "disabled")

import pytest  # noqa: E402


@pytest.fixture(scope="session")
def tiny_model_path() -> str:
    """The random-weight tiny Qwen2.5-VL folder (built once into the cache, ~5 s)."""
    from srpo.tiny import resolve_model

    return resolve_model("tiny://random")


@pytest.fixture
def run_dir(tmp_path):
    """A fresh run directory (absolute, so nothing lands in the repository's runs/)."""
    return tmp_path / "run"
