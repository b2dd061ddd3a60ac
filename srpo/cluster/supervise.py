"""GRPO in vLLM server mode (32B): start ``trl vllm-serve`` on the server node, wait until it
answers, train on the other nodes, then stop the server.

``python -m srpo.cluster.supervise <stage>/launch_plan.json`` (written by ``srpo.cluster.stage_command``).
The server's output goes to ``<stage>/logs/vllm_serve.log``; the training output to our stdout (the stage
log). If the server dies first, training is stopped and the exit code says so.
"""

from __future__ import annotations

import json
import logging
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from srpo.cluster.plan import shell_text

log = logging.getLogger(__package__)

SERVER_START_TIMEOUT_S = 1800  # loading 32B weights from a network file system can take many minutes


class ServerFailed(RuntimeError):
    """The vLLM server exited, or did not answer in time."""


def wait_for_health(
    url: str, timeout_s: float, interval_s: float = 2.0, server: subprocess.Popen | None = None
) -> float:
    """Poll ``url`` until it answers 200; raise ``ServerFailed`` if ``server`` (when given) exits or time
    runs out. Returns the seconds waited."""
    start = time.time()
    while True:
        if server is not None and server.poll() is not None:
            raise ServerFailed(f"the vLLM server exited with code {server.returncode} before answering {url}")
        try:
            with urllib.request.urlopen(url, timeout=5) as response:
                if response.status == 200:
                    return time.time() - start
        except (urllib.error.URLError, ConnectionError, TimeoutError, OSError):
            pass
        if time.time() - start > timeout_s:
            raise ServerFailed(f"the vLLM server did not answer {url} within {timeout_s:.0f}s")
        time.sleep(interval_s)


def stop(proc: subprocess.Popen, grace_s: float = 30) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=grace_s)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def run(plan: dict, server_log: Path, timeout_s: float = SERVER_START_TIMEOUT_S) -> int:
    """Server up, training, server down. Returns the training exit code (1 if the server failed)."""
    server_log.parent.mkdir(parents=True, exist_ok=True)
    url = plan["health_url"]
    log.info(f"starting the vLLM server on {','.join(plan['plan']['server_nodes'])}; log: {server_log}")
    with open(server_log, "a") as out:
        out.write(f"\n$ {shell_text(plan['server'])}\n")
        out.flush()
        server = subprocess.Popen(plan["server"], stdout=out, stderr=subprocess.STDOUT)
        try:
            waited = wait_for_health(url, timeout_s, server=server)
            log.info(f"vLLM server answered {url} after {waited:.0f}s; training:\n$ {shell_text(plan['train'])}")
            train = subprocess.Popen(plan["train"])
            while train.poll() is None:
                if server.poll() is not None:
                    stop(train)
                    raise ServerFailed(f"the vLLM server exited with code {server.returncode} during training")
                time.sleep(1)
            return train.returncode
        except ServerFailed as exc:
            log.error(f"{exc}; see {server_log}")
            return 1
        finally:
            stop(server)


def main(argv: list[str] | None = None) -> None:
    argv = list(sys.argv[1:] if argv is None else argv)
    if len(argv) != 1:
        raise SystemExit("usage: python -m srpo.cluster.supervise <stage>/launch_plan.json")
    plan_path = Path(argv[0])
    plan = json.loads(plan_path.read_text())
    sys.exit(run(plan, plan_path.parent / "logs" / "vllm_serve.log"))


if __name__ == "__main__":
    main()
