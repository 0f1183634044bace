"""The accounts panel (the stack's live carts against the truth, receipts as issued) and the shopper inspector.

Place in the data path: the meeting point. Carts come from `CheckoutStack.carts()` (what the stack
believes), truth from the ledger (what is charged to each account now); a SKU whose counts differ is red.
Receipts carry the stack's confidence and review flag and, once the account has closed, whether they
equal the true receipt.
"""
from __future__ import annotations

import pygame

from viewer import ui


def draw_accounts(screen: pygame.Surface, rect: pygame.Rect, text: ui.Text, snap, note: str | None) -> None:
    content = ui.panel(screen, rect, "Accounts: stack cart vs truth", text, "red: mismatch")
    if snap is None:
        return
    x, y = content.x + 8, content.y + 4
    bottom = content.bottom - 4
    carts = snap.stack_carts
    if carts is None:
        ui.not_available(screen, pygame.Rect(content.x, content.y, content.w, content.h // 3), note or "no checkout stack", text)
        y = content.y + content.h // 3
    def differs(a: str) -> bool:
        t, b = snap.truth_carts.get(a, {}), (carts or {}).get(a, {})
        return carts is not None and any(t.get(s, 0) != b.get(s, 0) for s in set(t) | set(b))

    # shoppers inside first, and among them the mismatches
    accounts = sorted(set(snap.truth_carts) | set(carts or {}),
                      key=lambda a: (snap.account_state.get(a) == "left", not differs(a), a))
    col_stack, col_truth = content.right - 88, content.right - 40
    if accounts:
        text.draw(screen, "stack", (col_stack, y), 15, ui.DIM)
        text.draw(screen, "truth", (col_truth, y), 15, ui.DIM)
        y += 14
    shown = min(6, len(snap.receipts), max(1, (content.h // 2 - 22) // 18))
    receipt_h = 18 * shown + (24 if snap.receipts else 0)
    receipts_top = bottom - receipt_h
    for acct in accounts:
        if y > receipts_top - 36:
            text.draw(screen, f"... {len(accounts)} accounts", (x, y), 15, ui.DIM)
            y += 16
            break
        truth = snap.truth_carts.get(acct, {})
        believed = (carts or {}).get(acct, {})
        skus = sorted(set(truth) | set(believed))
        bad = carts is not None and any(truth.get(s, 0) != believed.get(s, 0) for s in skus)
        state = snap.account_state.get(acct, "?")
        text.draw(screen, acct, (x, y), 18, ui.BAD if bad else ui.TEXT, bold=True)
        text.draw(screen, state, (col_stack - 50, y + 1), 15, ui.DIM)
        y += 17
        if not skus:
            text.draw(screen, "(empty)", (x + 12, y), 15, ui.DIM)
            y += 15
        for sku in skus:
            t, b = truth.get(sku, 0), believed.get(sku, 0)
            colour = ui.BAD if carts is not None and t != b else ui.TEXT
            text.draw(screen, sku, (x + 12, y), 16, colour)
            text.draw(screen, "-" if carts is None else str(b), (col_stack + 12, y), 16, colour)
            text.draw(screen, str(t), (col_truth + 12, y), 16, colour)
            y += 15
        y += 3
    if snap.receipts:
        y = receipts_top
        pygame.draw.line(screen, ui.PANEL_EDGE, (content.x + 4, y), (content.right - 4, y))
        text.draw(screen, "Receipts issued", (x, y + 3), 17, ui.TITLE)
        y += 21
        for r in snap.receipts[-shown:]:
            ok = r.correct
            mark, colour = ("=", ui.GOOD) if ok else (("pending", ui.DIM) if ok is None else ("!= truth", ui.BAD))
            items = sum(r.items.values())
            flag = "REVIEW" if r.flagged else "ok"
            line = f"{r.t_s:6.1f}s {r.account} {items} items {r.total:.2f} conf {r.confidence:.2f} {flag}"
            text.draw(screen, line, (x, y), 15, ui.WARN if r.flagged else ui.TEXT)
            text.draw(screen, mark, (content.right - 8, y), 15, colour, right=True)
            y += 18


def draw_inspector(screen: pygame.Surface, rect: pygame.Rect, text: ui.Text, snap, selected: str | None) -> None:
    content = ui.panel(screen, rect, "Shopper", text, "click the map / Tab")
    x, y = content.x + 8, content.y + 4
    info = snap.inspect if snap is not None else None
    if selected is None or info is None:
        text.draw(screen, "no shopper selected" if selected is None else f"{selected} has left", (x, y), 17, ui.DIM)
        return
    pos = info["position"]
    where = "outside" if pos is None else f"({pos[0]:.1f}, {pos[1]:.1f}) m"
    text.draw(screen, f"{info['id']}", (x, y), 20, ui.colour_for(info["account"]), bold=True)
    text.draw(screen, f"{info['account']}  persona {info['persona'] or '-'}  {where}", (x, y + 19), 16, ui.TEXT)
    y += 38
    nxt = info["next_action"]
    text.draw(screen, "now: " + info.get("status", "?"), (x, y), 16, ui.TEXT)
    y += 16
    text.draw(screen, "next: " + (nxt if nxt else "not available (the shopper does not expose it)"), (x, y), 16,
              ui.WARN if nxt else ui.DIM)
    y += 17
    cart = ", ".join(f"{k} x{v}" for k, v in info["cart"].items()) or "nothing"
    for line in ui.wrap("carries: " + cart, max(20, content.w // 7)):
        text.draw(screen, line, (x, y), 16, ui.TEXT)
        y += 16
    text.draw(screen, "script:", (x, y), 16, ui.DIM)
    y += 16
    for k, step in enumerate(info["script"]):
        if y > content.bottom - 16:
            text.draw(screen, f"... {len(info['script'])} steps", (x + 10, y), 15, ui.DIM)
            break
        colour = ui.WARN if nxt and step == nxt else ui.TEXT
        text.draw(screen, f"{k + 1}. {step}", (x + 10, y), 15, colour)
        y += 15
