"""What `make venv` installs: jupedsim goes in --no-deps (Makefile), without the PySide6 and VTK its metadata asks
for, so the pedestrian model must run with neither importable, and nothing the project asks for may bring them back."""
from __future__ import annotations

import re
import subprocess
import sys
import textwrap
from importlib import metadata
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parent.parent

# In the child: PySide6 and VTK made unimportable (a None in sys.modules makes `import X` raise ImportError),
# then the project's pedestrian floor on the tiny store walks one shopper a few steps.
_WALK_WITHOUT_GUI_PACKAGES = textwrap.dedent("""
    import math, sys
    for name in ("PySide6", "shiboken6", "vtk", "vtkmodules"):
        sys.modules[name] = None
    try:
        import PySide6
    except ImportError:
        pass
    else:
        raise SystemExit("PySide6 still importable: the test proves nothing")

    import jupedsim
    from agents.floor import PedestrianFloor
    from agents.scenario import STORES_DIR
    from sim.layout import load_store

    floor = PedestrianFloor(load_store(STORES_DIR / "tiny_store.yaml"), 1.0 / 120)
    assert floor.add("walker", (1.2, 1.0), 0.25, 1.3)
    floor.set_goal("walker", (1.2, 3.0))
    for k in range(1, 11):
        floor.advance(k * floor.period_ticks)
    walked = math.dist(floor.now["walker"], (1.2, 1.0))
    loaded = sorted(m for m in sys.modules if m.split(".")[0] in ("PySide6", "vtk", "vtkmodules") and sys.modules[m])
    print(f"jupedsim {jupedsim.__version__} walked {walked:.3f} m; gui modules loaded: {loaded}")
""")


def test_the_pedestrian_model_walks_with_pyside6_and_vtk_unimportable():
    done = subprocess.run([sys.executable, "-c", _WALK_WITHOUT_GUI_PACKAGES], cwd=ROOT, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    words = done.stdout.strip().splitlines()[-1].split()
    assert words[1] == "1.4.2", done.stdout
    assert float(words[3]) > 0.2, f"the walker did not move: {done.stdout}"  # 10 steps of 0.05 s at up to 1.3 m/s
    assert done.stdout.strip().endswith("loaded: []"), done.stdout


# Installed by the Makefile with --no-deps: their metadata asks for the GUI packages (jupedsim) or for numpy and scipy
# newer than our pins (trackeval).
_WITHOUT_THEIR_REQUIREMENTS = ("jupedsim", "trackeval")


def test_nothing_the_project_requires_brings_in_pyside6_vtk_or_the_no_deps_packages():
    reached = _requirement_closure("store-twin", ("dev",))
    assert {"numpy", "ray", "matplotlib", "pytest"} <= reached, sorted(reached)  # the walk followed the requirements
    unwanted = reached & {"pyside6", "pyside6-essentials", "shiboken6", "vtk", *_WITHOUT_THEIR_REQUIREMENTS}
    assert not unwanted, f"pyproject.toml's requirements reach {sorted(unwanted)}"


def test_the_makefile_installs_jupedsim_and_trackeval_without_their_requirements():
    makefile = (ROOT / "Makefile").read_text()
    for name in _WITHOUT_THEIR_REQUIREMENTS:
        variable = re.search(rf"^(\w+) := .*\b{name}==", makefile, re.MULTILINE)
        assert variable, f"no Makefile variable pins {name}"
        installs = [line for line in makefile.splitlines() if f"$({variable[1]})" in line]
        assert installs and all("pip install" in line and "--no-deps" in line for line in installs), installs
        metadata.version(name)  # raises PackageNotFoundError where make venv did not install it


def _requirement_closure(name: str, extras: tuple[str, ...]) -> set[str]:
    """The canonical names of `name` and of every distribution its requirements reach, markers evaluated for this
    interpreter and the extras asked for; a requirement that is not installed is reached but not followed."""
    reached: set[str] = set()
    seen: set[tuple[str, tuple[str, ...]]] = set()
    todo = [(name, extras)]
    while todo:
        name, extras = todo.pop()
        if (canonicalize_name(name), extras) in seen:
            continue
        seen.add((canonicalize_name(name), extras))
        reached.add(canonicalize_name(name))
        try:
            texts = metadata.requires(name) or []
        except metadata.PackageNotFoundError:
            continue
        for text in texts:
            requirement = Requirement(text)
            if requirement.marker is None or any(requirement.marker.evaluate({"extra": e}) for e in extras or ("",)):
                todo.append((requirement.name, tuple(sorted(requirement.extras))))
    return reached
