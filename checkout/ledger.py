"""The carts stage: accounts, what each cart holds, what each bin is believed to hold, and the receipts they make.

Every decided shelf event ends here (`Ledger.apply`): a take moves units from a bin's belief to a cart, a
put-back the other way. Each account's confidence is a product of factors, one per piece of evidence that
touched it, revisable (`Ledger.revise`) while its receipt is still to go out; reasons flag the receipt.
A take later found knocked onto the floor (`Ledger.knocked_off`) comes off its cart.
"""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from checkout.attribution import Candidate
from checkout.identification import CartedUnit, Hypothesis, measured_unit_taken
from checkout.knocked import FloorLedger
from checkout.receipts import Receipt, ShelfEvent
from checkout.stages import StageContext, register_stage


@dataclass
class CartItem:
    """One unit in a cart, with what it weighed when taken."""

    sku: str
    unit_g: float
    sd_g: float
    # The take's doubt over who took it: per account, the index of the factor it put on that account's
    # confidence, and the part of it that was about what (not who) was taken.
    doubt: dict[str, int] = field(default_factory=dict)
    p_what: float = 1.0


@dataclass
class Account:
    id: str
    scanned_s: float
    exit_s: float | None = None
    issued: bool = False
    factors: list[float] = field(default_factory=list)
    reasons: list[str] = field(default_factory=list)


@dataclass
class _PutBack:
    """A put-back's part of its cart's confidence, and the other readings it was weighed against."""

    t_s: float
    account: str
    factor_index: int
    p: float
    alts: tuple[tuple[str, str | None, float], ...]  # (sku, from account, probability)
    bin: str
    sku: str  # what it was read as returning
    event_index: int  # its ShelfEvent in `Ledger.events`


BIN_DOUBT_P = 0.1  # an event this unsure which of two SKUs moved leaves the bin's contents in doubt


@dataclass(frozen=True)
class _BinDoubt:
    """After an event unsure which of two SKUs moved (`p_other` on the other), the bin holds the other one with
    that probability: the next take of either from it is right only if that guess was."""

    skus: frozenset[str]
    p_other: float


