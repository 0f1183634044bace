"""Developer tool: capture a scenario's percepts once, then replay the checkout stack on them in seconds.

    python -m bench.percepts capture SCENARIO.yaml [--seed N] --out CACHE.pkl
    python -m bench.percepts replay CACHE.pkl... [--mode fused|weight|vision] [--all] [--identities] [--rows FILE.jsonl]

Place in the data path: beside the offline half of DESIGN.md section 1. Perception (stage 1) is most of the
stack's cost and its output is small, so `capture` runs the simulation with one fused stack whose
`SharedPerception` keeps every percept, and stores them with the non-camera messages (load cells, gates,
`StoreInfo`; camera frames as empty stand-ins that keep only their device time and camera id, which is all
the stack's frame-set grouping and outage watch read) and the episode's true receipts (and, for a developer
reading a replay against what happened, the ledger's events and the heads' true poses). `replay` feeds the
same messages to a fresh `CheckoutStack` whose perception answers from the cache, and scores its receipts
against that truth: tracking, attribution, identification and receipts can be changed and re-measured on a
24-shopper rush in a few seconds instead of minutes. A change to perception itself needs a new capture.

The replayed receipts equal the live stack's, bit for bit (tests/test_bench_percepts.py): the stack sees the
same percepts in the same order. The cache is a pickle: load only caches you made.
"""
from __future__ import annotations

import argparse
import bisect
import math
import pickle
import sys
import time
from collections import Counter
from pathlib import Path

import numpy as np

FORMAT = "store-twin percept cache 1"


class _Recording:
    """A `SharedPerception` that remembers every percept it made, by frame-set key."""

    def __init__(self) -> None:
        from checkout.perception import SharedPerception

        self.shared = SharedPerception()
        self.all: dict = {}

    def open(self, store):
        self.shared.open(store)
        return self

    def process(self, t_s, frames):
        percept = self.shared.process(t_s, frames)
        self.all[_key(t_s, frames)] = percept
        return percept


class _Cached:
    """Perception that answers from a capture (a frame set it never saw is a bad cache, said so)."""

    def __init__(self, percepts: dict) -> None:
        self.percepts = percepts

    def open(self, store):
        return self

    def process(self, t_s, frames):
        try:
            return self.percepts[_key(t_s, frames)]
        except KeyError:
            raise ValueError(f"no percept cached for the frame set at {t_s:.3f} s: the cache does not match its messages") from None


def _summary(receipt) -> tuple:
    return (receipt.account, dict(receipt.items), receipt.confidence, receipt.flagged, tuple(receipt.reasons))


def _key(t_s: float, frames) -> tuple:
    return (t_s, tuple((f.camera_id, f.t_s) for f in frames))


def capture(scenario_path: str | Path, seed: int, out: str | Path) -> dict:
    """Simulate once with a fused stack, keep its percepts, the stream without pixels and the truth."""
    from agents import build_simulation
    from agents.scenario import load_scenario
    from checkout.stack import CheckoutStack
    from scoring.driver import StreamDriver
    from sim.stream import CameraFrame

    scenario = load_scenario(scenario_path)
    sim = build_simulation(scenario, seed=seed)
    recording = _Recording()
    stack = CheckoutStack("fused", shared_perception=recording)  # type: ignore[arg-type]
    empty_depth = np.zeros((1, 1), dtype=np.float32)
    empty_rgb = np.zeros((1, 1, 3), dtype=np.uint8)
    messages = []

    def kept(stream):
        """The stream as it goes to the stack; each message kept, a camera frame without its pixels."""
        for msg in stream:
            yield msg
            messages.append(CameraFrame(msg.t_s, msg.camera_id, empty_rgb, empty_depth) if isinstance(msg, CameraFrame) else msg)

    t0 = time.perf_counter()
    try:
        driver = StreamDriver({"fused": stack})
        driver.run(kept(sim.run(scenario.duration_s)))
        lane = driver.lanes["fused"]
        assert not lane.faults, f"the capturing stack faulted: {lane.errors()}"
        live = lane.issued
        ledger = sim.ledger
        data = {
            "format": FORMAT, "scenario": scenario.name, "seed": seed, "messages": messages, "percepts": recording.all,
            "truth": dict(getattr(ledger, "closed_receipts", None) or ledger.receipts()),
            "prices": {sku: item.price for sku, item in sim.layout.catalog.items()},
            "unfinished": sorted(a for a in ledger.members if a not in ledger.closed),
            "live": [_summary(r) for r in live],  # what the capturing stack issued, for a replay to match
            # The truth side's record, for a developer diagnosing a replay (who entered when, where heads were);
            # the replayed stack never sees it.
            "events": list(ledger.events), "poses": {k: list(v) for k, v in ledger.poses.items()},
        }
    finally:
        sim.close()
    with open(out, "wb") as fh:
        pickle.dump(data, fh, protocol=pickle.HIGHEST_PROTOCOL)
    return {"scenario": scenario.name, "seed": seed, "sim_seconds": sim.t_s, "wall_seconds": time.perf_counter() - t0,
            "percepts": len(recording.all), "megabytes": Path(out).stat().st_size / 1e6}


