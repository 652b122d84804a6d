"""The commerce vocabulary, prompts a shop writes, unknown nouns, and the mask check.

Fast: the models' answers are given as data (what the detector and localizer said), so
each rule is tested on its own; real photos are in test_isolate.py and the benchmark.
"""

from __future__ import annotations

import tomllib
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from conftest import TEST_MODEL
from packshot.cli import app
from packshot.imageio import load_image
from packshot.isolate import isolate
from packshot.isolate.candidates import Detection, Scene, gather
from packshot.isolate.garments import PersonParse, garment_probability
from packshot.isolate.prompt import parse_text
from packshot.isolate.sanity import check_mask
from packshot.isolate.vocabulary import VocabularyError, _parse, default_vocabulary
from packshot.models.parsing import HumanParts
from packshot.ops.geometry import Box
from packshot.samples import sample_path

# The detector's class names (COCO, darknet spelling), as its labels file has them.
LABELS = tuple(
    [
        "person",
        "bicycle",
        "car",
        "motorbike",
        "aeroplane",
        "bus",
        "train",
        "truck",
        "boat",
        "traffic light",
        "fire hydrant",
        "stop sign",
        "parking meter",
        "bench",
        "bird",
        "cat",
        "dog",
        "horse",
        "sheep",
        "cow",
        "elephant",
        "bear",
        "zebra",
        "giraffe",
        "backpack",
        "umbrella",
        "handbag",
        "tie",
        "suitcase",
        "frisbee",
        "skis",
        "snowboard",
        "sports ball",
        "kite",
        "baseball bat",
        "baseball glove",
        "skateboard",
        "surfboard",
        "tennis racket",
        "bottle",
        "wine glass",
        "cup",
        "fork",
        "knife",
        "spoon",
        "bowl",
        "banana",
        "apple",
        "sandwich",
        "orange",
        "broccoli",
        "carrot",
        "hot dog",
        "pizza",
        "donut",
        "cake",
        "chair",
        "sofa",
        "pottedplant",
        "bed",
        "diningtable",
        "toilet",
        "tvmonitor",
        "laptop",
        "mouse",
        "remote",
        "keyboard",
        "cell phone",
        "microwave",
        "oven",
        "toaster",
        "sink",
        "refrigerator",
        "book",
        "clock",
        "vase",
        "scissors",
        "teddy bear",
        "hair drier",
        "toothbrush",
    ]
)


def test_the_labels_are_the_80_coco_classes() -> None:
    assert len(LABELS) == 80 and len(set(LABELS)) == 80


@pytest.mark.parametrize(
    ("text", "category", "colors"),
    [
        # The prompts the shop wrote, refused before.
        ("the white bedside table", "table", ("white",)),
        ("the black road bike", "bicycle", ("black",)),
        ("the red boxing gloves", "gloves", ("red",)),
        ("the camera tripod", "tripod", ()),
        ("the folded knit sweaters", "top", ()),
        ("the green knit beanie", "headwear", ("green",)),
        ("the bonsai tree", "plant", ()),
        ("the light blue jeans", "bottoms", ("blue",)),
        ("the grey jeans", "bottoms", ("grey",)),
        ("the pink sleeveless blouse", "top", ("pink",)),
        ("the grey ruffled dress", "outfit", ("grey",)),
        ("the mechanical keyboard", "keyboard", ()),
        # Plurals, synonyms, compound names, and which noun is the product.
        ("two leather wallets", "handbag", ()),
        ("the set of kitchen knives", "cutlery", ()),
        ("the dress on the model", "outfit", ()),
        ("a pair of running shoes", "shoe", ()),
        ("the ceramic vases", "vase", ()),
        ("the wireless headphones", "audio", ()),
        ("the dark grey sofa", "sofa", ("grey",)),
        ("the stainless steel water bottle", "bottle", ()),
    ],
)
def test_shop_prompts_name_a_category(text: str, category: str, colors: tuple[str, ...]) -> None:
    parsed = parse_text(text, default_vocabulary(), LABELS)
    assert parsed.category is not None, f"{text!r}: {parsed.noun!r} not understood"
    assert parsed.category.name == category
    assert parsed.colors == colors


