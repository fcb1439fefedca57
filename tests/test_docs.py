"""The user docs stay true to the plugin: links resolve, and the README's
options table lists every option and ini setting that ``pytest --help``
shows (and nothing it does not)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
DOCS = [REPO / "README.md", REPO / "CONTRIBUTING.md", *sorted((REPO / "docs").glob("*.md"))]

#: ``[text](target)`` outside code spans; images included.
_LINK = re.compile(r"\]\(([^)\s]+)\)")
_FENCE = re.compile(r"^```.*?^```", re.S | re.M)
_CODE_SPAN = re.compile(r"`[^`\n]*`")


def _prose(text: str) -> str:
    return _CODE_SPAN.sub("", _FENCE.sub("", text))


def slug(heading: str) -> str:
    """GitHub's anchor for a Markdown heading: lower case, punctuation other
    than ``-`` and ``_`` dropped, each space a ``-``."""
    text = heading.strip().lower()
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def anchors(path: Path) -> set[str]:
    text = _FENCE.sub("", path.read_text(encoding="utf-8"))
    return {slug(m.group(1)) for m in re.finditer(r"^#{1,6} (.+)$", text, re.M)}


def test_slug_follows_github() -> None:
    assert slug("Several machines: shards and `--exp-merge`") == (
        "several-machines-shards-and---exp-merge"
    )
    assert slug("When does a case regress?") == "when-does-a-case-regress"
    assert slug("Figures (2026-12-07, 2-core machine)") == "figures-2026-12-07-2-core-machine"


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: str(p.relative_to(REPO)))
def test_every_relative_link_resolves(doc: Path) -> None:
    broken = []
    for target in _LINK.findall(_prose(doc.read_text(encoding="utf-8"))):
        if re.match(r"[a-z]+:", target):
            continue  # an absolute URL
        file, _, anchor = target.partition("#")
        path = (doc.parent / file).resolve() if file else doc
        if not path.exists():
            broken.append(f"{target}: no file {path.relative_to(REPO)}")
        elif anchor and path.suffix == ".md" and anchor not in anchors(path):
            broken.append(f"{target}: no heading #{anchor} in {path.relative_to(REPO)}")
    assert not broken, f"{doc.name}: " + "; ".join(broken)


def _help_names(pytester: pytest.Pytester) -> tuple[set[str], set[str]]:
    result = pytester.runpytest("--help")
    text = result.stdout.str()
    options = set(re.findall(r"^\s+(--exp-[a-z-]+)", text, re.M))
    inis = set(re.findall(r"^\s+(experiments?_[a-z_]+) \(", text, re.M))
    return options, inis


def test_readme_options_table_matches_the_help(pytester: pytest.Pytester) -> None:
    options, inis = _help_names(pytester)
    assert "--exp-report" in options and "experiments_alpha" in inis  # the parse works
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Options and ini settings", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("|")]
    table_options = {o for row in rows for o in re.findall(r"`(--exp-[a-z-]+)", row.split("|")[1])}
    table_inis = {
        i for row in rows for i in re.findall(r"`(experiments?_[a-z_]+)`", row.split("|")[2])
    }
    assert len(rows) > 10  # the table was found
    assert table_options == options, (
        f"missing from the README: {sorted(options - table_options)}; "
        f"not an option: {sorted(table_options - options)}"
    )
    assert table_inis == inis, (
        f"missing from the README: {sorted(inis - table_inis)}; "
        f"not an ini setting: {sorted(table_inis - inis)}"
    )


def test_readme_contents_list_every_section() -> None:
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    body = _FENCE.sub("", readme)
    sections = re.findall(r"^(##|###) (.+)$", body, re.M)
    contents = set(re.findall(r"\]\(#([^)]+)\)", readme.split("\n## ", 1)[0]))
    missing = [title for level, title in sections if slug(title) not in contents]
    assert not missing, f"sections missing from the README's contents: {missing}"
