"""What-if: sensors against accuracy against cost (issue 22), `python run_sim.py whatif SPEC.yaml`.

Place in the data path: above the bench. A spec names base scenarios, the axes to vary and a cost model.
Each configuration becomes variant store and scenario files in `OUT/variants/` (the same spec writes the
same bytes), and a generated suite, `OUT/whatif-suite.yaml`, runs them through `bench.batch` on the local
pool or Ray: one job per stream and seed, where configurations that differ only in their load cells share
one stream (cells on every bin: the fused stack; no cells: the vision-only stack). The receipts are pooled
per configuration with every failure counted (`bench.pooling`) and set against the configuration's cost
(`CostModel`): `whatif.md`, `whatif.json`, `pareto.png`, and the cheapest configuration meeting the target.

Axes (dotted keys, in `base:`, in each of `configurations:` and in `grid:`): `cameras.spacing_m`,
`cameras.height_m`, `cameras.resolution`, `cameras.fps`, `cameras.depth_noise_m`, `load_cells.per`,
`load_cells.noise_g`, `crowd.max_inside`, `crowd.arrivals_per_min`. No axis makes a device better than it
is: the depth resolution is one of the D435's depth modes, depth noise and cell noise are at least the
device defaults (`sim.layout`), and a finer depth mode keeps the 320x240 stream's depth noise.
"""
from __future__ import annotations

import argparse
import hashlib
import itertools
import json
import math
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal, Mapping, Sequence

import pydantic
import yaml
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from bench import arguments, pooling
from sim.errors import InputError, Where
from sim.layout import (PHYSICS_HZ, CameraGrid, CameraSettings, Int, LoadCellSettings, Num, camera_ids, pydantic_error,
                        validated)
from sim.yamlsrc import LineMap, load_yaml

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_COSTS = ROOT / "assets" / "costs" / "default.yaml"
DAYS_PER_MONTH = 365.25 / 12
MAX_CONFIGURATIONS = 200
# Intel RealSense D435 depth modes (REFERENCE.md; 1280x720 at most 30 fps). 320x240 is the twin's default
# stream, binned from the 424x240 mode.
D435_DEPTH_MODES = ((320, 240), (424, 240), (480, 270), (640, 360), (640, 480), (848, 480), (1280, 720))
D435_MAX_FPS = {(1280, 720): 30.0}
REFERENCE_PIXEL_RATE = 320 * 240 * 10.0  # what `cameras_per_compute_unit` is quoted at (the default stream)
AXES = ("cameras.spacing_m", "cameras.height_m", "cameras.resolution", "cameras.fps", "cameras.depth_noise_m",
        "load_cells.per", "load_cells.noise_g", "crowd.max_inside", "crowd.arrivals_per_min")
PER_SHELF = ("one load cell per shelf is not modelled yet: the twin gives each bin its own plate and cell "
             "(per: bin) or none (per: none)")
_DEVICE_CAMERA, _DEVICE_CELL = CameraSettings(), LoadCellSettings()


# --- the spec ------------------------------------------------------------------------------------------------------


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class CameraAxes(_Strict):
    spacing_m: Num | None = Field(None, gt=0.5, le=20)
    height_m: Num | None = Field(None, gt=1.5, le=10)
    resolution: tuple[Int, Int] | None = None
    fps: Num | None = Field(None, gt=0, le=90)
    depth_noise_m: Num | None = Field(None, le=0.1)

    @field_validator("resolution")
    @classmethod
    def _d435_mode(cls, v: tuple[int, int] | None) -> tuple[int, int] | None:
        if v is not None and tuple(v) not in D435_DEPTH_MODES:
            modes = ", ".join(f"[{w}, {h}]" for w, h in D435_DEPTH_MODES)
            raise ValueError(f"expected one of the D435's depth modes: {modes}")
        return v

    @field_validator("fps")
    @classmethod
    def _divides_physics(cls, v: float | None) -> float | None:
        if v is not None and abs(PHYSICS_HZ / v - round(PHYSICS_HZ / v)) > 1e-9:
            raise ValueError(f"{v:g} fps does not divide the {PHYSICS_HZ} Hz physics step (try 5, 6, 10, 15, 30, 60)")
        return v

    @field_validator("depth_noise_m")
    @classmethod
    def _not_kinder(cls, v: float | None) -> float | None:
        if v is not None and v < _DEVICE_CAMERA.depth_noise_m:
            raise ValueError(f"depth noise below the D435's {_DEVICE_CAMERA.depth_noise_m:g} m at 1 m is no real device")
        return v


