"""Background removal: one image in memory, or a batch of files to a folder.

``cutout`` is the Python API (arrays or PIL images in, RGBA array out); ``cutout_files``
is what the CLI and batch workers call. Both run the same steps: salient-object
probability from the model ensemble, full-resolution matte refinement, and foreground
colour decontamination.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import numpy.typing as npt
from PIL import Image

from packshot.errors import InputError, PackshotError, internal_error
from packshot.imageio import as_pixels, iter_image_files, load_image, save_image
from packshot.models.salient import (
    DEFAULT_ENSEMBLE,
    predict_probability,
    resolve_ensemble,
    salient_model,
)
from packshot.ops.matte import (
    RefineParams,
    composite_on_color,
    refine_rgba,
    to_rgba,
    upsample,
    working_shape,
)
from packshot.ops.resample import resize_to
from packshot.pipeline.backends import Backend, get_backend

ImageArray = npt.NDArray[np.uint8]
FloatArray = npt.NDArray[np.float32]


@dataclass(frozen=True)
class Cutout:
    """A cut-out product: straight-alpha RGBA at the source's resolution."""

    rgba: ImageArray
    model: str
    timings: dict[str, float] = field(default_factory=dict)
    probability: FloatArray | None = field(default=None, compare=False, repr=False)
    """The model's output at the source's :func:`~packshot.ops.matte.working_shape` (its
    own size up to 4 MP), kept so that other refinement settings can
    be tried without running the model again (``cutout(..., probability=...)``)."""

    @property
    def alpha(self) -> ImageArray:
        """The 8-bit alpha channel (255 = product)."""
        return self.rgba[..., 3]


def meaningful_alpha(arr: ImageArray) -> ImageArray | None:
    """The input's alpha when it already cuts something away, else None.

    An alpha that is nowhere transparent, or nowhere opaque (tools that write an empty
    alpha channel), says nothing about the product and is ignored.
    """
    if arr.shape[2] != 4:
        return None
    alpha = arr[..., 3]
    if alpha.min() == 255 or alpha.max() < 128:
        return None
    return alpha


def cutout(
    image: ImageArray | Image.Image,
    *,
    model: str = DEFAULT_ENSEMBLE,
    refine: bool = True,
    params: RefineParams | None = None,
    decontaminate: bool = True,
    probability: FloatArray | None = None,
) -> Cutout:
    """Cut the most salient object out of ``image``.

    Args:
        image: uint8 RGB/RGBA array (or a PIL image). Where an RGBA image is already
            transparent it stays so: the model sees it over white, and the result's alpha
            never exceeds the input's (an all-transparent alpha is ignored).
        model: an ensemble name (``u2net`` default, ``u2net-fast``, ``u2netp``, ``isnet``, ...)
            or any registered salient-segmentation model.
        refine: refine the matte at full resolution and decontaminate edge colours; when
            False the upsampled model output is used as is (what rembg returns).
        params: refinement parameters (defaults measured on the dev set).
        decontaminate: estimate the product's own colours in semi-transparent edge pixels
            (the old background removed); when False the photo's colours are kept.
        probability: the model's output for this image (a previous cutout's
            ``probability``); given, the model is not run again.
    """
    arr = as_pixels(image, min_side=2, purpose="to cut out")
    existing = meaningful_alpha(arr)
    # Colours under transparent pixels are arbitrary (often black): a white backdrop is
    # what a studio shot would have had there.
    rgb = arr[..., :3] if existing is None else composite_on_color(arr, (255, 255, 255))
    ensemble = resolve_ensemble(model)
    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    height, width = rgb.shape[:2]
    work = working_shape(height, width)
    if probability is not None and probability.shape not in (work, (height, width)):
        raise InputError(
            f"probability map {probability.shape} does not match the image {rgb.shape[:2]}"
        )
    if probability is None:
        # The networks see 320 px: a photo larger than the working grid is reduced first,
        # so no full-resolution float map is ever made.
        small = rgb if work == (height, width) else resize_to(rgb, work[1], work[0])
        prob = predict_probability(small, ensemble)
    else:
        prob = probability
    t1 = time.perf_counter()
    timings["model_s"] = t1 - t0
    if refine:
        rgba = refine_rgba(rgb, prob, params or RefineParams(), decontaminate=decontaminate)
    else:
        rgba = to_rgba(rgb, upsample(prob, height, width))
    if existing is not None:
        np.minimum(rgba[..., 3], existing, out=rgba[..., 3])
    timings["refine_s"] = time.perf_counter() - t1
    return Cutout(rgba=rgba, model=ensemble.name, timings=timings, probability=prob)


@dataclass(frozen=True)
class ItemResult:
    """What happened to one input of a batch."""

    source: str
    output: str | None
    error: str | None
    seconds: float
    cpu_s: float = 0.0
    """CPU seconds of this process (all threads) spent on the item."""

    @property
    def ok(self) -> bool:
        return self.error is None