def load(path: str | Path) -> dict:
    """A capture, or `InputError` naming the file when it is missing or not one."""
    from sim.errors import InputError, Where

    p = Path(path)
    if not p.is_file():
        raise InputError(Where(p), "no such percept cache")
    try:
        with open(p, "rb") as fh:
            data = pickle.load(fh)
    except Exception as exc:  # truncated, not a pickle, or classes that no longer exist
        raise InputError(Where(p), f"not a percept cache ({type(exc).__name__})") from None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise InputError(Where(p), f"not a percept cache (expected format {FORMAT!r})")
    return data


def replay(data: dict, mode: str = "fused"):
    """Run a fresh stack of `mode` on a capture; returns (stack, receipts, score)."""
    from checkout.stack import CheckoutStack
    from scoring.driver import StreamDriver
    from scoring.metrics import score_receipts

    stack = CheckoutStack(mode, shared_perception=_Cached(data["percepts"]))  # type: ignore[arg-type]
    driver = StreamDriver({mode: stack})
    driver.run(data["messages"])
    lane = driver.lanes[mode]
    if lane.faults:  # a cache that does not match its messages, or a stack that broke: said, never scored as if fine
        raise ValueError(f"the replayed stack faulted: {'; '.join(lane.errors())}")
    score = score_receipts(lane.receipts(), data["truth"], data["prices"], unfinished=data["unfinished"])
    return stack, lane.issued, score


NEAR_HEAD_M = 0.5  # a track this close to a shopper's true head is following that shopper


def identities(stack, data: dict) -> list[dict] | None:
    """Per track of a replayed stack: the account it was bound to, and the shopper whose true head it followed
    most (nearest within `NEAR_HEAD_M`, over the track's kept history) with that shopper's account; a mismatch
    is a tracking error (a scan paired with the wrong person, two people swapped). None for a capture made
    before true poses were kept. Truth side only: for a developer reading a replay."""
    poses = data.get("poses")
    if not poses:
        return None
    account_of = {e.shopper: e.account for e in data.get("events", ()) if e.kind == "entry"}
    series = {sh: ([p.t_s for p in ps], [p.head[:2] for p in ps]) for sh, ps in poses.items() if ps}
    out = []
    for tr in sorted(stack.tracker.tracks.values(), key=lambda t: t.id):
        votes: Counter = Counter()
        for t, (x, y) in zip(tr.hist_t, tr.hist_xy):
            best, who = NEAR_HEAD_M, None
            for sh, (ts, heads) in series.items():
                k = bisect.bisect_left(ts, t)
                for j in (k - 1, k):
                    if 0 <= j < len(ts) and abs(ts[j] - t) <= 0.06:
                        d = math.hypot(heads[j][0] - x, heads[j][1] - y)
                        if d < best:
                            best, who = d, sh
            if who is not None:
                votes[who] += 1
        shopper, n = votes.most_common(1)[0] if votes else (None, 0)
        out.append({"track": tr.id, "account": tr.account, "born_s": tr.born_s, "shopper": shopper,
                    "true_account": account_of.get(shopper), "share": n / max(1, sum(votes.values()))})
    return out


