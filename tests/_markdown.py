"""A strict reader of the plugin's Markdown tables, shared by the report tests.

Every helper asserts well-formedness as it reads: a cell with a raw special
character, a row with the wrong number of cells or an unclosed code block
fails the test that produced it.
"""

from __future__ import annotations

import re
import string
from dataclasses import dataclass

# Characters that must never stand unescaped in a table cell.
SPECIAL = set("|`*_[]<>~#$")
ENTITIES = {"&lt;": "<", "&gt;": ">", "&amp;": "&"}
SEPARATOR = re.compile(r"^\|( *:?-{3,}:? *\|)+$")
FENCE = re.compile(r"^(`{3,})")
BREAK = " ⏎ "


def split_row(line: str) -> list[str]:
    """Cells of a GitHub table row: split on ``|`` not preceded by a backslash."""
    assert line.startswith("|") and line.endswith("|"), line
    cells: list[str] = []
    current: list[str] = []
    i = 0
    while i < len(line):
        if line[i] == "\\" and i + 1 < len(line):
            current.append(line[i : i + 2])
            i += 2
            continue
        if line[i] == "|":
            cells.append("".join(current))
            current = []
        else:
            current.append(line[i])
        i += 1
    cells.append("".join(current))
    # A row "| a | b |" splits into ['', ' a ', ' b ', ''].
    assert cells[0] == "" and cells[-1] == "", line
    return [cell.strip() for cell in cells[1:-1]]


def unescape(cell: str) -> str:
    """The text a cell shows; fails on any Markdown/HTML character left raw."""
    out: list[str] = []
    i = 0
    while i < len(cell):
        ch = cell[i]
        if ch == "\\":
            assert i + 1 < len(cell), f"dangling backslash in {cell!r}"
            nxt = cell[i + 1]
            assert nxt in string.punctuation, f"bad escape \\{nxt} in {cell!r}"
            out.append(nxt)
            i += 2
            continue
        if ch == "&":
            entity = next((e for e in ENTITIES if cell.startswith(e, i)), None)
            assert entity is not None, f"raw & in {cell!r}"
            out.append(ENTITIES[entity])
            i += len(entity)
            continue
        assert ch not in SPECIAL, f"unescaped {ch!r} in {cell!r}"
        assert ch not in "\n\r", f"line break in {cell!r}"
        out.append(ch)
        i += 1
    return "".join(out)


def cell_value(cell: str) -> tuple[bool, str]:
    """(is bold, shown text) of a cell."""
    if cell.startswith("**") and cell.endswith("**") and len(cell) > 4:
        return True, unescape(cell[2:-2])
    return False, unescape(cell)


@dataclass
class Table:
    heading: str  # the nearest "## " heading above, as written (escaped)
    header: list[str]  # unescaped
    rows: list[list[str]]  # raw cells
    # The nearest "### " heading above within that "## " section, as written ("" if none).
    subheading: str = ""

    @property
    def title(self) -> str:
        """The heading as it reads."""
        return unescape(self.heading)

    def column(self, name: str) -> list[str]:
        index = self.header.index(name)
        return [row[index] for row in self.rows]

    def row(self, case: str) -> dict[str, str]:
        for row in self.rows:
            if unescape(row[0]) == case:
                return dict(zip(self.header, row, strict=True))
        raise KeyError(case)

    def records(self) -> dict[str, dict[str, str]]:
        """Rows by their (unescaped) case label, as column -> raw cell."""
        out = {unescape(row[0]): dict(zip(self.header, row, strict=True)) for row in self.rows}
        assert len(out) == len(self.rows), "case labels must be unique"
        return out


def outside_code(markdown: str) -> str:
    """*markdown* without its fenced code blocks."""
    kept: list[str] = []
    fence: str | None = None
    for line in markdown.split("\n"):
        match = FENCE.match(line)
        if fence is None and match:
            fence = match.group(1)
        elif fence is not None and line == fence:
            fence = None
        elif fence is None:
            kept.append(line)
    assert fence is None, "unclosed code block"
    return "\n".join(kept)


def parse_tables(markdown: str) -> list[Table]:
    """Every table of *markdown* outside code blocks, each checked to be well formed."""
    lines = outside_code(markdown).split("\n")
    tables: list[Table] = []
    heading = ""
    subheading = ""
    i = 0
    while i < len(lines):
        if lines[i].startswith("## "):
            heading, subheading = lines[i][3:], ""
        elif lines[i].startswith("### "):
            subheading = lines[i][4:]
        if not lines[i].startswith("|"):
            i += 1
            continue
        assert i > 0 and lines[i - 1] == "", "a table needs a blank line before it"
        header = [unescape(cell) for cell in split_row(lines[i])]
        assert SEPARATOR.match(lines[i + 1]), lines[i + 1]
        assert len(split_row(lines[i + 1])) == len(header)
        rows: list[list[str]] = []
        i += 2
        while i < len(lines) and lines[i].startswith("|"):
            cells = split_row(lines[i])
            assert len(cells) == len(header), (lines[i], header)
            rows.append(cells)
            i += 1
        assert i == len(lines) or lines[i] == "", "a table needs a blank line after it"
        tables.append(Table(heading, header, rows, subheading))
    return tables
