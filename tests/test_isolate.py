"""Product isolation: prompts, vocabulary, the open-vocabulary slot, and real scenes.

Scenes are composed from real dev photos with known masks (tests/isolate_scenes.py); the
detector, localizer, parsers and salient model are the real registered weights.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper
from typer.testing import CliRunner

import isolate_scenes as scenes
from conftest import TEST_MODEL
from packshot.cli import app
from packshot.errors import InputError, NoMatchError
from packshot.imageio import load_image, save_image
from packshot.isolate import isolate
from packshot.isolate.api import Isolation
from packshot.isolate.candidates import Detection, Scene, gather
from packshot.isolate.prompt import parse_point, parse_text, set_parts
from packshot.isolate.step import run as isolate_step
from packshot.isolate.vocabulary import default_vocabulary, to_lab
from packshot.models import registry
from packshot.models.detect import detector
from packshot.models.parsing import human_parser
from packshot.ops.foreign import foreign_pixels
from packshot.ops.geometry import Box, parse_box
from packshot.pipeline.cutout import cutout
from packshot.pipeline.steps import StepCall, StepError, apply_steps
from packshot.samples import sample_path

ISOLATION_MODELS = (
    "yolox-nano",
    "coco-names",
    "mobile-object-localizer",
    "skin-clothes-hair",
    "deeplabv3-voc",
)
MIRROR = Path(__file__).resolve().parents[1] / ".." / "shared" / "models"
LABELS = ("person", "cup", "teddy bear", "car", "laptop")

needs_dev = pytest.mark.skipif(not scenes.available(), reason="../shared/eval/dev is not present")


@pytest.fixture
def models(real_models: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The real cache with the isolation models installed (from the mirror when offline)."""
    if not os.environ.get(registry.MIRROR_ENV) and MIRROR.is_dir():
        monkeypatch.setenv(registry.MIRROR_ENV, str(MIRROR.resolve()))
    for name in ISOLATION_MODELS:
        registry.model_path(name)
    return real_models


# ------------------------------------------------------------------ prompt parsing


@pytest.mark.parametrize(
    ("text", "category", "colors", "spatial"),
    [
        ("the handbag", "handbag", (), ()),
        ("a red Tote", "handbag", ("red",), ()),
        ("the cup on the left", "cup", (), ("left",)),
        ("the cup on top", "cup", (), ("top",)),
        ("the top", "top", (), ()),
        ("the tank top", "top", (), ()),
        ("the blue jeans", "bottoms", ("blue",), ()),
        ("the biggest navy sneakers at the right", "shoe", ("blue",), ("largest", "right")),
        ("the laptop", "laptop", (), ()),
        ("the red one", "object", ("red",), ()),
        ("the teddy bear in the centre", "toy", (), ("centre",)),
    ],
)
def test_text_prompts_parse_into_category_colour_and_place(
    text: str, category: str, colors: tuple[str, ...], spatial: tuple[str, ...]
) -> None:
    parsed = parse_text(text, default_vocabulary(), LABELS)
    assert parsed.category is not None and parsed.category.name == category
    assert parsed.colors == colors
    assert parsed.spatial == spatial


def test_unknown_noun_is_kept_for_the_message() -> None:
    parsed = parse_text("the gold nutcracker", default_vocabulary(), LABELS)
    assert parsed.category is None
    assert parsed.noun == "nutcracker" and parsed.colors == ("yellow",)


@pytest.mark.parametrize(
    ("text", "parts"),
    [
        ("the cup and saucer", ["the cup", "saucer"]),
        ("the top & jeans", ["the top", "jeans"]),
        # One product with two colours, or a word that names nothing: not a set.
        ("the black and white dress", ["the black and white dress"]),
        ("salt and pepper shakers", ["salt and pepper shakers"]),
        ("the red saucer", ["the red saucer"]),
    ],
)
def test_a_whole_set_prompt_names_its_parts(text: str, parts: list[str]) -> None:
    assert set_parts(text, default_vocabulary(), LABELS) == parts


