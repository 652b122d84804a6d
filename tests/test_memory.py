"""The allocator settings: applied once, on glibc, unless switched off."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from packshot import memory


@pytest.mark.skipif(sys.platform != "linux", reason="glibc settings")
def test_tuning_applies_and_reaches_spawned_workers() -> None:
    code = (
        "import os; from packshot.memory import tune_allocator; "
        "print(tune_allocator(), tune_allocator(), os.environ.get('MALLOC_MMAP_THRESHOLD_'))"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("MALLOC_")}
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True
    )
    assert out.stdout.split() == ["True", "True", str(memory.ENV_MMAP_THRESHOLD)]


def test_tuning_can_be_switched_off() -> None:
    code = "from packshot.memory import tune_allocator; print(tune_allocator())"
    env = {**os.environ, "PACKSHOT_MALLOC_TUNING": "0"}
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True
    )
    assert out.stdout.strip() == "False"