def test_materials_and_shades_are_words_not_nouns() -> None:
    parsed = parse_text("the ruffled linen", default_vocabulary(), LABELS)
    # "ruffled" and "linen" are materials: no product is named, any object may be it.
    assert parsed.category is not None and parsed.category.name == "object"
    assert parsed.materials == ("ruffled", "linen")
    unknown = parse_text("the carved walnut nutcracker", default_vocabulary(), LABELS)
    assert unknown.category is None and unknown.noun == "nutcracker"
    assert not unknown.understood


def test_every_category_maps_to_something_the_models_see() -> None:
    vocab = default_vocabulary()
    assert len(vocab.categories) >= 60
    for category in vocab.categories.values():
        seen_by = bool(category.coco) or category.localized or category.garment is not None
        assert seen_by, f"{category.name}: no detector class, garment or localized boxes"
        assert set(category.coco) <= set(LABELS), f"{category.name}: {category.coco}"
        assert set(category.confusable) <= set(LABELS), f"{category.name}: confusable"
    groups = {c.group for c in vocab.categories.values()}
    assert {"apparel", "footwear", "accessories", "home", "electronics"} <= groups
    assert {"beauty", "sports", "toys"} <= groups


def test_a_term_claimed_by_two_categories_is_a_vocabulary_error() -> None:
    raw = tomllib.loads(
        '[categories.a]\nterms = ["bag"]\nlocalized = true\n'
        '[categories.b]\nterms = ["Bag"]\nlocalized = true\n'
        "[colors]\nred = [[200, 30, 30]]\n"
    )
    with pytest.raises(VocabularyError, match="'Bag' is already a term of 'a'"):
        _parse(raw, "test.toml")


# ------------------------------------------------------------------ unknown nouns


def _scene() -> Scene:
    """A 600 x 400 photo: a person (left), a product on the floor (right), and the floor."""
    return Scene(
        np.full((400, 600, 3), 200, np.uint8),
        [Detection(Box(20, 20, 220, 390), "person", 0.9, "yolox-nano")],
        [
            Detection(Box(22, 18, 224, 392), "object", 0.8, "mobile-object-localizer"),
            Detection(Box(380, 200, 520, 360), "object", 0.5, "mobile-object-localizer"),
            Detection(Box(0, 300, 600, 400), "object", 0.6, "mobile-object-localizer"),
        ],
    )


def test_an_unknown_noun_takes_product_like_objects_not_people_or_floor() -> None:
    vocab = default_vocabulary()
    prompt = parse_text("the walnut nutcracker", vocab, LABELS)
    found = gather(_scene(), prompt, vocab.categories["object"])
    boxes = sorted(found, key=lambda c: -c.score)
    # Neither the person nor the localizer's box of the person: the product comes first,
    # the floor (a box across the photo's bottom) a distant second.
    assert all(c.label != "person" for c in found)
    assert all(Box(22, 18, 224, 392) != c.box for c in found)
    assert boxes[0].box == Box(380, 200, 520, 360)
    assert boxes[1].box == Box(0, 300, 600, 400) and boxes[1].score < 0.5 * boxes[0].score


def test_a_garment_nobody_wears_is_looked_for_among_the_objects() -> None:
    vocab = default_vocabulary()
    scene = Scene(
        np.full((400, 600, 3), 200, np.uint8),
        [],
        [Detection(Box(100, 100, 400, 300), "object", 0.7, "mobile-object-localizer")],
    )
    [folded] = gather(scene, parse_text("the folded knit sweaters", vocab, LABELS))
    assert folded.box == Box(100, 100, 400, 300) and folded.garment is None


# ------------------------------------------------------------------ the mask check


def test_empty_tiny_and_shredded_masks_are_no_answer() -> None:
    solid = np.zeros((400, 400), bool)
    assert check_mask(solid, 10000).problem == "the mask is empty"
    specks = solid.copy()
    specks[100:104, 100:104] = specks[300:303, 200:203] = True
    tiny = check_mask(specks, 200 * 200)
    assert tiny.factor == 0.0 and tiny.problem is not None and "tiny" in tiny.problem
    shreds = solid.copy()
    for k in range(12):  # twelve strips of 20 x 60 px, apart: a blouse in shreds
        shreds[50:110, 10 + 30 * k : 30 + 30 * k] = True
    shredded = check_mask(shreds, 360 * 60)
    assert shredded.factor == 0.0 and "shredded" in (shredded.problem or "")


