"""Takes in doubt, watched until someone walks off with the item's colour (`checkout.carry`).

Two doubts are watched: who took it (shoppers side by side, `CarryWatches` revises the confidences of
their receipts) and what was taken (look-alikes of one weight: the cart's unit, the bin's belief and the
event follow the colour). A stack that keeps the attribution stage's looks (`StackConfig.watch_carry`)
has one of these; the others decide on the take alone.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

from checkout import carry
from checkout.attribution import Candidate
from checkout.identification import Hypothesis
from checkout.ledger import CartItem, Ledger
from checkout.stages import AttributionStage
from checkout.storemodel import StoreModel

CARRY_DOUBT = 0.97  # a take attributed less surely than this is watched for who carries it off
CARRY_MIN_P = 0.05  # ... among the accounts at least this likely to have taken it


@dataclass
class _CarryWatch:
    """A take in doubt between shoppers, waiting to see who walks off with its colour."""

    t0: float  # the change's start and end
    t1: float
    sku: str
    top: str  # the account charged
    probs: dict[str, float]  # attribution per account (those at CARRY_MIN_P or more)
    tracks: dict[str, list[int]]
    unit: CartItem


@dataclass
class _WhatWatch:
    """A one-item take of look-alikes, waiting to see which colour its taker walks off with."""

    t0: float
    t1: float
    bin: str
    top: str
    probs: dict[str, float]  # identification per SKU (those at CARRY_MIN_P or more)
    tracks: list[int]  # the taker's
    unit: CartItem
    event_index: int


class CarryWatches:
    def __init__(self, store: StoreModel, ledger: Ledger, attribution: AttributionStage) -> None:
        assert attribution.looks is not None, "watching who carries a take off needs the attribution stage's looks"
        self.store = store
        self.ledger = ledger
        self.attribution = attribution
        self.who: list[_CarryWatch] = []
        self.what: list[_WhatWatch] = []

    def take(self, t0: float | None, t1: float, bin_id: str, best: Hypothesis, hyps: list[Hypothesis], top: str,
             by_acct: dict[str | None, float], cands: list[Candidate], unit: CartItem, event_index: int) -> None:
        """A take just put `unit` in `top`'s cart: watch it if who took it, or what, is in doubt."""
        self._watch_who(t0, t1, best.sku, top, by_acct, cands, unit)
        if best.qty == 1:
            self._watch_what(t0, t1, bin_id, best, hyps, top, cands, unit, event_index)

    def settle_who(self, now_s: float, leaving: str | None = None) -> None:
        """Judge the watched takes whose after-window has passed (or that `leaving`'s receipt may hold, with what
        was seen so far): where the colour went newly to one candidate alone, revise the confidences."""
        keep = []
        looks, own_rgb = self.attribution.looks, self.attribution.appearance.before
        for w in self.who:
            if now_s < w.t1 + carry.POST_S and leaving not in w.probs:
                keep.append(w)
                continue
            if not any(u is w.unit for u in self.ledger.cart(w.top)):
                continue  # returned or knocked off since: its doubt was settled there
            verdicts = {}
            for a, trs in w.tracks.items():
                own = {tr: own_rgb(tr, math.inf) for tr in trs}
                pre = looks.shown(trs, w.t0 - carry.PRE_S, w.t0 - carry.GAP_S, w.sku, self.store.sku_rgb, own)
                post = looks.shown(trs, w.t1 + carry.GAP_S, w.t1 + carry.POST_S, w.sku, self.store.sku_rgb, own)
                verdicts[a] = carry.verdict(pre, post)
            who = carry.carrier(verdicts)
            if who is None:
                continue
            post = carry.posterior(w.probs, who)
            for a, k in w.unit.doubt.items():
                if a in post:
                    self.ledger.revise(a, k, w.unit.p_what * post[a] if a == w.top else 1.0 - post[a])
        self.who = keep

    def settle_what(self, now_s: float, leaving: str | None = None) -> None:
        """Judge the watched look-alike takes whose after-window has passed (or whose receipt is going out): where
        one SKU's colour went newly to the taker and none of the others', that SKU it was — the cart's unit, the
        bin's belief and the event follow, and the confidence is revised."""
        keep = []
        looks, own_rgb = self.attribution.looks, self.attribution.appearance.before
        for w in self.what:
            if now_s < w.t1 + carry.POST_S and leaving != w.top:
                keep.append(w)
                continue
            if not any(u is w.unit for u in self.ledger.cart(w.top)):
                continue
            own = {tr: own_rgb(tr, math.inf) for tr in w.tracks}
            verdicts = {}
            for sku in w.probs:
                pre = looks.shown(w.tracks, w.t0 - carry.PRE_S, w.t0 - carry.GAP_S, sku, self.store.sku_rgb, own)
                post = looks.shown(w.tracks, w.t1 + carry.GAP_S, w.t1 + carry.POST_S, sku, self.store.sku_rgb, own)
                verdicts[sku] = carry.verdict(pre, post)
            sku = carry.carrier(verdicts)
            if sku is None:
                continue
            post = carry.posterior(w.probs, sku)
            sku = max(post, key=post.get)  # the colour's SKU if it outweighs the counts and weights, else the same
            k = w.unit.doubt.get(w.top)
            acct = self.ledger.accounts.get(w.top)
            if k is None or acct is None or acct.issued:
                continue
            who = acct.factors[k] / w.unit.p_what if w.unit.p_what > 0 else 1.0
            self.ledger.reread_take(w.bin, w.unit, sku, w.event_index, who * post[sku])
            w.unit.p_what = post[sku]
            self.ledger.revise(w.top, k, who * post[sku])
        self.what = keep

    def _watch_who(self, t0: float | None, t1: float, sku: str, top: str, by_acct: dict[str | None, float],
                   cands: list[Candidate], unit: CartItem) -> None:
        if t0 is None or by_acct.get(top, 0.0) >= CARRY_DOUBT:
            return
        probs = {a: p for a, p in by_acct.items() if a is not None and p >= CARRY_MIN_P}
        tracks = {a: [c.track for c in cands if c.account == a and c.track is not None] for a in probs}
        if len(probs) >= 2 and all(tracks.values()):
            self.who.append(_CarryWatch(t0, t1, sku, top, probs, tracks, unit))

    def _watch_what(self, t0: float | None, t1: float, bin_id: str, best: Hypothesis, hyps: list[Hypothesis], top: str,
                    cands: list[Candidate], unit: CartItem, event_index: int) -> None:
        if t0 is None or best.probability >= CARRY_DOUBT:
            return
        probs = {h.sku: h.probability for h in hyps if h.kind == "take" and h.qty == 1 and h.probability >= CARRY_MIN_P}
        tracks = [c.track for c in cands if c.account == top and c.track is not None]
        if len(probs) >= 2 and tracks:
            self.what.append(_WhatWatch(t0, t1, bin_id, top, probs, tracks, unit, event_index))
