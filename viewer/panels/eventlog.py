"""The event log (takes, put-backs and gate scans as the stack saw them and as they truly happened) and metrics.

Place in the data path: the left column is `sim.ledger` truth, the right the stack's `ShelfEvent`s; both
newest first, so a miss or a wrong SKU shows as a line with no partner at about the same time.
"""
from __future__ import annotations

import pygame

from viewer import ui

KIND_COLOURS = {"take": (255, 170, 90), "put_back": (120, 200, 255), "scan": ui.GOOD, "entry": ui.GOOD,
                "exit": (200, 160, 255), "give": (255, 120, 200), "fault": ui.BAD}
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
        what = e.sku or e.gate or ""
        where = e.bin or ""
        who = e.account or e.shopper or ""
        line = f"{e.t_s:6.1f}  {e.kind:<8} {where:<7} {what:<14} {who}"
        text.draw(screen, line, (left.x + 8, y), 16, KIND_COLOURS.get(e.kind, ui.TEXT))
        y += 16
    if snap.detected_events is None:
        ui.not_available(screen, right, note or "no checkout stack", text)
        return
    y = y0
    for e in reversed(snap.detected_events):
        if y > right.bottom - 16:
            break
        if e.gate is not None:  # a gate message: a scan names an account, an exit passage nobody
            line = f"{e.t_s:6.1f}  {e.kind:<8} {e.gate:<7} {'':<14} {e.account or '(no identity)'}"
        else:
            qty = f"{e.qty}x" if e.qty != 1 else ""
            line = f"{e.t_s:6.1f}  {e.kind:<8} {e.bin or '':<7} {qty}{e.sku or '?':<14} {e.account or '?'}  {e.confidence:.2f}"
        text.draw(screen, line, (right.x + 8, y), 16, KIND_COLOURS.get(e.kind, ui.TEXT))
        y += 16
    if not snap.detected_events:
        text.draw(screen, "(nothing yet)", (right.x + 8, y), 16, ui.DIM)


def draw_metrics(screen: pygame.Surface, rect: pygame.Rect, text: ui.Text, snap, app) -> None:
    content = ui.panel(screen, rect, "Live metrics", text)
    if snap is None:
        return
    rows = [
        ("UI frames/s", f"{app.fps:.0f}"),
        ("sim speed", f"{snap.realtime_factor:.2f}x real time (asked {snap.speed:g}x)"),
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
