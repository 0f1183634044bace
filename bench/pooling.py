"""Receipts pooled over many episodes with every failure counted, and the failures listed (DESIGN.md section 9).

Place in the data path: between the bench's rows (`results.jsonl`) and `summary.md`. Each scored row
carries `receipt_marks` beside its report, one per scored account (`receipt_marks` below: confidence, right or wrong,
flagged, issued, flagged for a reason other than confidence), so pooled figures and the calibration can
be computed without the per-receipt lists that stay in each episode's `report.json`.

Conventions (each pinned by a test on hand-built rows):
- Every account the episode had is one receipt in the pooled figures; none is dropped.
- A scored receipt is right when it was issued and equals the truth. An exited account whose receipt was
  never issued is wrong, even when it took nothing (the report's `correct` says True then).
- An account still inside when the episode ended (the report's `unfinished`) is a wrong receipt.
- A crashed episode (an error row) counts each of its accounts as a wrong receipt (`crash_accounts`):
  its scenario's scripted accounts (the distinct `account` of its shoppers, a shopper's id where it names
  none); a scenario with a crowd, whose count the file does not tell, counts the most accounts (exited and
  unfinished) any scored episode of that scenario had in the same bench, or its scripted accounts when
  none was scored, at least one. A file that cannot be read counts as a crowd with no scripted shoppers.
- These missing receipts (never issued, unfinished, crashed) are wrong and not flagged: nobody was asked
  to check a receipt that does not exist. So they count in `wrong among unflagged` too.
- Item precision and recall pool the scored receipts' items (phantom receipts' items as false positives, as
  in each report); a missing receipt adds no items (its true items are unknown).
- An episode with no accounts adds nothing (no receipts, no items): not 1.0 to any mean.
- Stack exceptions are a report's `errors` other than scenario faults, counted with their repeats
  ("(x3)"), per mode; scenario faults (`scenario fault: ...`, a scripted step the shopper could not do)
  are counted once per (scenario, seed), which every mode shares.
- A row written before `receipt_marks` existed is pooled from its `receipt_counts` (a never-issued
  receipt cannot be told apart there and scores as the report scored it).
"""
from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Mapping, Sequence

from sim.yamlsrc import load_yaml

_THRESHOLD_REASON = re.compile(r"^confidence [0-9.]+ below [0-9.]+$")  # checkout.stack's own review-threshold flag
_REPEATS = re.compile(r" \(x(\d+)\)$")
SCENARIO_FAULT = "scenario fault:"
MAX_LISTED = 40  # per list in summary.md; the counts cover all


@dataclass(frozen=True)
class ReceiptMark:
    """One scored account's receipt, as much as pooling and calibration need."""

    account: str
    confidence: float | None
    correct: bool  # items equal the truth (as the report says: a never-issued empty receipt is "correct")
    flagged: bool
    issued: bool
    other_flag: bool  # flagged for a reason besides the confidence threshold: flagged at any threshold

    @property
    def right(self) -> bool:
        return self.issued and self.correct


@dataclass
class Pool:
    """Receipt counts over a set of rows, every failure counted."""

    episodes: int = 0
    crashed: int = 0
    receipts: int = 0
    right: int = 0
    flagged: int = 0
    unflagged_wrong: int = 0
    unissued: int = 0
    unfinished: int = 0
    crash_accounts: int = 0
    true_positive: int = 0
    false_positive: int = 0
    false_negative: int = 0
    scored: bool = False  # some row carried receipts (an episode function of another kind carries none)

    @property
    def missing(self) -> int:
        return self.unissued + self.unfinished + self.crash_accounts

    @property
    def unflagged(self) -> int:
        return self.receipts - self.flagged

    def ratio(self, name: str) -> tuple[int, int]:
        """(numerator, denominator) of `accuracy`, `review` or `unflagged_wrong`."""
        return {"accuracy": (self.right, self.receipts), "review": (self.flagged, self.receipts),
                "unflagged_wrong": (self.unflagged_wrong, self.unflagged),
                "precision": (self.true_positive, self.true_positive + self.false_positive),
                "recall": (self.true_positive, self.true_positive + self.false_negative)}[name]

    def share(self, name: str) -> float | None:
        a, b = self.ratio(name)
        return a / b if b else None

    @property
    def f1(self) -> float | None:
        p, r = self.share("precision"), self.share("recall")
        if p is None or r is None:
            return None
        return 2 * p * r / (p + r) if p + r else 0.0


@dataclass
class Failures:
    """What went wrong besides wrong receipts, listed: crashes, accounts left inside, receipts never issued,
    stack exceptions and scenario faults."""

    crashed: list[str] = field(default_factory=list)
    unfinished: list[str] = field(default_factory=list)
    unissued: list[str] = field(default_factory=list)
    stack: list[str] = field(default_factory=list)
    scenario: list[str] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=lambda: defaultdict(int))


