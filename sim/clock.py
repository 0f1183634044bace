"""The one owner of simulated time: a fixed physics step, and periods checked against it.

Step order, every tick (written once here, followed by `Simulation.step`):
agents act -> physics substep -> ground-truth ledger update -> sensors sample
what is due -> messages published. Sensors never read wall time.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from sim.layout import PHYSICS_HZ


@dataclass
class Clock:
    dt_s: float = 1.0 / PHYSICS_HZ
    tick: int = field(default=0)

    @property
    def t_s(self) -> float:
        return self.tick * self.dt_s

    def advance(self) -> None:
        self.tick += 1

    def period_ticks(self, period_s: float, what: str) -> int:
        """Ticks per period; a period that is not a whole number of physics steps is refused."""
        ticks = round(period_s / self.dt_s)
        if ticks < 1 or abs(ticks * self.dt_s - period_s) > 1e-9 * max(1.0, period_s):
            raise ValueError(
                f"{what}: period {period_s:.6g} s is not a multiple of the physics step {self.dt_s:.6g} s"
            )
        return ticks

    def due(self, period_ticks: int, phase: int = 0) -> bool:
        return (self.tick - phase) % period_ticks == 0
