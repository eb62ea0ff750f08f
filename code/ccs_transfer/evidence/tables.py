"""Markdown tables for the evidence pages.

A page displays the returned text with ``IPython.display.Markdown``; MyST-NB
renders it as a table of the page (``nb_render_markdown_format: myst``).
"""

from __future__ import annotations

from typing import Any, Sequence


def _cell(value: Any) -> str:
    text = str(value)
    # A pipe would end the cell and a line break the row.
    return " ".join(text.replace("|", "\\|").split())


def markdown_table(headers: Sequence[str], rows: Sequence[Sequence[Any]], align: Sequence[str] | None = None) -> str:
    """Render a pipe table. ``align`` gives "left", "right" or "center" for each column."""
    if not headers:
        raise ValueError("a table needs at least one column.")
    for number, row in enumerate(rows, start=1):
        if len(row) != len(headers):
            raise ValueError(f"row {number} has {len(row)} cells for {len(headers)} columns.")
    markers = {"left": ":---", "right": "---:", "center": ":---:"}
    align = align or ["left"] * len(headers)
    if len(align) != len(headers) or any(value not in markers for value in align):
        raise ValueError(f"align must give one of {sorted(markers)} per column, got {list(align)}.")
    lines = [
        "| " + " | ".join(_cell(header) for header in headers) + " |",
        "| " + " | ".join(markers[value] for value in align) + " |",
    ]
    lines += ["| " + " | ".join(_cell(value) for value in row) + " |" for row in rows]
    return "\n".join(lines)


def code(text: Any) -> str:
    """Return ``text`` as inline code, for file names and identifiers in a table cell."""
    text = str(text)
    fence = "``" if "`" in text else "`"
    return f"{fence}{text}{fence}" if fence == "`" else f"{fence} {text} {fence}"