def test_a_whole_object_or_a_pair_passes_the_mask_check() -> None:
    solid = np.zeros((400, 400), bool)
    solid[100:300, 100:250] = True
    solid[50:52, 50:52] = True  # a crumb does not make it shredded
    whole = check_mask(solid, 200 * 150)
    assert whole.problem is None and whole.factor == 1.0 and whole.pieces == 1
    shoes = np.zeros((400, 400), bool)
    shoes[200:300, 40:180] = shoes[210:300, 220:360] = True
    assert check_mask(shoes, 100 * 320, parts=2).factor == 1.0
    # Two equal halves of something that should be one piece: doubted, not refused.
    single = check_mask(shoes, 100 * 320, parts=1)
    assert single.problem is None and single.factor < 1.0


def test_a_mask_that_does_not_span_its_box_is_not_the_boxed_object() -> None:
    # The localizer boxed a toy (100..300 x 100..300); the salient map held only a wheel
    # in the box's corner, with nothing of the toy.
    solid = np.zeros((400, 400), bool)
    solid[220:300, 220:300] = True
    box = Box(100, 100, 300, 300)
    wheel = check_mask(solid, box.width * box.height, box=box)
    assert wheel.factor == 0.0 and "spans 40% of the object's box" in (wheel.problem or "")
    solid[110:300, 120:300] = True
    assert check_mask(solid, box.width * box.height, box=box).problem is None


@pytest.mark.slow
def test_an_unknown_noun_on_a_real_photo_takes_the_product_and_says_so(
    real_models: Path, tmp_path: Path
) -> None:
    out = tmp_path / "bag.png"
    run = CliRunner().invoke(
        app,
        [
            "product-isolation",
            str(sample_path("product")),
            "--prompt",
            "the floral minaudiere",
            "--out",
            str(out),
            "-m",
            TEST_MODEL,
        ],
    )
    assert run.exit_code == 0, run.output
    # Whatever the detector called it (it calls this handbag "cake"), the note says the
    # noun was not understood.
    assert "note: 'minaudiere' is not a product word packshot knows" in run.output
    # The handbag, the photo's one product: what "the handbag" gives, not the backdrop.
    alpha = load_image(out, keep_alpha=True).pixels[..., 3] > 127
    bag = (
        isolate(
            load_image(sample_path("product")).pixels, prompt="the handbag", model=TEST_MODEL
        ).alpha
        > 127
    )
    assert (alpha & bag).sum() / (alpha | bag).sum() > 0.9


# ------------------------------------------------------------------ garments


def test_cloth_the_parser_is_surer_of_than_skin_stays_in_the_garment() -> None:
    # A pink blouse on a 300 x 200 person crop: the parser gives it 0.8 "clothes" and,
    # pink being skin-like to it, 0.55 "skin" in a band across the middle. Bare arms on
    # both sides are skin only. The blouse must come out whole, not cut by the band.
    height, width = 300, 200
    rgb = np.full((height, width, 3), (150, 160, 170), np.uint8)
    rgb[60:220, 50:150] = (235, 150, 180)  # the blouse
    rgb[60:200, 30:50] = rgb[60:200, 150:170] = (205, 160, 130)  # the arms
    rgb[20:60, 80:120] = (205, 160, 130)  # the face
    clothes = np.zeros((height, width), np.float32)
    skin = np.zeros((height, width), np.float32)
    clothes[60:220, 50:150] = 0.8
    skin[120:150, 50:150] = 0.55
    skin[60:200, 30:50] = skin[60:200, 150:170] = skin[20:60, 80:120] = 0.95
    person = np.zeros((height, width), bool)
    person[15:230, 25:175] = True
    parse = PersonParse(
        Box(0, 0, width, height),
        HumanParts(skin, clothes, np.zeros((height, width), np.float32)),
        person,
        person,
    )
    prob = garment_probability(rgb, parse, "upper")
    assert prob is not None
    blouse = prob > 0.5
    assert blouse[125:145, 60:140].mean() > 0.95  # the band is cloth
    assert blouse[60:220, 50:150].mean() > 0.9
    assert not blouse[80:180, 32:46].any() and not blouse[25:55, 85:115].any()
    check = check_mask(blouse, int(person.sum()), parts=3, min_share=0.015)
    assert check.problem is None and check.pieces == 1