def main(argv: list[str] | None = None) -> int:
    from checkout.stack import MODES
    from sim.errors import InputError

    ap = argparse.ArgumentParser(prog="bench.percepts", description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    cap = sub.add_parser("capture")
    cap.add_argument("scenario")
    cap.add_argument("--seed", type=int, default=0)
    cap.add_argument("--out", required=True)
    rep = sub.add_parser("replay")
    rep.add_argument("cache", nargs="+", help="one or more captures; with several, pooled figures follow")
    rep.add_argument("--mode", choices=MODES, default="fused")
    rep.add_argument("--all", action="store_true", help="list every receipt, not only the wrong and the flagged")
    rep.add_argument("--identities", action="store_true",
                     help="list the tracks bound to another account than the shopper they followed (from the truth)")
    rep.add_argument("--rows", help="write every receipt as a JSON line here (capture, account, right, flagged, "
                                    "confidence, items, truth, reasons)")
    args = ap.parse_args(argv)
    try:
        if args.cmd == "capture":
            from agents.scenario import load_scenario

            load_scenario(args.scenario)  # a bad scenario is one line, before anything is simulated
            s = capture(args.scenario, args.seed, args.out)
            print(f"captured {s['scenario']} seed {s['seed']}: {s['sim_seconds']:.1f} sim s in {s['wall_seconds']:.0f} s, "
                  f"{s['percepts']} frame sets, {s['megabytes']:.1f} MB -> {args.out}")
            return 0
        caches = [load(c) for c in args.cache]  # every one readable before any is replayed
    except InputError as exc:
        print(str(exc), file=sys.stderr)
        return 2
    rows: list[dict] = []
    crashes: dict[str, int] = {}
    classes: dict[tuple[str, str], int] = {}
    rows_out = open(args.rows, "w") if args.rows else None
    try:
        for path, data in zip(args.cache, caches):
            _replay_one(path, data, args, rows, crashes, classes, rows_out)
    finally:
        if rows_out is not None:
            rows_out.close()
    if len(caches) > 1:
        print(_pooled_line(args.mode, rows, crashes, classes))
    return 0


def _replay_one(path: str, data: dict, args, rows: list[dict], crashes: dict[str, int],
                classes: dict[tuple[str, str], int], rows_out) -> None:
    """Replay one capture, print its receipts and line, and add it to the pool as a bench row would."""
    import json

    from bench.pooling import receipt_marks

    key = f"{path} ({args.mode})"
    t0 = time.perf_counter()
    try:
        stack, receipts, score = replay(data, args.mode)
    except Exception as exc:  # a stack that breaks on one capture: counted (every account wrong), the rest go on
        print(f"{data['scenario']} seed {data['seed']} ({args.mode}): CRASHED: {type(exc).__name__}: {exc}")
        rows.append({"status": "error", "scenario": key})
        crashes[key] = len(data["truth"]) + len(data["unfinished"])
        classes[("crash", "wrong")] = classes.get(("crash", "wrong"), 0) + crashes[key]
        return
    wall = time.perf_counter() - t0
    if args.mode == "fused" and [_summary(r) for r in receipts] != data.get("live"):
        print("note: these receipts differ from the capturing stack's (the stack changed since the capture)")
    for r in score.receipts:
        if args.all or r["flagged"] or not r["correct"]:
            print(f"  {'right' if r['correct'] else 'WRONG'} {'flagged' if r['flagged'] else 'clean  '} "
                  f"{r['account']}: {r['items']} (truth {r['truth']}) {'; '.join(r.get('reasons', ()))}")
        if rows_out is not None:
            rows_out.write(json.dumps({"capture": str(path), "scenario": data["scenario"], "seed": data["seed"],
                                       "account": r["account"], "right": r["correct"] and r["issued"],
                                       "flagged": r["flagged"], "confidence": r["confidence"], "items": r["items"],
                                       "truth": r["truth"], "reasons": list(r.get("reasons", ()))}) + "\n")
        if not r.get("phantom") and (r["flagged"] or not (r["correct"] and r["issued"])):
            k = (failure_class(r["items"], r["truth"], r.get("reasons", ()), r["correct"], r["issued"]),
                 f"{'flagged' if r['flagged'] else 'UNFLAGGED'}, {'right' if r['correct'] and r['issued'] else 'wrong'}")
            classes[k] = classes.get(k, 0) + 1
    if score.unfinished:
        k = ("unfinished (still inside at the end)", "wrong")
        classes[k] = classes.get(k, 0) + len(score.unfinished)
    c = score.counts
    rows.append({"status": "ok", "scenario": key, "receipt_marks": receipt_marks(score.receipts),
                 "report": {"unfinished": list(score.unfinished), "items": {"true_positive": c.true_positive,
                            "false_positive": c.false_positive, "false_negative": c.false_negative}}})
    if args.identities:
        found = identities(stack, data)
        if found is None:
            print("  (no true poses in this capture: captured before they were kept)")
        for w in (w for w in found or () if w["true_account"] != w["account"]):
            print(f"  track {w['track']} on {w['account']} (born {w['born_s']:.1f} s) followed "
                  f"{w['shopper'] or 'nobody'} ({w['true_account']}) {100 * w['share']:.0f} % of the time it was near a head")
    wrong_clean = sum(1 for r in score.receipts if not r["correct"] and not r["flagged"])
    print(f"{data['scenario']} seed {data['seed']} ({args.mode}): {len(score.receipts)} receipts, accuracy {score.receipt_accuracy:.3f}, "
          f"item F1 {score.item_f1:.3f}, review {score.review_rate:.3f}, wrong among unflagged {wrong_clean}; "
          f"replayed in {wall:.1f} s")


def _pooled_line(mode: str, rows: list[dict], crashes: dict[str, int], classes: dict[tuple[str, str], int]) -> str:
    """The captures pooled as the bench pools its rows (`bench.pooling`: every account one receipt; never issued,
    unfinished and crashed ones wrong and unflagged), the ECE as the bench's calibration bins it, and the classes."""
    from bench.calibration import calibrate
    from bench.pooling import marks_of, pool

    p = pool(rows, crashes)
    ece = calibrate(mode, "captures", {"dev": [m for r in rows for m in marks_of(r) or ()]}).ece["dev"]

    def num(x: float | None) -> str:
        return "n/a" if x is None else f"{x:.3f}"

    listed = "".join(f"\n  {k:3d}  {c} ({o})" for (c, o), k in sorted(classes.items(), key=lambda kv: (-kv[1], kv[0])))
    return (f"pooled ({mode}): {p.episodes} episodes ({p.crashed} crashed), {p.receipts} accounts (never issued, "
            f"unfinished and crashed count wrong): accuracy {num(p.share('accuracy'))}, item F1 {num(p.f1)}, "
            f"review rate {num(p.share('review'))}, wrong among unflagged {p.unflagged_wrong}/{p.unflagged}, ECE {num(ece)}"
            + (f"\nfailure classes (wrong or flagged receipts):{listed}" if listed else ""))


def failure_class(items: dict, truth: dict, reasons: list[str] | tuple[str, ...], correct: bool,
                  issued: bool = True) -> str:
    """The class of a wrong or flagged receipt, from the stack's reasons first, else its items against the truth
    (README, "Accuracy under realistic sensors"): what `replay` counts after its pooled figures."""
    if not issued:
        return "receipt never issued"
    r = " ".join(reasons)
    if "still inside" in r:
        return "unfinished (still inside at the end)"
    if "uncharged" in r:
        return "uncharged: item seen on the floor"
    if "no hand seen" in r:
        return "take no hand on camera supports"
    if "gave no reading" in r or "dead load cell" in r:
        return "load cell fault"
    if "still settling" in r:
        return "shelf change still settling at checkout"
    if "unexplained load change" in r:
        return "unexplained load change"
    if "nobody seen" in r or "nobody tracked" in r or "never tracked" in r or "got no track" in r or "far from the gate" in r \
            or "who is who" in r:
        return "tracking: shopper lost, swapped or exit unmatched"
    if "no cart held" in r:
        return "put-back no cart held"
    if correct:
        return "right but unsure (confidence below threshold)"
    missing = {k: v - items.get(k, 0) for k, v in truth.items() if v > items.get(k, 0)}
    extra = {k: v - truth.get(k, 0) for k, v in items.items() if v > truth.get(k, 0)}
    if missing and extra and sum(missing.values()) == sum(extra.values()):
        return "wrong SKU (look-alike or misplaced item)"
    if extra and not missing:
        return "extra item charged (spurious take, or another's take)"
    if missing and not extra:
        return "item missed (take not charged, or charged to another)"
    return "several errors"


if __name__ == "__main__":
    sys.exit(main())
