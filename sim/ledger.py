"""The ground-truth ledger: where every item is, who pays for it, and what happened when.

Who pays (DESIGN.md section 7): picker pays — an item is charged to the account
of the shopper who last took it off a shelf; an item put back into any bin, by
anyone, is charged to no one; giving an item to another shopper does not move
its charge. A receipt is the multiset of SKUs charged to an account, closed
when the account's last member passes an exit.

The ledger is truth: it is never handed to the checkout stack.
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field


@dataclass
class ItemRecord:
    item_id: int
    sku: str
    weight_g: float  # the true weight of this one item
    home_bin: str  # where the planogram put it at opening
    location: str  # a bin id, or "hand:<shopper>" / "basket:<shopper>", or "floor" (fell off a shelf)
    charged_to: str | None = None  # account
    picked_by: str | None = None  # shopper


@dataclass(frozen=True)
class TruthEvent:
    """One thing that truly happened. `kind`: take, put_back, drop, give, touch, lean, entry, exit, scan, fault, adapted."""

    t_s: float
    kind: str
    shopper: str | None = None
    account: str | None = None
    item_id: int | None = None
    sku: str | None = None
    bin: str | None = None
    gate: str | None = None
    other: str | None = None  # the receiver of a give
    weight_g: float | None = None
    seconds: float | None = None  # how long a touch or a lean lasted
    force_n: float | None = None  # the extra downward force of a lean
    message: str | None = None  # a scenario fault: why a shopper's script ended early; an adapted step: what changed
    to_bin: str | None = None  # a drop that came to rest on another plate: that plate's bin


@dataclass(frozen=True)
class PoseSample:
    """Where a shopper's head and hands truly were (world metres); sampled at `POSE_HZ`."""

    t_s: float
    shopper: str
    head: tuple[float, float, float]
    left_hand: tuple[float, float, float]
    right_hand: tuple[float, float, float]
    yaw_rad: float


POSE_HZ = 10.0  # pose truth rate: enough for attribution (a reach lasts about a second)


@dataclass
class Ledger:
    items: dict[int, ItemRecord] = field(default_factory=dict)
    events: list[TruthEvent] = field(default_factory=list)
    members: dict[str, set[str]] = field(default_factory=dict)  # account -> shoppers
    inside: set[str] = field(default_factory=set)
    exited: dict[str, float] = field(default_factory=dict)  # shopper -> time
    closed: dict[str, float] = field(default_factory=dict)  # account -> time its receipt closed
    closed_receipts: dict[str, dict[str, int]] = field(default_factory=dict)  # account -> SKUs charged at closing
    poses: dict[str, list[PoseSample]] = field(default_factory=dict)  # shopper -> samples in time order
    faults: list[TruthEvent] = field(default_factory=list)  # scenario faults met at run time

    def add_item(self, record: ItemRecord) -> None:
        assert record.item_id not in self.items, f"item {record.item_id} added twice"
        self.items[record.item_id] = record

    def items_in(self, bin_id: str) -> list[int]:
        return [i for i, r in self.items.items() if r.location == bin_id]

    def take(self, t_s: float, item_id: int, shopper: str, account: str) -> None:
        rec = self.items[item_id]
        assert not rec.location.startswith(("hand:", "basket:")), f"item {item_id} taken while held ({rec.location})"
        bin_id = rec.location
        rec.location, rec.charged_to, rec.picked_by = f"hand:{shopper}", account, shopper
        self.events.append(TruthEvent(t_s, "take", shopper, account, item_id, rec.sku, bin=bin_id, weight_g=rec.weight_g))

    def stow(self, item_id: int, shopper: str) -> None:
        """The item leaves the hand for the shopper's basket or bag: no change of charge."""
        self.items[item_id].location = f"basket:{shopper}"

    def put_back(self, t_s: float, item_id: int, bin_id: str, shopper: str, account: str) -> None:
        rec = self.items[item_id]
        rec.location, rec.charged_to = bin_id, None
        self.events.append(TruthEvent(t_s, "put_back", shopper, account, item_id, rec.sku, bin=bin_id, weight_g=rec.weight_g))

    def drop(self, t_s: float, item_id: int, shopper: str | None, account: str | None, onto: str | None = None) -> None:
        """An item that left its place without a grasp (let go of and toppled, knocked off) came to rest on the
        floor, or (`onto`) on another plate; charged to no one. `shopper` None: no one in particular did it."""
        rec = self.items[item_id]
        bin_id = rec.location if rec.location != "floor" and not rec.location.startswith(("hand:", "basket:")) else None
        rec.location, rec.charged_to = onto or "floor", None
        self.events.append(TruthEvent(t_s, "drop", shopper, account, item_id, rec.sku, bin=bin_id, weight_g=rec.weight_g,
                                      to_bin=onto))

    def give(self, t_s: float, item_id: int, giver: str, receiver: str, account: str) -> None:
        rec = self.items[item_id]
        rec.location = f"basket:{receiver}"
        self.events.append(TruthEvent(t_s, "give", giver, account, item_id, rec.sku, other=receiver))

    def note(
        self, t_s: float, kind: str, shopper: str, account: str, bin_id: str,
        seconds: float | None = None, force_n: float | None = None,
    ) -> None:
        """A touch or a lean: nothing moves, but it happened."""
        self.events.append(TruthEvent(t_s, kind, shopper, account, bin=bin_id, seconds=seconds, force_n=force_n))

    def adapted(self, t_s: float, shopper: str, account: str, message: str) -> None:
        """A scripted step done otherwise than written, as the shelves then allowed (a bin emptied or filled
        up meanwhile): what happened instead is in the other events; this says why."""
        self.events.append(TruthEvent(t_s, "adapted", shopper, account, message=message))

    def pose(self, sample: PoseSample) -> None:
        self.poses.setdefault(sample.shopper, []).append(sample)

    def fault(self, t_s: float, shopper: str, account: str, message: str) -> None:
        """A scenario step that could not be done (e.g. a pick from a bin without that item): the script ends there."""
        ev = TruthEvent(t_s, "fault", shopper, account, message=message)
        self.faults.append(ev)
        self.events.append(ev)

    def events_of(self, kind: str) -> list[TruthEvent]:
        return [e for e in self.events if e.kind == kind]

    def scan(self, t_s: float, gate: str, account: str, shoppers: list[str]) -> None:
        self.members.setdefault(account, set()).update(shoppers)
        self.events.append(TruthEvent(t_s, "scan", None, account, gate=gate))

    def enter(self, t_s: float, gate: str, shopper: str, account: str) -> None:
        self.members.setdefault(account, set()).add(shopper)
        self.inside.add(shopper)
        self.events.append(TruthEvent(t_s, "entry", shopper, account, gate=gate))

    def exit(self, t_s: float, gate: str, shopper: str, account: str) -> None:
        self.inside.discard(shopper)
        self.exited[shopper] = t_s
        self.events.append(TruthEvent(t_s, "exit", shopper, account, gate=gate))
        if all(m in self.exited for m in self.members.get(account, {shopper})):
            self.closed[account] = t_s
            self.closed_receipts[account] = dict(sorted(self.receipt(account).items()))

    def receipt(self, account: str) -> Counter:
        """SKUs charged to an account now (the true receipt once the account has closed)."""
        return Counter(r.sku for r in self.items.values() if r.charged_to == account)

    def receipts(self) -> dict[str, dict[str, int]]:
        """True receipts of every closed account, empty ones included."""
        return {a: dict(sorted(self.receipt(a).items())) for a in sorted(self.closed)}
