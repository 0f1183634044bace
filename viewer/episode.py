"""The live episode behind the window: simulation, checkout stack, truth, and what the panels read.

Place in the data path: this is the viewer's own episode runner. It builds the simulation from a scenario
(or an empty scenario on a bare store file), steps it, feeds every message of the stream to a `CheckoutStack`
through the episode driver's `StackLane` (as `scoring.episode` does: faults counted, the episode goes on),
keeps the latest `CameraFrame` of each camera, and turns truth (ledger, actors) and the stack's beliefs into
plain, picklable `Snapshot`s for the window. Truth and the stack's view stay apart until they meet here, on
the screen.

`EpisodeWorker` does the work; a host runs it. `ProcessHost` runs it in its own process so that a slow
physics or camera tick (a TinyRenderer frame of every ceiling camera can take 100 ms) never stalls the
window: pybullet holds the GIL for a whole call, so a thread would not help. `InlineHost` runs the same
worker in the window's process, a time-boxed slice per frame: exact and synchronous, for tests.

The speed governor: the sim is allowed to reach `anchor_sim + (wall - anchor_wall) * speed`; each slice
steps towards that mark until its wall budget is spent. When the sim falls more than `MAX_LAG_S` of wall
time behind, the mark is pulled back, so a slow sim runs as fast as it can instead of sprinting later.
The speed it really runs at is measured (`RateMeter`) and sent with each snapshot: the window shows
that beside the asked one, since a busy scene runs far slower than asked.

Parts that have not landed (agents, checkout stack, MCAP recording) leave a note in `EpisodeInfo.notes`
and their panels say "not available"; nothing is made up.
"""
from __future__ import annotations

import math
import multiprocessing as mp
import time
import traceback
from collections import Counter, deque
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from sim.errors import InputError
from sim.stream import CameraFrame, GatePassage, GateScan, StoreInfo

SPEEDS = (0.25, 0.5, 1.0, 2.0, 4.0, 8.0)
MAX_LAG_S = 0.25  # wall seconds the sim may lag its speed mark before the mark is pulled back
VIEW_REFRESH_S = 0.1  # the 3-D view is redrawn at most this often while the sim runs and the eye is still
VIEW_SHARE = 0.25  # ... and, when renders are slow, so rarely that they take at most this share of the worker's time
RATE_WINDOW_S = 2.0  # the speed the header shows is measured over this much wall time (a moving window)
RATE_MIN_SPAN_S = 0.25  # ... and shown once this much has passed since the sim last started or changed speed
SNAPSHOT_S = 1.0 / 30  # a process host sends at most this many snapshots per second
SHELF_KINDS = ("take", "put_back")  # the shelf events that are counted and matched (as in `scoring.metrics`)
EVENT_TAIL = 80  # events of each kind a snapshot carries (newest)
STORE_ONLY_DURATION_S = 3600.0
SKY_RGB = (44, 48, 56)


# --- what the window gets --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class EpisodeInfo:
    """What does not change during an episode; sent once per (re)start."""

    episode: int
    title: str
    target: str
    seed: int
    duration_s: float
    store_info: StoreInfo
    depth_max_m: float
    dt_s: float
    personas: tuple[str, ...]
    notes: dict[str, str]  # part -> why it is not available


@dataclass(frozen=True)
class ShopperView:
    id: str
    account: str
    x: float
    y: float
    inside: bool
    hands: tuple[tuple[float, float, float], ...]  # latest true hand positions (world m), if the shopper records poses


@dataclass(frozen=True)
class EventView:
    t_s: float
    kind: str
    bin: str | None
    sku: str | None
    qty: int
    account: str | None
    shopper: str | None = None
    confidence: float | None = None
    gate: str | None = None


@dataclass(frozen=True)
class ReceiptView:
    account: str
    items: dict[str, int]
    truth: dict[str, int] | None  # None while the account has not closed in truth
    total: float
    confidence: float
    flagged: bool
    t_s: float
    reasons: tuple[str, ...]

    @property
    def correct(self) -> bool | None:
        return None if self.truth is None else {k: v for k, v in self.items.items() if v} == self.truth