def receipt_marks(receipts: Iterable[Mapping]) -> list[dict]:
    """A report's `receipts` (scoring.metrics) as compact marks for a results row; phantom receipts left out
    (they are no account's receipt: their items count in the report's item figures)."""
    out = []
    for r in receipts:
        if r.get("phantom"):
            continue
        conf = r.get("confidence")
        flagged = bool(r.get("flagged"))
        others = [x for x in r.get("reasons") or () if not _THRESHOLD_REASON.match(str(x))]
        out.append({"account": str(r.get("account")), "confidence": None if conf is None else float(conf),
                    "correct": bool(r.get("correct")), "flagged": flagged, "issued": bool(r.get("issued", True)),
                    "other_flag": flagged and bool(others)})
    return out


def marks_of(row: Mapping) -> list[ReceiptMark] | None:
    """The row's receipt marks; None for a row without them (an error row, an older row, another episode kind)."""
    marks = row.get("receipt_marks")
    if not isinstance(marks, list):
        return None
    return [ReceiptMark(str(m.get("account")), m.get("confidence"), bool(m.get("correct")), bool(m.get("flagged")),
                        bool(m.get("issued", True)), bool(m.get("other_flag"))) for m in marks]


def scenario_accounts(path: str | Path) -> tuple[int, bool] | None:
    """(scripted accounts, has a crowd) of a scenario file; None when it cannot be read as a scenario."""
    try:
        data, _ = load_yaml(Path(path))
    except Exception:  # gone, unreadable, not YAML: the caller counts it as unknown
        return None
    if not isinstance(data, dict) or not ({"shoppers", "crowd"} & set(data)):
        return None
    shoppers = data.get("shoppers") or []
    if not isinstance(shoppers, list):
        return None
    # a shopper without `account:` pays on its own, `acct-ID` (agents.scenario.ShopperSpec.account_id)
    accounts = {str(s.get("account") or f"acct-{s.get('id')}") for s in shoppers if isinstance(s, dict)}
    return len(accounts), bool(data.get("crowd"))


def crash_accounts(rows: Sequence[Mapping], scripted: Mapping[str, tuple[int, bool] | None]) -> dict[str, int]:
    """Accounts a crashed episode of each scenario counts as wrong (the module's convention). `scripted` maps a
    row's scenario to `scenario_accounts` of its file."""
    seen: dict[str, int] = defaultdict(int)
    for r in rows:
        rep = r.get("report") or {}
        if r["status"] == "ok" and isinstance(rep.get("accounts"), int):
            seen[r["scenario"]] = max(seen[r["scenario"]], rep["accounts"] + len(rep.get("unfinished") or ()))
    out = {}
    for scenario in {r["scenario"] for r in rows if r["status"] != "ok"}:
        known = scripted.get(scenario)
        n, crowd = known if known is not None else (0, True)
        out[scenario] = max(n, seen.get(scenario, 0), 1) if crowd else n
    return out


def pool(rows: Iterable[Mapping], crashes: Mapping[str, int]) -> Pool:
    """Pooled receipt counts of `rows` (the module's conventions); `crashes` from `crash_accounts`."""
    p = Pool()
    for r in rows:
        p.episodes += 1
        if r["status"] != "ok":
            p.crashed += 1
            n = crashes.get(r["scenario"], 0)
            p.crash_accounts += n
            p.receipts += n
            p.unflagged_wrong += n
            continue
        rep = r.get("report") or {}
        marks = marks_of(r)
        counts = rep.get("receipt_counts")
        if marks is None and not isinstance(counts, Mapping):
            continue
        p.scored = True
        unfinished = len(rep.get("unfinished") or ())
        p.unfinished += unfinished
        p.receipts += unfinished
        p.unflagged_wrong += unfinished
        if marks is not None:
            p.receipts += len(marks)
            p.right += sum(m.right for m in marks)
            p.flagged += sum(m.flagged for m in marks)
            p.unflagged_wrong += sum(not m.flagged and not m.right for m in marks)
            p.unissued += sum(not m.issued for m in marks)
        else:
            p.receipts += int(counts.get("receipts", 0))
            p.right += int(counts.get("exact", 0))
            p.flagged += int(counts.get("flagged", 0))
            p.unflagged_wrong += int(counts.get("unflagged_wrong", 0))
        items = rep.get("items") or {}
        p.true_positive += int(items.get("true_positive", 0))
        p.false_positive += int(items.get("false_positive", 0))
        p.false_negative += int(items.get("false_negative", 0))
    return p