def output_names(sources: Sequence[Path], suffix: str) -> list[str]:
    """``<stem><suffix>`` per source, made unique with ``-2``, ``-3``... on clashes.

    Names are compared case-insensitively, and a generated name never repeats one already
    given (``a``, ``a``, ``a-2`` -> ``a``, ``a-2``, ``a-2-2``), so no output overwrites another.
    """
    seen: dict[str, int] = {}
    used: set[str] = set()
    names = []
    for src in sources:
        stem = src.stem or "image"
        key = stem.lower()
        count = seen.get(key, 0)
        while True:
            count += 1
            name = f"{stem}{suffix}" if count == 1 else f"{stem}-{count}{suffix}"
            if name.lower() not in used:
                break
        seen[key] = count
        used.add(name.lower())
        names.append(name)
    return names


def prepare_models(model: str) -> None:
    """Resolve, install and load the ensemble's models once, before any image is read.

    A batch whose model cannot be loaded fails at once with one clear error instead of
    failing every image the same way.
    """
    for member in resolve_ensemble(model).members:
        salient_model(member.model)


def collect_sources(inputs: Sequence[str | Path], out_dir: str | Path) -> list[Path]:
    """The image files a batch over ``inputs`` will process, in order.

    Folders are walked; files found in the output folder are left out, so that
    ``packshot background-removal photos/ --out photos/cut`` never cuts out its own earlier
    outputs on a re-run. A file named explicitly is always kept.
    """
    sources = iter_image_files(inputs)
    explicit = {Path(p).resolve() for p in inputs if Path(p).is_file()}
    root = Path(out_dir).resolve()
    return [s for s in sources if s.resolve() in explicit or not s.resolve().is_relative_to(root)]


def _cutout_item(
    item: tuple[Path, Path], *, model: str, mask_only: bool, refine: bool
) -> ItemResult:
    """One source of a cutout batch into its target file; its failure is its own."""
    src, target = item
    t0, cpu0 = time.perf_counter(), time.process_time()
    try:
        if target.exists() and target.resolve() == src.resolve():
            raise InputError(f"{src}: the output would overwrite this source; use another --out")
        loaded = load_image(src)
        cut = cutout(loaded.pixels, model=model, refine=refine)
        save_image(cut.alpha if mask_only else cut.rgba, target)
        seconds, cpu_s = time.perf_counter() - t0, time.process_time() - cpu0
        return ItemResult(str(src), str(target), None, seconds, cpu_s)
    except PackshotError as exc:
        return ItemResult(str(src), None, str(exc), time.perf_counter() - t0)
    except Exception as exc:  # one image must never take the batch down
        return ItemResult(str(src), None, internal_error(str(src), exc), time.perf_counter() - t0)


def cutout_files(
    inputs: Sequence[str | Path],
    out_dir: str | Path,
    *,
    model: str = DEFAULT_ENSEMBLE,
    mask_only: bool = False,
    refine: bool = True,
    on_item: Callable[[ItemResult], None] | None = None,
    workers: int = 1,
    backend: str | Backend = "local",
) -> list[ItemResult]:
    """Cut out every image among ``inputs`` (files or folders) into ``out_dir``.

    Writes ``<out_dir>/<stem>.png``: RGBA, or the 8-bit alpha alone with ``mask_only``.
    Each image succeeds or fails on its own; a failure is recorded with its reason and the
    batch goes on. Raises only for problems that concern the whole batch (missing inputs,
    unloadable model, unwritable output folder).

    The images run through ``backend`` as a listing's sources do (one batch loop):
    ``workers`` processes of the local back-end (1, the default: this process), Ray
    actors, or a :class:`~packshot.pipeline.backends.Backend` the caller owns.
    ``on_item`` sees each result as it finishes; the list returned is in source order.
    """
    out = Path(out_dir)
    sources = collect_sources(inputs, out)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InputError(f"{out}: cannot create the output folder ({exc.strerror})") from exc
    prepare_models(model)
    names = output_names(sources, ".png")
    items = [(src, out / name) for src, name in zip(sources, names, strict=True)]
    work = functools.partial(_cutout_item, model=model, mask_only=mask_only, refine=refine)
    done: dict[Path, ItemResult] = {}  # by target: unique, where two sources may not be
    runner = get_backend(backend, workers=workers)
    try:
        for (src, target), finished in runner.map(work, items):
            result = finished.value or ItemResult(str(src), None, f"{src}: {finished.error}", 0.0)
            done[target] = result
            if on_item is not None:
                on_item(result)
    finally:
        if runner is not backend:  # made here from a name: ours to close
            runner.close()
    return [done[target] for _, target in items]
