"""The shape of every shopper action: a small object with its own state and a `run` generator.

An action is made for one step of one shopper (`Action(shopper, args)`), and
its `run()` is resumed once per agent tick until it ends (it may raise a
`agents.actions.errors.ScenarioFault`). What the action wants of the body that is
not the body's own state — which way to face — is the action's own
(`face_yaw`): the shopper faces as its innermost running action wants, so a
hand-over that interrupts a walk to a shelf, and ends, leaves the walk's
wish as it was (two actions of one shopper never write each other's state).

Actions register by name (`register_action`); the scripting language's
actions are `agents.scenario.ACTIONS`, each one registered in this package.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable, ClassVar, Iterator

from agents.actions.errors import OutOfReach, ScenarioFault, StockOut
from agents.actions.hands import HandSkills
from agents.actions.moves import WalkingSkills

if TYPE_CHECKING:
    from agents.shopper import Shopper

ACTIONS: dict[str, type["Action"]] = {}


def register_action(name: str) -> Callable[[type["Action"]], type["Action"]]:
    """Class decorator: the action a script step named `name` runs."""
    def deco(cls: type[Action]) -> type[Action]:
        cls.name = name
        ACTIONS[name] = cls
        return cls

    return deco


class Action(WalkingSkills, HandSkills):
    name: ClassVar[str] = ""

    def __init__(self, shopper: "Shopper", args: Any = None) -> None:
        self.sh = shopper
        self.args = args
        self.face_yaw: float | None = None  # where this action wants the body to face (None: along its walk)

    def run(self) -> Iterator[None]:
        raise NotImplementedError
        yield  # pragma: no cover - makes every run() a generator

    def describe(self) -> str:
        return self.name


__all__ = ["ACTIONS", "Action", "OutOfReach", "ScenarioFault", "StockOut", "register_action"]