class LoadCellAxes(_Strict):
    per: Literal["bin", "none", "shelf"] | None = None
    noise_g: Num | None = Field(None, le=1000)

    @field_validator("per")
    @classmethod
    def _modelled(cls, v: str | None) -> str | None:
        if v == "shelf":
            raise ValueError(PER_SHELF)
        return v

    @field_validator("noise_g")
    @classmethod
    def _not_kinder(cls, v: float | None) -> float | None:
        if v is not None and v < _DEVICE_CELL.noise_g:
            raise ValueError(f"cell noise below the shelf plate's {_DEVICE_CELL.noise_g:g} g is no real device")
        return v


class CrowdAxes(_Strict):
    max_inside: Int | None = Field(None, ge=1, le=200)
    arrivals_per_min: Num | None = Field(None, gt=0, le=120)


class Axes(_Strict):
    cameras: CameraAxes = CameraAxes()
    load_cells: LoadCellAxes = LoadCellAxes()
    crowd: CrowdAxes = CrowdAxes()


class ConfigurationSpec(Axes):
    name: str | None = Field(None, min_length=1, max_length=80, pattern=r"^[A-Za-z0-9_.,=+-]+$")


class Target(_Strict):
    review_rate_max: Num | None = Field(None, ge=0, le=1)
    accuracy_min: Num | None = Field(None, ge=0, le=1)
    unflagged_wrong_max: Num | None = Field(None, ge=0, le=1)

    @model_validator(mode="after")
    def _something(self) -> "Target":
        if self.review_rate_max is None and self.accuracy_min is None and self.unflagged_wrong_max is None:
            raise ValueError("give at least one of review_rate_max, accuracy_min, unflagged_wrong_max")
        return self


class WhatIfFile(_Strict):
    name: str = Field(min_length=1, max_length=80, pattern=r"^[A-Za-z0-9_.-]+$")
    description: str = ""
    scenarios: tuple[str, ...] = Field(min_length=1, max_length=50)  # relative to the spec file
    seeds: str = "dev"  # the bench's --seeds grammar; dev = dev_seeds
    dev_seeds: str | Int | tuple[Int, ...] = "0:3"
    costs: str | None = None  # relative to the spec file; default assets/costs/default.yaml
    visits_per_month: Num = Field(gt=0, le=10_000_000)
    opening_hours_per_day: Num = Field(gt=0, le=24)
    target: Target
    base: Axes = Axes()
    configurations: tuple[ConfigurationSpec, ...] = Field((), max_length=MAX_CONFIGURATIONS)
    grid: dict[str, tuple[Any, ...]] = {}
    workers: Int = Field(2, ge=1, le=1024)
    backend: Literal["local", "ray"] = "local"


@dataclass(frozen=True)
class Spec:
    """A checked spec: the file's model, its lines (for errors), and every configuration's axes by name."""

    file: WhatIfFile
    lines: LineMap
    path: Path
    configurations: dict[str, tuple[Axes, tuple]]  # name -> (axes merged over base, where it was given)

    def relative(self, name: str) -> Path:
        return (self.path.parent / name).resolve()


def load_spec(path: str | Path) -> Spec:
    """Read and check a what-if spec; an `InputError` names the file, line and key of the first problem."""
    path = Path(path)
    data, lines = load_yaml(path)
    spec = validated(WhatIfFile, data, lines, "what-if keys (name, scenarios, target, configurations, grid, ...)")
    from bench.seeds import parse_seeds

    parse_seeds(spec.dev_seeds if not isinstance(spec.dev_seeds, tuple) else list(spec.dev_seeds),
                lines.where(("dev_seeds",)))
    configs = _expand(spec, lines)
    if not configs:
        raise lines.error((), "name configurations to compare: `configurations:` (a list), `grid:` (axes to combine) or both")
    return Spec(spec, lines, path.resolve(), configs)


# --- the cost model ------------------------------------------------------------------------------------------------


class Price(_Strict):
    value: Num = Field(ge=0)
    unit: str
    source: str = Field(min_length=1)
    estimate: bool


class CostModel(_Strict):
    """Unit prices, each with its source; `estimate: true` where no published figure was found."""

    currency: str = "USD"
    camera: Price
    camera_install: Price
    camera_power_w: Price
    load_cell: Price
    load_cell_install: Price
    compute_unit: Price
    cameras_per_compute_unit: Price
    compute_unit_power_w: Price
    electricity_kwh: Price
    review_minutes: Price
    reviewer_hour: Price
    cashier_hour: Price
    amortisation_months: Price


def load_costs(path: str | Path) -> CostModel:
    data, lines = load_yaml(Path(path))
    return validated(CostModel, data, lines, "prices (currency, camera, load_cell, ...)")


@dataclass(frozen=True)
class Cost:
    """What a configuration costs: capital once, then per month (hardware written off, power, reviewers)."""

    capital: float
    compute_units: int
    hardware_per_month: float
    power_per_month: float
    review_per_month: float | None  # None: no review rate measured

    @property
    def per_month(self) -> float | None:
        return None if self.review_per_month is None else self.hardware_per_month + self.power_per_month + self.review_per_month