@dataclass
class Snapshot:
    episode: int
    t_s: float
    tick: int
    paused: bool
    speed: float
    finished: bool
    realtime_factor: float | None  # measured sim seconds per wall second (`RateMeter`); None: paused or not yet known
    shoppers: list[ShopperView]
    tracks: list[tuple[int, str, float, float]] | None  # None: no stack
    hand_bins: set[str]
    stack_carts: dict[str, dict[str, int]] | None
    truth_carts: dict[str, dict[str, int]]
    account_state: dict[str, str]  # account -> "inside" | "left"
    receipts: list[ReceiptView]
    truth_events: list[EventView]
    detected_events: list[EventView] | None
    metrics: dict[str, Any]
    inspect: dict[str, Any] | None  # the selected shopper: script, next action, cart
    recording: str | None
    faults: list[str]
    camera: CameraFrame | None = None  # the selected camera's newest frame, only when new
    view3d: np.ndarray | None = None  # (H, W, 3) uint8, only when newly rendered
    view_key: Any = None  # the pinhole it was rendered for


class RateMeter:
    """The sim's real speed: sim seconds per wall second over the last `window_s` of wall time.

    A moving window rather than the last step's rate, so the figure is steady enough to read yet follows a
    change within `window_s`. `reset` when the sim starts, stops or changes speed: a window that spans a
    pause would report a speed the sim never ran at.
    """

    def __init__(self, window_s: float = RATE_WINDOW_S, min_span_s: float = RATE_MIN_SPAN_S) -> None:
        self.window_s = window_s
        self.min_span_s = min_span_s
        self._samples: deque[tuple[float, float]] = deque()

    def reset(self) -> None:
        self._samples.clear()

    def add(self, wall_s: float, sim_s: float) -> None:
        samples = self._samples
        samples.append((wall_s, sim_s))
        while len(samples) > 2 and wall_s - samples[1][0] >= self.window_s:  # keep one sample a full window old
            samples.popleft()

    def sim_per_wall(self) -> float | None:
        """The measured speed, or None until `min_span_s` of wall time has been seen since the last reset."""
        if len(self._samples) < 2:
            return None
        (wall0, sim0), (wall1, sim1) = self._samples[0], self._samples[-1]
        if wall1 - wall0 < self.min_span_s:
            return None
        return (sim1 - sim0) / (wall1 - wall0)


# --- building an episode ----------------------------------------------------------------------------------------


def is_scenario_file(path: Path) -> bool:
    """A scenario names its store; a store file has gondolas."""
    from sim.yamlsrc import load_yaml

    data, _ = load_yaml(path)
    try:
        from agents.scenario import is_scenario_data
    except ImportError:
        return isinstance(data, dict) and "store" in data and "gondolas" not in data
    return is_scenario_data(data)


def build_episode(target: str, seed: int | None) -> tuple[Any, str, int, float, dict[str, str]]:
    """(simulation, title, seed, duration_s, notes) for a scenario file or a bare store file."""
    path = Path(target)
    if not path.exists():
        raise _input_error(target)
    notes: dict[str, str] = {}
    try:
        from agents import build_simulation
        from agents.scenario import Scenario, load_scenario
    except ImportError as exc:  # agents not landed: a bare store, no shoppers
        notes["agents"] = f"shoppers not available ({exc})"
        if is_scenario_file(path):
            raise _input_error(target, "scenarios need the agents package, which failed to import") from None
        from sim.layout import load_store
        from sim.simulation import Simulation

        layout = load_store(path)
        seed = 0 if seed is None else int(seed)
        return Simulation(layout, seed), f"store {layout.name}", seed, STORE_ONLY_DURATION_S, notes
    if is_scenario_file(path):
        scenario = load_scenario(path)
        seed = int(scenario.spec.seed if seed is None else seed)
        sim = build_simulation(scenario, seed=seed)
        return sim, f"scenario {scenario.name}", seed, float(scenario.spec.duration_s), notes
    from sim.layout import load_store

    layout = load_store(path)  # errors name the store file, not the made-up scenario
    seed = 0 if seed is None else int(seed)
    scenario = Scenario(layout.name, str(path.resolve()), seed=seed, duration_s=STORE_ONLY_DURATION_S)
    scenario.crowd(arrivals_per_min=1e-3, until_s=1e-3)  # a crowd nobody arrives in: a scenario needs one or shoppers
    sim = build_simulation(scenario, seed=seed)
    return sim, f"store {layout.name} (no scenario: spawn shoppers with P)", seed, STORE_ONLY_DURATION_S, notes


def _input_error(target: str, why: str = "no such file") -> InputError:
    from sim.errors import Where

    return InputError(Where(Path(target)), why)


# --- the worker -------------------------------------------------------------------------------------------------


