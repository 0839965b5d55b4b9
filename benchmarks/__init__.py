"""Measuring models: records with provenance, counting (params, FLOPs), and the one timing engine.

``records`` (what was measured, where, with which libraries; zoo and timm names), ``counting``
(parameters and multiply-accumulates on the meta device), ``settings`` (what a timing is asked
to do, checked before anything is built), ``timing`` (the one engine: interleaved rounds),
``ratios`` (speed ratios with intervals from the same rounds), ``gemm`` (the MFU yardstick),
``suite`` and ``cli`` (``python -m benchmarks``: any models side by side, a CSV in timm's
column names), ``files`` (repository paths and atomic writes), and the ``fastpath`` report.
This package knows nothing of the paper.
"""