@pytest.mark.parametrize("text", ["", "   ", "!!!", "x" * 300])
def test_bad_text_prompts_are_input_errors(text: str) -> None:
    with pytest.raises(InputError, match="prompt"):
        parse_text(text, default_vocabulary(), LABELS)


def test_boxes_and_points_are_checked_against_the_image() -> None:
    assert parse_box("10,20,30,40", (100, 200)).slices == (slice(20, 60), slice(10, 40))
    assert parse_box([190, 0, 50, 50], (100, 200)).x1 == 200  # clipped to the image
    for bad, message in [
        ("10,20,30", "x,y,w,h"),
        ("a,b,c,d", "numbers"),
        ("0,0,1,40", "at least 2"),
        ("500,500,10,10", "outside"),
    ]:
        with pytest.raises(InputError, match=message):
            parse_box(bad, (100, 200))
    assert parse_point("5,6", (100, 200)) == (5, 6)
    with pytest.raises(InputError, match="outside"):
        parse_point("200,5", (100, 200))


def test_colour_prototypes_name_plain_colours() -> None:
    vocab = default_vocabulary()
    prototypes, owner = vocab.prototypes_lab()
    names = list(vocab.colors)
    for rgb, name in [((210, 25, 30), "red"), ((30, 60, 170), "blue"), ((250, 250, 250), "white")]:
        lab = to_lab(np.asarray([[rgb]], dtype=np.uint8))[0, 0]
        nearest = owner[int(np.argmin(np.linalg.norm(prototypes - lab, axis=1)))]
        assert names[nearest] == name


def test_step_rejects_unknown_or_malformed_params() -> None:
    pixels = np.full((64, 64, 3), 128, np.uint8)
    with pytest.raises(InputError, match=r"isolate\.colour: unknown parameter"):
        isolate_step(pixels, {"prompt": "the cup", "colour": "red"})
    with pytest.raises(InputError, match=r"isolate\.box"):
        isolate_step(pixels, {"box": {"x": 1}})
    with pytest.raises(InputError, match=r"isolate\.points"):
        isolate_step(pixels, {"points": "1,2"})
    with pytest.raises(InputError, match="either a text prompt or a box"):
        isolate(pixels, prompt="the cup", box="1,1,10,10")
    with pytest.raises(InputError, match="say what to isolate"):
        isolate(pixels)


def test_a_suitcase_detection_is_not_taken_for_the_handbag() -> None:
    # What the models said, as data: the detector sure of a suitcase, the localizer of
    # an object in the same place. The box may be the handbag, but only as sure as the
    # localizer is; the suitcase's own confidence is not the handbag's.
    scene = Scene(
        np.zeros((400, 600, 3), np.uint8),
        [Detection(Box(100, 100, 300, 300), "suitcase", 0.8, "yolox-nano")],
        [Detection(Box(98, 104, 302, 296), "object", 0.9, "mobile-object-localizer")],
    )
    prompt = parse_text("the handbag", default_vocabulary(), ("handbag", "suitcase", "person"))
    found = gather(scene, prompt)
    assert [c.label for c in found] == ["handbag"]
    assert found[0].source == "mobile-object-localizer" and found[0].score <= 0.6
    assert [
        c.label
        for c in gather(scene, parse_text("the suitcase", default_vocabulary(), ("suitcase",)))
    ] == ["suitcase"]


# ------------------------------------------------------------------ real photos


def test_text_prompt_on_a_real_photo_and_its_no_match_error(models: Path) -> None:
    rgb = load_image(sample_path("coffee")).pixels
    result = isolate(rgb, prompt="the cup", model=TEST_MODEL)
    assert "cup" in result.matched and result.confidence > 0.8
    mask = result.alpha > 127
    ys, xs = np.nonzero(mask)
    # The cup (detector box 162..421 x 16..295), not the saucer or the table.
    assert xs.min() >= 150 and xs.max() <= 440 and ys.max() <= 320
    with pytest.raises(NoMatchError, match=r"no 'bicycle' found; seen: cup 0\.9\d"):
        isolate(rgb, prompt="the bicycle", model=TEST_MODEL)
    with pytest.raises(NoMatchError, match=r"no 'green cup' found.*closest: .*cup"):
        isolate(rgb, prompt="the green cup", model=TEST_MODEL)