@register_stage("carts", "carts")
class Ledger:
    def __init__(self, ctx: StageContext) -> None:
        self.store = ctx.store
        self.events = ctx.events  # the stack's list: decided events are appended, revised in place
        self.review_threshold = ctx.review_threshold
        self._now: Callable[[], float] = ctx.now
        self.accounts: dict[str, Account] = {}
        self._carts: dict[str, list[CartItem]] = {}
        self._bins: dict[str, dict[str, int]] = {b: dict(ctx.store.planogram.get(b, {})) for b in ctx.store.bin_ids}
        self._bin_units: dict[str, list[CartedUnit]] = {}  # per bin, items put back there with their measured weight
        self._put_backs: list[_PutBack] = []
        self._bin_doubt: dict[str, _BinDoubt] = {}

    # -- reading ------------------------------------------------------------------------------------------------
    def carts(self) -> dict[str, dict[str, int]]:
        out = {}
        for acct, units in self._carts.items():
            c: dict[str, int] = {}
            for u in units:
                c[u.sku] = c.get(u.sku, 0) + 1
            out[acct] = dict(sorted(c.items()))
        return out

    def bin_beliefs(self) -> dict[str, dict[str, int]]:
        return {b: {s: n for s, n in c.items() if n > 0} for b, c in self._bins.items()}

    def beliefs(self, bin_id: str) -> dict[str, int]:
        """The bin's belief itself (SKU -> count), for reading; only the ledger changes it."""
        return self._bins[bin_id]

    def bin_units(self, bin_id: str) -> tuple[CartedUnit, ...]:
        return tuple(self._bin_units.get(bin_id, ()))

    def cart(self, account: str) -> list[CartItem]:
        return self._carts.get(account, [])

    def holders(self, sku: str) -> list[str]:
        """The accounts whose carts hold `sku`, in the order they were opened."""
        return [a for a, units in self._carts.items() if any(u.sku == sku for u in units)]

    def carted(self) -> list[CartedUnit]:
        return [CartedUnit(a, u.sku, u.unit_g, u.sd_g) for a, units in self._carts.items() for u in units]

    def inside(self, at: float | None = None) -> list[str]:
        t = self._now() if at is None else at
        return [a.id for a in self.accounts.values() if a.scanned_s <= t and (a.exit_s is None or a.exit_s >= t)]

    # -- accounts -----------------------------------------------------------------------------------------------
    def scanned(self, account: str, t_s: float) -> None:
        self.accounts.setdefault(account, Account(account, t_s))
        self._carts.setdefault(account, [])

    def account(self, account: str, scanned_s: float | None = None) -> Account:
        return self.accounts.setdefault(account, Account(account, self._now() if scanned_s is None else scanned_s))

    def factor(self, account: str, p: float) -> int:
        """Multiply the account's confidence by `p`; the factor's index, for revising it when later evidence says."""
        a = self.account(account)
        a.factors.append(max(0.0, min(1.0, p)))
        return len(a.factors) - 1

    def revise(self, account: str, index: int, p: float) -> None:
        """Later evidence changed what one earlier factor should have been; an issued receipt stays as it went out."""
        a = self.accounts.get(account)
        if a is not None and not a.issued and index < len(a.factors):
            a.factors[index] = max(0.0, min(1.0, p))

    def reason(self, account: str | None, why: str) -> None:
        if account is None:
            return
        self.account(account).reasons.append(why)

    def receipt(self, acct: Account, t_s: float) -> Receipt:
        acct.issued = True
        items = self.carts().get(acct.id, {})
        total = round(sum(self.store.catalog[s].price * n for s, n in items.items()), 2)
        conf = float(np.prod(acct.factors)) if acct.factors else 1.0
        reasons = tuple(dict.fromkeys(acct.reasons))
        if conf < self.review_threshold:
            reasons += (f"confidence {conf:.2f} below {self.review_threshold:.2f}",)
        return Receipt(acct.id, items, total, conf, bool(reasons), t_s, reasons)

    # -- decided shelf events -----------------------------------------------------------------------------------
    def apply(self, t_s: float, bin_id: str, best: Hypothesis, hyps: list[Hypothesis], by_acct: dict[str | None, float],
              top: str | None, delta_g: float, cands: list[Candidate], source: str, reasons: list[str],
              sd_g: float = 2.0) -> list[CartItem] | None:
        """Carts, beliefs, confidences and `events` after one decided event; the units a take put in a cart
        (None when it put none)."""
        p_attr = by_acct.get(top, 0.0) if top else 0.0
        track = next((c.track for c in cands if c.account == top), None)
        belief = self._bins[bin_id]
        self._follow_units(bin_id, best, delta_g, sd_g)
        added = None
        inherited = self._bin_doubt.pop(bin_id, None) if best.kind == "take" else None
        if inherited is not None and best.sku not in inherited.skus:
            self._bin_doubt[bin_id] = inherited  # a take of something else leaves that doubt as it was
            inherited = None
        if best.kind == "take":
            # A take from a bin left in doubt by an unsure earlier event (a misplaced look-alike taken or not):
            # which of the two was still there decides this one too.
            conf = best.probability * p_attr * (1.0 - inherited.p_other if inherited is not None else 1.0)
            belief[best.sku] = max(0, belief.get(best.sku, 0) - best.qty)
            if top is not None:
                cart = self._carts.setdefault(top, [])
                unit = abs(delta_g) / best.qty if delta_g else self.store.catalog[best.sku].weight_g
                sd = math.sqrt(4.0 / best.qty + (self.store.catalog[best.sku].weight_sd_g ** 2 if best.qty > 1 else 0.0))
                doubt = {top: self.factor(top, conf)}
                doubt.update({a: self.factor(a, 1.0 - p) for a, p in by_acct.items() if a is not None and a != top})
                added = [CartItem(best.sku, unit, sd, doubt, best.probability) for _ in range(best.qty)]
                cart.extend(added)
            else:
                for a, p in by_acct.items():
                    if a is not None:
                        self.factor(a, 1.0 - p)
            charged = top
        else:
            conf = best.probability
            belief[best.sku] = belief.get(best.sku, 0) + best.qty
            charged = best.from_account
            if charged is not None:
                alone = sum(u.sku == best.sku for u in self._carts.get(charged, [])) == best.qty
                for u in self._remove(charged, best.sku, best.qty, abs(delta_g) / best.qty if delta_g else None):
                    if alone:
                        self._returned(charged, u)
                alts = tuple((h.sku, h.from_account, h.probability) for h in hyps if h is not best and h.kind == "put_back")
                k = self.factor(charged, conf)
                self._put_backs.append(_PutBack(t_s, charged, k, conf, alts, bin_id, best.sku, len(self.events)))
            elif top is not None:
                self.reason(top, f"put-back at {bin_id} of {best.sku} that no cart held")
        # The accounts that were not charged for a take are right only if it really was not theirs (above). A
        # put-back touches only the cart it returns to, whoever's hand did it (a hand-over changes no receipt): the
        # identification's posterior over carts, which already weighed who put it back, says that here.
        for h in hyps[1:]:
            if h.kind == "put_back" and h.from_account not in (None, charged):
                self.factor(h.from_account, 1.0 - h.probability)
        others = [h for h in hyps if h.kind == best.kind and h.sku is not None and h.sku != best.sku]
        p_other = sum(h.probability for h in others)
        if best.kind in ("take", "put_back") and others and p_other >= BIN_DOUBT_P:
            alt = max(others, key=lambda h: h.probability)
            self._bin_doubt[bin_id] = _BinDoubt(frozenset((best.sku, alt.sku)), p_other)
        for r in reasons:
            for a in {top, charged} - {None}:
                self.reason(a, r)
        self.events.append(
            ShelfEvent(t_s, bin_id, best.kind, best.sku, best.qty, charged if best.kind == "put_back" else top, conf, delta_g, track, source, tuple(reasons))
        )
        return added

    def knocked_off(self, floor: FloorLedger) -> None:
        """Takes whose item lies on the floor in front of their bin (`checkout.knocked`): that unit comes off the
        cart (the bin's belief keeps it gone), as long as the receipt is still to go out."""
        things = floor.unexplained()
        if not things:
            return
        open_accounts = {a.id for a in self.accounts.values() if not a.issued}
        for thing in things:
            takes = [(i, e) for i, e in enumerate(self.events) if e.kind == "take" and e.account in open_accounts]
            i = floor.explains(thing, takes)
            if i is None:
                continue
            ev = self.events[i]
            if any(u.sku == ev.sku for u in self._carts.get(ev.account, [])):
                for u in self._remove(ev.account, ev.sku, 1, abs(ev.delta_g) / ev.qty if ev.delta_g else None):
                    for a, k in u.doubt.items():  # nobody took it: the doubt over who did is moot
                        self.revise(a, k, 1.0)
            elif not self._reread_put_back(ev.account, ev.sku, ev.t_s):
                self.reason(ev.account, f"{ev.sku} from {ev.bin} was knocked off, and a put-back since may have been read as returning it")
            why = f"{ev.sku} seen on the floor at ({thing.xy[0]:.2f}, {thing.xy[1]:.2f}) from {thing.first_s:.1f} s: knocked off, not taken"
            # Uncharged on the floor's colours alone (a bag set down, a shoe, a basket may show them too): the
            # receipt says so and goes to review, never silently one item short.
            self.reason(ev.account, f"{ev.sku} from {ev.bin} uncharged: {why}")
            dropped = dataclasses.replace(ev, kind="drop", qty=1, reasons=ev.reasons + (why,))
            if ev.qty > 1:
                self.events[i] = dataclasses.replace(ev, qty=ev.qty - 1, delta_g=ev.delta_g * (ev.qty - 1) / ev.qty)
                self.events.append(dataclasses.replace(dropped, delta_g=ev.delta_g / ev.qty))
            else:
                self.events[i] = dropped
            self._revisit_put_backs(ev.account, ev.sku, ev.t_s)

    def reread_take(self, bin_id: str, item: CartItem, sku: str, event_index: int, confidence: float) -> None:
        """A take's unit was another SKU than it was read as (its colour said so): the unit, the bin's belief and
        the event follow."""
        if sku != item.sku:
            belief = self._bins[bin_id]
            belief[item.sku] = belief.get(item.sku, 0) + 1
            belief[sku] = max(0, belief.get(sku, 0) - 1)
            item.sku = sku
        self.events[event_index] = dataclasses.replace(self.events[event_index], sku=sku, confidence=confidence)

    # -- helpers ------------------------------------------------------------------------------------------------
    def _reread_put_back(self, account: str, sku: str, after_s: float) -> bool:
        """The knocked-off unit is not in the cart: a put-back since was read as returning it. It cannot have: it
        returned its likeliest other reading from this cart, which comes off the cart instead (and the bin holds
        that, not the knocked-off SKU). False when no put-back had such a reading."""
        cart = self._carts.get(account, [])
        for pb in reversed(self._put_backs):
            if pb.account != account or pb.t_s <= after_s or pb.sku != sku:
                continue
            others = [(p, s) for s, a, p in pb.alts if a == account and s != sku and any(u.sku == s for u in cart)]
            if not others or pb.p >= 1.0:
                continue
            p, other = max(others)
            self._remove(account, other, 1, None)
            belief = self._bins[pb.bin]
            belief[sku] = max(0, belief.get(sku, 0) - 1)
            belief[other] = belief.get(other, 0) + 1
            units = self._bin_units.get(pb.bin, [])
            k = next((j for j in range(len(units) - 1, -1, -1) if units[j].sku == sku), None)
            if k is not None:
                units[k] = dataclasses.replace(units[k], sku=other)
            pb.alts = tuple(x for x in pb.alts if x[0] != other or x[1] != account)
            pb.sku, pb.p = other, min(1.0, p / (1.0 - pb.p))
            self.events[pb.event_index] = dataclasses.replace(self.events[pb.event_index], sku=other, confidence=pb.p)
            self.revise(account, pb.factor_index, pb.p)
            return True
        return False

    def _revisit_put_backs(self, account: str, sku: str, after_s: float) -> None:
        """A unit found knocked off was never in the cart, so a later put-back cannot have returned it: where that
        was the doubt in the put-back's confidence, the confidence is what the other readings leave."""
        if any(u.sku == sku for u in self._carts.get(account, [])):
            return
        for pb in self._put_backs:
            if pb.account != account or pb.t_s <= after_s:
                continue
            gone = sum(p for s, a, p in pb.alts if s == sku and a == account)
            if gone <= 0.0 or gone >= 1.0:
                continue
            pb.p = min(1.0, pb.p / (1.0 - gone))
            pb.alts = tuple(x for x in pb.alts if not (x[0] == sku and x[1] == account))
            self.revise(account, pb.factor_index, pb.p)

    def _follow_units(self, bin_id: str, best: Hypothesis, delta_g: float, sd_g: float) -> None:
        """Keep the bin's weighed units (items put back there) in step with the belief."""
        units = self._bin_units.setdefault(bin_id, [])
        if best.kind == "put_back":
            if delta_g and best.qty == 1:
                units.append(CartedUnit("", best.sku, abs(delta_g), sd_g))
            return
        same = [i for i, u in enumerate(units) if u.sku == best.sku]
        if not same:
            return
        have = self._bins[bin_id].get(best.sku, 0)
        if best.qty == 1 and delta_g:
            k = measured_unit_taken(delta_g, sd_g, self.store.catalog[best.sku], have, [units[i] for i in same])
            if k is not None:
                units.pop(same[k])
                return
        excess = len(same) - max(0, have - best.qty)
        for i in reversed(same[:max(0, excess)]):
            units.pop(i)

    def _remove(self, account: str, sku: str, qty: int, unit_g: float | None) -> list[CartItem]:
        cart = self._carts.get(account, [])
        out = []
        for _ in range(qty):
            idx = [i for i, u in enumerate(cart) if u.sku == sku]
            if not idx:
                break
            if unit_g is not None:
                idx.sort(key=lambda i: abs(cart[i].unit_g - unit_g))
            out.append(cart.pop(idx[0]))
        return out

    def _returned(self, account: str, unit: CartItem) -> None:
        """A put-back returned the only `unit.sku` in this cart. If its take was in doubt between accounts, this
        receipt is the same whoever took it (taken and returned, or never taken), and so is every other doubted
        account's that holds no `unit.sku` (had it taken the unit, theirs would have been the only cart to
        return it from): the doubt over who took it no longer touches them. The doubt over what was taken stays
        on this one."""
        for a, k in unit.doubt.items():
            if a == account:
                self.revise(a, k, unit.p_what)
            elif not any(u.sku == unit.sku for u in self._carts.get(a, [])):
                self.revise(a, k, 1.0)
