"""Stage 2, tracking: fused head detections in, people as tracks bound to accounts out.

Constant-velocity Kalman filter per person on the floor plane and Hungarian
assignment (scipy `linear_sum_assignment`) of detections to tracks each frame
set; a track no head went to may then take a low peak close to it (a shopper
crouched to a bottom shelf, head below the head band), which never starts a
track.

Births: a track is born only near an entry gate while a scan is open (this
gate's scans first, then another lane's: a group member may take the next
lane), and is bound to the account scanned (a group: several tracks, one
account). Detections a gate sees within `birth_merge_m` of each other in one
frame set are one person (head and shoulder split apart), and a new track is
tentative until seen over `confirm_s`: lost before that, it was a split of
someone's blob and is dropped, its scan free to seat the next person.

A short shopper (a child; head top near 1 m) may cross the lane seen only as a
low peak: in an entry lane whose scan still waits, a low peak that walks
(`low_birth_move_m`) is born too; a still one (a basket put down) never is.

A confirmed track never dies of missed detections — a person who entered must
leave by an exit, so an unseen person coasts, growing uncertain, until a
detection re-attaches — and ends only at an exit passage, which closes the
nearest track to that gate that the cameras do not see right now elsewhere.
Two limits on re-attaching: a head in an entry lane whose scan waits is the
shopper walking in, never a track lost inside (`lane_lost_s`); and a track
lost a while (`lost_look_s`) takes back only a head that looks like its
person (`reacquire_min_similar`) — in a crowd the nearest unclaimed head is as
likely someone else's.

Encounters: two tracks that come within `close_m` may have swapped people.
When they part, their looks (colour from above) and their heights (people
crouch, never grow) keep or swap the accounts; evidence that disagrees, or
none, leaves the encounter a doubt, and the stack flags the receipts it touches.
"""
from __future__ import annotations

import math
from bisect import bisect_left
from dataclasses import dataclass, field

import numpy as np
from scipy.optimize import linear_sum_assignment

from checkout.storemodel import StoreModel
from sim.stream import GatePassage, GateScan


@dataclass
class TrackerConfig:
    meas_sd_m: float = 0.08  # head-top centroid scatter
    accel_sd_ms2: float = 1.5  # walking people start, stop and turn
    gate_m: float = 0.35  # head-centroid scatter (a bend, a turned head) beyond where the person can have moved
    max_gate_m: float = 3.0
    max_speed_ms: float = 2.2  # a brisk walk (1.4 m/s) plus a quick step: nobody moves farther between frames
    walk_speed_ms: float = 1.4  # a person unseen for a while is within this speed times the gap of where last seen
    lost_gate_max_m: float = 8.0
    birth_radius_m: float = 1.2  # from an entry gate's centre: people are born walking in, not browsing nearby
    low_birth_move_m: float = 0.25  # a low peak in an entry lane is a short shopper once it has walked this far
    lane_lost_s: float = 0.5  # a track unseen longer than this never takes a head in an entry lane awaiting a scan
    birth_window_s: float = 20.0  # after a scan, its group walks through within this
    birth_confirm: int = 2  # frame sets a new detection must persist before it is a person
    birth_confirm_s: float = 0.2  # ... and over at least this long (a split blob of one person lasts a frame or two)
    birth_merge_m: float = 0.5  # new detections this close together at a gate are one person's head and shoulder
    confirm_s: float = 1.0  # a track seen over this long is a person; before, it is tentative
    tentative_lost_s: float = 0.5  # a tentative track unseen this long was a split of someone else's blob: dropped
    duplicate_m: float = 0.45  # a detection this close to a track is that track (a second peak of it)
    regain_near_m: float = 1.0  # a lost track takes a peak beside another's head only this near where it was (`_cascade`)
    exit_radius_m: float = 2.5
    exit_seen_s: float = 0.3  # a person detected this recently ...
    exit_step_m: float = 1.0  # ... farther than this from an exit is not the one passing through it now
    look_weight_m: float = 0.6  # a complete colour mismatch costs as much as this much distance
    look_alone_m: float = 0.7  # a person's look is learned only while nobody else is this close
    look_rate: float = 0.2
    lost_look_s: float = 1.0  # a track unseen this long is lost: it takes a head back only if that head looks like it
    reacquire_min_similar: float = 0.5  # Bhattacharyya; the same shopper seen alone twice: 10th percentile 0.74;
    # two different shoppers: median 0.38 (market rush h18, 6 cameras, 320 x 240)
    history_s: float = 120.0
    close_m: float = 0.6  # two heads this close may be confused (one detection for two, or crossing paths)
    apart_m: float = 1.0  # once this far apart again, who is who is checked by their looks
    swap_margin: float = 0.15  # looks must favour one assignment by this much (Bhattacharyya sum) to decide it
    low_gate_m: float = 0.7  # a low peak continues a track only this close: a crouch moves the head forward and down
    height_window_s: float = 1.0  # after parting, heads are watched this long (upright again) before a verdict
    height_tol_m: float = 0.06  # a head (median since parting) this far above a person's upright height is someone else
    recheck_s: float = 4.0  # an encounter not checked this long after parting (looks unseen) stays a doubt


