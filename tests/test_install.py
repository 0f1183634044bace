"""What `make venv` installs: jupedsim goes in --no-deps (Makefile), without the PySide6 and VTK its metadata asks
for, so the pedestrian model must run with neither importable."""
from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

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
