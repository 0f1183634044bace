"""The stack as a configuration of stages: the ablations are named configurations, and a stage swaps by name."""
from __future__ import annotations

import pytest

import checkout.identification
import checkout.vision_events
from checkout.identification import Hypothesis
from checkout.stack import MODES, STACKS, CheckoutStack, StackConfig
from checkout.shelf_events import ShelfEventDetector
from checkout.stages import STAGES, CameraEvents, FusedEvents, LoadCellEvents, WeightColourIdentification, WeightIdentification, register_stage
from sim.stream import GatePassage, GateScan
from tests.checkout_synth import CellScript, down_camera, stream, tiny_store_info
from tests.test_checkout_stack import _shopper_taking_lemon

BLIND = tiny_store_info()  # no cameras: who is inferred from who is inside
SEEN = tiny_store_info((down_camera("c1", 1.5, 1.8, width=120, height=90, fps=5.0),
                        down_camera("c2", 1.5, 3.4, width=120, height=90, fps=5.0)))


class LemonsOnly:
    """Every weight change is one lemon taken, whatever it weighed."""

    def __init__(self, ctx) -> None:
        self.changes = 0

    def explains(self, bin_id: str, delta_g: float) -> bool:
        return True

    def weight_change(self, ev, who, seen_until_s):
        self.changes += 1
        return [Hypothesis("take", "lemon-330", 1, 1.0)], "weight"


@pytest.fixture
def lemons_only():
    register_stage("identification", "lemons_only")(LemonsOnly)
    yield "lemons_only"
    del STAGES["identification"]["lemons_only"]


def _cola_taken():
    return stream(BLIND, 12.0, {"A-1-1": CellScript(2100.0, steps=[(3.0, -352.0)])},
                  [GateScan(1.0, "in-1", "acct-1"), GatePassage(8.0, "out-1")])


def _lemon_taken_in_sight():
    """A shopper seen taking a lemon (yellow leaves in the hand) while the lemon bin's cell steps down."""
    return _shopper_taking_lemon()


@pytest.mark.parametrize("how", ["name", "factory", "stage"])
def test_an_identification_stage_swapped_in_decides_what_the_receipt_charges(lemons_only, how):
    msgs = _cola_taken()
    (plain,) = CheckoutStack("weight").run(msgs)
    assert plain.items == {"cola-330": 1}
    made = LemonsOnly(None)
    spec = {"name": lemons_only, "factory": LemonsOnly, "stage": made}[how]
    stack = CheckoutStack("weight", identification=spec)
    (r,) = stack.run(msgs)
    assert r.items == {"lemon-330": 1}
    assert isinstance(stack.identification, LemonsOnly) and stack.identification.changes == 1
    assert (stack.identification is made) == (how == "stage")
    assert stack.mode == "weight" and stack.config.identification == spec


def test_a_stack_made_from_a_config_uses_its_stages(lemons_only):
    config = StackConfig("lemony", identification=lemons_only, shelf_events="load_cells", watch_carry=False, knocked_off=False)
    stack = CheckoutStack.from_config(config)
    (r,) = stack.run(_cola_taken())
    assert r.items == {"lemon-330": 1} and stack.mode == "lemony"
    assert CheckoutStack(config=config).config is config


def test_an_unknown_stage_names_the_registered_ones():
    with pytest.raises(ValueError, match="weight_colour"):
        CheckoutStack("fused", identification="psychic").run(_cola_taken())
    with pytest.raises(ValueError, match="stage kind"):
        CheckoutStack("fused", oracle="psychic")
    with pytest.raises(ValueError, match="registered already"):
        register_stage("identification", "weight")(LemonsOnly)


def test_the_three_modes_are_named_configurations_of_stages():
    assert MODES == tuple(STACKS) == ("fused", "weight", "vision")
    built = {}
    for mode in MODES:
        stack = CheckoutStack(mode)
        stack.consume(SEEN)
        assert stack.config is STACKS[mode] and stack.mode == mode
        built[mode] = (type(stack.shelf), type(stack.identification), stack.watches is not None, stack.floor is not None)
    assert built == {
        "fused": (FusedEvents, WeightColourIdentification, True, True),
        "weight": (LoadCellEvents, WeightIdentification, False, False),
        "vision": (CameraEvents, WeightIdentification, False, False),
    }


def test_the_weight_only_stack_never_looks_at_a_colour_and_the_vision_only_stack_never_at_a_weight(monkeypatch):
    colour_reads = []
    real = checkout.identification.colour_evidence

    def counted(*args, **kwargs):
        colour_reads.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(checkout.identification, "colour_evidence", counted)  # what colour_evidence_looks calls
    monkeypatch.setattr(checkout.vision_events, "colour_evidence", counted)
    msgs = _lemon_taken_in_sight()
    weight = CheckoutStack("weight")
    assert weight.run(msgs)[0].items == {"lemon-330": 1}
    assert colour_reads == [] and [e.source for e in weight.events] == ["weight"]
    fused = CheckoutStack("fused")
    assert fused.run(msgs)[0].items == {"lemon-330": 1}
    assert colour_reads and [e.source for e in fused.events] == ["fused"]

    weighed = []
    monkeypatch.setattr(ShelfEventDetector, "process", lambda self, batch: weighed.append(batch) or [])
    vision = CheckoutStack("vision")
    assert vision.run(msgs)[0].items == {"lemon-330": 1}
    assert weighed == [] and [e.source for e in vision.events] == ["vision"]
    CheckoutStack("weight").run(msgs)
    assert weighed  # the patched detector is where load cells are read: the check above can fail
