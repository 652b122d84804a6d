"""Admission by pixels in flight: memory stays bounded however many clients connect.

An image's peak memory grows with its pixels (about 30 bytes a pixel through a cutout,
see ops.matte.refine_rgba), so counting requests bounds nothing: two 50 MP uploads
weigh as much as a hundred 1 MP ones. Work waits until its pixels fit beside those
already in flight; an image larger than the whole budget runs alone rather than never.
A cap on images at once (``slots``) still keeps the CPUs from being oversubscribed.
"""

from __future__ import annotations

import io
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from PIL import Image


def header_pixels(data: bytes) -> int:
    """Pixels of an encoded image from its header alone (0 when it cannot be read: the
    decoder then reports the problem properly)."""
    try:
        with Image.open(io.BytesIO(data)) as im:
            width, height = im.size
    except Exception:  # any unreadable input weighs nothing here; load_image explains it
        return 0
    return int(width) * int(height)


class PixelBudget:
    """At most ``pixels`` in flight and ``slots`` images at once."""

    def __init__(self, pixels: int, slots: int) -> None:
        self.pixels = max(1, pixels)
        self.slots = max(1, slots)
        self._in_flight = 0
        self._count = 0
        self._cond = threading.Condition()

    @property
    def in_flight(self) -> int:
        with self._cond:
            return self._in_flight

    @contextmanager
    def admit(self, pixels: int) -> Iterator[None]:
        """Hold while processing ``pixels``; waits until they fit."""
        want = max(0, pixels)
        with self._cond:
            self._cond.wait_for(
                lambda: (
                    self._count < self.slots
                    and (self._count == 0 or self._in_flight + want <= self.pixels)
                )
            )
            self._in_flight += want
            self._count += 1
        try:
            yield
        finally:
            with self._cond:
                self._in_flight -= want
                self._count -= 1
                self._cond.notify_all()