def cost_of(cameras: int, cells: int, pixel_rate: float, review_rate: float | None, costs: CostModel,
            visits_per_month: float) -> Cost:
    """The cost of `cameras` cameras streaming `pixel_rate` pixels per second each, `cells` shelf plates, and a
    reviewer checking `review_rate` of `visits_per_month` receipts."""
    load = cameras * pixel_rate / REFERENCE_PIXEL_RATE
    units = math.ceil(load / costs.cameras_per_compute_unit.value - 1e-9) if cameras else 0
    capital = (cameras * (costs.camera.value + costs.camera_install.value)
               + cells * (costs.load_cell.value + costs.load_cell_install.value) + units * costs.compute_unit.value)
    watts = cameras * costs.camera_power_w.value + units * costs.compute_unit_power_w.value
    power = watts / 1000.0 * 24 * DAYS_PER_MONTH * costs.electricity_kwh.value
    review = None if review_rate is None else (
        review_rate * visits_per_month * costs.review_minutes.value * costs.reviewer_hour.value / 60.0)
    return Cost(capital, units, capital / costs.amortisation_months.value, power, review)


def staffed_till_per_month(costs: CostModel, opening_hours_per_day: float) -> float:
    """One cashier at a till for every opening hour: the cost a checkout-free store sets out to save."""
    return costs.cashier_hour.value * opening_hours_per_day * DAYS_PER_MONTH


# --- configurations ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Setting:
    """One configuration resolved against one base scenario: every axis has its value."""

    spacing_m: float | None  # None: the store lists its cameras one by one
    height_m: float | None
    resolution: tuple[int, int]
    fps: float
    depth_noise_m: float
    cells: str  # "bin" or "none"
    cell_noise_g: float | None  # None without cells
    max_inside: int | None  # None: the scenario has no crowd
    arrivals_per_min: float | None
    cameras: int
    cell_count: int

    @property
    def mode(self) -> str:
        return "fused" if self.cells == "bin" else "vision"

    @property
    def pixel_rate(self) -> float:
        return self.resolution[0] * self.resolution[1] * self.fps


@dataclass(frozen=True)
class Base:
    """A base scenario: its file, raw data, store file and raw data, the store as the scenario sees it."""

    path: Path
    data: dict
    store_path: Path
    store_data: dict
    layout: Any  # sim.layout.StoreLayout, the scenario's sensor overrides applied
    crowd: Any  # agents.scenario.CrowdSpec or None


def load_base(path: Path) -> Base:
    from agents.scenario import load_scenario

    scenario = load_scenario(path)
    layout = scenario.load_store()
    data, _ = load_yaml(path)
    store_data, _ = load_yaml(scenario.store_path)
    return Base(path, data, scenario.store_path, store_data, layout, scenario.spec.crowd)


def resolve(axes: Axes, base: Base, lines: LineMap, where: tuple) -> Setting:
    """`axes` over `base`: a value not given is the base scenario's."""
    cams, cells, crowd = axes.cameras, axes.load_cells, axes.crowd
    spec = base.layout.spec
    grid = spec.cameras.grid
    if grid is None and (cams.spacing_m is not None or cams.height_m is not None):
        raise lines.error(where + ("cameras",), f"{base.store_path.name} lists its cameras one by one: "
                          "spacing_m and height_m vary a camera grid only")
    if base.crowd is None and (crowd.max_inside is not None or crowd.arrivals_per_min is not None):
        raise lines.error(where + ("crowd",), f"{base.path.name} has no crowd to vary")
    sensors = spec.sensors
    spacing = cams.spacing_m if cams.spacing_m is not None else (grid.spacing_m if grid else None)
    height = cams.height_m if cams.height_m is not None else (grid.height_m if grid else None)
    resolution = tuple(cams.resolution or sensors.cameras.resolution)
    fps = cams.fps if cams.fps is not None else sensors.cameras.fps
    if fps > D435_MAX_FPS.get(resolution, 90.0):
        raise lines.error(where + ("cameras",), f"the D435 streams {resolution[0]}x{resolution[1]} depth at "
                          f"{D435_MAX_FPS[resolution]:g} fps at most, not {fps:g}")
    per = cells.per or "bin"
    n_cameras = _camera_count(spec, spacing, height)
    return Setting(
        spacing_m=spacing, height_m=height, resolution=resolution, fps=fps,
        depth_noise_m=cams.depth_noise_m if cams.depth_noise_m is not None else sensors.cameras.depth_noise_m,
        cells=per, cell_noise_g=None if per == "none" else (
            cells.noise_g if cells.noise_g is not None else sensors.load_cells.noise_g),
        max_inside=crowd.max_inside or (base.crowd.max_inside if base.crowd else None),
        arrivals_per_min=crowd.arrivals_per_min or (base.crowd.arrivals_per_min if base.crowd else None),
        cameras=n_cameras, cell_count=len(base.layout.bins) if per == "bin" else 0)