class EpisodeWorker:
    """One live episode and its controls. Not thread-safe; driven by one host."""

    def __init__(self, target: str, seed: int | None = None, mode: str = "fused") -> None:
        self.target = target
        self.mode = mode
        self.episode = 0
        self.paused = False
        self.speed = 1.0
        self.selected: str | None = None
        self.camera_id: str | None = None
        self.sim = None
        self._open(seed)

    # -- episode lifecycle ----------------------------------------------------------------------------

    def _open(self, seed: int | None) -> None:
        sim, title, seed, duration_s, notes = build_episode(self.target, seed)
        self.sim, self.seed, self.duration_s = sim, seed, duration_s
        self.ends_when_done = title.startswith("scenario")  # a bare store stays open for spawned shoppers
        self.episode += 1
        self.notes = dict(notes)
        self.store_info = sim.store_info()
        self.stack = None
        self.lane = None  # the stack on the stream (`scoring.driver`): its receipts and faults
        try:
            from scoring.driver import StackLane
            from scoring.stacks import make_stack

            stack = make_stack(self.mode)
            stack.consume(self.store_info)
            self.stack, self.lane = stack, StackLane(self.mode, stack)
        except Exception as exc:  # not landed, or failed to open: its panels say so
            self.notes["checkout"] = f"checkout stack not available ({type(exc).__name__}: {exc})"
        try:
            from agents.personas import PERSONAS

            personas = tuple(sorted(PERSONAS))
        except ImportError:
            personas = ()
        if not personas or getattr(sim, "shoppers", None) is None:
            self.notes.setdefault("spawn", "spawning shoppers not available (no personas / agents)")
        self.info = EpisodeInfo(
            episode=self.episode, title=title, target=self.target, seed=seed, duration_s=duration_s,
            store_info=self.store_info, depth_max_m=sim.layout.spec.sensors.cameras.depth_max_m,
            dt_s=sim.clock.dt_s, personas=personas, notes=self.notes,
        )
        self.frames: dict[str, CameraFrame] = {}
        self._sent_frame: tuple[str, float] | None = None
        self.receipts: list = self.lane.issued if self.lane is not None else []
        self.gate_messages: list[EventView] = []
        self.faults: Counter = Counter()  # the window's own reading of the stack (tracks, carts, events)
        self.finished = False
        self.recorder: _Recorder | None = None
        self.recordings: list[str] = []
        self._spawned = 0
        self._bins = _BinBoxes(self.store_info)
        self._view: ViewRenderer | None = None
        self._view_key = None
        self._view_dirty = True
        self._view_t = -1.0
        self._view_wall = 0.0
        self._view_cost_s = 0.0
        self.rate = RateMeter()
        self._match_cache: tuple[tuple, dict[str, str]] | None = None  # (what the counts were made of, rows)
        self._anchor()

    def close(self) -> None:
        self._stop_recording()
        if self._view is not None:
            self._view.close()
            self._view = None
        if self.sim is not None:
            self.sim.close()
            self.sim = None

    def restart(self, seed: int | None) -> None:
        self.close()
        self._open(seed)

    # -- controls -------------------------------------------------------------------------------------

    def handle(self, cmd: tuple) -> None:
        """One command from the window: (name, *args)."""
        name, *args = cmd
        if name == "pause":
            self.paused = bool(args[0])
            self._anchor()
        elif name == "step":
            self.paused = True
            for _ in range(int(args[0]) if args else 1):
                self.step_once()
            self._anchor()
        elif name == "speed":
            self.speed = float(args[0])
            self._anchor()
        elif name == "select":
            self.selected = args[0]
        elif name == "camera":
            self.camera_id = args[0]
            self._sent_frame = None
        elif name == "view":
            self.request_view(args[0])
        elif name == "spawn":
            self.spawn(args[0] if args else None)
        elif name == "restart":
            self.restart(args[0] if args else None)
        elif name == "record":
            self.toggle_recording(args[0] if args else None)
        else:
            raise ValueError(f"unknown viewer command {name!r}")

    def _anchor(self) -> None:
        """The sim (re)starts, stops or changes speed here: the governor's mark and the measured speed start over."""
        self._anchor_wall = time.perf_counter()
        self._anchor_sim = self.sim.t_s
        self.rate.reset()

    # -- running --------------------------------------------------------------------------------------

    def advance(self, budget_s: float) -> int:
        """Step towards the speed mark until it is reached or `budget_s` of wall time is spent; return steps."""
        if self.paused or self.finished:
            return 0
        start = time.perf_counter()
        mark = self._anchor_sim + (start - self._anchor_wall) * self.speed
        behind_s = mark - self.sim.t_s
        if behind_s > MAX_LAG_S * self.speed:
            self._anchor_wall = start - MAX_LAG_S
            self._anchor_sim = self.sim.t_s
            mark = self.sim.t_s + MAX_LAG_S * self.speed
        steps = 0
        dt = self.sim.clock.dt_s
        while self.sim.t_s + dt <= mark + 1e-9 and not self.finished:
            self.step_once()
            steps += 1
            if time.perf_counter() - start >= budget_s:
                break
        self.rate.add(time.perf_counter(), self.sim.t_s)
        return steps

    def step_once(self) -> None:
        """Exactly one physics step, its messages fed to the stack (and the recorder)."""
        if self.finished:
            return
        for msg in self.sim.step():
            self._feed(msg)
        sim = self.sim
        over = sim.t_s + 1e-9 >= self.duration_s
        if not over and self.ends_when_done and sim.actors and all(a.done for a in sim.actors):
            over = True
        if over:
            self._finish()

    def _feed(self, msg: object) -> None:
        if isinstance(msg, CameraFrame):
            self.frames[msg.camera_id] = msg
        elif isinstance(msg, GateScan):  # what the stack is told at the gates, as it is told
            self.gate_messages.append(EventView(msg.t_s, "scan", None, None, 0, msg.account, gate=msg.gate))
        elif isinstance(msg, GatePassage):
            self.gate_messages.append(EventView(msg.t_s, "exit", None, None, 0, None, gate=msg.gate))
        if self.recorder is not None:
            self.recorder.write(msg)
        if self.lane is not None:
            self.lane.consume(msg)  # a fault is counted in the lane and the episode goes on

    def _finish(self) -> None:
        self.finished = True
        for sensor in self.sim.sensors:
            for msg in sensor.flush():
                self._feed(msg)
        if self.lane is not None:
            self.lane.finish()
        self._stop_recording()

    # -- shoppers -------------------------------------------------------------------------------------

    def spawn(self, persona: str | None) -> str | None:
        """A persona shopper walks in at an entry gate now; returns its id (None if spawning is not available)."""
        commons = getattr(self.sim, "shoppers", None)
        personas = self.info.personas
        if commons is None or not personas or self.finished:
            return None
        from agents.scenario import ShopperSpec
        from agents.shopper import Shopper

        persona = persona if persona in personas else personas[self._spawned % len(personas)]
        self._spawned += 1
        sid = f"viewer-{self._spawned:02d}"
        shopper = Shopper(ShopperSpec(id=sid, account=f"acct-{sid}", enter_at_s=self.sim.t_s, persona=persona), commons)
        commons.shoppers[sid] = shopper
        commons.groups[shopper.account] = [sid]
        self.sim.add_actor(shopper)
        return sid

    def shopper_views(self) -> list[ShopperView]:
        ledger = self.sim.ledger
        out = []
        for actor in self.sim.actors:
            p = actor.position()
            if p is None:
                continue
            hands: tuple = ()
            poses = ledger.poses.get(actor.id)
            if poses:
                hands = (tuple(poses[-1].left_hand), tuple(poses[-1].right_hand))
            out.append(ShopperView(actor.id, actor.account, float(p[0]), float(p[1]), actor.id in ledger.inside, hands))
        return out

    def inspect(self, shopper_id: str) -> dict[str, Any] | None:
        """What the window shows of one shopper: persona or script, the step under way, what it carries (truth)."""
        actor = next((a for a in self.sim.actors if a.id == shopper_id), None)
        if actor is None:
            return None
        script = [_describe_step(s) for s in getattr(actor, "script", ()) or ()]
        nxt = getattr(actor, "next_action", None)
        if callable(nxt):
            nxt = nxt()
        where = f"hand:{actor.id}", f"basket:{actor.id}"
        carrying = Counter(r.sku for r in self.sim.ledger.items.values() if r.location in where)
        p = actor.position()
        # `agents.Shopper` keeps the index of the step under way in `_step_k` and has no public name for it yet
        step = getattr(actor, "_step_k", None)
        return {
            "id": actor.id,
            "account": actor.account,
            "persona": getattr(actor, "persona", None),
            "position": None if p is None else (float(p[0]), float(p[1])),
            "script": script,
            "step_index": step if isinstance(step, int) and 0 <= step < len(script) else None,
            "script_over": bool(getattr(actor, "script_over", False)),
            "next_action": None if nxt is None else str(nxt),
            "cart": dict(sorted(carrying.items())),
            "charged": dict(sorted(self.sim.ledger.receipt(actor.account).items())),
            "done": bool(actor.done),
            "status": _status(actor),
        }

    # -- the 3-D view ---------------------------------------------------------------------------------

    def request_view(self, cam) -> None:
        if cam != self._view_key:
            self._view_key = cam
            self._view_dirty = True

    def render_view(self, force: bool = False) -> np.ndarray | None:
        """The 3-D view from the requested eye, if it is due: the eye moved, or the sim moved and it is time."""
        cam = self._view_key
        if cam is None:
            return None
        now = time.perf_counter()
        sim_moved = self.sim.t_s != self._view_t
        wait_s = max(VIEW_REFRESH_S, self._view_cost_s / VIEW_SHARE - self._view_cost_s)
        due = now - self._view_wall >= wait_s
        if not (force or (self._view_dirty and due) or (sim_moved and due)):
            return None
        if self._view is None:
            from sim.render import choose_renderer, gpu_present

            backend = choose_renderer(self.sim.layout.spec.sensors.cameras.renderer, gpu_present())
            self._view = ViewRenderer(self.sim.world.client, self.sim.world.dynamic_bodies, cam, backend)
        self._view.look(cam)
        rgb = self._view.draw()
        self._view_cost_s = time.perf_counter() - now
        self._view_dirty = False
        self._view_t = self.sim.t_s
        self._view_wall = time.perf_counter()
        return rgb

    # -- recording ------------------------------------------------------------------------------------

    def toggle_recording(self, path: str | None = None) -> None:
        if self.recorder is not None:
            self._stop_recording()
            return
        try:
            from sim.recording import LogWriter  # noqa: F401
        except ImportError as exc:
            self.notes["recording"] = f"MCAP recording not available ({exc})"
            return
        self.notes.pop("recording", None)
        if path is None:
            Path("out").mkdir(exist_ok=True)
            path = f"out/viewer-{self.info.store_info.store}-seed{self.seed}-t{self.sim.t_s:07.2f}s.mcap"
        meta = {"target": self.target, "seed": str(self.seed), "recording_from_s": f"{self.sim.t_s:.6f}"}
        self.recorder = _Recorder(Path(path), self.sim.store_info(), self.sim.ledger, meta)
        self.recordings.append(str(path))

    def _stop_recording(self) -> None:
        if self.recorder is not None:
            self.recorder.close()
            self.recorder = None

    # -- snapshots ------------------------------------------------------------------------------------

    def snapshot(self) -> Snapshot:
        sim, ledger, stack = self.sim, self.sim.ledger, self.stack
        shoppers = self.shopper_views()
        hand_points = [h for s in shoppers if s.inside for h in s.hands]
        truth_carts = {a: dict(sorted(ledger.receipt(a).items())) for a in sorted(ledger.members)}
        state = {a: ("left" if a in ledger.closed else "inside") for a in ledger.members}
        tracks = stack_carts = detected = None
        if stack is not None:
            try:
                tracks = [(int(t.id), str(t.account), float(t.x), float(t.y)) for t in stack.tracks()]
                stack_carts = stack.carts()
                detected = [
                    EventView(e.t_s, e.kind, e.bin, e.sku, int(e.qty), e.account, confidence=float(e.confidence))
                    for e in stack.events[-EVENT_TAIL:]
                ]
                detected = sorted(detected + self.gate_messages[-EVENT_TAIL:], key=lambda e: e.t_s)[-EVENT_TAIL:]
            except Exception as exc:
                self.faults[f"stack fault on inspection: {type(exc).__name__}: {exc}"] += 1
        truth_events = [
            EventView(e.t_s, e.kind, e.bin, e.sku, 1, e.account, e.shopper, gate=e.gate)
            for e in ledger.events[-EVENT_TAIL:]
        ]
        receipts = [
            ReceiptView(
                r.account, dict(r.items), ledger.closed_receipts.get(r.account), float(r.total), float(r.confidence),
                bool(r.flagged), float(r.t_s), tuple(r.reasons),
            )
            for r in self.receipts
        ]
        camera = None
        if self.camera_id is not None and self.camera_id in self.frames:
            f = self.frames[self.camera_id]
            if self._sent_frame != (f.camera_id, f.t_s):
                camera = f
                self._sent_frame = (f.camera_id, f.t_s)
        return Snapshot(
            episode=self.episode, t_s=sim.t_s, tick=sim.clock.tick, paused=self.paused, speed=self.speed,
            finished=self.finished, realtime_factor=None if self.paused or self.finished else self.rate.sim_per_wall(),
            shoppers=shoppers, tracks=tracks,
            hand_bins=self._bins.containing(hand_points), stack_carts=stack_carts, truth_carts=truth_carts,
            account_state=state, receipts=receipts, truth_events=truth_events, detected_events=detected,
            metrics=self._metrics(receipts), inspect=self.inspect(self.selected) if self.selected else None,
            recording=None if self.recorder is None else str(self.recorder.path),
            faults=self._fault_lines(), camera=camera,
        )

    def _fault_lines(self) -> list[str]:
        """The stack's faults on the stream, then the window's own in reading it; each once, with its count."""
        lane = self.lane.errors() if self.lane is not None else []
        return lane + [f"{k} (x{n})" if n > 1 else k for k, n in self.faults.items()]

    def _metrics(self, receipts: list[ReceiptView]) -> dict[str, Any]:
        ledger = self.sim.ledger
        truth = [e for e in ledger.events if e.kind in SHELF_KINDS]
        m: dict[str, Any] = {"shoppers inside (truth)": len(ledger.inside), "receipts issued": len(receipts)}
        if self.stack is None:
            m.update(shelf_event_rows(count_shelf_events(truth, None)))
            return m
        decided = [r for r in receipts if r.correct is not None]
        if decided:
            m["receipts exact"] = f"{sum(bool(r.correct) for r in decided)}/{len(decided)}"
        if receipts:
            m["flagged for review"] = f"{sum(r.flagged for r in receipts)}/{len(receipts)}"
        # the stack revises its events in place (a SKU re-read, a take found knocked off): key on their content
        key = (len(truth), tuple((e.t_s, e.kind, e.bin, e.sku, int(e.qty), e.account) for e in self.stack.events))
        if self._match_cache is None or self._match_cache[0] != key:
            self._match_cache = (key, shelf_event_rows(count_shelf_events(truth, self.stack.events)))
        m.update(self._match_cache[1])
        return m