def test_point_prompts_take_the_object_under_the_point(models: Path) -> None:
    rgb = load_image(sample_path("coffee")).pixels
    by_text = isolate(rgb, prompt="the cup", model=TEST_MODEL).alpha > 127
    by_point = isolate(rgb, points=["290,180"], model=TEST_MODEL).alpha > 127
    assert scenes.iou(by_point, by_text) > 0.85
    # A negative point on the spoon takes (most of) the spoon's bowl away, not the cup.
    cut = isolate(rgb, points=["290,180"], negative_points=["367,275"], model=TEST_MODEL)
    cut_mask = cut.alpha > 127
    assert cut_mask[255:290, 350:385].mean() < 0.5 * max(by_point[255:290, 350:385].mean(), 1e-6)
    assert cut_mask[60:200, 200:380].mean() > 0.9


def test_recipe_step_returns_rgba_and_what_it_matched(models: Path) -> None:
    rgb = load_image(sample_path("coffee")).pixels
    result = isolate_step(rgb, {"box": [150, 10, 280, 300], "model": TEST_MODEL})
    assert result.pixels.shape == (*rgb.shape[:2], 4)
    assert result.info["matched"] == "box" and result.info["confidence"] == 1.0
    by_text = isolate_step(rgb, {"prompt": "the cup", "model": TEST_MODEL})
    assert "cup" in str(by_text.info["matched"]) and by_text.info["seen"].startswith("cup 0.9")
    # Through the recipe step table, as a recipe runs it.
    pixels, infos = apply_steps(
        rgb, [StepCall("product-isolation", {"prompt": "the cup", "model": TEST_MODEL})]
    )
    assert (
        pixels.shape[2] == 4
        and infos[0]["step"] == "product-isolation"
        and "cup" in infos[0]["matched"]
    )
    with pytest.raises(StepError, match=r"step 'product-isolation': no 'bicycle' found"):
        apply_steps(
            rgb, [StepCall("product-isolation", {"prompt": "the bicycle", "model": TEST_MODEL})]
        )


def test_cli_isolate_writes_rgba_and_reports_no_match(models: Path, tmp_path: Path) -> None:
    runner = CliRunner()
    src = sample_path("coffee")
    out = tmp_path / "cup.png"
    ok = runner.invoke(
        app,
        ["product-isolation", str(src), "--prompt", "the cup", "--out", str(out), "-m", TEST_MODEL],
    )
    assert ok.exit_code == 0, ok.output
    assert "cup" in ok.output and "confidence 0.9" in ok.output
    loaded = load_image(out, keep_alpha=True)
    assert loaded.pixels.shape[2] == 4 and loaded.pixels[..., 3].max() == 255
    miss = runner.invoke(
        app,
        [
            "product-isolation",
            str(src),
            "--prompt",
            "the bicycle",
            "--out",
            str(tmp_path / "w.png"),
        ],
    )
    assert miss.exit_code == 2
    assert "no 'bicycle' found; seen: cup" in miss.output
    assert not (tmp_path / "w.png").exists()
    bad = runner.invoke(
        app, ["product-isolation", str(src), "--box", "1,2,3", "--out", str(tmp_path / "b.png")]
    )
    assert bad.exit_code == 2 and "x,y,w,h" in bad.output


# ------------------------------------------------------------------ composed scenes


def _objects_a() -> dict[str, scenes.Placed]:
    return {
        "teddy": scenes.Placed("049", 40, 1180, 560),
        "holder": scenes.Placed("052", 2100, 1150, 600),
    }


def _objects_b() -> dict[str, scenes.Placed]:
    return {
        "teddy": scenes.Placed("049", 40, 1180, 560),
        "ostrich": scenes.Placed("041", 2000, 1180, 600, flip=True),
    }


def _objects_c() -> dict[str, scenes.Placed]:
    return {
        "duck": scenes.Placed("033", 60, 1180, 600),
        "ostrich": scenes.Placed("041", 2000, 1180, 600, flip=True),
    }


