"""Shared fixtures: the real third-party models live in ../shared/data (never copied here)."""
from __future__ import annotations

import os

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DATA = os.environ.get("RELUCOMPILE_DATA", os.path.join(ROOT, "..", "shared", "data"))


def data_path(*parts: str) -> str:
    """Path of a shared data file; skips the test with a reason when the data is absent."""
    path = os.path.join(DATA, *parts)
    if not os.path.exists(path):
        pytest.skip(f"shared data not found: {path} (set RELUCOMPILE_DATA or check out ../shared)")
    return path