@dataclass(frozen=True)
class ShelfEventCounts:
    """Takes and put-backs, true and detected, every figure in items (a take of two is two), so that
    `matched` can exceed neither `true_items` nor `detected_items`."""

    true_items: int
    detected_items: int | None  # None: no stack
    detected_events: int | None  # the stack's take / put-back events; one may carry several items
    knocked_off: int  # the stack's takes it re-read as knocked onto the floor: on no cart, in no count above
    matched: int | None  # None: no stack, or `scoring` not available
    attribution: float | None  # of the matched, the share charged to the right account

    @property
    def missed(self) -> int | None:
        return None if self.matched is None else self.true_items - self.matched

    @property
    def spurious(self) -> int | None:
        return None if self.matched is None or self.detected_items is None else self.detected_items - self.matched


def count_shelf_events(truth: list, detected: list | None) -> ShelfEventCounts:
    """Count ledger take / put-back events (one item each) against the stack's `ShelfEvent`s (qty items each)
    with `scoring.metrics.match_events`, the matching the episode report uses."""
    true_items = sum(e.kind in SHELF_KINDS for e in truth)
    if detected is None:
        return ShelfEventCounts(true_items, None, None, 0, None, None)
    shelf = [e for e in detected if e.kind in SHELF_KINDS]
    counts = ShelfEventCounts(true_items, sum(max(int(e.qty), 0) for e in shelf), len(shelf),
                              sum(e.kind == "drop" for e in detected), None, None)
    try:
        from scoring.metrics import match_events, true_shelf_events
    except ImportError:
        return counts
    r = match_events(true_shelf_events(truth), shelf)
    assert r["matched"] <= min(true_items, counts.detected_items), f"event matching counted more than it had: {r}"
    return replace(counts, matched=int(r["matched"]), attribution=r["attribution_accuracy"])


