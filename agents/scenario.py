"""Scenarios (DESIGN.md section 6): the YAML schema, the Python API that builds the same model, and the checks.

A scenario names a store, a seed, a duration, optional sensor overrides,
scripted shoppers and an optional crowd. `load_scenario(path)` parses a YAML
file (every problem an `InputError` naming file, line and key);
`Scenario(...).add_shopper(...).pick(...)...` builds the same `ScenarioFile`
model in Python. `Scenario.check(layout)` cross-checks it against its store:
unknown SKU, bin, shopper or persona, a `sync` label only one shopper uses, a
`give` to oneself, a floor point off the floor. `validate_file(path)` does
both (it is what `run_sim.py validate` calls for a scenario).

Choices the design leaves open:
- `store:` is a name under assets/stores/ (`corner_store`) or a path relative
  to the scenario file (anything with a `/` or ending in `.yaml`).
- `pick` without `bin:` takes from the nearest bin that holds that SKU at
  that moment; `put_back` without `bin:` returns the item to the bin it was
  taken from.
- A shopper may give a `persona:` instead of a `script:`; its script is then
  generated from the store's stock when it enters, with its own rng.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Literal

import pydantic
from pydantic import BaseModel, ConfigDict, Field, StrictBool, field_validator, model_validator

from sim.errors import InputError, Where
from sim.layout import Int, Num, Sensors, StoreLayout, check_faults, check_rates, load_store, pydantic_error, validated
from sim.yamlsrc import LineMap, load_yaml

ROOT = Path(__file__).resolve().parent.parent
STORES_DIR = ROOT / "assets" / "stores"
ACTIONS = ("pick", "put_back", "touch", "lean", "give", "sync", "wait", "walk_to")


class _Strict(BaseModel):
    # Numbers are numbers (`Num`, `Int`): no true/false, no "3", no NaN or infinity.
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class PickArgs(_Strict):
    sku: str
    qty: Int = Field(1, ge=1, le=6)  # a handful: several items in one grab
    bin: str | None = None


class PutBackArgs(_Strict):
    sku: str
    bin: str | None = None


class HandInBinArgs(_Strict):
    bin: str
    seconds: Num = Field(2.0, gt=0, le=600)


class GiveArgs(_Strict):
    sku: str
    to: str


class WalkToArgs(_Strict):
    point: tuple[Num, Num] | None = None
    bin: str | None = None

    @model_validator(mode="before")
    @classmethod
    def _point_or_bin(cls, v: Any) -> Any:
        if isinstance(v, (list, tuple)):
            return {"point": v}
        if isinstance(v, str):
            return {"bin": v}
        return v

    @model_validator(mode="after")
    def _one(self) -> "WalkToArgs":
        if (self.point is None) == (self.bin is None):
            raise ValueError("give a floor point [x, y] or {bin: ID}")
        return self


class Step(_Strict):
    """One scripted action: exactly one of the keys is set."""

    pick: PickArgs | None = None
    put_back: PutBackArgs | None = None
    touch: HandInBinArgs | None = None
    lean: HandInBinArgs | None = None
    give: GiveArgs | None = None
    sync: str | None = None
    wait: Num | None = Field(None, ge=0, le=3600)
    walk_to: WalkToArgs | None = None

    @model_validator(mode="before")
    @classmethod
    def _exactly_one(cls, v: Any) -> Any:
        if isinstance(v, dict) and len(v) != 1:
            raise ValueError(f"a step is one action ({', '.join(ACTIONS)}); got {len(v)} keys")
        if isinstance(v, str):
            raise ValueError(f"a step is a mapping like {{pick: {{sku: ...}}}}, not '{v}'")
        return v

    @model_validator(mode="after")
    def _has_args(self) -> "Step":
        if all(getattr(self, a) is None for a in ACTIONS):
            raise ValueError("the step's action has no arguments (e.g. `- pick: {sku: cola-330}`, `- wait: 2.0`)")
        return self

    @property
    def action(self) -> str:
        return next(a for a in ACTIONS if getattr(self, a) is not None)

    @property
    def args(self) -> Any:
        return getattr(self, self.action)


class BodySpec(_Strict):
    height_m: Num | None = Field(None, ge=0.9, le=2.2)
    child: StrictBool | None = None
    carrier: Literal["basket", "bag"] | None = None


class ShopperSpec(_Strict):
    id: str = Field(min_length=1, pattern=r"^[A-Za-z0-9_.-]+$")
    account: str | None = None  # default: its own
    enter_at_s: Num = Field(0.0, ge=0, le=7 * 24 * 3600)
    body: BodySpec = BodySpec()
    persona: str | None = None
    script: tuple[Step, ...] = Field((), max_length=1000)

    @property
    def account_id(self) -> str:
        return self.account or f"acct-{self.id}"


class CrowdSpec(_Strict):
    arrivals_per_min: Num = Field(gt=0, le=120)
    until_s: Num = Field(gt=0, le=7 * 24 * 3600)
    start_s: Num = Field(0.0, ge=0)
    max_inside: Int = Field(15, ge=1, le=200)
    personas: dict[str, Num] = {"quick": 0.5, "browser": 0.3, "returner": 0.2}

    @model_validator(mode="after")
    def _times(self) -> "CrowdSpec":
        if self.start_s >= self.until_s:
            raise ValueError(f"the crowd starts at {self.start_s:g} s, not before it ends at until_s {self.until_s:g} s")
        return self

    @field_validator("personas")
    @classmethod
    def _weights(cls, v: dict[str, float]) -> dict[str, float]:
        if not v:
            raise ValueError("name at least one persona")
        if any(w < 0 for w in v.values()) or sum(v.values()) <= 0:
            raise ValueError("persona weights must be >= 0 and not all 0")
        return v


class ScenarioFile(_Strict):
    name: str
    description: str = ""
    store: str
    seed: Int = Field(0, ge=0, lt=2**63)
    duration_s: Num = Field(300.0, gt=0, le=24 * 3600)
    sensors: dict[str, dict[str, Any]] = {}
    shoppers: tuple[ShopperSpec, ...] = Field((), max_length=2000)  # scripted; a crowd brings more
    crowd: CrowdSpec | None = None


class _NoLines(LineMap):
    """Where a Python-built scenario's problems are: no file line, just the key."""

    def line(self, loc: tuple) -> int:
        return 0