SCENE_CASES = [
    # by class
    ("a", "the teddy bear", "teddy"),
    ("a", "the car", "car"),
    ("a", "the pencil holder", "holder"),
    # by colour: two toys, and "object" over everything
    ("b", "the red toy", "teddy"),
    ("b", "the black toy", "ostrich"),
    ("b", "the grey object", "car"),
    # by position
    ("c", "the toy on the left", "duck"),
    ("c", "the toy on the right", "ostrich"),
    ("c", "the object in the centre", "car"),
]


@needs_dev
@pytest.mark.slow
@pytest.mark.parametrize(("scene", "prompt", "expected"), SCENE_CASES)
def test_composed_scenes_isolate_the_prompted_object(
    models: Path, scene: str, prompt: str, expected: str
) -> None:
    objects = {"a": _objects_a, "b": _objects_b, "c": _objects_c}[scene]()
    composed = scenes.compose(objects)
    result = isolate(composed.rgb, prompt=prompt, model=TEST_MODEL)
    score = scenes.iou(result.alpha > 127, composed.masks[expected])
    assert score >= 0.85, f"{prompt!r} -> {result.matched} IoU {score:.3f}"
    assert result.confidence >= 0.15


@needs_dev
@pytest.mark.slow
def test_composed_scene_without_the_object_lists_what_it_saw(models: Path) -> None:
    composed = scenes.compose(_objects_a())
    with pytest.raises(NoMatchError) as caught:
        isolate(composed.rgb, prompt="the bicycle", model=TEST_MODEL)
    message = str(caught.value)
    assert "no 'bicycle' found; seen:" in message
    assert "teddy bear 0." in message and "car 0." in message
    assert "1 unlabelled object" in message
    # A handbag is only ever a localized (unnamed) object to these models: the one
    # unnamed object is offered, and the result says so with a low confidence.
    bag = isolate(composed.rgb, prompt="the handbag", model=TEST_MODEL)
    assert "localized object" in bag.matched and bag.confidence < 0.6


@needs_dev
@pytest.mark.slow
@pytest.mark.parametrize("dev_id", ["002", "020", "030", "033", "036", "041", "044", "049", "052"])
def test_box_prompts_reach_the_cutouts_iou(models: Path, dev_id: str) -> None:
    image = load_image(next(scenes.DEV.glob(f"{dev_id}_image.*"))).pixels
    truth = cv2.imread(str(scenes.DEV / f"{dev_id}_mask.png"), cv2.IMREAD_GRAYSCALE) > 127
    ys, xs = np.nonzero(truth)
    pad = round(0.02 * max(truth.shape))
    x0, y0 = max(0, xs.min() - pad), max(0, ys.min() - pad)
    x1, y1 = min(truth.shape[1], xs.max() + pad), min(truth.shape[0], ys.max() + pad)
    boxed = isolate(image, box=(x0, y0, x1 - x0, y1 - y0), model=TEST_MODEL)
    whole = cutout(image, model=TEST_MODEL)
    box_iou = scenes.iou(boxed.alpha > 127, truth)
    cut_iou = scenes.iou(whole.alpha > 127, truth)
    # The crop the model sees differs from the whole photo by the padding: the same
    # object within half a point, or better.
    assert box_iou >= cut_iou - 0.005, f"box {box_iou:.3f} < cutout {cut_iou:.3f}"


# ------------------------------------------------------------------ garments on people


def _body(rgb: npt.NDArray[np.uint8]) -> npt.NDArray[np.bool_]:
    """Skin and hair by the parser run on the whole photo (isolation runs it on the
    person's crop), less the boundary where the two runs legitimately disagree: the 512 px
    map's edge is a few of its pixels (0.5 % of the long side) unsure, and it takes a white
    top's lace trim for skin."""
    parts = human_parser().parse(rgb)
    body = ((parts.skin > 0.5) | (parts.hair > 0.5)).astype(np.uint8)
    size = 2 * round(0.005 * max(rgb.shape[:2])) + 1
    result: npt.NDArray[np.bool_] = cv2.erode(body, np.ones((size, size), np.uint8)).astype(bool)
    return result


