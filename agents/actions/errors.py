"""Why a shopper's step could not be done at run time (the ledger records each; see `agents.shopper`)."""
from __future__ import annotations


class ScenarioFault(Exception):
    """A scripted step that is impossible at run time; the message goes to the ledger."""


class StockOut(ScenarioFault):
    """The shelves no longer allow a step (others took the stock, or the hand holds nothing to put back).

    Real shoppers meet this: the step is skipped (`Shopper.skipped`, and an `adapted` truth event) and
    the shopper carries on, scripted or persona alike.
    """


class Crowded(StockOut):
    """No room in front of a bin for a long while (others kept it busy): as people do, the shopper gives up
    on the step and carries on."""


class OutOfReach(ScenarioFault):
    """The bin is beyond this shopper's reach. A scripted step's bins are checked at load time
    (`agents.script_check`) and a drawn body is one that reaches them, so for a scripted shopper this is
    a fault of the twin (counted); a persona shopper, whose script was written for its own body, skips it."""

