"""The model families' one loader (:class:`packshot.models.family.ModelFamily`)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from packshot.errors import InputError
from packshot.models.detect import ObjectLocalizer, detector, localizer
from packshot.models.family import ModelFamily
from packshot.models.parsing import human_parser, voc_segmenter
from packshot.models.salient import salient_model
from packshot.models.text import text_detector
from packshot.models.upscale import upscaler

LOADERS: list[tuple[Callable[[str], Any], str, str]] = [
    (detector, "u2netp", "object-detection"),
    (localizer, "yolox-nano", "object-localization"),
    (human_parser, "deeplabv3-voc", "human-parsing"),
    (voc_segmenter, "skin-clothes-hair", "semantic-segmentation"),
    (text_detector, "u2netp", "text-detection"),
    (upscaler, "ppocr-det", "super-resolution"),
    (salient_model, "fsrcnn-x2", "salient-segmentation"),
]


@pytest.mark.parametrize(("load", "other", "task"), LOADERS)
def test_a_model_of_another_task_is_refused_by_name(
    load: Callable[[str], Any], other: str, task: str
) -> None:
    # Before one loader, the detector would build a YOLOX decoder around U-2-Net-p and
    # fail later on its output shape, the localizer would run it as boxes.
    with pytest.raises(InputError, match=f"{other!r} is a .* model, not a {task} model"):
        load(other)


def test_every_family_loads_once_per_process_even_when_asked_at_once(
    real_models: Path,
) -> None:
    got: list[ObjectLocalizer] = []
    start = threading.Barrier(4)

    def ask() -> None:
        start.wait()
        got.append(localizer())

    threads = [threading.Thread(target=ask) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(got) == 4 and all(g is got[0] for g in got)
    assert isinstance(got[0], ModelFamily) and got[0] is ObjectLocalizer.load(None)