def shelf_event_rows(c: ShelfEventCounts) -> dict[str, str]:
    """The metrics panel's rows for `c`: what each figure counts, in plain words."""
    rows = {"true shelf events": f"{_n(c.true_items, 'item')} (truth)"}
    if c.detected_items is None:
        return rows
    detected = f"{_n(c.detected_items, 'item')} in {_n(c.detected_events, 'event')}"
    rows["detected by the stack"] = detected
    if c.knocked_off:
        rows["takes found knocked off"] = _n(c.knocked_off, "item")
    if c.matched is not None:
        rows["matched to truth"] = f"{c.matched} ({c.missed} missed, {c.spurious} spurious)"
    if c.attribution is not None:
        rows["right account"] = f"{100 * c.attribution:.0f} % of matched"
    return rows


def _n(count: int, noun: str) -> str:
    return f"{count} {noun}" + ("" if count == 1 else "s")


def _status(actor: object) -> str:
    """Where a shopper is in its life, from what it says of itself (public attributes only)."""
    if getattr(actor, "done", False):
        return "gone"
    if getattr(actor, "exited", False):
        return "leaving through the exit"
    if getattr(actor, "spawned", True) is False:
        return "waiting to enter"
    if getattr(actor, "script_over", False):
        return "script done: walking out"
    return "busy at a gate or shelf" if getattr(actor, "busy", False) else "walking or browsing"


