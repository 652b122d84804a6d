"""The service admits work by pixels in flight (memory), not by request count."""

from __future__ import annotations

import io
import threading
import time

from PIL import Image

from packshot.service.admission import PixelBudget, header_pixels


def _hold(budget: PixelBudget, pixels: int, started: list[int], release: threading.Event) -> None:
    with budget.admit(pixels):
        started.append(pixels)
        release.wait(5)


def _wait_for(cond: object, timeout: float = 5.0) -> None:
    end = time.monotonic() + timeout
    while not cond() and time.monotonic() < end:  # type: ignore[operator]
        time.sleep(0.01)


def test_large_images_wait_for_pixels_small_ones_pass() -> None:
    budget = PixelBudget(pixels=100, slots=8)
    started: list[int] = []
    first, second, small = threading.Event(), threading.Event(), threading.Event()
    big_a = threading.Thread(target=_hold, args=(budget, 60, started, first))
    big_a.start()
    _wait_for(lambda: started == [60])
    # A second large image does not fit beside the first, though a slot is free.
    big_b = threading.Thread(target=_hold, args=(budget, 60, started, second))
    big_b.start()
    time.sleep(0.2)
    assert started == [60] and budget.in_flight == 60
    # Small work still fits beside the first.
    little = threading.Thread(target=_hold, args=(budget, 30, started, small))
    little.start()
    _wait_for(lambda: len(started) == 2)
    assert started == [60, 30]
    small.set()
    first.set()
    _wait_for(lambda: len(started) == 3)
    assert started == [60, 30, 60]
    second.set()
    for t in (big_a, big_b, little):
        t.join(5)
    assert budget.in_flight == 0


def test_an_image_over_the_whole_budget_runs_alone() -> None:
    budget = PixelBudget(pixels=100, slots=8)
    started: list[int] = []
    release = threading.Event()
    huge = threading.Thread(target=_hold, args=(budget, 500, started, release))
    huge.start()
    _wait_for(lambda: started == [500])
    other = threading.Thread(target=_hold, args=(budget, 1, started, release))
    other.start()
    time.sleep(0.2)
    assert started == [500]
    release.set()
    for t in (huge, other):
        t.join(5)
    assert started == [500, 1] and budget.in_flight == 0


def test_slots_still_cap_images_at_once() -> None:
    budget = PixelBudget(pixels=10_000, slots=1)
    started: list[int] = []
    release = threading.Event()
    threads = [threading.Thread(target=_hold, args=(budget, 1, started, release)) for _ in range(2)]
    for t in threads:
        t.start()
    time.sleep(0.2)
    assert len(started) == 1
    release.set()
    for t in threads:
        t.join(5)
    assert len(started) == 2


def test_header_pixels_reads_the_header_only() -> None:
    buf = io.BytesIO()
    Image.new("RGB", (300, 200), "white").save(buf, "PNG")
    assert header_pixels(buf.getvalue()) == 60_000
    assert header_pixels(b"not an image") == 0
