"""Measuring models: records with provenance, counting (params, FLOPs), and the one timing engine.

``records`` (what was measured, where, with which libraries), ``counting`` (parameters and
multiply-accumulates on the meta device, zoo and timm models alike), ``timing`` (settings
checked up front, interleaved rounds, the GEMM yardstick), ``files`` (repository paths and
atomic writes), and the ``fastpath`` report. This package knows nothing of the paper.
"""