class _Under(LineMap):
    """The lines of a file seen from one of its keys: errors at `loc` are reported at `root + loc`."""

    def __init__(self, lines: LineMap, root: tuple) -> None:
        super().__init__(lines.path, {})
        self._outer, self._root = lines, root

    def line(self, loc: tuple) -> int:
        return self._outer.line(self._root + tuple(loc))

    def error(self, loc: tuple, message: str) -> InputError:
        return self._outer.error(self._root + tuple(loc), message)


class Scenario:
    """A scenario, from YAML (`load_scenario`) or built in Python; `spec` is the shared model."""

    def __init__(
        self,
        name: str,
        store: str,
        seed: int = 0,
        duration_s: float = 300.0,
        sensors: dict | None = None,
        description: str = "",
        *,
        base_dir: Path | str | None = None,
    ) -> None:
        self.name = name
        self.store = store
        self.seed = seed
        self.duration_s = duration_s
        self.sensors = dict(sensors or {})
        self.description = description
        self.base_dir = Path(base_dir) if base_dir is not None else Path.cwd()
        self._shoppers: list[ShopperBuilder] = []
        self._crowd: dict | None = None
        self._spec: ScenarioFile | None = None
        self.lines: LineMap = _NoLines(Path(f"<scenario {name}>"), {})
        self.notes: list[str] = []  # what `check` changed to make a step doable (a walk_to point moved)

    # -- the Python API -----------------------------------------------------

    def add_shopper(
        self, id: str, account: str | None = None, enter_at_s: float = 0.0, body: dict | None = None, persona: str | None = None,
    ) -> "ShopperBuilder":
        self._spec = None
        b = ShopperBuilder(id, account, enter_at_s, dict(body or {}), persona)
        self._shoppers.append(b)
        return b

    def crowd(
        self, arrivals_per_min: float, until_s: float, max_inside: int = 15, personas: dict[str, float] | None = None, start_s: float = 0.0,
    ) -> "Scenario":
        self._spec = None
        self._crowd = {"arrivals_per_min": arrivals_per_min, "until_s": until_s, "max_inside": max_inside, "start_s": start_s}
        if personas is not None:
            self._crowd["personas"] = dict(personas)
        return self

    # -- the model ----------------------------------------------------------

    @classmethod
    def from_spec(cls, spec: ScenarioFile, base_dir: Path, lines: LineMap) -> "Scenario":
        sc = cls(spec.name, spec.store, spec.seed, spec.duration_s, spec.sensors, spec.description, base_dir=base_dir)
        sc._spec = spec
        sc.lines = lines
        return sc

    def as_dict(self) -> dict:
        d: dict[str, Any] = {"name": self.name, "store": self.store, "seed": self.seed, "duration_s": self.duration_s}
        if self.description:
            d["description"] = self.description
        if self.sensors:
            d["sensors"] = self.sensors
        if self._shoppers:
            d["shoppers"] = [s.as_dict() for s in self._shoppers]
        if self._crowd is not None:
            d["crowd"] = self._crowd
        return d

    @property
    def spec(self) -> ScenarioFile:
        if self._spec is None:
            try:
                self._spec = ScenarioFile.model_validate(self.as_dict())
            except pydantic.ValidationError as exc:
                raise pydantic_error(exc, self.lines, ScenarioFile) from None
        return self._spec

    @property
    def shoppers(self) -> tuple[ShopperSpec, ...]:
        return self.spec.shoppers

    @property
    def store_path(self) -> Path:
        s = self.spec.store
        if "/" in s or s.endswith((".yaml", ".yml")):
            return (self.base_dir / s).resolve()
        return STORES_DIR / f"{s}.yaml"

    def load_store(self) -> StoreLayout:
        """The store with this scenario's sensor overrides; a bad store or override is an `InputError`."""
        try:
            path = self.store_path
            found = path.is_file()
        except (OSError, ValueError):  # a NUL byte, a name longer than the file system allows
            found = False
        if not found:
            raise self.lines.error(("store",), f"no store '{self.spec.store[:80]}' (a name under assets/stores/ or a path relative to the scenario file)")
        layout = load_store(path)
        return self._with_sensors(layout)

    def check(self, layout: StoreLayout | None = None) -> StoreLayout:
        """Cross-check shoppers, scripts and crowd against the store; return the store (with overrides)."""
        layout = layout or self.load_store()
        self.notes = check_against_store(self.spec, layout, self.lines)
        return layout

    def _with_sensors(self, layout: StoreLayout) -> StoreLayout:
        sensors = self.spec.sensors
        if not sensors:
            return layout
        merged = layout.spec.sensors.model_dump()
        for group, values in sensors.items():
            if group not in merged:
                raise self.lines.error(("sensors", group), f"unknown sensor group '{group}' (cameras, load_cells)")
            merged[group].update(values)
        try:
            Sensors.model_validate(merged)
        except pydantic.ValidationError as exc:
            raise pydantic_error(exc, _Under(self.lines, ("sensors",)), Sensors) from None
        layout = layout.with_sensors(sensors)
        check_rates(layout.spec.sensors, self.lines)  # rates dividing the physics step, faults naming real cells
        check_faults(layout, self.lines)
        return layout


