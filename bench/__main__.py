"""`python -m bench ...` is `python run_sim.py bench ...` (see `bench.batch`)."""
from __future__ import annotations

import sys

from run_sim import main

if __name__ == "__main__":
    sys.exit(main(["bench", *sys.argv[1:]]))
