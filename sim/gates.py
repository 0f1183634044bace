"""Entry and exit gates.

Entry gates are app-scan turnstiles: a shopper presents an account and every
member of the group walks through on that one scan, so the gate emits
`GateScan(gate, account, t)` once. Exit gates are break-beam counters: they
emit `GatePassage(gate, t)` for each body that crosses the opening outward,
with no identity. Passages are detected from the bodies' positions, sampled at
`RATE_HZ`; the ledger gets the truth (who entered, who left).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from sim.clock import Clock
from sim.layout import Gate
from sim.ledger import Ledger
from sim.stream import GatePassage, GateScan

RATE_HZ = 30.0  # a typical break-beam / turnstile controller polling rate


@dataclass(frozen=True)
class Person:
    """What the gates can see of a shopper body; the ids go to the ledger only."""

    shopper: str
    account: str
    xy: tuple[float, float] | None  # None while not in the world


class GateRig:
    def __init__(
        self,
        gates: tuple[Gate, ...],
        floor_m: tuple[float, float],
        clock: Clock,
        ledger: Ledger,
        people: Callable[[], list[Person]],
    ) -> None:
        self._people = people
        self.gates = {g.id: g for g in gates}
        self.floor_m = floor_m
        self.period_ticks = clock.period_ticks(1.0 / RATE_HZ, "gates")
        self._clock = clock
        self._ledger = ledger
        self._pending: list = []
        self._side: dict[str, bool] = {}  # shopper -> inside the floor at the last sample
        self._account: dict[str, str] = {}

    def scan(self, gate_id: str, account: str, shoppers: list[str]) -> None:
        """A shopper presents `account` at an entry gate; `shoppers` may walk through on it."""
        gate = self.gates[gate_id]
        assert gate.kind == "entry", f"scan at {gate_id}, which is an {gate.kind} gate"
        t = self._clock.t_s
        self._pending.append(GateScan(t_s=t, gate=gate_id, account=account))
        self._ledger.scan(t, gate_id, account, shoppers)

    def sample(self) -> list:
        """Detect crossings since the last sample; return the messages due now."""
        t = self._clock.t_s
        out, self._pending = self._pending, []
        for p in self._people():
            if p.xy is None:
                continue
            inside = self._inside(p.xy)
            was = self._side.get(p.shopper)
            self._side[p.shopper] = inside
            if was is None or was == inside:
                continue
            gate = self._gate_near(p.xy)
            if gate is None:
                continue
            if inside and gate.kind == "entry":
                self._ledger.enter(t, gate.id, p.shopper, p.account)
            elif not inside and gate.kind == "exit":
                self._ledger.exit(t, gate.id, p.shopper, p.account)
                out.append(GatePassage(t_s=t, gate=gate.id))
        return out

    def _inside(self, xy: tuple[float, float]) -> bool:
        return 0.0 < xy[0] < self.floor_m[0] and 0.0 < xy[1] < self.floor_m[1]

    def _gate_near(self, xy: tuple[float, float]) -> Gate | None:
        best, best_d = None, 1.0
        for g in self.gates.values():
            d = ((xy[0] - g.at[0]) ** 2 + (xy[1] - g.at[1]) ** 2) ** 0.5
            if d < max(best_d, g.width_m):
                best, best_d = g, d
        return best

    def flush(self) -> list:
        out, self._pending = self._pending, []
        return out
