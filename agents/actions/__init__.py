"""Shopper actions, one small object per step (`agents.actions.base.Action`), registered by name.

| module | actions |
|---|---|
| `shelf` | pick, put_back, touch, lean (a hand in a bin) |
| `handover` | give, and `Receive` (the receiver's side) |
| `waiting` | sync, wait |
| `walking` | walk_to |
| `gates` | `Enter`, `Leave`, `BailOut` |

`moves` and `hands` are the skills every action has (walking through the
crowd; standing at a bin, posture and hands); `agents.reach` is the geometry
behind where to stand.
"""
from __future__ import annotations

from agents.actions import gates, handover, shelf, waiting, walking  # noqa: F401 - each registers its actions
from agents.actions.base import ACTIONS, Action, OutOfReach, ScenarioFault, StockOut, register_action

__all__ = ["ACTIONS", "Action", "OutOfReach", "ScenarioFault", "StockOut", "register_action"]
