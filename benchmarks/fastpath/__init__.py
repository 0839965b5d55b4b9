"""The fast-path report: DynaMixer-S's fused path against its plain path and ViP-S/7, in one run.

``python -m benchmarks.fastpath`` (the last step of ``nox -s benchmark_fastpath``) measures, on
one device:

* the GEMM peak (one large fp32 and one bf16 matmul, the median of the same interleaved rounds
  as the models), the yardstick for FLOP utilisation;
* inference throughput at batch 32 of DynaMixer-S plain and fused and of ViP-S/7, in fp32 eager,
  ``torch.compile`` and bf16 autocast, and of ViP-S/7 given the fused path's contiguous token
  layout (context: how much of the ViP ratio is layout rather than architecture);
* a training step (forward + backward) of DynaMixer-S, plain against fused: fp32 and bf16
  autocast on a CPU, bf16 autocast on a GPU (where training runs in mixed precision);
* the peak memory of the fp32 (CPU) or bf16 (GPU) training step, each path in a fresh
  subprocess (on a CPU, the peak resident set size: ``tracemalloc`` does not see torch's
  allocations);

then prints every ratio against the targets for this device type (CPU or GPU; ``settings.py``
says why each) with PASS or MISS and writes ``results/fastpath_<device>.md`` and ``.json``
(``render.read_report`` reads the JSON back, also from reports older than a field).

Every report names the CPU model and whether it has native bf16 instructions (avx512_bf16 or
amx_bf16). Without them bf16 is emulated and slower than fp32, so the targets that need fast
bf16 (DynaMixer-S against ViP-S/7 in bf16, the bf16 training step, and the best mode, which
presumes fast bf16) say "cannot be read on this CPU (bf16 emulated)" instead of PASS or MISS;
their numbers are still shown.

Ratios are only meaningful between numbers taken side by side, so every timed case runs in this
one process, interleaved: each round times one batch of every case in turn, and each case
reports the median of its rounds (and its spread). Machine load therefore hits all cases alike;
the load average before and after is recorded beside the results.

``torch.compile`` is applied per layer by default (``--compile-scope regional``): every
:class:`~models.hierarchical.MixerLayer` of a stage shares one compiled graph, so a model
compiles in under a minute instead of several; ``--compile-scope full`` compiles the whole model.
On a GPU the CUDA-graph modes (``--compile-mode reduce-overhead`` or ``max-autotune``) need
``--compile-scope full``: each compiled layer would be a graph of its own, re-recorded per call.
"""
