"""Execute the numbered notebooks headless with papermill into the run directory (the main job).

``python -m srpo run --profile tiny-cpu --run-name main`` runs ``notebooks/01_*.ipynb`` … ``06_*.ipynb`` in
order, each with the parameters ``profile``, ``run_dir`` and ``overrides``, and writes the executed copies
to ``runs/<profile>/<run_name>/notebooks/``. An executed notebook is the report of its stage.
"""

from __future__ import annotations

import json
import logging
import os
import re
import time
from pathlib import Path

from srpo import paths, progress
from srpo.stages import NOTEBOOK_TO_STAGE

log = logging.getLogger(__package__)


def notebooks_dir() -> Path:
    return paths.project_root() / "notebooks"


def available_notebooks() -> list[Path]:
    return sorted(p for p in notebooks_dir().glob("[0-9][0-9]_*.ipynb"))


def select_notebooks(stages: str = "01-06") -> list[Path]:
    """``"01-06"``, ``"03,04"``, ``"4"`` or ``"all"`` -> the notebooks that exist, in order."""
    wanted: set[int] = set()
    for part in stages.replace(" ", "").split(","):
        if part in ("", "all"):
            wanted |= set(range(1, 100))
        elif re.fullmatch(r"\d+-\d+", part):
            lo, hi = map(int, part.split("-"))
            wanted |= set(range(lo, hi + 1))
        elif part.isdigit():
            wanted.add(int(part))
        else:
            raise ValueError(f"cannot read stage selection {stages!r}: use e.g. 01-06, 03,04 or all")
    return [p for p in available_notebooks() if int(p.name[:2]) in wanted]


def run_notebooks(
    profile: str = "tiny-cpu",
    run_name: str = "main",
    stages: str = "01-06",
    overrides: dict | None = None,
    resume: bool = False,
    kernel: str = "python3",
) -> dict:
    """Run the selected notebooks in order; stop at the first failure (papermill raises)."""
    import papermill as pm

    selected = select_notebooks(stages)  # a bad selection or profile fails before anything is written
    if not selected:
        raise FileNotFoundError(f"no notebooks match {stages!r} in {notebooks_dir()}")
    from srpo.config import recipe_path, recipes_dir

    if recipes_dir().is_dir():  # an unknown profile: ConfigError naming the known ones
        recipe_path(profile, NOTEBOOK_TO_STAGE[selected[0].stem])
    os.environ.setdefault(progress.ENV, "lines")  # the executed notebook and its HTML keep concise progress lines
    run_dir = paths.default_run_dir(profile, run_name)
    out_dir = run_dir / "notebooks"
    out_dir.mkdir(parents=True, exist_ok=True)
    timings_file = run_dir / "run_timings.json"
    earlier = json.loads(timings_file.read_text()) if timings_file.exists() else {}
    timings: dict[str, float] = dict(earlier.get("seconds", {}))  # stages skipped on --resume keep their time
    from srpo.speed import reference_seconds

    speed = reference_seconds()
    log.info(f"machine speed: the reference computation took {speed:.2f} s (srpo.speed; scale the times by it)")
    for nb in selected:
        stage = NOTEBOOK_TO_STAGE.get(nb.stem)
        executed = out_dir / nb.name
        if resume and stage and paths.is_done(run_dir, stage) and executed.exists():
            log.info(f"{nb.stem}: finished earlier, skipped (run without --resume to re-run it)")
            continue
        log.info(f"{nb.stem}: running -> {executed}")
        start = time.time()
        # papermill writes as it goes: run into a new file and swap it in only on success, so a failed re-run
        # (a bad override, a crash) leaves the finished stage's report as it was; the failed one stays beside it
        running = executed.with_suffix(".running.ipynb")
        try:
            pm.execute_notebook(
                str(nb),
                str(running),
                cwd=str(notebooks_dir()),
                kernel_name=kernel,
                log_output=True,
                progress_bar=False,
                parameters={
                    "profile": profile,
                    "run_dir": str(run_dir),
                    "overrides": (overrides or {}).get(stage, ""),
                },
            )
        except BaseException:
            if running.exists():
                running.replace(executed.with_suffix(".failed.ipynb"))
            log.info(f"{nb.stem}: failed; its report: {executed.with_suffix('.failed.ipynb')}")
            raise
        running.replace(executed)
        executed.with_suffix(".failed.ipynb").unlink(missing_ok=True)
        timings[nb.stem] = round(time.time() - start, 1)
        write_html(executed)
        log.info(f"{nb.stem}: done in {timings[nb.stem]:.0f}s")
    record = {
        "profile": profile,
        "run_dir": str(run_dir),
        "seconds": timings,
        "total_seconds": sum(timings.values()),
        "reference_seconds": speed,
        "threads_note": "each stage prints its thread settings in its log",
    }
    timings_file.write_text(json.dumps(record, indent=1))
    return record


def check_run(run_dir, stages: str = "01-06") -> list[str]:
    """What is wrong with a finished main job (empty when nothing): each selected notebook executed into
    ``<run_dir>/notebooks/`` with its HTML beside it, no cell that raised, each stage's summary, and stage 06's
    report. ``python -m srpo check`` prints the list and exits non-zero when it is not empty (CI runs it)."""
    import nbformat

    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        return [f"{run_dir}: no such run directory (run `make main`, or give --run-dir / --run-name)"]
    problems = []
    for nb in select_notebooks(stages):
        executed = run_dir / "notebooks" / nb.name
        if not executed.exists():
            problems.append(f"{executed}: missing (the notebook did not run)")
            continue
        if not executed.with_suffix(".html").exists():
            problems.append(f"{executed.with_suffix('.html')}: missing")
        for i, cell in enumerate(nbformat.read(executed, as_version=4).cells):
            errors = [o for o in cell.get("outputs", []) if o.get("output_type") == "error"]
            if errors or cell.get("execution_count") is None and cell.cell_type == "code":
                what = errors[0].get("ename", "error") if errors else "not executed"
                problems.append(f"{executed.name}: cell {i} {what}")
        stage = NOTEBOOK_TO_STAGE.get(nb.stem)
        if stage and not paths.is_done(run_dir, stage):
            problems.append(f"{stage}: no finished summary in {paths.stage_dir(run_dir, stage)}")
    if "06_ablations" in {nb.stem for nb in select_notebooks(stages)}:
        report = paths.stage_dir(run_dir, "ablations") / "report.md"
        if not report.exists() or "## 2. Ablations" not in report.read_text():
            problems.append(f"{report}: missing or without its ablation table")
    return problems


def write_html(executed: Path) -> Path:
    """The executed notebook as HTML beside it (``01_data_curation.html``), readable without Jupyter."""
    from nbconvert import HTMLExporter

    body, _ = HTMLExporter().from_filename(str(executed))
    html = executed.with_suffix(".html")
    html.write_text(body, encoding="utf-8")
    return html


def strip_notebook(path: Path) -> bool:
    """Remove outputs and execution counts in place; True if the file changed."""
    import nbformat

    nb = nbformat.read(path, as_version=4)
    before = nbformat.writes(nb)
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
        cell.metadata.pop("execution", None)
        cell.metadata.pop("papermill", None)
    nb.metadata.pop("papermill", None)
    after = nbformat.writes(nb)
    if after != before:
        path.write_text(after)
    return after != before
