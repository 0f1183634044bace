"""Shared fixtures: paths to the shipped stores and to ../shared when it exists."""
from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
STORES = ROOT / "assets" / "stores"
SHARED = ROOT.parent / "shared"
SHARED_EXAMPLES = SHARED / "examples"


@pytest.fixture
def tiny_store_path() -> Path:
    return STORES / "tiny_store.yaml"


def shared_example_stores() -> list[Path]:
    return sorted((SHARED_EXAMPLES / "stores").glob("*.yaml")) if SHARED_EXAMPLES.is_dir() else []