class ShopperBuilder:
    """Chained actions of one scripted shopper (`Scenario.add_shopper(...)` returns it)."""

    def __init__(self, id: str, account: str | None, enter_at_s: float, body: dict, persona: str | None) -> None:
        self.id, self.account, self.enter_at_s, self.body, self.persona = id, account, enter_at_s, body, persona
        self.steps: list[dict] = []

    def pick(self, sku: str, qty: int = 1, bin: str | None = None) -> "ShopperBuilder":
        return self._add("pick", _drop_none({"sku": sku, "qty": qty, "bin": bin}))

    def put_back(self, sku: str, bin: str | None = None) -> "ShopperBuilder":
        return self._add("put_back", _drop_none({"sku": sku, "bin": bin}))

    def touch(self, bin: str, seconds: float = 2.0) -> "ShopperBuilder":
        return self._add("touch", {"bin": bin, "seconds": seconds})

    def lean(self, bin: str, seconds: float = 3.0) -> "ShopperBuilder":
        return self._add("lean", {"bin": bin, "seconds": seconds})

    def give(self, sku: str, to: str) -> "ShopperBuilder":
        return self._add("give", {"sku": sku, "to": to})

    def sync(self, label: str) -> "ShopperBuilder":
        return self._add("sync", label)

    def wait(self, seconds: float) -> "ShopperBuilder":
        return self._add("wait", seconds)

    def walk_to(self, point_or_bin: str | tuple[float, float] | list[float]) -> "ShopperBuilder":
        if isinstance(point_or_bin, str):
            return self._add("walk_to", {"bin": point_or_bin})
        return self._add("walk_to", list(point_or_bin))

    def as_dict(self) -> dict:
        d: dict[str, Any] = {"id": self.id}
        if self.account is not None:
            d["account"] = self.account
        d["enter_at_s"] = self.enter_at_s
        if self.body:
            d["body"] = self.body
        if self.persona is not None:
            d["persona"] = self.persona
        if self.steps:
            d["script"] = list(self.steps)
        return d

    def _add(self, action: str, args: Any) -> "ShopperBuilder":
        self.steps.append({action: args})
        return self


def _drop_none(d: dict) -> dict:
    return {k: v for k, v in d.items() if v is not None}


