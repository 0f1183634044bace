"""Small stores written inline by tests: one 2 m gondola of five shelves against the north wall of a 5 x 4 m
floor, an entry and an exit on the south wall, a camera grid. The catalog and planogram are the test's."""
from __future__ import annotations


def one_gondola_store(name: str, catalog: list[str], planogram: dict[str, str]) -> str:
    """The store's YAML: `catalog` entries as flow mappings, `planogram` bin -> flow mapping."""
    lines = [
        f"name: {name}",
        "floor_m: [5.0, 4.0]",
        "gates:",
        "  - {id: in-1, kind: entry, at: [1.0, 0.0], width_m: 0.9}",
        "  - {id: out-1, kind: exit, at: [4.0, 0.0], width_m: 0.9}",
        "gondolas:",
        "  - {id: A, at: [2.5, 3.775], facing: south, length_m: 2.0, height_m: 1.9, shelves: 5, bins_per_shelf: 2}",
        "catalog:",
        *(f"  - {c}" for c in catalog),
        "planogram:",
        *(f"  {b}: {p}" for b, p in planogram.items()),
        "cameras:",
        "  grid: {spacing_m: 2.5, height_m: 3.0, fov_deg: 90}",
    ]
    return "\n".join(lines) + "\n"