# --- the plan: variant files and the suite -------------------------------------------------------------------------


@dataclass(frozen=True)
class PlannedConfiguration:
    name: str
    settings: tuple[Setting, ...]  # one per base scenario
    streams: tuple[Path, ...]  # the variant scenario file of each base scenario

    @property
    def shown(self) -> Setting:
        return self.settings[0]

    @property
    def mode(self) -> str:
        return self.shown.mode


@dataclass(frozen=True)
class Plan:
    configurations: tuple[PlannedConfiguration, ...]
    suite: Path
    variants: tuple[Path, ...] = field(default=())


def write_plan(spec: Spec, out: str | Path) -> Plan:
    """The variant stores and scenarios of every configuration in `out/variants/`, and `out/whatif-suite.yaml`
    that runs each stream with the modes its configurations need. Files are written only where their bytes
    differ, so a rerun over the same folder leaves them alone."""
    out = Path(out).resolve()
    bases = [load_base(spec.relative(s)) for s in spec.file.scenarios]
    stores = {b.store_path for b in bases}
    if len(stores) > 1:
        raise spec.lines.error(("scenarios",), "the scenarios run in different stores; a what-if costs one store "
                               f"({', '.join(sorted(p.name for p in stores))})")
    planned, modes, seen = [], {}, set()
    for name, (axes, where) in spec.configurations.items():
        settings = tuple(resolve(axes, b, spec.lines, where) for b in bases)
        if settings in seen:  # the same store and sensors as a configuration before it (a grid point = base)
            continue
        seen.add(settings)
        streams = tuple(_write_variant(b, s, out / "variants") for b, s in zip(bases, settings))
        for stream, s in zip(streams, settings):
            modes.setdefault(stream, []).append(s.mode)
        planned.append(PlannedConfiguration(name, settings, streams))
    suite = out / "whatif-suite.yaml"
    entries = [{"path": os.path.relpath(p, out), "modes": sorted(set(m), key=("fused", "vision").index)}
               for p, m in modes.items()]
    dev = spec.file.dev_seeds
    _write_if_changed(suite, _dump({"name": f"whatif-{spec.file.name}", "description": f"What-if streams of "
                                    f"{spec.path.name} (written by `run_sim.py whatif`)",
                                    "dev_seeds": list(dev) if isinstance(dev, tuple) else dev, "scenarios": entries}))
    return Plan(tuple(planned), suite, tuple(modes))


def _write_variant(base: Base, s: Setting, folder: Path) -> Path:
    """The variant scenario (and its store) of one setting of `base`; its name is a digest of what it holds."""
    store = dict(base.store_data)
    if s.spacing_m is not None:
        grid = dict((store.get("cameras") or {}).get("grid") or {})
        store["cameras"] = {"grid": {**grid, "spacing_m": s.spacing_m, "height_m": s.height_m}}
    sensors = {k: dict(v) for k, v in (base.data.get("sensors") or {}).items()}
    sensors.setdefault("cameras", {}).update(resolution=list(s.resolution), fps=s.fps, depth_noise_m=s.depth_noise_m)
    # Without cells the stream still carries them (the vision-only stack ignores them): at the base's noise, so
    # that cells none and cells on every bin at that noise share one stream.
    noise = s.cell_noise_g if s.cell_noise_g is not None else base.layout.spec.sensors.load_cells.noise_g
    sensors.setdefault("load_cells", {})["noise_g"] = noise
    scenario = dict(base.data)
    if s.max_inside is not None:
        scenario["crowd"] = {**scenario["crowd"], "max_inside": s.max_inside, "arrivals_per_min": s.arrivals_per_min}
    scenario["sensors"] = sensors
    digest = hashlib.sha256(json.dumps([store, scenario], sort_keys=True, default=str).encode()).hexdigest()[:10]
    stem = f"{base.path.stem}-{digest}"
    folder.mkdir(parents=True, exist_ok=True)
    store_file = folder / f"{stem}-store.yaml"
    scenario.update(name=f"{scenario.get('name', base.path.stem)}-{digest}", store=store_file.name,
                    description=f"What-if variant of {base.path.name}: {_describe(s)}.")
    _write_if_changed(store_file, f"# What-if variant of {base.store_path.name} (written by `run_sim.py whatif`).\n"
                      + _dump(store))
    path = folder / f"{stem}.yaml"
    _write_if_changed(path, f"# What-if variant of {base.path.name}: {_describe(s)}.\n" + _dump(scenario))
    return path.resolve()


# --- running -------------------------------------------------------------------------------------------------------


