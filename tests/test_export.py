"""Labelled frames (issue 22, `run_sim.py export`): masks checked against the renderer on a hand-built frame,
keypoint visibility, and a short scenario's dataset read back by pycocotools."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pybullet as pb
import pytest
from PIL import Image
from pycocotools import mask as coco_mask
from pycocotools.coco import COCO

import run_sim
from sim.labels import Instance, annotate, instance_map, project
from sim.render import Pinhole, depth_from_buffer, render_client, render_segmentation

ROOT = Path(__file__).resolve().parent.parent
PICK_ONE = ROOT / "assets" / "scenarios" / "pick-one.yaml"


def _down_camera(width: int = 160, height: int = 120) -> Pinhole:
    """A camera 2 m above the origin looking straight down (OpenCV axes: x right = world x, y down = world -y)."""
    R = (1.0, 0.0, 0.0, 0.0, -1.0, 0.0, 0.0, 0.0, -1.0)
    return Pinhole(width, height, 110.0, 110.0, (width - 1) / 2, (height - 1) / 2, R, (0.0, 0.0, 2.0), 0.05, 10.0)


def _box(client: int, half, at, rgb=(0.6, 0.6, 0.6)) -> int:
    vis = pb.createVisualShape(pb.GEOM_BOX, halfExtents=list(half), rgbaColor=[*rgb, 1.0], physicsClientId=client)
    return pb.createMultiBody(0.0, -1, vis, list(at), physicsClientId=client)


@pytest.fixture
def scene():
    """A floor, a product box, and a board above part of it (the product is half hidden)."""
    client = pb.connect(pb.DIRECT)
    floor = _box(client, (2.0, 2.0, 0.01), (0.0, 0.0, -0.01))
    item = _box(client, (0.10, 0.06, 0.05), (0.0, 0.0, 0.05), (0.8, 0.1, 0.1))
    board = _box(client, (0.05, 0.3, 0.005), (0.08, 0.0, 0.4), (0.2, 0.2, 0.8))
    yield client, floor, item, board
    pb.disconnect(physicsClientId=client)


def _visible_by_depth(client: int, cam: Pinhole, body: int, half, at, rgb) -> tuple[np.ndarray, int]:
    """Where `body` is seen, measured without segmentation: the depth that changes when the body is taken away.
    Returns that mask and the id of the body put back (pybullet hands out a new one)."""
    _, with_buf = render_client(client, cam, "tiny")
    pb.removeBody(body, physicsClientId=client)
    _, without_buf = render_client(client, cam, "tiny")
    back = _box(client, half, at, rgb)
    with_m = depth_from_buffer(with_buf, cam.near_m, cam.far_m)
    without_m = depth_from_buffer(without_buf, cam.near_m, cam.far_m)
    return with_m < without_m - 1e-3, back


def test_a_mask_is_the_pixels_where_the_renderer_draws_that_body_and_nothing_hides_it(scene):
    client, floor, item, board = scene
    cam = _down_camera()
    seen, item = _visible_by_depth(client, cam, item, (0.10, 0.06, 0.05), (0.0, 0.0, 0.05), (0.8, 0.1, 0.1))
    seg = render_segmentation(client, cam, "tiny")
    anns = annotate(cam, seg, [Instance(10, item, attributes={"track_id": "item-1"}), Instance(7, board)], 1, 1)
    by_cat = {a["category_id"]: a for a in anns}
    assert set(by_cat) == {10, 7}  # the floor is nobody's
    mask = coco_mask.decode(by_cat[10]["segmentation"]).astype(bool)
    # The box is 0.2 x 0.12 m at 1.9 m: about 11.6 x 7 pixels, a few of them under the board.
    assert 40 < mask.sum() < 100
    agree = (mask == seen).mean()
    iou = (mask & seen).sum() / (mask | seen).sum()
    assert agree >= 0.999 and iou >= 0.97, (agree, iou)
    # The board covers the item's +x end: the item's mask stops short of its full box, which depth confirms.
    u_item_end = project(cam, np.array([[0.10, 0.0, 0.1]]))[0][0, 0]
    assert mask[:, int(np.ceil(u_item_end)) - 1].sum() == 0
    x, y, w, h = by_cat[10]["bbox"]
    rows, cols = np.nonzero(mask)
    assert (x, y, w, h) == (cols.min(), rows.min(), cols.max() - cols.min() + 1, rows.max() - rows.min() + 1)
    assert by_cat[10]["area"] == mask.sum() and by_cat[10]["track_id"] == "item-1"


def test_keypoints_say_seen_hidden_or_outside_the_picture(scene):
    client, floor, item, board = scene
    cam = _down_camera()
    points = np.array([
        [-0.05, 0.0, 0.10],  # on the item's top, in the open: seen
        [0.08, 0.0, 0.10],  # on the item's top, under the board: hidden
        [5.0, 0.0, 0.10],  # far outside the picture
    ])
    seg = render_segmentation(client, cam, "tiny")
    ann, = annotate(cam, seg, [Instance(10, item, keypoints_w=points)], 1, 1)
    kps = np.array(ann["keypoints"]).reshape(-1, 3)
    assert kps[:, 2].tolist() == [2, 1, 0]
    assert kps[2, :2].tolist() == [0.0, 0.0] and ann["num_keypoints"] == 2
    owners = instance_map(seg, [Instance(10, item)])
    assert owners[int(round(kps[0, 1])), int(round(kps[0, 0]))] == 1


def test_links_split_one_body_into_instances_and_the_first_claim_wins(scene):
    client, floor, item, board = scene
    cam = _down_camera()
    seg = render_segmentation(client, cam, "tiny")
    # The floor's base is link -1: an instance naming only link 0 of it claims nothing.
    owners = instance_map(seg, [Instance(3, floor, frozenset({0})), Instance(4, floor)])
    assert not (owners == 1).any() and (owners == 2).sum() > 0.5 * owners.size


@pytest.mark.slow
def test_a_short_scenario_exports_a_dataset_pycocotools_reads_back(tmp_path, capsys):
    out = tmp_path / "set"
    assert run_sim.main(["export", str(PICK_ONE), "--out", str(out), "--seconds", "8", "--every", "10"]) == 0
    assert "frames" in capsys.readouterr().out
    coco = COCO(str(out / "annotations.json"))
    doc = json.loads((out / "annotations.json").read_text())
    cats = {c["name"]: c for c in doc["categories"]}
    assert cats["person"]["keypoints"][0] == "head" and len(cats["person"]["skeleton"]) == 9
    assert {"basket", "bag"} <= set(cats) and sum(c["supercategory"] == "product" for c in doc["categories"]) >= 5
    people = coco.getAnnIds(catIds=[cats["person"]["id"]])
    products = [a["id"] for a in doc["annotations"] if a["category_id"] >= 10]
    assert people and len(products) > 10  # the shopper walks in within 8 s; shelves are full of products
    for ann in coco.loadAnns(people[:5] + products[:20]):
        img = coco.imgs[ann["image_id"]]
        m = coco.annToMask(ann)
        assert m.shape == (img["height"], img["width"]) and m.sum() == ann["area"] > 0
        with Image.open(out / img["file_name"]) as im:
            assert im.size == (img["width"], img["height"])
        with Image.open(out / img["depth_file"]) as d:
            assert d.size == (img["depth_width"], img["depth_height"]) and d.mode.startswith("I")
    person = coco.loadAnns(people[0])[0]
    assert len(person["keypoints"]) == 3 * 9 and person["track_id"] == person["shopper"]
    assert {c["imager"] for c in doc["cameras"]} == {"depth", "rgb"}
    assert {c["calibration"] for c in doc["cameras"]} == {"true", "published"}


def test_an_export_never_writes_over_another_nor_names_a_camera_the_store_lacks(tmp_path, capsys):
    done = tmp_path / "done"
    done.mkdir()
    (done / "annotations.json").write_text("{}")
    assert run_sim.main(["export", str(PICK_ONE), "--out", str(done)]) == 2
    err = capsys.readouterr().err.strip()
    assert "holds an export already" in err and "\n" not in err
    assert (done / "annotations.json").read_text() == "{}"
    assert run_sim.main(["export", str(PICK_ONE), "--out", str(tmp_path / "new"), "--cameras", "cam-1,nope",
                         "--seconds", "0.1"]) == 2
    err = capsys.readouterr().err.strip()
    assert "no camera 'nope'" in err and "cameras" in err and "\n" not in err
    with pytest.raises(SystemExit) as stop:
        run_sim.main(["export", str(PICK_ONE), "--out", str(tmp_path / "x"), "--every", "0"])
    assert stop.value.code == 2 and "--every" in capsys.readouterr().err
