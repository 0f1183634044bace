# All set-up is done by these targets: a fresh machine needs only Python 3.11 and pip.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
# HOTA comes from trackeval (scoring/hota.py), installed --no-deps: every release's metadata asks for numpy and scipy
# newer than our pins (and opencv, pycocotools), which the rest of the stack cannot take; its HOTA needs only numpy
# and scipy, both already here.
TRACKEVAL := trackeval==1.3.0
# The pedestrian model comes from jupedsim (agents/floor.py), installed --no-deps: its metadata asks for PySide6 and VTK
# (about 1.2 GB, for its optional visualiser, which nothing here imports); the model needs numpy and shapely (already
# here) and deprecated, which needs wrapt.
JUPEDSIM := jupedsim==1.4.2 deprecated==1.2.18 wrapt==1.17.3
# Bytecode is compiled after the installs, not by pip, so as to leave out the ~75 MB of .pyc of code that nothing here
# imports: the test suites that numpy, scipy, pandas, matplotlib and pygame ship, the ray libraries we do not use
# (rllib, tune, train, serve, data, llm, air) and pybullet's gym environments. Python compiles any of them on its
# first import. As with pip, a file that does not compile (a template named .py) is passed over in silence.
NOT_PRECOMPILED := /site-packages/(.*/tests?/|ray/(rllib|tune|train|serve|data|llm|air)/|pybullet_envs/)

.PHONY: venv run test test-fast bench-agents bench-cameras bench-physics bench-pipeline bench-checkout bench-viewer bench-suites bench-generated bench-stores lint-imports clean

venv: $(STAMP)

# The venv is made afresh whenever pyproject.toml changes: pip installing into one that holds trackeval and jupedsim
# (--no-deps) reports their unmet requirements as conflicts, and packages no longer asked for would stay. setuptools,
# which python -m venv adds on 3.11, goes: nothing imports it at run time and pip builds the project in isolation.
# A .venv that is a link to another checkout's venv (a git worktree sharing one) is never rebuilt from here:
# `venv --clear` empties the directory the link points to, under every checkout that shares it.
$(STAMP): pyproject.toml
	@if [ -L $(VENV) ]; then echo "$(VENV) is a link to a shared venv: rebuild it where it lives (touch its $(STAMP) if it is current)"; exit 2; fi
	$(PYTHON) -m venv --clear $(VENV)
	$(PY) -m pip install --upgrade pip >/dev/null
	$(PY) -m pip install --no-compile -e '.[dev]'
	$(PY) -m pip install --no-compile --no-deps $(TRACKEVAL) $(JUPEDSIM)
	$(PY) -m pip uninstall -y setuptools
	$(PY) -c "import compileall, re, sysconfig; compileall.compile_dir(sysconfig.get_paths()['purelib'], quiet=2, \
	    workers=0, rx=re.compile(r'$(NOT_PRECOMPILED)'))"
	touch $(STAMP)

# The default scenario (run_sim.py's DEFAULT_SCENARIO), its report kept in out/run/.
run: $(STAMP)
	$(PY) run_sim.py run --out out/run

# Tests run on TEST_WORKERS processes (pytest-xdist), test by test (`loadgroup`), except that a file's tests that
# share a module fixture (a recording, an episode) stay on one worker, so it is made once (tests/conftest.py).
TEST_WORKERS ?= 2

# The slowest tests are listed at the end of each run, so the suite's ~8-minute budget can be kept an eye on.
test: $(STAMP)
	$(VENV)/bin/lint-imports
	$(PY) -m pytest -q -n $(TEST_WORKERS) --dist loadgroup --durations=20

test-fast: $(STAMP)
	$(PY) -m pytest -q -n $(TEST_WORKERS) --dist loadgroup -m "not slow"

bench-agents: $(STAMP)
	$(PY) -m bench.agents

bench-cameras: $(STAMP)
	$(PY) -m bench.cameras

bench-physics: $(STAMP)
	$(PY) -m bench.physics

# The whole pipeline on the corner store with a crowd held at 10 inside (issue 17's reference), then 30 inside.
bench-pipeline: $(STAMP)
	$(PY) -m bench.pipeline --inside 10 --json out/bench-pipeline/inside-10.json
	$(PY) -m bench.pipeline --inside 30 --json out/bench-pipeline/inside-30.json

bench-checkout: $(STAMP)
	$(PY) -m bench.checkout

bench-viewer: $(STAMP)
	$(PY) -m bench.viewer

bench-suites: $(STAMP)
	$(PY) run_sim.py bench standard hard faults --workers 2 --out out/bench-suites

# Ten stores nobody has seen (drawn fresh, kept in out/bench-generated/fresh_stores.json), three scenarios each.
bench-generated: $(STAMP)
	$(PY) run_sim.py bench generated --stores fresh:10 --seeds dev --workers 2 --out out/bench-generated

# Fifty generated stores: each validates, builds and runs its cheapest scenario to a report.
bench-stores: $(STAMP)
	$(PY) -m bench.stores --stores 0:50 --workers 2 --json out/bench-stores/stores.json

lint-imports: $(STAMP)
	$(VENV)/bin/lint-imports

clean:
	rm -rf $(VENV) .cache out
