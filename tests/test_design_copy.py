"""docs/design.md is a copy of the shared contract (../shared/DESIGN.md): its body must stay equal."""
from __future__ import annotations

import os

import pytest

from conftest import DATA, ROOT

COPY = os.path.join(ROOT, "docs", "design.md")
SHARED = os.path.join(os.path.dirname(os.path.normpath(DATA)), "DESIGN.md")   # beside the shared data
RULE = "\n---\n\n"          # the header ends at the first horizontal rule


def body_of_copy(text: str) -> str:
    """The copy's text after its header (everything after the first ``---`` line)."""
    if RULE not in text:
        raise AssertionError("docs/design.md has no '---' line ending its header")
    return text.split(RULE, 1)[1]


def test_design_copy_equals_shared_contract() -> None:
    if not os.path.exists(SHARED):
        pytest.skip(f"shared contract not found: {SHARED} (the repository's copy cannot be compared)")
    with open(COPY, encoding="utf-8") as f:
        body = body_of_copy(f.read())
    with open(SHARED, encoding="utf-8") as f:
        shared = f.read()
    assert body == shared, "docs/design.md differs from ../shared/DESIGN.md: copy the shared page's text below the header"


def test_body_of_copy_detects_a_changed_line() -> None:
    text = "header\n\n---\n\n# title\nline\n"
    assert body_of_copy(text) == "# title\nline\n"
    assert body_of_copy(text.replace("line", "changed")) != "# title\nline\n"