def load_scenario(path: Path | str) -> Scenario:
    """Parse and schema-check a scenario file (cross-checks against the store: `Scenario.check`)."""
    path = Path(path)
    data, lines = load_yaml(path)
    spec = validated(ScenarioFile, data, lines, "scenario keys (name, store, shoppers or crowd, ...)")
    return Scenario.from_spec(spec, path.resolve().parent, lines)


def validate_file(path: Path | str) -> tuple[Scenario, StoreLayout]:
    """Load a scenario and its store and cross-check them; raise `InputError` on the first problem."""
    sc = load_scenario(path)
    return sc, sc.check()


def is_scenario_data(data: object) -> bool:
    """A YAML document is a scenario (not a store) when it has shoppers, a crowd, or names a store."""
    return isinstance(data, dict) and any(k in data for k in ("shoppers", "crowd", "store"))


def check_against_store(spec: ScenarioFile, layout: StoreLayout, lines: LineMap) -> list[str]:
    """Raise `InputError` for the first thing in the scenario its store makes impossible; return notes on
    what was made doable (`agents.script_check`)."""
    from agents.personas import PERSONAS

    bins, catalog = layout.bins, layout.catalog
    ids: dict[str, int] = {}
    for i, sh in enumerate(spec.shoppers):
        if sh.id in ids:
            raise lines.error(("shoppers", i, "id"), f"duplicate shopper id '{sh.id}'")
        ids[sh.id] = i
    sync_users: dict[str, list[tuple[int, int]]] = {}
    w, d = layout.spec.floor_m

    def need_sku(loc: tuple, sku: str) -> None:
        if sku not in catalog:
            raise lines.error(loc, f"unknown SKU '{sku}' (not in the catalog of store '{layout.name}')")

    def need_bin(loc: tuple, bin_id: str) -> None:
        if bin_id not in bins:
            raise lines.error(loc, f"unknown bin '{bin_id}' (store '{layout.name}' has bins like {next(iter(bins))})")

    for i, sh in enumerate(spec.shoppers):
        if sh.persona is not None:
            if sh.persona not in PERSONAS:
                raise lines.error(("shoppers", i, "persona"), f"unknown persona '{sh.persona}' (known: {', '.join(sorted(PERSONAS))})")
            if sh.script:
                raise lines.error(("shoppers", i, "script"), "give a persona or a script, not both")
        users_here: set[str] = set()
        for j, step in enumerate(sh.script):
            base = ("shoppers", i, "script", j, step.action)
            a = step.args
            if step.action in ("pick", "put_back", "give"):
                need_sku(base + ("sku",), a.sku)
            if step.action in ("pick", "put_back", "touch", "lean") and a.bin is not None:
                need_bin(base + ("bin",), a.bin)
            if step.action == "walk_to":
                if a.bin is not None:
                    need_bin(base + ("bin",), a.bin)
                elif not (0.0 < a.point[0] < w and 0.0 < a.point[1] < d):
                    raise lines.error(base, f"point {list(a.point)} is off the {w} x {d} m floor")
            if step.action == "give":
                if a.to == sh.id:
                    raise lines.error(base + ("to",), f"shopper '{sh.id}' cannot give to itself")
                if a.to not in ids:
                    raise lines.error(base + ("to",), f"unknown shopper '{a.to}' (shoppers: {', '.join(ids)})")
            if step.action == "sync" and step.sync not in users_here:
                users_here.add(step.sync)
                sync_users.setdefault(step.sync, []).append((i, j))
    for label, uses in sync_users.items():
        if len(uses) < 2:
            i, j = uses[0]
            raise lines.error(("shoppers", i, "script", j, "sync"), f"sync label '{label}' is used by one shopper only; it would wait for ever")
    if spec.crowd is not None:
        for name in spec.crowd.personas:
            if name not in PERSONAS:
                raise lines.error(("crowd", "personas", name), f"unknown persona '{name}' (known: {', '.join(sorted(PERSONAS))})")
    if not spec.shoppers and spec.crowd is None:
        raise lines.error((), "a scenario needs shoppers or a crowd")
    from agents.script_check import check_scripts

    return check_scripts(spec, layout, lines)


def register_persona(name: str) -> Callable:
    """Decorator: register a persona (a function building a script) under `name`; see `agents.personas`."""
    from agents.personas import register_persona as _reg

    return _reg(name)


__all__ = [
    "Scenario", "ShopperBuilder", "ScenarioFile", "ShopperSpec", "CrowdSpec", "Step",
    "load_scenario", "validate_file", "register_persona", "is_scenario_data", "InputError", "Where",
]
