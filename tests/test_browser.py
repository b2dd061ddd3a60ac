"""Notebook 04's reward playground in a real browser: JupyterLab on loopback, Debian's Chromium driven by selenium.

The test opens the opening of notebook 04 (everything before training: the equations, the hand-made completions,
the playground and the f_len plot) in JupyterLab, runs it in a live kernel, moves the L slider and ticks a checkbox,
and checks that the playground's table answers each change. Screenshots go to ``runs/tests/browser/``.

Needs ``/usr/bin/chromium`` and ``/usr/bin/chromedriver`` (Debian's ``chromium`` and ``chromium-driver``; ``.ci/run``
installs them) and selenium (pinned in requirements/cpu.txt); selenium drives the system chromedriver and downloads
nothing. Without them the test skips, unless ``SRPO_REQUIRE_BROWSER=1`` (set by ``.ci/run``) makes that a failure.
"""

import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from srpo import paths

CHROMIUM, CHROMEDRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"
NOTEBOOK = "04_grpo_rl.ipynb"
SCREENSHOTS = paths.project_root() / "runs" / "tests" / "browser"

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.timeout(420)]


def _require_browser():
    missing = [p for p in (CHROMIUM, CHROMEDRIVER) if not Path(p).exists()]
    try:
        import selenium  # noqa: F401
    except ImportError:
        missing.append("the selenium package")
    if missing:
        message = f"browser test needs {', '.join(missing)} (apt-get install chromium chromium-driver; pip selenium)"
        if os.environ.get("SRPO_REQUIRE_BROWSER") == "1":
            pytest.fail(message)
        pytest.skip(message)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _playground_notebook(target: Path) -> Path:
    """Notebook 04 up to (not including) its training cell: no stage runs, every cell still comes from 04."""
    nb = json.loads((paths.project_root() / "notebooks" / NOTEBOOK).read_text())
    cut = next(
        i for i, c in enumerate(nb["cells"]) if "run_stage(" in "".join(c["source"]) and c["cell_type"] == "code"
    )
    nb["cells"] = nb["cells"][: cut - 1]  # drop the "## Train" header too
    path = target / NOTEBOOK
    path.write_text(json.dumps(nb))
    return path


@pytest.fixture
def jupyterlab(tmp_path):
    _require_browser()
    root = tmp_path / "lab"
    root.mkdir()
    _playground_notebook(root)
    port, token = _free_port(), secrets.token_hex(16)
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(paths.project_root()), os.environ.get("PYTHONPATH", "")]),
        "JUPYTERLAB_SETTINGS_DIR": str(tmp_path / "settings"),
        "JUPYTERLAB_WORKSPACES_DIR": str(tmp_path / "ws"),
        "JUPYTER_RUNTIME_DIR": str(tmp_path / "runtime"),
        "SRPO_PROGRESS": "",
    }
    log = open(tmp_path / "jupyterlab.log", "w")  # noqa: SIM115 (closed by the fixture)
    cmd = [
        sys.executable,
        "-m",
        "jupyterlab",
        "--no-browser",
        "--ServerApp.ip=127.0.0.1",
        f"--ServerApp.port={port}",
        f"--IdentityProvider.token={token}",
        f"--ServerApp.root_dir={root}",
        "--LabApp.expose_app_in_browser=True",
        "--LabApp.news_url=",
        "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
        "--ServerApp.port_retries=0",
        "--allow-root",
        "--ServerApp.terminals_enabled=False",
        "--LabApp.extension_manager=readonly",
    ]
    proc = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT, cwd=root)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.time() + 90
        while True:
            try:
                urllib.request.urlopen(f"{url}/api/status?token={token}", timeout=2)
                break
            except OSError:
                if proc.poll() is not None or time.time() > deadline:
                    raise RuntimeError(
                        f"JupyterLab did not start: {(tmp_path / 'jupyterlab.log').read_text()}"
                    ) from None
                time.sleep(0.5)
        yield f"{url}/lab/tree/{NOTEBOOK}?token={token}"
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


