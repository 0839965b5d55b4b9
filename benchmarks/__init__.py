"""Measuring one model: parameters, FLOPs (ptflops, aten backend) and throughput.

Each function returns a plain record that carries its provenance; see :mod:`benchmarks.measure`.
"""

from benchmarks.measure import (
    AMP_DTYPES,
    DEVICES,
    Environment,
    FlopCount,
    ModelSpec,
    ParamCount,
    Throughput,
    ThroughputSettings,
    count_flops,
    count_params,
    describe_environment,
    flatten,
    measure_throughput,
    validate,
)

__all__ = [
    "AMP_DTYPES",
    "DEVICES",
    "Environment",
    "FlopCount",
    "ModelSpec",
    "ParamCount",
    "Throughput",
    "ThroughputSettings",
    "count_flops",
    "count_params",
    "describe_environment",
    "flatten",
    "measure_throughput",
    "validate",
]
