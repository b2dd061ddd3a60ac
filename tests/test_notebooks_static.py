"""House rules for the notebooks, checked without running them, plus ruff over the whole project."""

import ast
import json
import shutil
import subprocess
import sys

import pytest

from srpo.runner import available_notebooks

NOTEBOOKS = available_notebooks()
REQUIRED_PARAMETERS = {"profile", "run_dir", "overrides"}


def cells(nb_path, kind=None):
    nb = json.loads(nb_path.read_text())
    return [c for c in nb["cells"] if kind is None or c["cell_type"] == kind]


def source(cell):
    return "".join(cell["source"])


@pytest.mark.parametrize("nb_path", NOTEBOOKS, ids=lambda p: p.stem)
def test_committed_without_outputs(nb_path):
    for cell in cells(nb_path, "code"):
        assert not cell.get("outputs") and cell.get("execution_count") is None, (
            f"{nb_path.name}: strip outputs (make notebooks-strip)"
        )


@pytest.mark.parametrize("nb_path", NOTEBOOKS, ids=lambda p: p.stem)
def test_thin_notebook_rules(nb_path):
    all_cells = cells(nb_path)
    assert all_cells[0]["cell_type"] == "markdown" and source(all_cells[0]).startswith("# "), (
        "starts with a markdown header"
    )
    tagged = [c for c in all_cells if "parameters" in c.get("metadata", {}).get("tags", [])]
    assert len(tagged) == 1, "exactly one cell tagged 'parameters'"
    tree = ast.parse(source(tagged[0]))
    names = set()
    for node in tree.body:
        assert isinstance(node, ast.Assign | ast.AnnAssign), "the parameters cell holds assignments only"
        value = node.value
        ast.literal_eval(value)  # literals only: papermill does not recompute derived values
        targets = node.targets if isinstance(node, ast.Assign) else [node.target]
        names |= {t.id for t in targets}
    assert names >= REQUIRED_PARAMETERS, f"parameters cell must define {sorted(REQUIRED_PARAMETERS)}"
    for cell in cells(nb_path, "code"):
        code = source(cell)
        for node in ast.walk(ast.parse(code.replace("%", "#"))):
            assert not isinstance(node, ast.FunctionDef | ast.ClassDef | ast.AsyncFunctionDef), (
                f"{nb_path.name}: no def/class in notebooks; put logic in srpo/"
            )
    assert json.loads(nb_path.read_text())["metadata"]["kernelspec"]["name"] == "python3"


def _ruff() -> str:
    return shutil.which("ruff") or str(__import__("pathlib").Path(sys.executable).parent / "ruff")


def test_ruff_is_clean():
    result = subprocess.run(
        [_ruff(), "check", "srpo", "tests", "scripts", "notebooks"], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_ruff_format_owns_the_layout():
    """`ruff format` decides the layout; a `# fmt: skip` must say on its line why that line is kept by hand."""
    result = subprocess.run([_ruff(), "format", "--check", "srpo", "tests", "scripts"], capture_output=True, text=True)
    assert result.returncode == 0, "run `make format`:\n" + result.stdout + result.stderr
    root = __import__("pathlib").Path(__file__).resolve().parents[1]
    bare = [
        f"{path.relative_to(root)}:{i}"
        for folder in ("srpo", "tests", "scripts")
        for path in sorted((root / folder).rglob("*.py"))
        for i, line in enumerate(path.read_text().splitlines(), 1)
        if line.rstrip().endswith("# fmt: skip") and "why:" not in line
    ]
    assert not bare, f"`# fmt: skip` without a `why:` on the line: {bare}"


def test_shell_scripts_pass_shellcheck():
    """Every shell script of the project, as CI's shellcheck sees it (Debian's shellcheck 0.9)."""
    import os
    from pathlib import Path

    shellcheck = shutil.which("shellcheck")
    if shellcheck is None:
        if os.environ.get("SRPO_REQUIRE_SHELLCHECK"):
            pytest.fail(
                "shellcheck is required here (SRPO_REQUIRE_SHELLCHECK) but not installed: apt-get install shellcheck"
            )
        pytest.skip("shellcheck not installed (apt-get install shellcheck; .ci/run installs it)")
    root = Path(__file__).resolve().parents[1]
    scripts = sorted(str(p) for p in [*root.glob("slurm/*.sh"), *root.glob("scripts/*.sh"), root / ".ci" / "run"])
    result = subprocess.run([shellcheck, "--severity=warning", *scripts], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("nb_path", NOTEBOOKS, ids=lambda p: p.stem)
def test_exercises_say_what_to_expect_with_a_collapsed_answer_and_a_summary(nb_path):
    all_cells = cells(nb_path)
    titles = [source(c).splitlines()[0] if source(c) else "" for c in all_cells]
    assert titles[-1] == "## Summary", f"{nb_path.name}: end with a '## Summary' markdown cell"
    try_at = titles.index("## Try this")
    assert "*Expect" in source(all_cells[try_at]), f"{nb_path.name}: each exercise says what to expect"
    answer = all_cells[try_at + 1]
    assert answer["cell_type"] == "markdown" and source(answer).startswith("**Answers"), nb_path.name
    assert answer["metadata"].get("jupyter", {}).get("source_hidden") is True, "the answer cell starts collapsed"


def test_notebook_04_renders_the_reward_and_the_grpo_objective():
    markdown = "\n".join(source(c) for c in cells(NOTEBOOKS[3], "markdown"))
    for number in range(4, 9):
        assert f"\\text{{(Eq. {number})}}" in markdown, f"Eq. {number} is not rendered in notebook 04"
    assert "\\operatorname{clip}" in markdown and "\\operatorname{std}" in markdown, "GRPO's objective and advantage"
    code = "\n".join(source(c) for c in cells(NOTEBOOKS[3], "code"))
    assert "playground.show(" in code and "rewards.EFFECTIVENESS_REWARD" in code


def test_executed_notebook_is_written_as_html_beside_it(tmp_path):
    """``make main`` (srpo.runner) writes each executed notebook as HTML: outputs and equations included."""
    import nbformat

    from srpo.runner import write_html

    nb = nbformat.v4.new_notebook(
        cells=[nbformat.v4.new_markdown_cell("# 04\n$$f_{len} = 1$$"), nbformat.v4.new_code_cell("1 + 1")]
    )
    nb.cells[1].outputs = [nbformat.v4.new_output("execute_result", {"text/plain": "2"}, execution_count=1)]
    executed = tmp_path / "04_grpo_rl.ipynb"
    nbformat.write(nb, executed)
    html = write_html(executed)
    assert html == tmp_path / "04_grpo_rl.html"
    text = html.read_text()
    assert "f_{len} = 1" in text and ">2</pre>" in text