@pytest.fixture
def browser(tmp_path):
    _require_browser()
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={tmp_path / 'chromium'}",
        "--window-size=1400,1000",
    ):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    try:
        yield driver
    finally:
        driver.quit()


def _playground_text(driver) -> str:
    return driver.find_element("css selector", ".srpo-playground-out").text


def _wait(driver, predicate, what: str, timeout: float = 120):
    from selenium.webdriver.support.ui import WebDriverWait

    try:
        return WebDriverWait(driver, timeout, poll_frequency=0.5).until(lambda d: predicate(d))
    except Exception as err:
        driver.save_screenshot(str(SCREENSHOTS / "failure.png"))
        raise AssertionError(
            f"browser test: timed out waiting for {what} (screenshot {SCREENSHOTS}/failure.png)"
        ) from err


def _term(text: str, name: str) -> float:
    for line in text.splitlines():
        parts = line.split()
        if parts and parts[0] == name:
            return float(parts[-1])
    raise AssertionError(f"no row {name!r} in the playground output:\n{text}")


def test_playground_answers_widgets_in_jupyterlab(jupyterlab, browser):
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By

    shutil.rmtree(SCREENSHOTS, ignore_errors=True)
    SCREENSHOTS.mkdir(parents=True)
    start = time.time()
    browser.get(jupyterlab)
    _wait(
        browser,
        lambda d: d.execute_script("return !!(window.jupyterapp && document.querySelector('.jp-Notebook'))"),
        "JupyterLab to open the notebook",
    )
    _wait(
        browser,
        lambda d: d.execute_script(
            "const w = window.jupyterapp.shell.currentWidget;"
            "return !!(w && w.sessionContext && w.sessionContext.session && w.sessionContext.session.kernel"
            " && w.sessionContext.session.kernel.status === 'idle');"
        ),
        "the kernel to start",
    )
    browser.execute_script("window.jupyterapp.commands.execute('notebook:run-all-cells');")
    _wait(browser, lambda d: d.find_elements(By.CSS_SELECTOR, ".srpo-playground-out table"), "the playground widget")
    browser.execute_script("document.querySelector('mjx-container').scrollIntoView({block: 'start'});")
    browser.save_screenshot(str(SCREENSHOTS / "0_equations.png"))
    browser.execute_script("document.querySelector('.srpo-playground-out').scrollIntoView({block: 'center'});")
    # the equations are typeset (MathJax renders Eq. 7 and the GRPO objective)
    assert browser.find_elements(By.CSS_SELECTOR, "mjx-container"), "no rendered equation in the notebook"
    errors = [e.text for e in browser.find_elements(By.CSS_SELECTOR, "mjx-merror")]
    assert not errors, f"equations that MathJax could not typeset: {errors}"
    browser.save_screenshot(str(SCREENSHOTS / "1_playground.png"))
    initial = _playground_text(browser)
    assert _term(initial, "length") == pytest.approx(0.1) and _term(initial, "effectiveness") == pytest.approx(0.5)

    handle = browser.find_element(By.CSS_SELECTOR, ".srpo-L .noUi-handle")
    ActionChains(browser).click_and_hold(handle).move_by_offset(25, 0).release().perform()
    _wait(browser, lambda d: _playground_text(d) != initial, "the playground to answer the L slider", timeout=30)
    moved = _playground_text(browser)
    assert _term(moved, "length") < 0.1, moved  # L moved away from 2S: f_len < 1
    browser.save_screenshot(str(SCREENSHOTS / "2_slider_moved.png"))

    browser.find_element(By.CSS_SELECTOR, ".srpo-first_correct input").click()  # first answer now right
    _wait(browser, lambda d: _term(_playground_text(d), "accuracy") == 0.5, "the accuracy term to follow the checkbox")
    ticked = _playground_text(browser)
    assert _term(ticked, "effectiveness") == pytest.approx(0.25), ticked  # right stays right: +0.25 (Eq. 8)
    browser.save_screenshot(str(SCREENSHOTS / "3_first_answer_right.png"))
    print(f"browser test: {time.time() - start:.0f}s in the browser; screenshots in {SCREENSHOTS}")
