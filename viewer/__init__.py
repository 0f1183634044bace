"""The desktop window (pygame) on a live episode: see `viewer.app`. The last layer: it may import everything."""
import os

os.environ.setdefault("PYGAME_HIDE_SUPPORT_PROMPT", "1")