def _mean_lab(rgb: npt.NDArray[np.uint8], mask: npt.NDArray[np.bool_]) -> npt.NDArray[np.float32]:
    result: npt.NDArray[np.float32] = to_lab(rgb[mask][None])[0].mean(axis=0)
    return result


@pytest.mark.slow
def test_garments_on_models_come_without_skin_or_hair(models: Path, tmp_path: Path) -> None:
    out_dir = Path(os.environ.get("PACKSHOT_TEST_OUT", tmp_path))
    people = load_image(sample_path("people")).pixels
    body = _body(people)
    top = isolate(people, prompt="the top", model=TEST_MODEL)
    jeans = isolate(people, prompt="the jeans", model=TEST_MODEL)
    save_image(top.rgba, out_dir / "people-top.png")
    save_image(jeans.rgba, out_dir / "people-jeans.png")
    top_mask, jeans_mask = top.alpha > 127, jeans.alpha > 127
    for mask in (top_mask, jeans_mask):
        assert mask.sum() > 0.01 * mask.size
        assert (mask & body).sum() < 0.05 * mask.sum()
    assert not (top_mask & jeans_mask).any()
    # A white top above blue jeans.
    assert np.nonzero(top_mask)[0].mean() < np.nonzero(jeans_mask)[0].mean()
    top_lab, jeans_lab = _mean_lab(people, top_mask), _mean_lab(people, jeans_mask)
    assert top_lab[0] > 65 and abs(top_lab[1]) < 8 and abs(top_lab[2]) < 10
    assert jeans_lab[2] < -5

    astronaut = load_image(sample_path("astronaut")).pixels
    suit = isolate(astronaut, prompt="the shirt", model=TEST_MODEL)
    save_image(suit.rgba, out_dir / "astronaut-shirt.png")
    suit_mask = suit.alpha > 127
    assert (suit_mask & _body(astronaut)).sum() < 0.05 * suit_mask.sum()
    assert _mean_lab(astronaut, suit_mask)[1] > 20  # the orange suit
    with pytest.raises(NoMatchError, match="no 'jeans' found"):
        isolate(astronaut, prompt="the jeans", model=TEST_MODEL)

    baby = load_image(sample_path("baby")).pixels
    dress = isolate(baby, prompt="the top", model=TEST_MODEL)
    save_image(dress.rgba, out_dir / "baby-top.png")
    dress_mask = dress.alpha > 127
    assert (dress_mask & _body(baby)).sum() < 0.05 * dress_mask.sum()
    # The floral bow on the head is headwear, not the top.
    assert not dress_mask[: int(0.3 * dress_mask.shape[0])].any()


@pytest.mark.slow
def test_jeans_on_a_seated_model_take_both_legs(models: Path) -> None:
    # Her left leg (photo left, x < 450) reaches the photo's edge, far outside the
    # detector's person box (x >= 248); the right leg lies at x > 700.
    people = load_image(sample_path("people")).pixels
    jeans = isolate(people, prompt="the jeans", model=TEST_MODEL).alpha > 127
    left, right = jeans[:, :450].sum(), jeans[:, 700:].sum()
    assert left > 0.4 * right, f"left leg {left} px vs right leg {right} px"
    xs = np.nonzero(jeans.any(axis=0))[0]
    assert xs.min() < 60 and xs.max() > 1050
    # The lap between her forearms: shadowed denim, a small piece of the same hue.
    assert jeans[1200:1260, 510:550].mean() > 0.8
    assert (jeans & _body(people)).sum() < 0.05 * jeans.sum()


@pytest.mark.slow
def test_the_top_keeps_its_strap_and_no_skin_or_hair(models: Path) -> None:
    people = load_image(sample_path("people")).pixels[..., :3]
    top = isolate(people, prompt="the top", model=TEST_MODEL).alpha > 127
    # The strap over her left shoulder runs from about (835, 620) down to (760, 780),
    # 35-45 px wide, skin on both sides; the top's body starts below it (y ~ 790).
    for y in range(640, 781, 20):
        run = int(top[y, 730:860].sum())
        assert run >= 25, f"the strap is {run} px wide at row {y}"
    assert (top & _body(people)).sum() < 0.05 * top.sum()
    # A white top: skin (orange) or hair (near black) would show in its colours.
    lab = to_lab(people)[top]
    skin_coloured = (lab[:, 1] > 8) & (lab[:, 2] > 14)
    assert skin_coloured.mean() < 0.01 and (lab[:, 0] < 22).mean() < 0.01