@dataclass
class Encounter:
    """Two tracks that came close: their identities may have swapped until their looks or heights say otherwise."""

    tracks: tuple[int, int]
    accounts: tuple[str, str]
    t_start_s: float
    t_end_s: float | None = None  # when they parted; None while close
    verdict: str = "open"  # open | kept | swapped | unsure
    stand_h: tuple[float, float] = (float("nan"), float("nan"))  # each track's upright head height before they met
    after_h: tuple[list[float], list[float]] = field(default_factory=lambda: ([], []))  # head heights since parting


@dataclass
class Track:
    id: int
    account: str
    x: np.ndarray  # x, y, vx, vy
    P: np.ndarray
    t_s: float
    born_s: float
    ended_s: float | None = None
    last_seen_s: float = 0.0
    hist_t: list[float] = field(default_factory=list)
    hist_xy: list[tuple[float, float]] = field(default_factory=list)
    hist_h: list[float] = field(default_factory=list)  # head-top height at each hist_t (nan: unseen)
    stand_h: float = float("nan")  # standing head height: a slow running maximum (people crouch, never grow)
    look: np.ndarray | None = None  # colour histogram of the person seen from above (shirt, skin), a running mean
    confirmed: bool = False  # seen over `confirm_s`: from then on it never dies but at an exit
    scan: "_Scan | None" = None  # the scan it was born on (refunded if the track is dropped as tentative)

    def position_at(self, t_s: float) -> tuple[float, float]:
        if not self.hist_t:
            return float(self.x[0]), float(self.x[1])
        i = min(bisect_left(self.hist_t, t_s), len(self.hist_t) - 1)
        return self.hist_xy[i]


@dataclass
class _Scan:
    gate: str
    account: str
    t_s: float
    births: int = 0


