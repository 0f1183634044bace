"""The information barrier (DESIGN.md section 2): checkout/ imports only sim.stream, the standard library, numpy, scipy."""
from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ALLOWED_THIRD_PARTY = {"numpy", "scipy"}


def test_import_linter_contracts_hold():
    lint = Path(sys.executable).parent / "lint-imports"
    res = subprocess.run([str(lint)], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stdout + res.stderr
    assert "checkout sees only the stream message types KEPT" in res.stdout


def test_checkout_imports_nothing_but_sim_stream_stdlib_numpy_scipy():
    bad = []
    for path in sorted((ROOT / "checkout").glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            for name in names:
                top = name.split(".")[0]
                if name == "sim.stream" or top == "checkout" or top in ALLOWED_THIRD_PARTY or top in sys.stdlib_module_names or top == "__future__":
                    continue
                bad.append(f"{path.name}: {name}")
    assert not bad, bad
