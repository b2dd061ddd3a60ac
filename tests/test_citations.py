"""Code, recipes, notebooks and scripts cite only what a reader has: the paper, the authors' release, or a file
this repository ships (docs/paper_vs_release.md). Private notes and issue numbers mean nothing to a user."""

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCANNED = ["srpo", "recipes", "notebooks", "slurm", "scripts", "README.md"]
SUFFIXES = {".py", ".yaml", ".yml", ".json", ".ipynb", ".md", ".sh", ".jinja", ".txt", ".cfg", ".toml"}
# the project's private notes and the developers' issue tracker: neither ships with the repository (the
# maintainers' released replies in ../shared/external and the bug-report cases in ../shared/cases are data that
# scripts and tests read when present and skip when absent, not citations)
PRIVATE = re.compile(
    r"SRPO_SPEC|FIDELITY_REVIEW|TINY_LEARNABILITY|STACK_NOTES|VLLM_CPU_NOTES|HOUSE_STYLE_SURVEY|"
    r"SLURM_LOCAL_CLUSTER|shared/reference|\.\./shared(?!/(?:external|cases)\b)|\bissues? #?\d+\b",
    re.IGNORECASE,
)
NOTES_FILE = re.compile(r"\b[A-Z][A-Z0-9_]*\.md\b")  # README.md, DEVELOPERS.md, SOME_NOTES.md
DOCS_FILE = re.compile(r"(?<![\w/])(?:\.\./)*(docs/[\w./-]+?\.md)\b")
# 'docs/paper_vs_release.md, row "Seeds"', 'rows "A", "B" and "C"', 'rows "A" to "B"' (also \"...\" in strings)
ROW_CITATION = re.compile(r'paper_vs_release\.md,? rows?((?:\s*(?:,|and|to)?\s*\\?"[^"\\]+\\?")+)')
ROW_NAME = re.compile(r'\\?"([^"\\]+)\\?"')
PAGE = ROOT / "docs" / "paper_vs_release.md"


def scanned_files() -> list[Path]:
    out = []
    for name in SCANNED:
        path = ROOT / name
        out += [path] if path.is_file() else [p for p in sorted(path.rglob("*")) if p.suffix in SUFFIXES]
    return [p for p in out if p.is_file() and "__pycache__" not in p.parts]


SHIPPED_NOTES = {
    p.name
    for p in ROOT.rglob("*.md")
    if not any(part in (".git", "runs", ".cache") or part.startswith(".venv") for part in p.parts)
}


@pytest.mark.parametrize("path", scanned_files(), ids=lambda p: str(p.relative_to(ROOT)))
def test_cites_only_what_the_repository_ships(path):
    problems = []
    for number, line in enumerate(path.read_text(errors="replace").splitlines(), 1):
        if PRIVATE.search(line):
            problems.append(f"line {number}: private note or issue number: {PRIVATE.search(line).group(0)!r}")
        problems += [
            f"line {number}: {name} is not in the repository"
            for name in NOTES_FILE.findall(line)
            if name not in SHIPPED_NOTES
        ]
        problems += [
            f"line {number}: {doc} does not exist" for doc in DOCS_FILE.findall(line) if not (ROOT / doc).is_file()
        ]
    assert not problems, (
        f"{path.relative_to(ROOT)} cites what users do not have; cite the paper (§, Eq., Table, App.), the "
        "authors' release (repo and file) or docs/paper_vs_release.md instead:\n" + "\n".join(problems)
    )


def page_rows() -> set[str]:
    return set(re.findall(r"^\| \*\*(.+?)\*\* \|", PAGE.read_text(), flags=re.MULTILINE))


def cited_rows(text: str) -> list[str]:
    text = " ".join(text.split())  # a citation may run over two lines
    return [name for group in ROW_CITATION.findall(text) for name in ROW_NAME.findall(group)]


@pytest.mark.parametrize("path", scanned_files(), ids=lambda p: str(p.relative_to(ROOT)))
def test_cited_rows_of_the_page_exist(path):
    text = path.read_text(errors="replace")
    if "paper_vs_release.md" not in text:
        return
    missing = sorted(set(cited_rows(text)) - page_rows())
    assert not missing, f"{path.relative_to(ROOT)} cites rows that docs/paper_vs_release.md does not have: {missing}"


def test_the_check_catches_a_private_citation():
    assert PRIVATE.search("values from SRPO_SPEC §4") and PRIVATE.search("(issue 3)")
    assert NOTES_FILE.findall("see TINY_LEARNABILITY.md §7") == ["TINY_LEARNABILITY.md"]
    assert DOCS_FILE.findall("[x](../docs/paper_vs_release.md)") == ["docs/paper_vs_release.md"]
    assert not PRIVATE.search("paper §3.2, Eq. 4-8; docs/paper_vs_release.md")
    text = 'docs/paper_vs_release.md, rows "Empty answer", "Leading text" and\n    "Tags inside a block"; (docs/paper_vs_release.md, row \\"Seeds\\")'
    assert cited_rows(text) == ["Empty answer", "Leading text", "Tags inside a block", "Seeds"]
    assert {"Reward table", "Seeds", "SFT precision, 32B"} <= page_rows()
