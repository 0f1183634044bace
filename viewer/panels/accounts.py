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
    for n, acct in enumerate(accounts):
        truth = snap.truth_carts.get(acct, {})
        believed = (carts or {}).get(acct, {})
        skus = sorted(set(truth) | set(believed))
        block_h = 17 + 15 * max(1, len(skus)) + 3
        more = n + 1 < len(accounts)
        if y + block_h + (16 if more else 0) > receipts_top - 2:  # the whole block, and the "more" line, must fit
            left = len(accounts) - n
            text.draw(screen, f"... and {left} more account{'s' if left > 1 else ''}", (x, y), 15, ui.DIM)
            break
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
    content = ui.panel(screen, rect, "Shopper (truth)", text, "click the map / Tab")
    x, y = content.x + 8, content.y + 4
    info = snap.inspect if snap is not None else None
    if selected is None or info is None:
        text.draw(screen, "no shopper selected" if selected is None else f"{selected} has left", (x, y), 17, ui.DIM)
        return
    pos = info["position"]
    where = "outside" if pos is None else f"({pos[0]:.1f}, {pos[1]:.1f}) m"
    text.draw(screen, f"{info['id']}", (x, y), 20, ui.colour_for(info["account"]), bold=True)
    text.draw(screen, f"{info['account']}  {role_text(info)}  {where}", (x, y + 19), 16, ui.TEXT)
    y += 38
    text.draw(screen, "now: " + info.get("status", "?"), (x, y), 16, ui.TEXT)
    y += 16
    doing = doing_text(info)
    text.draw(screen, doing, (x, y), 16, ui.DIM if info["next_action"] is None else ui.WARN)
    y += 17
    cart = ", ".join(f"{k} x{v}" for k, v in info["cart"].items()) or "nothing"
    for line in ui.wrap("carries (truth): " + cart, max(20, content.w // 7)):
        text.draw(screen, line, (x, y), 16, ui.TEXT)
        y += 16
    script = info["script"]
    text.draw(screen, "script:" if script else script_note(info), (x, y), 16, ui.DIM)
    y += 16
    for k, step in enumerate(script):
        if y > content.bottom - 16:
            text.draw(screen, f"... {len(script)} steps", (x + 10, y), 15, ui.DIM)
            break
        colour = ui.WARN if k == info.get("step_index") and not info.get("script_over") else ui.TEXT
        text.draw(screen, f"{k + 1}. {step}", (x + 10, y), 15, colour)
        y += 15


def role_text(info: dict) -> str:
    """What drives the shopper: "persona quick" for a persona shopper, "scripted" for one a scenario scripts."""
    return f"persona {info['persona']}" if info.get("persona") else "scripted"


def doing_text(info: dict) -> str:
    """The step under way and what the shopper does about it: "step 2 of 5: pick cola-330 from A-1-1"."""
    nxt, k, n = info["next_action"], info.get("step_index"), len(info["script"])
    if info.get("done"):
        return "doing: nothing, it has left the store"
    if nxt is None:
        return "doing: not available (the shopper does not say)"
    if info.get("script_over"):
        return f"doing: {nxt} (script over)"
    if k is None:
        return f"doing: {nxt}" + (f" (then step 1 of {n})" if n else "")
    step = info["script"][k]
    return f"doing: step {k + 1} of {n}: {step}" + ("" if nxt == step else f", interrupted: {nxt}")


def script_note(info: dict) -> str:
    """The line in place of an empty script."""
    if info.get("persona"):
        return f"script: drawn from persona {info['persona']} when it enters"
    return "script: no steps (walks in and out)"
