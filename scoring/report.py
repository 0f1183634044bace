"""One episode's report (DESIGN.md section 9): `report.json` for machines and `report.md` for people.

Place in the data path: after `scoring.metrics`. `build_report` assembles the
figures into one plain, JSON-ready dict with every key of section 9 plus
`mode`, `unfinished`, `tracking` (MOTA, IDF1, HOTA and the rest), `errors`
and `stages` (per-stage wall-clock costs when the stack reports them);
`write_report` writes both files;
`summary_lines` is the few lines `replay` prints; `ending_lines` is the end of
`run`, written for a shopkeeper: per account, what was taken and what was charged.
"""
from __future__ import annotations

import json
import math
from collections import Counter
from pathlib import Path
from typing import Mapping, Sequence

from scoring.metrics import ReceiptScore

REPORT_KEYS = (
    "scenario", "seed", "mode", "sim_seconds", "wall_seconds", "realtime_factor", "accounts",
    "receipt_accuracy", "item_precision", "item_recall", "item_f1", "billing_error", "review_rate",
    "receipts", "events", "unfinished", "tracking", "errors", "stages",
)


def build_report(
    *,
    scenario: str,
    seed: int,
    mode: str,
    sim_seconds: float,
    wall_seconds: float,
    receipts: ReceiptScore,
    events: Mapping | None,
    tracking: Mapping | None,
    errors: Sequence[str] = (),
    stages: Mapping[str, float] | None = None,
    extra: Mapping | None = None,
) -> dict:
    """Every figure of one episode as a plain dict (the content of `report.json`)."""
    scored = receipts.as_dict()
    report = {
        "scenario": scenario,
        "seed": int(seed),
        "mode": mode,
        "sim_seconds": round(float(sim_seconds), 4),
        "wall_seconds": round(float(wall_seconds), 4),
        "realtime_factor": round(float(sim_seconds) / wall_seconds, 4) if wall_seconds > 0 else None,
        "accounts": scored["accounts"],
        "receipt_accuracy": scored["receipt_accuracy"],
        "item_precision": scored["item_precision"],
        "item_recall": scored["item_recall"],
        "item_f1": scored["item_f1"],
        "billing_error": scored["billing_error"],
        "review_rate": scored["review_rate"],
        "receipts": scored["receipts"],
        "items": scored["items"],
        "events": dict(events) if events is not None else None,  # None: a stack that reports no shelf events
        "unfinished": scored["unfinished"],
        "tracking": dict(tracking) if tracking is not None else None,
        "errors": list(errors),
        "stages": {k: round(float(v), 4) for k, v in (stages or {}).items()},
    }
    if extra:
        report.update(extra)
    return _json_safe(report)


