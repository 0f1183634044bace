"""A deliberately naive outside checkout stack (README, "Outside stacks"), for the tests that plug one in.

It reads the gate scans and nothing else, and bills every account it saw scanned an empty receipt once the
stream ends: right only for shoppers who took nothing. It has no `tracks()` and no `events`, so its
tracking and shelf-event figures are absent from its report.
"""
from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class NaiveReceipt:
    account: str
    items: dict[str, int] = field(default_factory=dict)


class ChargesNothing:
    def __init__(self) -> None:
        self.accounts: list[str] = []

    def consume(self, msg: object) -> list[NaiveReceipt]:
        account = getattr(msg, "account", None)
        if type(msg).__name__ == "GateScan" and account not in self.accounts:
            self.accounts.append(account)
        return []

    def finish(self) -> list[NaiveReceipt]:
        return [NaiveReceipt(a) for a in self.accounts]


def make() -> ChargesNothing:
    return ChargesNothing()