@pytest.mark.slow
def test_the_handbag_sample_is_a_localized_box_with_an_honest_confidence(models: Path) -> None:
    bag = load_image(sample_path("product")).pixels[..., :3]
    # The detector's inputs are right (it finds the person and the car in the other
    # samples at 0.9 and 0.8), yet it has no handbag here: it calls the bag a cake.
    labels = detector().labels
    x, _scale = detector().preprocess(bag)
    raw = detector().run(x)
    scores = raw[:, 5:] * raw[:, 4:5]
    for label in ("handbag", "backpack", "suitcase"):
        assert scores[:, labels.index(label)].max() < 0.05
    result = isolate(bag, prompt="the handbag", model=TEST_MODEL)
    assert "localized object" in result.matched and 0.4 < result.confidence <= 0.6
    # The bag with its handle (viewed: body x 66-1013, y 420-1152; the handle arcs up to
    # y ~ 175, above the localizer's box), not the blossom branches or the marble.
    mask = result.alpha > 127
    ys, xs = np.nonzero(mask)
    assert 40 <= xs.min() <= 110 and 970 <= xs.max() <= 1040
    assert ys.max() <= 1170 and 150 <= ys.min() <= 200
    assert mask[180:260, 350:750].sum() > 2000  # the top of the handle's arc
    assert result.box.y0 < 200  # the box reported is what was cut out
    # A baby's head (the localizer boxes it) is no handbag.
    baby = load_image(sample_path("baby")).pixels
    with pytest.raises(NoMatchError, match="no 'handbag' found"):
        isolate(baby, prompt="the handbag", model=TEST_MODEL)


@needs_dev
@pytest.mark.slow
def test_a_held_object_comes_without_the_hands_and_hair_around_it(models: Path) -> None:
    people = load_image(sample_path("people")).pixels[..., :3]
    bear, bear_alpha = scenes.cut("049")
    height = 420
    width = round(bear.shape[1] * height / bear.shape[0])
    bear = cv2.resize(bear, (width, height), interpolation=cv2.INTER_AREA)
    bear_alpha = cv2.resize(bear_alpha, (width, height), interpolation=cv2.INTER_AREA)
    # On her lap, between the arms: her hair and hands lie around it.
    x0, y0 = 430, 860
    scene = people.astype(np.float32)
    region = (slice(y0, y0 + height), slice(x0, x0 + width))
    a = bear_alpha[..., None]
    scene[region] = bear * a + scene[region] * (1.0 - a)
    composed = np.clip(np.rint(scene), 0, 255).astype(np.uint8)
    truth = np.zeros(people.shape[:2], dtype=bool)
    truth[region] = bear_alpha > 0.5
    result = isolate(composed, prompt="the teddy bear", model=TEST_MODEL)
    mask = result.alpha > 127
    assert scenes.iou(mask, truth) >= 0.85
    assert (mask & ~truth).sum() < 0.1 * truth.sum()


# ------------------------------------------------------------------ open-vocabulary slot