def add_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("spec", type=arguments.path, metavar="SPEC", help="a what-if spec (e.g. assets/whatif/corner.yaml)")
    parser.add_argument("--out", type=arguments.out_dir, default=None,
                        help="variants, results.jsonl, whatif.md, whatif.json, pareto.png (default out/whatif-NAME)")
    parser.add_argument("--workers", type=arguments.workers, default=None, help="episodes at once (default: the spec's)")
    parser.add_argument("--backend", choices=("local", "ray"), default=None, help="default: the spec's")
    parser.add_argument("--ray-address", default=None, help="a running Ray cluster (default: start a local runtime)")
    parser.add_argument("--retry-errors", action="store_true", help="rerun episodes whose row is an error")
    parser.add_argument("--plan-only", action="store_true",
                        help="write the variants and the suite, print the configurations and their capital cost, run nothing")
    parser.add_argument("--no-plots", action="store_true", help="skip the PNG plots")
    parser.add_argument("--episode-fn", default="scoring.episode:run_episode", help=argparse.SUPPRESS)


def run(args: argparse.Namespace) -> int:
    from agents.scenario import validate_file
    from bench.batch import plan_bench, run_bench
    from bench.seeds import parse_seed_choice

    if not Path(args.spec).is_file():
        raise InputError(Where(Path(args.spec)), "no such what-if spec")
    spec = load_spec(args.spec)
    try:
        choice = parse_seed_choice(spec.file.seeds)
    except InputError as exc:
        raise spec.lines.error(("seeds",), exc.message) from None
    costs = load_costs(_costs_path(spec))
    out = Path(args.out or ROOT / "out" / f"whatif-{spec.file.name}")
    plan = write_plan(spec, out)
    for variant in plan.variants:
        validate_file(variant)
    specs, fresh = plan_bench([str(plan.suite)], choice, out)
    print(f"whatif: {len(plan.configurations)} configurations, {len(plan.variants)} streams x "
          f"{len({s.seed for s in specs})} seeds = {len({(s.scenario, s.seed) for s in specs})} simulations -> {out}")
    if args.plan_only:
        for c in plan.configurations:
            cost = cost_of(c.shown.cameras, c.shown.cell_count, c.shown.pixel_rate, None, costs, spec.file.visits_per_month)
            print(f"  {c.name}: {_describe(c.shown)}; capital {cost.capital:,.0f} {costs.currency}")
        return 0
    result = run_bench(specs, out, workers=args.workers or spec.file.workers, backend=args.backend or spec.file.backend,
                       ray_address=args.ray_address, episode_fn=args.episode_fn, retry_errors=args.retry_errors,
                       plots=not args.no_plots, fresh_seeds=fresh)
    planned = {s.key for s in specs}
    rows = [r for r in result.rows if (r["scenario"], r["seed"], r["mode"]) in planned]
    results = measure(plan, rows, costs, spec)
    write_outputs(out, spec, costs, results, plots=not args.no_plots)
    print(f"bench: {result.ran} episodes run ({result.errors} errors), {result.skipped} resumed, {result.wall_s:.1f} s wall")
    print(f"table: {out / 'whatif.md'}")
    print(verdict_line(results, spec.file.target, costs.currency))
    return 0


# --- results -------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Result:
    """A configuration's pooled figures and its cost."""

    name: str
    setting: Setting
    episodes: int
    crashed: int
    receipts: int
    accuracy: float | None
    review_rate: float | None
    unflagged_wrong: float | None
    cost: Cost

    def meets(self, target: Target) -> bool:
        checks = ((target.review_rate_max, self.review_rate, lambda v, t: v <= t + 1e-12),
                  (target.accuracy_min, self.accuracy, lambda v, t: v >= t - 1e-12),
                  (target.unflagged_wrong_max, self.unflagged_wrong, lambda v, t: v <= t + 1e-12))
        return self.receipts > 0 and all(t is None or (v is not None and ok(v, t)) for t, v, ok in checks)


def measure(plan: Plan, rows: Sequence[Mapping], costs: CostModel, spec: Spec) -> list[Result]:
    """Each configuration's rows (its streams, its mode) pooled, every failure counted, and its cost."""
    by_stream = {str(p): p for p in plan.variants}
    keyed = [(by_stream.get(str(_row_path(r)), None), r) for r in rows]
    crashed = {r["scenario"] for _, r in keyed if r["status"] != "ok"}
    crashes = pooling.crash_accounts([r for _, r in keyed], {s: pooling.scenario_accounts(_row_path({"scenario": s}))
                                                           for s in crashed})
    out = []
    for c in plan.configurations:
        mine = [r for p, r in keyed if p in c.streams and r["mode"] == c.mode]
        pool = pooling.pool(mine, crashes)
        out.append(result_of(c.name, c.shown, pool, costs, spec.file.visits_per_month))
    return out


def result_of(name: str, setting: Setting, pool: pooling.Pool, costs: CostModel, visits_per_month: float) -> Result:
    review = pool.share("review")
    return Result(name, setting, pool.episodes, pool.crashed, pool.receipts, pool.share("accuracy"), review,
                  pool.share("unflagged_wrong"),
                  cost_of(setting.cameras, setting.cell_count, setting.pixel_rate, review, costs, visits_per_month))


