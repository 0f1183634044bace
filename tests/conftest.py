"""Shared fixtures: paths to the shipped stores and to ../shared when it exists; the settled-store cache.

The suite keeps its own settled-store cache (`sim.settled`), made empty when the suite starts and removed
when it ends: a test never depends on what an earlier run, or the user's own cache, left behind, and the
tests that build one store at one seed many times settle it once. The xdist workers inherit the directory
from the controller's environment.
"""
from __future__ import annotations

import os
import shutil
import tempfile
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


_OWN_CACHE: list[str] = []


def pytest_configure(config: pytest.Config) -> None:
    if os.environ.get("PYTEST_XDIST_WORKER") is None and "STORE_TWIN_TEST_CACHE" not in os.environ:
        path = tempfile.mkdtemp(prefix="store-twin-settled-")
        os.environ["STORE_TWIN_TEST_CACHE"] = os.environ["STORE_TWIN_CACHE"] = path
        _OWN_CACHE.append(path)


def pytest_unconfigure(config: pytest.Config) -> None:
    for path in _OWN_CACHE:
        shutil.rmtree(path, ignore_errors=True)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Tests go to the xdist workers one by one (`--dist loadgroup`, the Makefile), so the slow ones spread over
    both; but a module whose tests share a module-scoped fixture (a recording, an episode, a generated store) keeps
    its tests on one worker, so that the fixture is made once."""
    for item in items:
        info = getattr(item, "_fixtureinfo", None)
        module = getattr(item, "module", None)
        if info is None or module is None:
            continue
        own = [fd for defs in info.name2fixturedefs.values() for fd in defs
               if fd.scope in ("module", "class", "package") and fd.baseid.endswith(".py")]
        if own:
            item.add_marker(pytest.mark.xdist_group(module.__name__))