def _tiny_open_vocab_graph(path: Path, boxes: npt.NDArray[np.float32]) -> None:
    """A 2-box, 2-query detector: fixed boxes, scores from the image's mean colour.

    scores = sigmoid(mean_rgb @ W + b), so the scores (and what is chosen) come from
    running the graph on the actual pixels.
    """
    weights = np.asarray(
        [[6.0, 6.0, -6.0, -6.0], [0.0, 0.0, 0.0, 0.0], [0.0, 0.0, 0.0, 0.0]], dtype=np.float32
    )
    bias = np.asarray([-2.0, -2.0, -4.0, -4.0], dtype=np.float32)
    nodes = [
        helper.make_node("ReduceMean", ["pixel_values", "axes"], ["mean"], keepdims=0),
        helper.make_node("MatMul", ["mean", "w"], ["logits"]),
        helper.make_node("Add", ["logits", "b"], ["biased"]),
        helper.make_node("Sigmoid", ["biased"], ["flat"]),
        helper.make_node("Reshape", ["flat", "score_shape"], ["scores"]),
        helper.make_node("Identity", ["box_values"], ["boxes"]),
    ]
    graph = helper.make_graph(
        nodes,
        "tiny-open-vocab",
        [helper.make_tensor_value_info("pixel_values", TensorProto.FLOAT, [1, 3, 64, 64])],
        [
            helper.make_tensor_value_info("boxes", TensorProto.FLOAT, [1, 2, 4]),
            helper.make_tensor_value_info("scores", TensorProto.FLOAT, [1, 2, 2]),
        ],
        initializer=[
            numpy_helper.from_array(np.asarray([2, 3], dtype=np.int64), "axes"),
            numpy_helper.from_array(weights, "w"),
            numpy_helper.from_array(bias, "b"),
            numpy_helper.from_array(np.asarray([1, 2, 2], dtype=np.int64), "score_shape"),
            numpy_helper.from_array(boxes.reshape(1, 2, 4).astype(np.float32), "box_values"),
        ],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, path)


def _answer(rgb: npt.NDArray[np.uint8], prompt: str) -> Isolation | None:
    """The isolation of ``prompt``, or None where it is a NoMatchError."""
    try:
        return isolate(rgb, prompt=prompt, model=TEST_MODEL)
    except NoMatchError:
        return None