def _describe_step(step: object) -> str:
    """A script step in the words the shopper uses for what it is doing (`agents.shopper.describe_step`), so
    the step under way reads the same in the script list and in the "doing" line."""
    try:
        from agents.shopper import describe_step

        return describe_step(step)
    except Exception:  # agents not landed, or not a `Step`: the step's own fields
        action = getattr(step, "action", None)
        if action is None:
            return str(step)
        args = getattr(step, "args", None)
        if hasattr(args, "model_dump"):
            args = {k: v for k, v in args.model_dump().items() if v is not None}
        if isinstance(args, dict):
            return action + "".join(f" {k}={v}" for k, v in args.items())
        return f"{action} {args}" if args is not None else action


class _BinBoxes:
    """Bins as boxes above their plates, to tell which bins a hand is in (truth, for the map)."""

    def __init__(self, info: StoreInfo, margin_m: float = 0.03) -> None:
        self.ids = [b.id for b in info.bins]
        self.center = np.array([b.center for b in info.bins], float).reshape(-1, 3)
        self.right = np.array([b.right for b in info.bins], float).reshape(-1, 2)
        self.facing = np.array([b.facing for b in info.bins], float).reshape(-1, 2)
        self.half_w = np.array([b.width_m / 2 for b in info.bins]) + margin_m
        self.half_d = np.array([b.depth_m / 2 for b in info.bins]) + margin_m
        self.clear = np.array([b.clearance_m for b in info.bins]) + margin_m

    def containing(self, points: list[tuple[float, float, float]]) -> set[str]:
        if not points or not self.ids:
            return set()
        p = np.asarray(points, float)[:, None, :]  # (P, 1, 3)
        d = p - self.center[None]
        along = np.abs(np.einsum("pbk,bk->pb", d[..., :2], self.right))
        out = np.abs(np.einsum("pbk,bk->pb", d[..., :2], self.facing))
        inside = (along <= self.half_w) & (out <= self.half_d) & (d[..., 2] >= -0.02) & (d[..., 2] <= self.clear)
        return {self.ids[j] for j in np.flatnonzero(inside.any(axis=0))}