def failures(rows: Iterable[Mapping]) -> Failures:
    """Every failure of `rows`, listed and counted; what every mode of one episode shares is listed once."""
    f = Failures()
    once: set = set()
    for r in rows:
        where = f"{Path(r['scenario']).stem} seed {r['seed']}"
        if r["status"] != "ok":
            f.counts["crashed"] += 1
            f.crashed.append(f"{where} ({r['mode']}): {r.get('error')}")
            continue
        rep = r.get("report") or {}
        for account in rep.get("unfinished") or ():
            if ("unfinished", r["scenario"], r["seed"], account) not in once:
                once.add(("unfinished", r["scenario"], r["seed"], account))
                f.counts["unfinished"] += 1
                f.unfinished.append(f"{where}: {account}")
        for m in marks_of(r) or ():
            if not m.issued:
                f.counts["unissued"] += 1
                f.unissued.append(f"{where} ({r['mode']}): {m.account}")
        for e in rep.get("errors") or ():
            e = str(e)
            if e.startswith(SCENARIO_FAULT):
                if ("fault", r["scenario"], r["seed"], e) not in once:
                    once.add(("fault", r["scenario"], r["seed"], e))
                    f.counts["scenario_faults"] += 1
                    f.scenario.append(f"{where}: {e[len(SCENARIO_FAULT):].strip()}")
            else:
                repeats = _REPEATS.search(e)
                f.counts["stack_exceptions"] += int(repeats.group(1)) if repeats else 1
                f.stack.append(f"{where} ({r['mode']}): {e}")
    return f


def pooled_lines(groups: Sequence[tuple[str, str, str, Pool]]) -> list[str]:
    """The pooled table: a row per (suite, mode, seed set) and, where a suite and mode has both, the gap."""
    lines = ["| suite | mode | seeds | episodes | crashed | receipts | missing | receipt accuracy | item precision | "
             "item recall | item F1 | review rate | wrong among unflagged |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    by_pair: dict[tuple[str, str], dict[str, Pool]] = defaultdict(dict)
    for suite, mode, seed_set, p in groups:
        by_pair[(suite, mode)][seed_set] = p
    for (suite, mode), sets in by_pair.items():
        for seed_set, p in sets.items():
            lines.append(f"| {suite} | {mode} | {seed_set} | {p.episodes} | {p.crashed} | {p.receipts} | {p.missing} | "
                         f"{_ratio(p, 'accuracy')} | {_num(p.share('precision'), 4)} | {_num(p.share('recall'), 4)} | "
                         f"{_num(p.f1, 4)} | {_ratio(p, 'review')} | {_ratio(p, 'unflagged_wrong')} |")
        if "dev" in sets and "fresh" in sets:
            d, f = sets["dev"], sets["fresh"]
            lines.append(f"| {suite} | {mode} | **fresh − dev** | | | | | {_gap(d.share('accuracy'), f.share('accuracy'))} | "
                         f"{_gap(d.share('precision'), f.share('precision'), 4)} | "
                         f"{_gap(d.share('recall'), f.share('recall'), 4)} | {_gap(d.f1, f.f1, 4)} | "
                         f"{_gap(d.share('review'), f.share('review'))} | "
                         f"{_gap(d.share('unflagged_wrong'), f.share('unflagged_wrong'))} |")
    return lines


def failure_lines(by_suite: Mapping[str, Sequence[Mapping]]) -> list[str]:
    """A count per suite of each kind of failure, then each one listed."""
    lines = ["| suite | crashed episodes (rows) | accounts left inside | receipts never issued | stack exceptions | "
             "scenario faults |", "|---|---|---|---|---|---|"]
    listed: list[str] = []
    for suite, rows in by_suite.items():
        f = failures(rows)
        c = f.counts
        lines.append(f"| {suite} | {c['crashed']} | {c['unfinished']} | {c['unissued']} | {c['stack_exceptions']} | "
                     f"{c['scenario_faults']} |")
        for title, items in (("crashed episodes", f.crashed), ("accounts still inside at the end", f.unfinished),
                             ("receipts never issued", f.unissued), ("stack exceptions", f.stack),
                             ("scenario faults (a scripted step the shopper could not do)", f.scenario)):
            if items:
                listed += ["", f"`{suite}`, {title}:", ""] + [f"- {x}" for x in items[:MAX_LISTED]]
                if len(items) > MAX_LISTED:
                    listed.append(f"- ... and {len(items) - MAX_LISTED} more")
    return lines + listed


def _ratio(p: Pool, name: str) -> str:
    a, b = p.ratio(name)
    return f"{a / b:.3f} ({a}/{b})" if b else "n/a"


def _num(x: float | None, digits: int = 3) -> str:
    return "n/a" if x is None else f"{x:.{digits}f}"


def _gap(dev: float | None, fresh: float | None, digits: int = 3) -> str:
    return "n/a" if dev is None or fresh is None else f"{fresh - dev:+.{digits}f}"
