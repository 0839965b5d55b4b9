"""Measuring one model: parameters, FLOPs (ptflops, aten backend) and throughput.

Each function returns a plain record that carries its provenance; see :mod:`benchmarks.measure`.
The package re-exports exactly :data:`benchmarks.measure.__all__`, so the list lives in one place.
"""

from benchmarks import measure
from benchmarks.measure import *  # noqa: F403  (the names are measure.__all__, re-exported)

__all__ = list(measure.__all__)