def pareto_front(points: Sequence[tuple[float | None, float | None]], *, higher_is_better: bool) -> list[bool]:
    """For each (cost, figure): True when no other point costs no more and does at least as well, and one of
    the two strictly better. A point with a missing value is never on the front."""
    sign = 1.0 if higher_is_better else -1.0
    known = [(i, c, sign * v) for i, (c, v) in enumerate(points) if c is not None and v is not None]
    front = [False] * len(points)
    for i, c, v in known:
        front[i] = not any(c2 <= c and v2 >= v and (c2 < c or v2 > v) for j, c2, v2 in known if j != i)
    return front


def cheapest_meeting(results: Sequence[Result], target: Target) -> Result | None:
    """The configuration meeting `target` at the lowest cost per month (then capital, then name)."""
    meeting = [r for r in results if r.meets(target) and r.cost.per_month is not None]
    return min(meeting, key=lambda r: (r.cost.per_month, r.cost.capital, r.name), default=None)


def verdict_line(results: Sequence[Result], target: Target, currency: str = "USD") -> str:
    best = cheapest_meeting(results, target)
    wanted = describe_target(target)
    if best is None:
        return f"whatif: no configuration meets {wanted}"
    return (f"whatif: cheapest configuration meeting {wanted}: {best.name} ({_describe(best.setting)}; "
            f"review rate {_pct(best.review_rate)}, receipt accuracy {_num(best.accuracy)}; capital "
            f"{best.cost.capital:,.0f} {currency}, {best.cost.per_month:,.0f} {currency} per month)")


def describe_target(target: Target) -> str:
    parts = []
    if target.review_rate_max is not None:
        parts.append(f"review rate <= {_pct(target.review_rate_max)}")
    if target.accuracy_min is not None:
        parts.append(f"receipt accuracy >= {target.accuracy_min:g}")
    if target.unflagged_wrong_max is not None:
        parts.append(f"wrong among unflagged <= {_pct(target.unflagged_wrong_max)}")
    return " and ".join(parts)


def write_outputs(out: Path, spec: Spec, costs: CostModel, results: Sequence[Result], *, plots: bool = True) -> None:
    """`whatif.md`, `whatif.json` and (with `plots`) `pareto.png` in `out`."""
    till = staffed_till_per_month(costs, spec.file.opening_hours_per_day)
    front_acc = pareto_front([(r.cost.per_month, r.accuracy) for r in results], higher_is_better=True)
    front_rev = pareto_front([(r.cost.per_month, r.review_rate) for r in results], higher_is_better=False)
    best = cheapest_meeting(results, spec.file.target)
    if plots:
        plot_pareto(out / "pareto.png", results, front_acc, front_rev, till, spec.file.target, costs.currency)
    (out / "whatif.md").write_text("\n".join(table_lines(spec, costs, results, front_acc, front_rev, till, best,
                                                         plots)) + "\n", encoding="utf-8")
    (out / "whatif.json").write_text(json.dumps({
        "spec": str(spec.path), "target": spec.file.target.model_dump(), "currency": costs.currency,
        "visits_per_month": spec.file.visits_per_month, "staffed_till_per_month": round(till, 2),
        "recommended": best.name if best else None,
        "configurations": [{**_result_dict(r), "pareto_accuracy": a, "pareto_review": v}
                           for r, a, v in zip(results, front_acc, front_rev)],
    }, indent=2) + "\n", encoding="utf-8")


