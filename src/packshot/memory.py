"""The C allocator's settings for image work (glibc only).

Each source allocates and frees the same few tens-of-megabyte buffers (a 2K canvas is 12
MB as uint8, 48 MB as float32). glibc serves blocks above its mmap threshold with fresh
mappings and returns freed heap tops to the system at once, so every render pays page
faults on new memory again: measured here, a quarter of the listing fan-out's CPU time
was system time. Raising the mmap threshold and the trim threshold keeps those buffers
in the heap for reuse. Measured with benchmarks/listing.py (median per source, 2 cores):
3.07 s untuned; 2.84 s with :func:`tune_allocator` in the running process (``mallopt``
caps the mmap threshold at 32 MB); 2.45 s when the process starts with glibc's
environment settings, which allow a higher threshold: so they are also put in the
environment, for the worker processes a batch spawns. Peak RSS grows by about 200 MB.
``PACKSHOT_MALLOC_TUNING=0`` leaves the allocator as it is.
"""

from __future__ import annotations

import ctypes
import os
import sys

_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
MMAP_THRESHOLD = 32 * 1024 * 1024  # glibc's largest allowed value on 64-bit systems
TRIM_THRESHOLD = 1024 * 1024 * 1024
ENV_MMAP_THRESHOLD = 256 * 1024 * 1024

_tuned = False


def tune_allocator() -> bool:
    """Apply the settings to this process (once); True when they are in effect."""
    global _tuned
    if _tuned:
        return True
    if sys.platform != "linux" or os.environ.get("PACKSHOT_MALLOC_TUNING", "1") == "0":
        return False
    try:
        libc = ctypes.CDLL("libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):  # not glibc (musl, ...): nothing to tune
        return False
    # Read by glibc when a process starts: spawned workers get the stronger form.
    os.environ.setdefault("MALLOC_MMAP_THRESHOLD_", str(ENV_MMAP_THRESHOLD))
    os.environ.setdefault("MALLOC_TRIM_THRESHOLD_", str(TRIM_THRESHOLD))
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    _tuned = bool(mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD)) and bool(
        mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD)
    )
    return _tuned