@needs_dev
@pytest.mark.slow
def test_an_installed_open_vocabulary_model_is_used_first(
    models: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    composed = scenes.compose(_objects_a())
    height, width = composed.rgb.shape[:2]
    ys, xs = np.nonzero(composed.masks["holder"])
    holder = [xs.min() / width, ys.min() / height, (xs.max() + 1) / width, (ys.max() + 1) / height]
    elsewhere = [0.0, 0.0, 0.1, 0.1]
    weights = tmp_path / "tiny-owl.onnx"
    _tiny_open_vocab_graph(weights, np.asarray([holder, elsewhere], dtype=np.float32))
    data = weights.read_bytes()
    catalog = tmp_path / "catalog.toml"
    catalog.write_text(
        f"""
[models.tiny-owl-test]
task = "open-vocab-detect"
licence = "MIT"
sha256 = "{hashlib.sha256(data).hexdigest()}"
size = {len(data)}
description = "test graph"

[models.tiny-owl-test.io]
size = 64
scale = 255.0
labels = ["nutcracker", "teddy bear"]
boxes = "xyxy"

[[models.tiny-owl-test.sources]]
kind = "path"
path = "{weights}"
"""
    )
    monkeypatch.setenv(registry.CATALOG_ENV, str(catalog))
    # Not installed: the closed-vocabulary models answer, and know no nutcracker (the
    # answer, if any, is a product-like object and says the noun was not understood).
    closed = _answer(composed.rgb, "the nutcracker")
    assert closed is None or (not closed.understood and closed.notes)
    monkeypatch.setenv(registry.override_env_var("tiny-owl-test"), str(weights))
    found = isolate(composed.rgb, prompt="the nutcracker", model=TEST_MODEL)
    assert found.source == "tiny-owl-test" and "nutcracker" in found.matched
    assert found.understood and not found.notes
    assert scenes.iou(found.alpha > 127, composed.masks["holder"]) >= 0.85
    # Used first: its "teddy bear" box (the holder, by this graph) beats the detector's.
    bear = isolate(composed.rgb, prompt="the teddy bear", model=TEST_MODEL)
    assert bear.source == "tiny-owl-test"
    assert scenes.iou(bear.alpha > 127, composed.masks["holder"]) >= 0.85
    # The graph's scores depend on the pixels: on a dark image both queries fall below
    # the detection threshold and nothing is taken from it.
    dark = (composed.rgb // 8).astype(np.uint8)
    in_the_dark = _answer(dark, "the nutcracker")
    assert in_the_dark is None or in_the_dark.source != "tiny-owl-test"


def _pasted(
    scene: npt.NDArray[np.uint8],
    obj: npt.NDArray[np.uint8],
    alpha: npt.NDArray[np.float32],
    x: int,
    bottom: int,
    height: int,
) -> tuple[npt.NDArray[np.uint8], npt.NDArray[np.bool_]]:
    """``obj`` (with ``alpha``) pasted on ``scene``, ``height`` px tall; its solid mask."""
    width = round(obj.shape[1] * height / obj.shape[0])
    obj = cv2.resize(obj, (width, height), interpolation=cv2.INTER_AREA)
    alpha = cv2.resize(alpha, (width, height), interpolation=cv2.INTER_AREA)[..., None]
    x = min(x, scene.shape[1] - width)
    out = scene.astype(np.float32)
    region = (slice(bottom - height, bottom), slice(x, x + width))
    out[region] = obj * alpha + out[region] * (1.0 - alpha)
    truth = np.zeros(scene.shape[:2], dtype=bool)
    truth[region] = alpha[..., 0] >= 0.5
    return np.clip(np.rint(out), 0, 255).astype(np.uint8), truth


@pytest.mark.slow
def test_a_bag_in_front_of_a_car_comes_without_the_car_seen_through_its_handle(
    models: Path,
) -> None:
    # The handbag sample cut out and parked in front of the car sample's grille: the
    # salient map takes the grille and badge framed by the handle along with the bag.
    # The default ensemble's map does (the small test model's does not): it is the one used.
    cut = cutout(load_image(sample_path("product")).pixels[..., :3])
    ys, xs = np.nonzero(cut.rgba[..., 3] > 12)
    crop = (slice(ys.min(), ys.max() + 1), slice(xs.min(), xs.max() + 1))
    bag = np.ascontiguousarray(cut.rgba[crop][..., :3])
    alpha = np.ascontiguousarray(cut.rgba[crop][..., 3].astype(np.float32) / 255.0)
    car = load_image(sample_path("car")).pixels[..., :3]
    scale = 1536 / max(car.shape[:2])
    car = cv2.resize(car, (round(car.shape[1] * scale), round(car.shape[0] * scale)))
    h = car.shape[0]
    rgb, truth = _pasted(
        car, bag, alpha, round(0.68 * car.shape[1]), round(0.98 * h), round(0.35 * h)
    )
    assert any(d.label == "car" for d in Scene.observe(rgb).detections)
    result = isolate(rgb, prompt="the pink bag")
    answer = result.alpha > 127
    extra = float((answer & ~truth).sum()) / float(answer.sum())
    if result.isolation_confidence >= 0.7:  # delivered: it must be the bag and nothing else
        assert extra < 0.02, f"{extra:.1%} of the delivered bag is something else"
    assert scenes.iou(answer, truth) >= 0.9


def test_foreign_pixels_are_the_rivals_colours_inside_its_box() -> None:
    # A pink bag whose mask also took a patch of the grey car behind it (inside the car's
    # box); the bag's own pink inside the car's box stays the bag's.
    rng = np.random.default_rng(0)
    rgb = np.clip(rng.normal(90, 12, (400, 400, 3)), 0, 255).astype(np.uint8)  # grey car
    rgb[200:380, 100:300] = np.clip(rng.normal((235, 180, 190), 10, (180, 200, 3)), 0, 255)
    solid = np.zeros((400, 400), dtype=bool)
    solid[200:380, 100:300] = True  # the bag
    solid[140:200, 150:250] = True  # the car seen above it, through the handle
    car = Box(0, 0, 400, 260)
    found = foreign_pixels(rgb, solid, car)
    patch = np.zeros_like(solid)
    patch[140:200, 150:250] = True
    assert found[patch].mean() > 0.9
    assert not found[220:380, 100:300].any()
    # All of a mask inside the rival's box: no own colours to tell by, nothing is foreign.
    assert not foreign_pixels(rgb, solid, Box(0, 0, 400, 400)).any()