def table_lines(spec: Spec, costs: CostModel, results: Sequence[Result], front_acc: Sequence[bool],
                front_rev: Sequence[bool], till: float, best: Result | None, plots: bool) -> list[str]:
    cur = costs.currency
    lines = [f"# What-if: {spec.file.name}", ""] + ([spec.file.description.strip(), ""] if spec.file.description else [])
    lines += [f"Scenarios: {', '.join(spec.file.scenarios)}; seeds `{spec.file.seeds}` (dev_seeds "
             f"`{spec.file.dev_seeds}`). Costs: `{_shown_path(_costs_path(spec))}` ({cur}; estimates marked there). Running cost "
             f"per month: capital written off over {costs.amortisation_months.value:g} months, power, and a reviewer "
             f"for {costs.review_minutes.value:g} min per flagged receipt at the measured review rate of "
             f"{spec.file.visits_per_month:,.0f} visits a month. A staffed till instead: {till:,.0f} {cur} per month "
             f"(one cashier, {spec.file.opening_hours_per_day:g} h a day).", "",
             "| configuration | cameras | spacing m | height m | depth mode | fps | depth noise mm | cells | cell noise g "
             "| max inside | episodes (crashed) | receipts | receipt accuracy | review rate | wrong among unflagged "
             f"| capital {cur} | per month {cur} (hardware + power + review) | front | meets target |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r, a, v in zip(results, front_acc, front_rev):
        s, c = r.setting, r.cost
        month = "n/a" if c.per_month is None else (f"{c.per_month:,.0f} ({c.hardware_per_month:,.0f} + "
                                                    f"{c.power_per_month:,.0f} + {c.review_per_month:,.0f})")
        fronts = "+".join(x for x, on in (("accuracy", a), ("review", v)) if on) or "-"
        lines.append(f"| {r.name} | {s.cameras} | {_opt(s.spacing_m)} | {_opt(s.height_m)} | {s.resolution[0]}x"
                     f"{s.resolution[1]} | {s.fps:g} | {s.depth_noise_m * 1000:g} | {_cells(s)} | "
                     f"{_opt(s.cell_noise_g)} | {_opt(s.max_inside)} | {r.episodes} ({r.crashed}) | {r.receipts} | "
                     f"{_num(r.accuracy)} | {_pct(r.review_rate)} | {_pct(r.unflagged_wrong)} | {c.capital:,.0f} | "
                     f"{month} | {fronts} | {'yes' if r.meets(spec.file.target) else 'no'} |")
    lines += ["", f"Target: {describe_target(spec.file.target)}. " + (
        f"Cheapest configuration meeting it: **{best.name}** ({best.cost.per_month:,.0f} {cur} per month, "
        f"capital {best.cost.capital:,.0f} {cur})." if best else "No configuration meets it."),
        "", "Receipts pooled over every episode of the configuration with every failure counted (bench.pooling): a "
        "crashed episode's accounts, accounts still inside and receipts never issued are wrong and unflagged. "
        "front: on the Pareto front of cost per month against receipt accuracy and/or review rate."]
    if plots:
        lines += ["", "![Pareto: accuracy and review rate against cost per month](pareto.png)"]
    return lines


def plot_pareto(path: Path, results: Sequence[Result], front_acc: Sequence[bool], front_rev: Sequence[bool],
                till: float, target: Target, currency: str) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(12, 5))
    panels = ((axes[0], "accuracy", "receipt accuracy", front_acc, target.accuracy_min),
              (axes[1], "review_rate", "review rate", front_rev, target.review_rate_max))
    for ax, attr, label, front, line in panels:
        pts = [(r.cost.per_month, getattr(r, attr), r.name, on) for r, on in zip(results, front)
               if r.cost.per_month is not None and getattr(r, attr) is not None]
        ax.scatter([p[0] for p in pts if not p[3]], [p[1] for p in pts if not p[3]], color="#8c8c8c", label="configuration")
        on = sorted((p for p in pts if p[3]), key=lambda p: p[0])
        ax.plot([p[0] for p in on], [p[1] for p in on], "o-", color="#c44e52", label="Pareto front")
        for x, y, name, _ in pts:
            ax.annotate(name, (x, y), fontsize=7, xytext=(3, 3), textcoords="offset points")
        ax.axvline(till, color="#4c72b0", linestyle="--", label="staffed till")
        if line is not None:
            ax.axhline(line, color="#55a868", linestyle=":", label="target")
        ax.set_xlabel(f"cost per month ({currency}: hardware written off, power, review)")
        ax.set_ylabel(label)
        ax.set_title(f"{label} against cost per month")
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


# --- helpers -------------------------------------------------------------------------------------------------------


def _expand(spec: WhatIfFile, lines: LineMap) -> dict[str, tuple[Axes, tuple]]:
    """Every configuration by name: the listed ones, then the grid's combinations; equal settings once."""
    base = spec.base.model_dump(exclude_none=True)
    out: dict[str, tuple[Axes, tuple]] = {}
    seen: dict[str, str] = {}

    def add(name: str, changes: dict, where: tuple) -> None:
        axes = Axes.model_validate(_merge(base, changes))
        key = json.dumps(axes.model_dump(), sort_keys=True)
        if name in out:
            raise lines.error(where, f"configuration name '{name}' is used twice")
        if key not in seen:
            seen[key] = name
            out[name] = (axes, where)

    for i, c in enumerate(spec.configurations):
        changes = c.model_dump(exclude_none=True, exclude={"name"})
        add(c.name or _auto_name(_flat(changes)) or "base", changes, ("configurations", i))
    grid = _grid_values(spec.grid, lines)
    for combo in itertools.product(*grid.values()) if grid else ():
        flat = dict(zip(grid, combo))
        add(_auto_name(flat), _nested(flat), ("grid",))
    if len(out) > MAX_CONFIGURATIONS:
        raise lines.error(("grid",), f"{len(out)} configurations; at most {MAX_CONFIGURATIONS}")
    return out


