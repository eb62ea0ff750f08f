"""The book paraphrases the forum thread: no run of more than eight words may be copied from it.

The thread's text is not part of the repository. The check of the book runs
when a copy sits at ``../shared/source/forum-thread.txt`` next to the
repository and is skipped otherwise. The checker itself is always tested on a
small fixture.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
THREAD_COPY = REPO.parent / "shared" / "source" / "forum-thread.txt"
MAX_SHARED_WORDS = 8

FRONT_MATTER = re.compile(r"\A---\n.*?\n---\n", re.DOTALL)
# Web addresses are identifiers, not prose: the thread's own address spells its title.
WEB_ADDRESS = re.compile(r"https?://[^\s<>()\[\]`]+")
CODE_CELL = re.compile(r"^(?P<fence>`{3,}|~{3,})\{code-cell\}.*?^(?P=fence)\s*$", re.DOTALL | re.MULTILINE)


def normalise_words(text: str) -> list[str]:
    """Return the words of ``text`` in lowercase, with punctuation, quotes and markup symbols dropped."""
    return re.findall(r"[^\W_]+", text.lower())


def strip_code_cells(markdown: str) -> str:
    """Remove the front matter, every ``{code-cell}`` block and every web address from a MyST page."""
    return WEB_ADDRESS.sub(" ", CODE_CELL.sub("", FRONT_MATTER.sub("", markdown)))


def shared_runs(text: str, source: str, max_words: int = MAX_SHARED_WORDS) -> list[str]:
    """Return each run of more than ``max_words`` consecutive words of ``text`` that also occurs in ``source``.

    Both texts are compared after :func:`normalise_words`. Overlapping windows
    are merged, so a copied sentence is reported once, as its longest run.
    """
    window = max_words + 1
    source_words = normalise_words(source)
    source_windows = {tuple(source_words[i : i + window]) for i in range(len(source_words) - window + 1)}
    words = normalise_words(text)
    runs = []
    start = 0
    while start <= len(words) - window:
        if tuple(words[start : start + window]) not in source_windows:
            start += 1
            continue
        end = start + window
        while end < len(words) and tuple(words[end - window + 1 : end + 1]) in source_windows:
            end += 1
        runs.append(" ".join(words[start:end]))
        start = end
    return runs


SOURCE = "The Quick brown fox jumps over the lazy dog, near the river bank, early today."


def test_checker_finds_nine_copied_words():
    text = "Intro words. the quick brown fox jumps over the lazy dog near. More words."
    assert shared_runs(text, SOURCE) == ["the quick brown fox jumps over the lazy dog near"]


def test_checker_allows_eight_words():
    text = "Intro: quick brown fox jumps over the lazy dog; then something else entirely."
    assert shared_runs(text, SOURCE) == []


def test_checker_ignores_case_and_punctuation():
    text = "“Quick—brown fox” JUMPS over (the) lazy dog, near the RIVER."
    assert shared_runs(text, SOURCE) == ["quick brown fox jumps over the lazy dog near the river"]


def test_checker_reports_separate_runs():
    text = "quick brown fox jumps over the lazy dog near | unrelated | over the lazy dog near the river bank early today"
    assert shared_runs(text, SOURCE) == [
        "quick brown fox jumps over the lazy dog near",
        "over the lazy dog near the river bank early today",
    ]


def test_web_addresses_are_removed():
    page = "See <https://example.org/the-quick-brown-fox-jumps-over-the-lazy-dog-near-the-river> for more."
    assert shared_runs(strip_code_cells(page), SOURCE) == []
    assert shared_runs(page, SOURCE) != []


def test_code_cells_are_removed():
    page = (
        "---\njupytext: x\n---\n# Title\n\nProse.\n\n"
        "```{code-cell} ipython3\nthe quick brown fox jumps over the lazy dog near the river\n```\n\nMore prose.\n"
    )
    stripped = strip_code_cells(page)
    assert "quick brown fox" not in stripped
    assert "Prose." in stripped
    assert "More prose." in stripped
    assert shared_runs(stripped, SOURCE) == []


@pytest.mark.skipif(not THREAD_COPY.is_file(), reason="no copy of the forum thread next to the repository")
def test_book_copies_no_long_run_from_thread():
    thread = THREAD_COPY.read_text(encoding="utf-8")
    pages = sorted((REPO / "book").rglob("*.md"))
    assert pages

    copied = {}
    for page in pages:
        runs = shared_runs(strip_code_cells(page.read_text(encoding="utf-8")), thread)
        if runs:
            copied[str(page.relative_to(REPO))] = runs
    assert not copied, f"runs of more than {MAX_SHARED_WORDS} words copied from the thread: {copied}"