def write_report(report: Mapping, out_dir: Path | str) -> tuple[Path, Path]:
    """Write `report.json` and `report.md` into `out_dir` (created if needed)."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    json_path, md_path = out / "report.json", out / "report.md"
    json_path.write_text(json.dumps(report, indent=2, sort_keys=False) + "\n", encoding="utf-8")
    md_path.write_text(report_markdown(report), encoding="utf-8")
    return json_path, md_path


def summary_lines(report: Mapping) -> list[str]:
    """The episode in a few lines, for the terminal."""
    ev = report.get("events") or {}
    tr = report.get("tracking") or {}
    lines = [
        f"{report['scenario']} seed {report['seed']} ({report['mode']}): {report['sim_seconds']:.1f} s simulated "
        f"in {report['wall_seconds']:.1f} s wall, realtime factor {_num(report['realtime_factor'])}",
        f"receipts: {report['accounts']} accounts exited, accuracy {_pct(report['receipt_accuracy'])}, "
        f"item P/R/F1 {_num(report['item_precision'])}/{_num(report['item_recall'])}/{_num(report['item_f1'])}, "
        f"billing error {report['billing_error']:.2f}, review rate {_pct(report['review_rate'])}"
        if report["accounts"] else "receipts: no account exited, so nothing was scored",
    ]
    if ev:
        lines.append(
            f"shelf events: {sum(ev['true'].values())} true, {sum(ev['detected'].values())} detected, "
            f"{ev['matched']} matched within {ev['tolerance_s']} s, attribution {_pct(ev['attribution_accuracy'])}"
        )
    if tr:
        lines.append(f"tracking: MOTA {_num(tr.get('mota'))}, IDF1 {_num(tr.get('idf1'))}, "
                     f"HOTA {_num(tr.get('hota'))}, ID switches {tr.get('id_switches', 'n/a')} "
                     f"over {tr.get('frames', 0)} frames")
    if report.get("unfinished"):
        lines.append(f"unfinished (still inside, not scored): {', '.join(report['unfinished'])}")
    if report.get("errors"):
        lines.append(f"errors: {len(report['errors'])} (first: {report['errors'][0]})")
    if report.get("adapted_steps"):
        lines.append(f"adapted steps: {len(report['adapted_steps'])} (first: {report['adapted_steps'][0]})")
    return lines


def ending_lines(
    report: Mapping,
    *,
    members: Mapping[str, Sequence[str]] | None = None,
    item_names: Mapping[str, str] | None = None,
    report_dir: Path | str | None = None,
    next_steps: Sequence[tuple[str, str]] = (),
) -> list[str]:
    """The end of a run in plain words: per account who shopped on it, what they really took, what the stack
    charged, right or wrong (and what differs), flagged for review or not (and why); one overall line; what the
    shelves and cameras saw; where the report is; `next_steps` as (command, what it does).

    `members` maps an account to its shoppers' ids and `item_names` an SKU to its catalog name; both are
    optional (report.json carries neither), and without them the lines show account ids and SKUs.
    """
    names = item_names or {}
    stack = _STACK_WORDS.get(str(report.get("mode")), f"the {report.get('mode')} stack")
    lines = [f"{report['scenario']}, seed {report['seed']}: {report['sim_seconds']:.1f} s of shopping simulated in "
             f"{report['wall_seconds']:.1f} s ({_times(report.get('realtime_factor'))} real time); bills from {stack}",
             ""]
    receipts = report.get("receipts") or []
    for r in receipts:
        lines += _account_block(r, (members or {}).get(r["account"], ()), names) + [""]
    lines.append(_overall_line(receipts) if receipts else "No shopper left the store, so no bill was checked.")
    if report.get("unfinished"):
        lines.append(f"Still inside when the run ended, not checked: {', '.join(report['unfinished'])}.")
    lines += _shelf_and_camera_lines(report)
    if report.get("errors"):
        lines.append(f"Problems during the run: {len(report['errors'])} (first: {report['errors'][0]}).")
    if report.get("adapted_steps"):
        lines.append(f"Steps done otherwise: {len(report['adapted_steps'])} (first: {report['adapted_steps'][0]}).")
    lines.append("")
    if report_dir is not None:
        out = Path(report_dir)
        lines.append(f"Report: {out / 'report.md'} (for people, every figure) and {out / 'report.json'}.")
    else:
        lines.append("No report written: add --out DIR to write report.md and report.json.")
    if next_steps:
        lines += ["", "Next:"] + [f"  {cmd}   # {what}" for cmd, what in next_steps]
    return lines


def report_markdown(report: Mapping) -> str:
    """`report.md`: the same figures as `report.json`, laid out for people."""
    out = [f"# Episode report: {report['scenario']} (seed {report['seed']}, {report['mode']})", ""]
    out += ["## Summary", "", "| figure | value |", "|---|---|"]
    for key, label, fmt in (
        ("accounts", "accounts that exited", str),
        ("receipt_accuracy", "receipt accuracy", _pct),
        ("item_precision", "item precision", _num),
        ("item_recall", "item recall", _num),
        ("item_f1", "item F1", _num),
        ("billing_error", "billing error", lambda v: f"{v:.2f}"),
        ("review_rate", "review rate", _pct),
        ("sim_seconds", "simulated seconds", lambda v: f"{v:.1f}"),
        ("wall_seconds", "wall seconds", lambda v: f"{v:.1f}"),
        ("realtime_factor", "realtime factor", _num),
    ):
        out.append(f"| {label} | {fmt(report.get(key))} |")
    out += ["", "## Receipts", ""]
    receipts = report.get("receipts") or []
    if receipts:
        out += ["| account | charged | truth | total | true total | correct | flagged | confidence |",
                "|---|---|---|---|---|---|---|---|"]
        for r in receipts:
            name = r["account"] + (" (phantom)" if r.get("phantom") else "") + ("" if r.get("issued", True) else " (no receipt)")
            out.append(f"| {name} | {_items(r['items'])} | {_items(r['truth'])} | {r.get('total', 0):.2f} | "
                       f"{r.get('true_total', 0):.2f} | {'yes' if r['correct'] else '**no**'} | "
                       f"{'yes' if r['flagged'] else 'no'} | {_num(r['confidence'])} |")
    else:
        out.append("No account exited.")
    if report.get("unfinished"):
        out += ["", f"Unfinished (still inside at the end, left out of the figures): {', '.join(report['unfinished'])}"]
    ev = report.get("events") or {}
    if "events" in report and report["events"] is None:
        out += ["", "## Shelf events", "", "Not measured (the stack reports no shelf events)."]
    if ev:
        out += ["", "## Shelf events", "", "| | take | put back |", "|---|---|---|",
                f"| true | {ev['true'].get('take', 0)} | {ev['true'].get('put_back', 0)} |",
                f"| detected | {ev['detected'].get('take', 0)} | {ev['detected'].get('put_back', 0)} |", "",
                f"Matched within {ev['tolerance_s']} s: {ev['matched']} (missed {ev['missed']}, spurious "
                f"{ev['spurious']}); precision {_num(ev['precision'])}, recall {_num(ev['recall'])}, "
                f"SKU accuracy {_pct(ev['sku_accuracy'])}, attribution accuracy {_pct(ev['attribution_accuracy'])}."]
    tr = report.get("tracking")
    out += ["", "## Tracking", ""]
    if tr and tr.get("mota") is not None:
        out.append(f"MOTA {_num(tr['mota'])}, IDF1 {_num(tr['idf1'])}, MOTP {_num(tr['motp_m'])} m, "
                   f"{tr['id_switches']} identity switches, {tr['misses']} misses, {tr['false_positives']} false "
                   f"positives over {tr['frames']} frames (match within {tr['max_distance_m']} m; py-motmetrics).")
        out += ["", f"HOTA {_num(tr.get('hota'))}, DetA {_num(tr.get('deta'))}, AssA {_num(tr.get('assa'))} "
                    f"(trackeval; means over alpha 0.05-0.95, similarity max(0, 1 - d / {tr['max_distance_m']} m))."]
    else:
        out.append("Not measured (no truth poses or no tracks in this episode).")
    if report.get("stages"):
        out += ["", "## Cost per stage (wall seconds)", "", "| stage | seconds |", "|---|---|"]
        out += [f"| {k} | {v:.3f} |" for k, v in report["stages"].items()]
    if report.get("errors"):
        out += ["", "## Errors", ""] + [f"- {e}" for e in report["errors"]]
    if report.get("adapted_steps") or report.get("scenario_notes"):
        out += ["", "## Steps done otherwise", ""] + [f"- {e}" for e in report.get("scenario_notes", [])]
        out += [f"- {e}" for e in report.get("adapted_steps", [])]
    return "\n".join(out) + "\n"


_STACK_WORDS = {"fused": "the fused stack (cameras and shelf weights)", "weight": "the shelf weights alone",
                "vision": "the cameras alone"}


def _account_block(r: Mapping, members: Sequence[str], names: Mapping[str, str]) -> list[str]:
    """One account: who and the verdict (right or wrong, flagged or not, and why), what was taken, what was
    charged, and what differs."""
    who = f"{r['account']} ({', '.join(members)})" if members else r["account"]
    if r.get("phantom"):
        who += ", an account no shopper left the store on"
    if r.get("flagged"):
        review = f"flagged for review: {'; '.join(r.get('reasons') or ()) or 'the stack was not sure'}"
    else:
        review = "not flagged" if r["correct"] else "NOT flagged, so this bill would go out unchecked"
    conf = "" if r.get("confidence") is None else f" (stack's confidence {float(r['confidence']):.2f})"
    charged = _said(r["items"], r.get("total", 0.0), names) if r.get("issued", True) else "nothing: no receipt issued"
    lines = [f"{who}: {'right' if r['correct'] else 'wrong'}, {review}{conf}",
             f"  left with  {_said(r['truth'], r.get('true_total', 0.0), names)}",
             f"  charged    {charged}"]
    if not r["correct"]:
        charged_items, true_items = Counter(r["items"]), Counter(r["truth"])
        missing, extra = true_items - charged_items, charged_items - true_items
        parts = ([f"not charged for {_listed(missing, names)}"] if missing else []) + \
                ([f"charged for {_listed(extra, names)}, not taken"] if extra else [])
        diff = round(float(r.get("total", 0.0)) - float(r.get("true_total", 0.0)), 2)
        parts.append(f"{abs(diff):.2f} too {'much' if diff > 0 else 'little'}" if diff else "the same total")
        lines.append("  " + "; ".join(parts))
    return lines


def _overall_line(receipts: Sequence[Mapping]) -> str:
    rows = [r for r in receipts if not r.get("phantom")]
    right = sum(bool(r["correct"]) for r in rows)
    flagged = sum(bool(r.get("flagged")) for r in rows)
    unchecked_wrong = sum(not r["correct"] and not r.get("flagged") for r in rows)
    off = sum(abs(float(r.get("total", 0.0)) - float(r.get("true_total", 0.0))) for r in receipts)
    wrong = len(rows) - right
    line = f"Overall: {right} of {len(rows)} bills right"
    line += f", {wrong} wrong ({unchecked_wrong} of them not flagged)" if wrong else ""
    line += f", {flagged} flagged for review" if flagged else ", none flagged for review"
    line += f"; charges off by {off:.2f} in all."
    phantoms = len(receipts) - len(rows)
    return line + (f" {_n(phantoms, 'bill')} for accounts no shopper left on." if phantoms else "")


def _shelf_and_camera_lines(report: Mapping) -> list[str]:
    """The shelf events and the tracking, in words; report.md keeps every figure."""
    out = []
    ev = report.get("events") or {}
    if ev:
        took, back = ev["true"].get("take", 0), ev["true"].get("put_back", 0)
        line = (f"Shelves: {_n(took, 'take')} and {_n(back, 'put-back')}; the stack caught {ev['matched']} of "
                f"{took + back} at the right shelf and time")
        line += f", missed {ev['missed']}" if ev.get("missed") else ""
        line += f", saw {ev['spurious']} that did not happen" if ev.get("spurious") else ""
        if ev.get("attribution_accuracy") is not None:
            line += f"; {_pct(ev['attribution_accuracy'])} of those caught went on the right account"
        out.append(line + ".")
    tr = report.get("tracking") or {}
    if tr.get("mota") is not None:
        swaps = int(tr.get("id_switches") or 0)
        mixed = f"mixed two shoppers up {_n(swaps, 'time')}" if swaps else "never mixed two shoppers up"
        out.append(f"Cameras: {mixed}; misses, false sightings and mix-ups came to "
                   f"{_pct(max(0.0, 1.0 - float(tr['mota'])))} of the true sightings (MOTA {_num(tr['mota'])}).")
    return out


def _said(items: Mapping[str, int], total: float, names: Mapping[str, str]) -> str:
    return f"{_listed(items, names)}  ({float(total):.2f})" if items else "nothing"


def _listed(items: Mapping[str, int], names: Mapping[str, str]) -> str:
    return " + ".join(f"{q} × {names.get(s, s)}" for s, q in items.items())


def _items(items: Mapping[str, int]) -> str:
    return ", ".join(f"{q}× {s}" for s, q in items.items()) or "—"


def _num(v: object) -> str:
    return "n/a" if v is None else f"{float(v):.3f}"  # type: ignore[arg-type]


def _n(count: int, word: str) -> str:
    return f"{count} {word}" + ("" if count == 1 else "s")


def _times(v: object) -> str:
    return "n/a" if v is None else f"{float(v):.2f}x"  # type: ignore[arg-type]


def _pct(v: object) -> str:
    return "n/a" if v is None else f"{100 * float(v):.1f} %"  # type: ignore[arg-type]


def _json_safe(value: object) -> object:
    """NaN/inf become null so the file is strict JSON; numpy scalars become Python numbers."""
    if isinstance(value, Mapping):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    if hasattr(value, "item") and not isinstance(value, (str, bytes)):
        value = value.item()  # type: ignore[union-attr]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value
