"""The event log (takes, put-backs and gate scans as the stack saw them and as they truly happened) and metrics.

Place in the data path: the left column is `sim.ledger` truth, the right the stack's `ShelfEvent`s; both
newest first, so a miss or a wrong SKU shows as a line with no partner at about the same time.
"""
from __future__ import annotations

import pygame

from viewer import ui

KIND_COLOURS = {"take": (255, 170, 90), "put_back": (120, 200, 255), "scan": ui.GOOD, "entry": ui.GOOD,
                "exit": (200, 160, 255), "give": (255, 120, 200), "fault": ui.BAD, "drop": (200, 200, 120)}
KIND_WORDS = {"put_back": "put back", "drop": "knocked"}  # the stack's "drop": a take re-read as knocked onto the floor
SHOWN = ("take", "put_back", "scan", "exit", "give", "touch", "lean", "fault")


def draw_events(screen: pygame.Surface, rect: pygame.Rect, text: ui.Text, snap, note: str | None) -> None:
    content = ui.panel(screen, rect, "Event log", text, "newest first")
    if snap is None:
        return
    half = content.w // 2
    left = pygame.Rect(content.x, content.y, half, content.h)
    right = pygame.Rect(content.x + half, content.y, content.w - half, content.h)
    pygame.draw.line(screen, ui.PANEL_EDGE, (right.x, right.y + 2), (right.x, right.bottom - 2))
    text.draw(screen, "truly happened (ledger)", (left.x + 8, left.y + 3), 16, ui.TRUTH, bold=True)
    text.draw(screen, "the stack saw", (right.x + 8, right.y + 3), 16, ui.TRACK, bold=True)
    y0 = left.y + 21
    y = y0
    for e in reversed([e for e in snap.truth_events if e.kind in SHOWN]):
        if y > left.bottom - 16:
            break
        text.draw(screen, truth_line(e), (left.x + 8, y), 16, KIND_COLOURS.get(e.kind, ui.TEXT))
        y += 16
    if snap.detected_events is None:
        ui.not_available(screen, right, note or "no checkout stack", text)
        return
    y = y0
    for e in reversed(snap.detected_events):
        if y > right.bottom - 16:
            break
        text.draw(screen, detected_line(e), (right.x + 8, y), 16, KIND_COLOURS.get(e.kind, ui.TEXT))
        y += 16
    if not snap.detected_events:
        text.draw(screen, "(nothing yet)", (right.x + 8, y), 16, ui.DIM)


def truth_line(e) -> str:
    """A ledger event: `  12.3  take     A-1-1   cola-330         acct-1` (one line per item)."""
    what = e.sku or e.gate or ""
    return f"{e.t_s:6.1f}  {_kind(e.kind):<8} {e.bin or '':<7} {what:<16} {e.account or e.shopper or ''}"


def detected_line(e) -> str:
    """A stack event: `  12.4  take     A-1-3   2 × water-500    conf 0.93  acct-1`; a gate message names its
    gate and the scanned account (an exit passage has no identity)."""
    if e.gate is not None:
        return f"{e.t_s:6.1f}  {_kind(e.kind):<8} {e.gate:<7} {'':<16} {e.account or '(no identity)'}"
    what = quantity(e.qty, e.sku or "unknown item")
    conf = "" if e.confidence is None else f"conf {e.confidence:.2f}  "  # before the account: long ids are cut at the edge
    return f"{e.t_s:6.1f}  {_kind(e.kind):<8} {e.bin or '':<7} {what:<16} {conf}{e.account or '(no account)'}"


def quantity(qty: int, sku: str) -> str:
    """`2 × water-500`; a single item is just its SKU."""
    return sku if qty == 1 else f"{qty} × {sku}"


def _kind(kind: str) -> str:
    return KIND_WORDS.get(kind, kind)


def draw_metrics(screen: pygame.Surface, rect: pygame.Rect, text: ui.Text, snap, app) -> None:
    content = ui.panel(screen, rect, "Live metrics", text)
    if snap is None:
        return
    rows = [
        ("UI frames/s", f"{app.fps:.0f}"),
        ("sim speed", ui.speed_text(snap.realtime_factor, snap.speed, snap.paused, snap.finished)),
    ]
    rows += [(k, str(v)) for k, v in snap.metrics.items()]
    if snap.tracks is not None:
        rows.append(("tracks / shoppers inside", f"{len(snap.tracks)} / {sum(s.inside for s in snap.shoppers)}"))
    y = content.y + 4
    for k, v in rows:
        if y > content.bottom - 16:
            break
        text.draw(screen, k, (content.x + 8, y), 16, ui.DIM)
        text.draw(screen, v, (content.x + content.w // 2 - 10, y), 16, ui.TEXT)
        y += 16
    for f in snap.faults[:3]:
        if y > content.bottom - 16:
            break
        text.draw(screen, f[: content.w // 6], (content.x + 8, y), 15, ui.BAD)
        y += 15