class Tracker:
    def __init__(self, store: StoreModel, config: TrackerConfig | None = None) -> None:
        self.store = store
        self.cfg = config or TrackerConfig()
        self.tracks: dict[int, Track] = {}
        self.scans: list[_Scan] = []
        self._next_id = 1
        self._candidates: list[tuple[np.ndarray, int, float]] = []  # xy, frames seen, first seen t
        self.dropped: list[Track] = []  # tentative tracks dropped (a second blob of one person, never confirmed)
        self.t_s = 0.0
        self.encounters: list[Encounter] = []
        self._open_enc: dict[tuple[int, int], Encounter] = {}

    # -- gate events --------------------------------------------------------------------------------------------
    def scan(self, msg: GateScan) -> None:
        self.scans.append(_Scan(msg.gate, msg.account, msg.t_s))

    def passage(self, msg: GatePassage) -> Track | None:
        """End the live track nearest the exit; None if no tracked person is near it.

        A person the cameras see right now, farther from the gate than a step, is not the one walking through
        it: of those near the gate, the unseen (gone out of view towards it) and those seen at it come first.
        """
        cfg = self.cfg
        gate = self.store.exit_gates.get(msg.gate)
        live = self.live()
        if gate is None or not live:
            return None
        self.predict(msg.t_s)
        d = np.array([np.hypot(tr.x[0] - gate.at[0], tr.x[1] - gate.at[1]) for tr in live])
        seen_away = np.array([msg.t_s - tr.last_seen_s <= cfg.exit_seen_s and d[i] > cfg.exit_step_m for i, tr in enumerate(live)])
        order = np.lexsort((d, seen_away))
        k = int(order[0])
        if d[k] > cfg.exit_radius_m:
            return None
        tr = live[k]
        tr.ended_s = msg.t_s
        return tr

    def missed_scans(self, account: str, now_s: float, grace_s: float) -> list[tuple[str, float]]:
        """Scans no person was ever born for (at least `grace_s` ago) that may have let their shopper in under
        `account`'s track: one of its tracks was near that entry gate just after. (scanned account, scan time)."""
        cfg = self.cfg
        out = []
        for sc in self.scans:
            gate = self.store.entry_gates.get(sc.gate)
            if sc.births or sc.account == account or gate is None or now_s - sc.t_s < grace_s:
                continue
            for tr in (t for t in self.tracks.values() if t.account == account):
                if any(sc.t_s <= t <= sc.t_s + cfg.birth_window_s and math.hypot(x - gate.at[0], y - gate.at[1]) <= cfg.birth_radius_m
                       for t, (x, y) in zip(tr.hist_t, tr.hist_xy)):
                    out.append((sc.account, sc.t_s))
                    break
        return out

    # -- frames -------------------------------------------------------------------------------------------------
    def live(self) -> list[Track]:
        return [t for t in self.tracks.values() if t.ended_s is None]

    def predict(self, t_s: float) -> None:
        for tr in self.live():
            dt = t_s - tr.t_s
            if dt <= 0:
                continue
            F = np.eye(4)
            F[0, 2] = F[1, 3] = dt
            q = self.cfg.accel_sd_ms2**2
            G = np.array([[dt * dt / 2, 0], [0, dt * dt / 2], [dt, 0], [0, dt]])
            tr.x = F @ tr.x
            tr.P = F @ tr.P @ F.T + q * G @ G.T
            if t_s - tr.last_seen_s > 0.5:  # an unseen person is more likely standing than walking on
                tr.x[2:] *= np.exp(-dt / 0.5)
            tr.x[0] = np.clip(tr.x[0], 0.0, self.store.floor_m[0])  # people stay in the store until an exit
            tr.x[1] = np.clip(tr.x[1], 0.0, self.store.floor_m[1])
            tr.t_s = t_s

    def update(self, t_s: float, heads_xy: np.ndarray, looks: list[np.ndarray | None] | None = None,
               heights_m: np.ndarray | None = None, low_heads: np.ndarray | None = None) -> None:
        """One frame set: assign head detections to tracks (distance, plus colour mismatch when both are known);
        then tracks no head went to may take a low peak (x, y, height) close to them: a person crouched to a
        bottom shelf, whose head dropped below the head band (never a new person)."""
        cfg = self.cfg
        self.predict(t_s)
        self.t_s = t_s
        live = self.live()
        dets = np.asarray(heads_xy, dtype=float).reshape(-1, 2)
        heights = np.full(len(dets), np.nan) if heights_m is None else np.asarray(heights_m, dtype=float).reshape(-1)
        seen_h: dict[int, float] = {}
        looks = list(looks) if looks is not None else [None] * len(dets)
        alone = np.ones(len(dets), dtype=bool)
        if len(dets) > 1:
            dd = np.linalg.norm(dets[:, None, :] - dets[None, :, :], axis=2) + np.eye(len(dets)) * 1e9
            alone = dd.min(axis=1) > cfg.look_alone_m
        matched_det: set[int] = set()
        self._last_pairs: list[tuple[int, int]] = []
        if live and len(dets):
            pos = np.array([tr.x[:2] for tr in live])
            cost = np.linalg.norm(pos[:, None, :] - dets[None, :, :], axis=2)
            gate = np.array([self._gate(tr, t_s) for tr in live])
            big = 1e6
            c = np.where(cost <= gate[:, None], cost, big)
            # A head in an entry lane while a scan there still waits for its shopper is that shopper walking in:
            # a person lost inside does not come back through the turnstile, so only a track seen just now (the
            # one walking in, or someone standing there all along) may continue on it.
            lane = self._waiting_lanes(t_s, dets)
            unseen = np.array([t_s - tr.last_seen_s for tr in live])
            if lane.any():
                c[np.ix_(unseen > cfg.lane_lost_s, lane)] = big
            lost = unseen > cfg.lost_look_s
            for r, tr in enumerate(live):
                if tr.look is None:
                    continue
                for k, lk in enumerate(looks):
                    if lk is not None and c[r, k] < big:
                        similar = _similar(tr.look, lk)
                        # A person lost a while may be picked up again anywhere within a walk: among a crowd the
                        # nearest unclaimed head is as likely someone else's, so one that looks unlike them is not.
                        if lost[r] and similar < cfg.reacquire_min_similar:
                            c[r, k] = big
                            continue
                        c[r, k] += cfg.look_weight_m * (1.0 - similar)
            for r, k in _cascade(c, lost, big, dets, pos, cfg.duplicate_m, cfg.regain_near_m):
                self._last_pairs.append((int(r), int(k)))
                self._correct(live[r], dets[k], t_s)
                # Not while an encounter is open: the look must stay the person's from before, to check who is who.
                engaged = any(live[r].id in key for key in self._open_enc)
                self._learn_look(live[r], looks[k], bool(alone[k]) and not engaged)
                seen_h[live[r].id] = float(heights[k])
                matched_det.add(int(k))
        if low_heads is not None and len(low_heads) and live:
            self._match_low(t_s, live, np.asarray(low_heads, dtype=float).reshape(-1, 3), seen_h)
        self._check_encounters(t_s, live, {live[r].id: looks[k] for r, k in self._last_pairs} if live else {}, seen_h)
        rest = [dets[k] for k in range(len(dets)) if k not in matched_det]
        self._rest_looks = {tuple(dets[k]): looks[k] for k in range(len(dets)) if k not in matched_det}
        if live:
            pos = np.array([tr.x[:2] for tr in live])
            rest = [d for d in rest if np.min(np.linalg.norm(pos - d, axis=1)) > cfg.duplicate_m]
        short = self._short_walking_in(t_s, low_heads, dets, live)
        self._confirm_or_drop(t_s, live)
        self._births(t_s, rest, short)
        for tr in self.live():
            h = seen_h.get(tr.id, float("nan"))
            tr.hist_t.append(t_s)
            tr.hist_xy.append((float(tr.x[0]), float(tr.x[1])))
            tr.hist_h.append(h)
            if h == h:
                tr.stand_h = h if tr.stand_h != tr.stand_h else max(h, tr.stand_h - 0.002)  # forgets a spike in ~50 s
            while tr.hist_t and tr.hist_t[0] < t_s - cfg.history_s:
                tr.hist_t.pop(0)
                tr.hist_xy.pop(0)
                tr.hist_h.pop(0)

    def _match_low(self, t_s: float, live: list[Track], low: np.ndarray, seen_h: dict[int, float]) -> None:
        cfg = self.cfg
        rows = [r for r, tr in enumerate(live) if tr.id not in seen_h]
        if not rows:
            return
        pos = np.array([live[r].x[:2] for r in rows])
        cost = np.linalg.norm(pos[:, None, :] - low[None, :, :2], axis=2)
        gate = np.array([min(self._gate(live[r], t_s), cfg.low_gate_m) for r in rows])
        big = 1e6
        c = np.where(cost <= gate[:, None], cost, big)
        for i, k in zip(*linear_sum_assignment(c)):
            if c[i, k] >= big:
                continue
            tr = live[rows[i]]
            self._correct(tr, low[k, :2], t_s)
            seen_h[tr.id] = float(low[k, 2])

    def _check_encounters(self, t_s: float, live: list[Track], det_look: dict[int, np.ndarray | None],
                          seen_h: dict[int, float] | None = None) -> None:
        """Open an encounter when two tracks come close; when they part, keep or swap who is who by their looks
        and their heights (`_height_verdict`); evidence that disagrees, or none by `recheck_s`, leaves a doubt."""
        cfg = self.cfg
        seen_h = seen_h or {}
        for i, a in enumerate(live):
            for b in live[i + 1 :]:
                key = (min(a.id, b.id), max(a.id, b.id))
                d = float(np.hypot(a.x[0] - b.x[0], a.x[1] - b.x[1]))
                enc = self._open_enc.get(key)
                if enc is None:
                    if d < cfg.close_m:
                        ta, tb = self.tracks[key[0]], self.tracks[key[1]]
                        enc = Encounter(key, (ta.account, tb.account), t_s, stand_h=(self._upright_h(ta), self._upright_h(tb)))
                        self._open_enc[key] = enc
                        self.encounters.append(enc)
                    continue
                if d < cfg.apart_m:
                    enc.t_end_s = None
                    enc.after_h = ([], [])
                    continue
                if enc.t_end_s is None:
                    enc.t_end_s = t_s
                for j, tid in enumerate(key):
                    h = seen_h.get(tid, float("nan"))
                    if h == h:
                        enc.after_h[j].append(h)
                ta, tb = self.tracks[key[0]], self.tracks[key[1]]
                la, lb = det_look.get(ta.id), det_look.get(tb.id)
                by_look = None
                if ta.look is not None and tb.look is not None and la is not None and lb is not None:
                    keep = _similar(ta.look, la) + _similar(tb.look, lb)
                    swap = _similar(ta.look, lb) + _similar(tb.look, la)
                    by_look = "swapped" if swap - keep > cfg.swap_margin else "kept" if keep - swap > cfg.swap_margin else "unsure"
                by_height = self._height_verdict(enc)
                if by_look in ("kept", "swapped"):  # the heads seen so far must not say otherwise
                    verdict = by_look if by_height in (None, by_look) else "unsure"
                elif t_s - enc.t_end_s < cfg.height_window_s - 1e-6:
                    continue  # heads are watched a while (upright, walking apart) before they decide
                elif by_height is not None:
                    verdict = by_height
                elif by_look == "unsure" or t_s - enc.t_end_s > cfg.recheck_s:
                    verdict = "unsure"
                else:
                    continue  # looks not seen yet
                if verdict == "swapped":
                    _swap_identity(ta, tb)
                enc.verdict = verdict
                del self._open_enc[key]
        for key in [k for k in self._open_enc if any(self.tracks[t].ended_s is not None for t in k)]:
            self._open_enc.pop(key).verdict = "unsure"

    def _upright_h(self, tr: Track) -> float:
        """The track's upright head height: a high percentile of its recent heads (robust to an arm raised over
        it, and to a crouch); unknown until it has been seen for a while."""
        h = np.array(tr.hist_h[-300:], dtype=float)
        h = h[np.isfinite(h)]
        return float(np.percentile(h, 90)) if len(h) >= 10 else float("nan")

    def _height_verdict(self, enc: Encounter) -> str | None:
        """People crouch, never grow: a track whose head since parting (the median: upright, walking apart) is
        clearly above the upright height of one of the two people cannot be following that person. Decides only when it rules out exactly one
        of keeping and swapping."""
        ha, hb = enc.stand_h
        ma, mb = (float(np.median(h)) if len(h) >= 3 else float("nan") for h in enc.after_h)
        tol = self.cfg.height_tol_m
        swap_ruled_out = ma > hb + tol or mb > ha + tol  # comparisons with nan are False: no evidence
        keep_ruled_out = ma > ha + tol or mb > hb + tol
        if swap_ruled_out and not keep_ruled_out:
            return "kept"
        if keep_ruled_out and not swap_ruled_out:
            return "swapped"
        return None

    def doubts(self, track: int, t_s: float) -> list[Encounter]:
        """Encounters that leave it unsure who this track was at t_s: after one never resolved, or during one
        whose parting showed the tracks had swapped (when, within it, is unknown)."""
        out = []
        for e in self.encounters:
            # Before they met, each track was still its own person; after a parting their looks confirmed
            # ("kept"), nothing changed hands.
            if track not in e.tracks or t_s < e.t_start_s or e.verdict == "kept":
                continue
            if e.verdict in ("open", "unsure") or (e.t_end_s is not None and t_s <= e.t_end_s + 1.0):
                out.append(e)
        return out

    def _learn_look(self, tr: Track, look: np.ndarray | None, alone: bool) -> None:
        if look is None or not alone:
            return
        tr.look = look.copy() if tr.look is None else (1 - self.cfg.look_rate) * tr.look + self.cfg.look_rate * look

    def _gate(self, tr: Track, t_s: float) -> float:
        """How far a detection may be from a track: its uncertainty, or, for a person unseen a while, a walk's reach."""
        cfg = self.cfg
        unseen = t_s - tr.last_seen_s
        # Physically: where it was last seen plus how far a person can walk since; the filter's own uncertainty
        # only narrows that (a detection a metre off in a tenth of a second is somebody else, or an arm).
        g = min(cfg.max_gate_m, cfg.gate_m + 2.0 * np.sqrt(max(tr.P[0, 0], tr.P[1, 1])), cfg.gate_m + cfg.max_speed_ms * max(unseen, 0.0))
        if unseen > 1.0:
            g = max(g, min(cfg.lost_gate_max_m, cfg.walk_speed_ms * unseen))
        return g

    def _correct(self, tr: Track, z: np.ndarray, t_s: float) -> None:
        H = np.zeros((2, 4))
        H[0, 0] = H[1, 1] = 1
        S = H @ tr.P @ H.T + np.eye(2) * self.cfg.meas_sd_m**2
        K = tr.P @ H.T @ np.linalg.inv(S)
        tr.x = tr.x + K @ (z - H @ tr.x)
        tr.P = (np.eye(4) - K @ H) @ tr.P
        tr.last_seen_s = t_s

    def _confirm_or_drop(self, t_s: float, live: list[Track]) -> None:
        """A new track becomes a person once seen over `confirm_s`; one lost before that was never a person of
        its own (the shoulder or basket of someone walking in split from their head for a frame or two): it is
        dropped, and its scan may seat the next person walking in."""
        cfg = self.cfg
        for tr in live:
            if tr.confirmed:
                continue
            if tr.last_seen_s - tr.born_s >= cfg.confirm_s:
                tr.confirmed = True
            elif t_s - tr.last_seen_s > cfg.tentative_lost_s:
                self._drop(tr)

    def _drop(self, tr: Track) -> None:
        del self.tracks[tr.id]
        self.dropped.append(tr)
        if tr.scan is not None:
            tr.scan.births -= 1
        for key in [k for k in self._open_enc if tr.id in k]:
            del self._open_enc[key]
        self.encounters = [e for e in self.encounters if tr.id not in e.tracks]

    def _births(self, t_s: float, dets: list[np.ndarray], low: list[np.ndarray] = ()) -> None:
        """`dets`: unclaimed heads; `low`: unclaimed low peaks in a waiting entry lane (a short shopper walking in),
        which start a person only once they have moved (`low_birth_move_m`): a basket put down there never does."""
        cfg = self.cfg
        open_scans = [s for s in self.scans if 0 <= t_s - s.t_s <= cfg.birth_window_s]
        # Unclaimed detections close together at a gate are one person (head and shoulder, a raised arm):
        # people walk through a gate one behind the other, never head beside head closer than this.
        merged: list[tuple[np.ndarray, tuple[float, float], bool]] = []
        if not open_scans:
            self._candidates = []
            return
        for d, is_low in [(d, False) for d in dets] + [(d, True) for d in low]:
            if not any(self._gate_dist(g, d) <= cfg.birth_radius_m for g in self.store.entry_gates):
                continue
            for i, (m, key, m_low) in enumerate(merged):
                if np.linalg.norm(m - d) < cfg.birth_merge_m:
                    merged[i] = ((m + d) / 2.0, key, m_low and is_low)
                    break
            else:
                merged.append((np.asarray(d, dtype=float), (float(d[0]), float(d[1])), is_low))
        survivors: list[tuple[np.ndarray, int, float, np.ndarray, bool]] = []
        for d, key, is_low in merged:
            seen, first, first_xy, all_low = 1, t_s, d, is_low
            prev = [c for c in self._candidates if np.linalg.norm(c[0] - d) < cfg.duplicate_m + 0.3]
            if prev:  # the same person one frame set on: the nearest candidate, the longest seen among equals
                xy, n, first, first_xy, was_low = min(prev, key=lambda c: (round(float(np.linalg.norm(c[0] - d)), 2), -c[1]))
                seen, all_low = n + 1, was_low and is_low
            moved = float(np.linalg.norm(d - first_xy))
            if seen < cfg.birth_confirm or t_s - first < cfg.birth_confirm_s - 1e-6 or (all_low and moved < cfg.low_birth_move_m):
                survivors.append((d, seen, first, first_xy, all_low))
                continue
            scan = self._scan_for(d, open_scans)
            scan.births += 1
            tr = Track(self._next_id, scan.account, np.array([d[0], d[1], 0.0, 0.0]), np.diag([0.05, 0.05, 1.0, 1.0]), t_s, t_s,
                       last_seen_s=t_s, scan=scan)
            self._learn_look(tr, getattr(self, "_rest_looks", {}).get(key), True)
            self.tracks[tr.id] = tr
            self._next_id += 1
        self._candidates = survivors

    def _scan_for(self, d: np.ndarray, open_scans: list[_Scan]) -> _Scan:
        """The scan a person born at `d` walked in on. Every scan lets at least one person in, and each lane is a
        queue: the earliest scan nobody has walked through on yet *at the gate whose lane this is* (the nearest)
        takes the person. Entry lanes may sit closer together than `birth_radius_m` (two turnstiles 1.2 m apart):
        the earliest unused scan of any gate in reach would then hand the person walking through one lane the
        account scanned a moment before in the next, and every later person in both queues one account along.
        Only when this lane has no waiting scan, the other lanes' (a group member taking the next lane while its
        scanner is still outside, or a head seen nearer the next lane); then one more member of the latest group
        scanned at a gate in reach; with no gate in reach, the same over every open scan."""
        cfg = self.cfg
        dist = {s.gate: self._gate_dist(s.gate, d) for s in open_scans}
        near = [s for s in open_scans if dist[s.gate] <= cfg.birth_radius_m] or open_scans
        unused = [s for s in near if s.births == 0]
        lane = min((dist[s.gate], s.gate) for s in near)[1]
        in_lane = [s for s in unused if s.gate == lane]
        if in_lane or unused:
            return min(in_lane or unused, key=lambda s: s.t_s)
        return max(near, key=lambda s: s.t_s)

    def _short_walking_in(self, t_s: float, low_heads: np.ndarray | None, dets: np.ndarray, live: list[Track]) -> list[np.ndarray]:
        """Low peaks in an entry lane whose scan still waits for its shopper, away from every head and track: a
        child or a short adult walking in, head below the head band (elsewhere a low peak never starts anyone)."""
        if low_heads is None or not len(low_heads):
            return []
        low = np.asarray(low_heads, dtype=float).reshape(-1, 3)[:, :2]
        taken = [np.asarray(tr.x[:2]) for tr in live] + [d for d in dets]
        out = []
        for k in np.flatnonzero(self._waiting_lanes(t_s, low)):
            if taken and np.min(np.linalg.norm(np.array(taken) - low[k], axis=1)) <= self.cfg.duplicate_m:
                continue
            out.append(low[k])
        return out

    def _waiting_lanes(self, t_s: float, dets: np.ndarray) -> np.ndarray:
        """Per detection: is it in an entry lane (within `birth_radius_m` of the gate) with a scan, within
        `birth_window_s`, that nobody has walked through on yet?"""
        cfg = self.cfg
        out = np.zeros(len(dets), dtype=bool)
        waiting = {s.gate for s in self.scans if s.births == 0 and 0 <= t_s - s.t_s <= cfg.birth_window_s}
        for g in waiting & set(self.store.entry_gates):
            at = self.store.entry_gates[g].at
            out |= np.hypot(dets[:, 0] - at[0], dets[:, 1] - at[1]) <= cfg.birth_radius_m
        return out

    def _gate_dist(self, gate_id: str, xy: np.ndarray) -> float:
        g = self.store.entry_gates[gate_id]
        return float(np.hypot(xy[0] - g.at[0], xy[1] - g.at[1]))