def _grid_values(grid: Mapping[str, Sequence], lines: LineMap) -> dict[str, list]:
    """The grid's axes, each value checked as the axis's own key would be."""
    out = {}
    for key, values in grid.items():
        if key not in AXES:
            import difflib

            guess = difflib.get_close_matches(key, AXES, n=1, cutoff=0.6)
            raise lines.error(("grid", key), f"unknown axis '{key}'" + (f" (did you mean '{guess[0]}'?)" if guess else
                                                                      f" (axes: {', '.join(AXES)})"))
        if not values:
            raise lines.error(("grid", key), "expected a non-empty list of values")
        for i, v in enumerate(values):
            try:
                Axes.model_validate(_nested({key: v}))
            except pydantic.ValidationError as exc:
                raise lines.error(("grid", key, i), exc.errors()[0]["msg"].removeprefix("Value error, ")
                                  + f" (got {v!r})") from None
        out[key] = list(values)
    return out


def _flat(nested: Mapping) -> dict:
    return {f"{g}.{k}": v for g, values in nested.items() for k, v in values.items()}


def _nested(flat: Mapping[str, Any]) -> dict:
    out: dict[str, dict] = {}
    for key, v in flat.items():
        group, _, name = key.partition(".")
        out.setdefault(group, {})[name] = v
    return out


def _merge(base: Mapping, changes: Mapping) -> dict:
    return {g: {**base.get(g, {}), **changes.get(g, {})} for g in ("cameras", "load_cells", "crowd")}


def _auto_name(flat: Mapping[str, Any]) -> str:
    short = {"cameras.spacing_m": "spacing", "cameras.height_m": "height", "cameras.resolution": "depth",
             "cameras.fps": "fps", "cameras.depth_noise_m": "depth-noise", "load_cells.per": "cells",
             "load_cells.noise_g": "cell-noise", "crowd.max_inside": "inside", "crowd.arrivals_per_min": "arrivals"}
    return ",".join(f"{short[k]}={'x'.join(map(str, v)) if isinstance(v, (list, tuple)) else f'{v:g}' if isinstance(v, float) else v}"
                    for k, v in flat.items())


def _camera_count(spec: Any, spacing: float | None, height: float | None) -> int:
    if spacing is None:
        return len(camera_ids(spec))
    grid = CameraGrid(spacing_m=spacing, height_m=height, fov_deg=spec.cameras.grid.fov_deg)
    return len(camera_ids(spec.model_copy(update={"cameras": spec.cameras.model_copy(update={"grid": grid})})))


def _costs_path(spec: Spec) -> Path:
    return spec.relative(spec.file.costs) if spec.file.costs else DEFAULT_COSTS


def _shown_path(path: Path) -> str:
    try:
        return path.relative_to(ROOT).as_posix()
    except ValueError:
        return str(path)


def _row_path(row: Mapping) -> Path:
    return (ROOT / row["scenario"]).resolve()


def _write_if_changed(path: Path, text: str) -> None:
    if not path.is_file() or path.read_text(encoding="utf-8") != text:
        path.write_text(text, encoding="utf-8")


def _dump(data: Mapping) -> str:
    return yaml.safe_dump(json.loads(json.dumps(data)), sort_keys=False, default_flow_style=None, width=120,
                          allow_unicode=True)


def _describe(s: Setting) -> str:
    where = f"every {s.spacing_m:g} m at {s.height_m:g} m" if s.spacing_m is not None else "as listed"
    crowd = f", at most {s.max_inside} inside" if s.max_inside is not None else ""
    cells = f"cells on every bin ({s.cell_noise_g:g} g)" if s.cells == "bin" else "no load cells"
    return (f"{s.cameras} cameras {where}, depth {s.resolution[0]}x{s.resolution[1]} at {s.fps:g} fps, "
            f"{s.depth_noise_m * 1000:g} mm; {cells}{crowd}")


def _result_dict(r: Result) -> dict:
    return {"name": r.name, **asdict(r.setting), "mode": r.setting.mode, "episodes": r.episodes,
            "crashed": r.crashed, "receipts": r.receipts, "receipt_accuracy": r.accuracy,
            "review_rate": r.review_rate, "wrong_among_unflagged": r.unflagged_wrong,
            "capital": round(r.cost.capital, 2), "compute_units": r.cost.compute_units,
            "per_month": None if r.cost.per_month is None else round(r.cost.per_month, 2),
            "hardware_per_month": round(r.cost.hardware_per_month, 2), "power_per_month": round(r.cost.power_per_month, 2),
            "review_per_month": None if r.cost.review_per_month is None else round(r.cost.review_per_month, 2)}


def _cells(s: Setting) -> str:
    return f"per bin ({s.cell_count})" if s.cells == "bin" else "none"


def _opt(v: float | None) -> str:
    return "-" if v is None else f"{v:g}"


def _num(v: float | None) -> str:
    return "n/a" if v is None else f"{v:.3f}"


def _pct(v: float | None) -> str:
    return "n/a" if v is None else f"{100 * v:.1f} %"