# --- the 3-D view's renderer ------------------------------------------------------------------------------------


class ViewRenderer:
    """The live world from the orbit camera, through `sim.render.StoreRenderer`'s static/dynamic mirror.

    While the eye is still, each redraw costs only the moving bodies (shoppers, what they carry); a new
    eye re-renders the static store once. The mirror is the cameras' own, so the view shows what they see.
    """

    def __init__(self, world_client: int, dynamic_bodies: set[int], cam, backend: str) -> None:
        from sim.render import StoreRenderer

        self._r = StoreRenderer(world_client, dynamic_bodies, [cam], backend)

    def look(self, cam) -> None:
        r = self._r
        if r.cameras[0] != cam:
            r.cameras[0] = cam
            r._backgrounds[0] = None  # the background cache is per camera pose

    def draw(self) -> np.ndarray:
        self._r.sync()
        rgb, depth = self._r.render(0)
        rgb = np.array(rgb)
        rgb[depth <= 0] = SKY_RGB  # nothing drawn there: the renderer's white clear colour would glare
        return rgb

    def close(self) -> None:
        self._r.close()


# --- recording -----------------------------------------------------------------------------------------------


class _Recorder:
    """Writes the live stream to an MCAP log (`sim.recording.LogWriter`) from the moment recording starts.

    The log opens with the `StoreInfo` (as a stream does) and ends, when recording stops, with the
    ledger's truth so far on the `/truth/...` channels, so `run_sim.py replay LOG` can score it.
    """

    def __init__(self, path: Path, first: StoreInfo, ledger, metadata: dict[str, str]) -> None:
        from sim.recording import LogWriter

        self.path = path
        self._ledger = ledger
        self._log = LogWriter(path, metadata)
        self._log.write(first)
        self.count = 1

    def write(self, msg: object) -> None:
        self._log.write(msg)
        self.count += 1

    def close(self) -> None:
        from sim.recording import RecordedTruth

        self._log.write_truth(RecordedTruth.from_ledger(self._ledger))
        self._log.close()


# --- hosts ---------------------------------------------------------------------------------------------------