def _cascade(cost: np.ndarray, lost: np.ndarray, big: float, dets: np.ndarray, pos: np.ndarray, duplicate_m: float,
             near_m: float) -> list[tuple[int, int]]:
    """Detections to tracks, the tracks seen just now first (the matching cascade of Deep SORT, Wojke et al.
    2017): a track lost a while has a gate as wide as a walk, and in one global assignment it could take a head
    that a track seen a frame ago continues on, for a little less in total, pushing that track onto a stray peak
    beside its head (a lost track taking over a shopper walking out, whose own track was then closed at the exit
    for someone else). The lost tracks share what is left, but a peak within `duplicate_m` of a head just
    continued only if it is within `near_m` of where the lost track was: farther, it is that person's second
    peak (a raised arm, a bent shoulder), not the lost one come back metres away; nearer, it may be the lost
    person standing up again beside a neighbour at the shelf. (row, column) pairs within the gates."""
    pairs: list[tuple[int, int]] = []
    free = np.ones(cost.shape[1], dtype=bool)
    for stage, rows in enumerate((np.flatnonzero(~lost), np.flatnonzero(lost))):
        cols = np.flatnonzero(free)
        if not len(rows) or not len(cols):
            continue
        sub = cost[np.ix_(rows, cols)].copy()
        if stage and pairs:
            taken = dets[[k for _, k in pairs]]
            beside = np.min(np.linalg.norm(dets[cols][:, None, :] - taken[None, :, :], axis=2), axis=1) <= duplicate_m
            far = np.linalg.norm(pos[rows][:, None, :] - dets[cols][None, :, :], axis=2) > near_m
            sub[far & beside[None, :]] = big
        for i, j in zip(*linear_sum_assignment(sub)):
            if sub[i, j] < big:
                pairs.append((int(rows[i]), int(cols[j])))
                free[cols[j]] = False
    return sorted(pairs)


def _similar(p: np.ndarray, q: np.ndarray) -> float:
    """Bhattacharyya coefficient of two colour histograms: 1 the same look, 0 nothing in common."""
    return float(np.sum(np.sqrt(p * q)))


def _swap_identity(a: Track, b: Track) -> None:
    """The two tracks followed each other's person since they met: exchange who they are (account and look)."""
    a.account, b.account = b.account, a.account
    a.look, b.look = b.look, a.look
    a.stand_h, b.stand_h = b.stand_h, a.stand_h


LOOK_LEVELS = 4  # per colour channel: coarse enough for shading, fine enough for shirts


def look_histogram(rgb: np.ndarray) -> np.ndarray | None:
    """A person's look from above: a normalised LOOK_LEVELS^3 colour histogram (None if too few pixels)."""
    px = np.asarray(rgb, dtype=np.uint8).reshape(-1, 3)
    if len(px) < 12:
        return None
    q = (px.astype(np.int32) * LOOK_LEVELS) // 256
    code = (q[:, 0] * LOOK_LEVELS + q[:, 1]) * LOOK_LEVELS + q[:, 2]
    h = np.bincount(code, minlength=LOOK_LEVELS**3).astype(float)
    return h / h.sum()
