"""Shared records for the reproduce tests: the made-up machine that fixed results were taken on."""

from __future__ import annotations

import dataclasses

from benchmarks.measure import Environment

# A machine unlike any real one, so a rendered caption or file name shows where it came from.
ENVIRONMENT = Environment(
    device="cpu",
    device_name="Test CPU 9000",
    threads=2,
    cpu_count=2,
    torch_version="2.14.1",
    timm_version="1.0.31",
    ptflops_version="0.7.5",
    python_version="3.11.7",
    date="2026-01-02T03:04:05+00:00",
)
# The same machine as the counting functions report it: counts are taken on the meta device.
META = dataclasses.replace(ENVIRONMENT, device="meta", device_name="meta (shapes only)")