class InlineHost:
    """The worker in the window's own process: each `poll` runs a time-boxed slice. Exact; for tests."""

    def __init__(self, target: str, seed: int | None = None, mode: str = "fused", budget_s: float = 0.012) -> None:
        self.worker = EpisodeWorker(target, seed, mode)
        self.budget_s = budget_s
        self._info_sent = 0

    def send(self, cmd: tuple) -> None:
        self.worker.handle(cmd)

    def poll(self) -> tuple[EpisodeInfo | None, Snapshot | None]:
        w = self.worker
        w.advance(self.budget_s)
        snap = w.snapshot()
        rgb = w.render_view()
        if rgb is not None:
            snap.view3d, snap.view_key = rgb, w._view_key
        info = None
        if self._info_sent != w.episode:
            info, self._info_sent = w.info, w.episode
        return info, snap

    def close(self) -> None:
        self.worker.close()


class ProcessHost:
    """The worker in its own process: the window never waits for physics or cameras."""

    def __init__(self, target: str, seed: int | None = None, mode: str = "fused") -> None:
        ctx = mp.get_context("spawn")
        self._conn, child = ctx.Pipe()
        self._proc = ctx.Process(target=_serve, args=(child, target, seed, mode), daemon=True, name="store-twin-sim")
        self._proc.start()
        child.close()
        kind, payload = self._conn.recv()  # the build: an input error ends here, before any window opens
        if kind == "error":
            self.close()
            raise _ErrorLine(payload)
        self._pending_info: EpisodeInfo | None = payload
        self.dead: str | None = None

    def send(self, cmd: tuple) -> None:
        if self.dead is None:
            try:
                self._conn.send(cmd)
            except OSError:  # the sim process is gone; `poll` will say why if it could
                self.dead = "the simulation process ended"

    def poll(self) -> tuple[EpisodeInfo | None, Snapshot | None]:
        info, snap = self._pending_info, None
        self._pending_info = None
        view = None
        camera = None
        try:
            while self._conn.poll(0):
                kind, payload = self._conn.recv()
                if kind == "info":
                    info, view, camera = payload, None, None
                elif kind == "snap":
                    snap = payload
                    view = (snap.view3d, snap.view_key) if snap.view3d is not None else view
                    camera = snap.camera if snap.camera is not None else camera
                elif kind == "crash":
                    self.dead = payload
        except (EOFError, OSError):
            self.dead = self.dead or "the simulation process ended"
        if snap is not None:  # keep a view or camera frame that came with a snapshot superseded in this poll
            if snap.view3d is None and view is not None:
                snap.view3d, snap.view_key = view
            if snap.camera is None:
                snap.camera = camera
        return info, snap

    def close(self) -> None:
        try:
            self._conn.send(("quit",))
        except (OSError, BrokenPipeError):
            pass
        self._proc.join(timeout=3)
        if self._proc.is_alive():
            self._proc.terminate()
            self._proc.join(timeout=2)


class _ErrorLine(InputError):
    """An `InputError` raised in the worker, carried back as its one line."""

    def __init__(self, line: str) -> None:
        Exception.__init__(self, line)
        self.line = line

    def __str__(self) -> str:
        return self.line


def _serve(conn, target: str, seed: int | None, mode: str) -> None:
    """The simulation process: commands in, snapshots (and rendered views) out."""
    try:
        worker = EpisodeWorker(target, seed, mode)
    except InputError as exc:
        conn.send(("error", str(exc)))
        return
    conn.send(("info", worker.info))
    episode = worker.episode
    last_snap = 0.0
    try:
        while True:
            busy = False
            while conn.poll(0):
                cmd = conn.recv()
                if cmd[0] == "quit":
                    return
                worker.handle(cmd)
                busy = True
            if worker.episode != episode:
                episode = worker.episode
                conn.send(("info", worker.info))
            busy |= worker.advance(0.02) > 0
            rgb = worker.render_view()
            now = time.perf_counter()
            if rgb is not None or busy or now - last_snap >= 0.25:
                if rgb is not None or now - last_snap >= SNAPSHOT_S:
                    snap = worker.snapshot()
                    if rgb is not None:
                        snap.view3d, snap.view_key = rgb, worker._view_key
                    conn.send(("snap", snap))
                    last_snap = now
            if not busy and rgb is None:
                conn.poll(0.01)
    except (EOFError, BrokenPipeError, KeyboardInterrupt):
        return
    except Exception:
        try:
            conn.send(("crash", traceback.format_exc(limit=8)))
        except OSError:
            pass
    finally:
        worker.close()
