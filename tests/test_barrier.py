"""The information barrier (DESIGN.md section 2): checkout/ imports only sim.stream, the standard library, numpy, scipy."""
from __future__ import annotations

import ast
import os
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
ALLOWED_THIRD_PARTY = {"numpy", "scipy"}


def test_import_linter_contracts_hold():
    lint = Path(sys.executable).parent / "lint-imports"
    res = subprocess.run([str(lint)], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stdout + res.stderr
    assert "checkout sees only the stream message types KEPT" in res.stdout


# A house of empty packages under the project's own contracts, with one import added: (module, its import, the
# contract that must break); None is the house as it stands, which must pass (or the test proves nothing).
UPWARD = [
    (None, None, None),
    ("scoring/upward.py", "import viewer", "the house stands in layers"),
    ("sim/upward.py", "import agents", "the house stands in layers"),
    ("agents/sideways.py", "import checkout", "the house stands in layers"),
    ("bench/upward.py", "import run_sim", "nothing imports the command line"),
    ("checkout/door.py", "import sim.world", "checkout sees only the stream message types"),
]


@pytest.mark.parametrize("module, line, contract", UPWARD)
def test_an_import_against_the_layers_fails_lint_imports(tmp_path, module, line, contract):
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]
    for pkg in config["root_packages"]:
        (tmp_path / pkg).mkdir()
        (tmp_path / pkg / "__init__.py").write_text("")
    (tmp_path / "sim" / "stream.py").write_text("")
    (tmp_path / "sim" / "world.py").write_text("")
    (tmp_path / "checkout" / "stack.py").write_text("import sim.stream\n")  # the one door: allowed
    (tmp_path / "run_sim.py").write_text("import viewer\n")
    if module is not None:
        (tmp_path / module).write_text(line + "\n")
    (tmp_path / ".importlinter").write_text(_ini(config))
    lint = Path(sys.executable).parent / "lint-imports"
    res = subprocess.run([str(lint), "--config", ".importlinter", "--no-cache"], cwd=tmp_path, capture_output=True,
                         text=True, timeout=120, env={**os.environ, "PYTHONPATH": str(tmp_path)})
    if contract is None:
        assert res.returncode == 0, res.stdout + res.stderr
        return
    assert res.returncode == 1, res.stdout + res.stderr
    broken = [ln for ln in res.stdout.splitlines() if ln.endswith(" BROKEN")]
    assert len(broken) == 1 and broken[0].startswith(contract), res.stdout


def _ini(config: dict) -> str:
    """pyproject's [tool.importlinter] as an .ini, its ignores allowed to match nothing in the empty house."""
    def listed(values: list[str]) -> str:
        return "".join(f"\n    {v}" for v in values)

    out = ["[importlinter]", f"root_packages ={listed(config['root_packages'])}",
           f"include_external_packages = {config['include_external_packages']}"]
    for k, contract in enumerate(config["contracts"]):
        out += ["", f"[importlinter:contract:{k}]", "unmatched_ignore_imports_alerting = none"]
        out += [f"{key} ={listed(v)}" if isinstance(v, list) else f"{key} = {v}" for key, v in contract.items()]
    return "\n".join(out) + "\n"


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
