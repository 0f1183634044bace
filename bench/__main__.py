"""`python -m bench ...` is `python run_sim.py bench ...` (see `bench.command`)."""
from __future__ import annotations

import sys

from bench.command import main

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
