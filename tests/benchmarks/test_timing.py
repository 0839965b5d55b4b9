"""benchmarks.timing: the one timing engine, its records, and bad settings refused early."""

from __future__ import annotations

import dataclasses
import datetime
import re

import pytest
import torch

import benchmarks.settings as settings_module
import benchmarks.timing as timing
import common.environment as environment
from benchmarks.gemm import gemm_call, measure_gemm_peak
from benchmarks.records import ModelSpec, Throughput
from benchmarks.settings import ThroughputSettings, emulated_bf16_warning, validate
from benchmarks.timing import measure_throughput, measure_throughputs, time_interleaved
from common.environment import Environment


def _assert_environment(environment: Environment, device: str) -> None:
    assert environment.device == device
    assert environment.device_name
    assert environment.threads >= 1 and environment.cpu_count >= 1
    assert environment.torch_version == torch.__version__
    assert re.fullmatch(r"\d+\.\d+.*", environment.timm_version)
    assert environment.ptflops_version == "0.7.5"
    date = datetime.datetime.fromisoformat(environment.date)
    assert date.tzinfo is not None
    assert abs(datetime.datetime.now(datetime.UTC) - date) < datetime.timedelta(minutes=10)


def test_throughput_record_fields() -> None:
    settings = ThroughputSettings(batch_size=1, warmup=0, iters=3)
    record = measure_throughput("resmlp_s12", settings)
    assert isinstance(record, Throughput)
    assert (record.model, record.overrides, record.batch_size) == ("resmlp_s12", {}, 1)
    assert record.input_size == (3, 224, 224)
    assert (record.precision, record.channels_last, record.compiled) == ("fp32", False, False)
    assert (record.warmup, record.iters, len(record.batch_seconds)) == (0, 3, 3)
    rates = sorted(1 / s for s in record.batch_seconds)
    assert record.min_images_per_s == pytest.approx(rates[0])
    assert record.median_images_per_s == pytest.approx(rates[1])
    assert record.max_images_per_s == pytest.approx(rates[2])
    _assert_environment(record.environment, "cpu")
    assert record.environment.device_name == environment.cpu_name()
    assert record.environment.threads == torch.get_num_threads()


def test_several_models_are_timed_interleaved(monkeypatch: pytest.MonkeyPatch) -> None:
    # Record the order of forward passes: warm-up per model, then rounds of one batch each.
    calls: list[str] = []
    real_prepare = timing._prepare

    def traced(spec, settings, device):
        net = real_prepare(spec, settings, device)

        def forward(images: torch.Tensor) -> torch.Tensor:
            calls.append(spec.label)
            return net(images)

        return forward

    monkeypatch.setattr(timing, "_prepare", traced)
    plain = ModelSpec("dynamixer_digits", {"fused": False})
    settings = ThroughputSettings(batch_size=2, input_size=(3, 32, 32), warmup=1, iters=3)
    records = measure_throughputs(["dynamixer_digits", plain], settings)
    fused_label, plain_label = ModelSpec.of("dynamixer_digits").label, plain.label
    assert calls == [fused_label, plain_label] + [fused_label, plain_label] * 3
    assert [(r.model, dict(r.overrides)) for r in records] == [
        ("dynamixer_digits", {}),
        ("dynamixer_digits", {"fused": False}),
    ]
    assert all(len(r.batch_seconds) == 3 and r.median_images_per_s > 0 for r in records)
    assert records[0].load_average_before == records[1].load_average_before  # one run


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        (ThroughputSettings(device="tpu"), r"unknown device 'tpu'; accepted: cpu, cuda"),
        (ThroughputSettings(device="gpu0"), r"unknown device 'gpu0'"),
        (ThroughputSettings(amp="fp16"), r"fp16 autocast is for cuda devices.*'cpu'.*--amp bf16"),
        (ThroughputSettings(amp="fp8"), r"unknown AMP dtype 'fp8'; accepted: bf16, fp16"),
        (ThroughputSettings(batch_size=0), r"batch_size must be an integer >= 1; got 0"),
        (ThroughputSettings(batch_size=-3), r"batch_size must be an integer >= 1; got -3"),
        (ThroughputSettings(iters=0), r"iters must be an integer >= 1; got 0"),
        (ThroughputSettings(warmup=-1), r"warmup must be an integer >= 0; got -1"),
        (ThroughputSettings(compile=True, warmup=0), r"compile=True needs warmup >= 1"),
        (ThroughputSettings(warmup_batch_size=0), r"warmup_batch_size must be an integer >= 1"),
        (
            ThroughputSettings(compile=True, warmup_batch_size=2),
            r"recompiles for a new batch size: warm it up at the timed batch \(32\), not at 2",
        ),
        (ThroughputSettings(input_size=(224, 224)), r"input_size must be"),
    ],
)
def test_bad_settings_fail_before_a_model_is_built(
    settings: ThroughputSettings, message: str, no_model_is_built: None
) -> None:
    with pytest.raises(ValueError, match=message):
        validate(settings)
    with pytest.raises(ValueError, match=message):
        measure_throughput("resmlp_s12", settings)


@pytest.mark.skipif(torch.cuda.is_available(), reason="CUDA is available here")
def test_cuda_where_none_exists_fails_clearly(no_model_is_built: None) -> None:
    with pytest.raises(ValueError, match=r"'cuda' was asked for but CUDA is not available"):
        measure_throughput("resmlp_s12", ThroughputSettings(device="cuda"))
    # Where the job will run elsewhere (Slurm), only the availability check is skipped.
    validate(ThroughputSettings(device="cuda", amp="bf16"), check_device_available=False)


def test_unknown_compile_mode_is_refused_before_building():
    with pytest.raises(ValueError, match=r"unknown compile mode 'fastest'; accepted: default, "):
        validate(ThroughputSettings(compile=True, compile_mode="fastest"), ["dynamixer_s"])


def test_cuda_graph_modes_need_warm_up_calls():
    settings = ThroughputSettings(
        device="cuda", compile=True, compile_mode="reduce-overhead", warmup=1
    )
    with pytest.raises(ValueError, match=r"records CUDA graphs .* needs warmup >= 3; got 1"):
        validate(settings, ["dynamixer_s"], check_device_available=False)
    validate(dataclasses.replace(settings, warmup=3), ["dynamixer_s"], False)
    validate(dataclasses.replace(settings, device="cpu"), ["dynamixer_s"])  # no graphs on CPU


def test_gemm_peak_is_a_positive_rate_of_the_requested_shape():
    rate = measure_gemm_peak("cpu", torch.float32, shape=(64, 32, 16), warmup=0, iters=1)
    assert 0 < rate < float("inf")
    assert gemm_call("cpu", torch.bfloat16, shape=(64, 32, 16))().shape == (64, 16)
    with pytest.raises(ValueError, match=r"iters must be an integer >= 1; got 0"):
        measure_gemm_peak("cpu", shape=(8, 8, 8), iters=0)


def test_bf16_autocast_runs_on_the_cpu_and_says_when_it_is_emulated(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    dtypes: list[torch.dtype] = []
    real_prepare = timing._prepare

    def traced(spec, settings, device):
        net = real_prepare(spec, settings, device)
        net.head.register_forward_hook(lambda module, inputs, output: dtypes.append(output.dtype))
        return net

    monkeypatch.setattr(timing, "_prepare", traced)
    settings = ThroughputSettings(batch_size=2, input_size=(3, 32, 32), amp="bf16", iters=2)
    record = measure_throughput("dynamixer_digits", settings)
    assert record.precision == "amp-bf16" and record.median_images_per_s > 0
    assert dtypes and set(dtypes) == {torch.bfloat16}  # every call ran under bf16 autocast
    monkeypatch.setattr(settings_module, "cpu_bf16_flags", lambda: ())
    warning = emulated_bf16_warning(settings)
    assert warning is not None and "no native bf16" in warning and "emulated" in warning
    monkeypatch.setattr(settings_module, "cpu_bf16_flags", lambda: ("amx_bf16",))
    assert emulated_bf16_warning(settings) is None
    assert emulated_bf16_warning(dataclasses.replace(settings, amp=None)) is None


def test_warm_up_rounds_run_their_own_calls_then_the_hook_then_the_timed_rounds() -> None:
    order: list[str] = []
    calls = {key: (lambda key=key: order.append(f"{key} timed")) for key in ("a", "b")}
    warm = {key: (lambda key=key: order.append(f"{key} warm")) for key in ("a", "b")}
    seen: list[dict[str, list[float]]] = []

    def hook(seconds: dict[str, list[float]]) -> None:
        order.append("hook")
        seen.append(seconds)

    times = time_interleaved(calls, 2, 1, torch.device("cpu"), None, None, warm, hook)
    assert order == ["a warm", "b warm"] * 2 + ["hook", "a timed", "b timed"]
    assert [len(v) for v in seen[0].values()] == [2, 2]
    assert times.warmup_seconds == seen[0] and set(times.seconds) == {"a", "b"}
    assert times.first_call == {key: seen[0][key][0] for key in ("a", "b")}


def test_a_small_warm_up_batch_warms_up_and_the_timed_batch_is_the_full_one(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    batches: list[int] = []
    real_prepare = timing._prepare

    def traced(spec, settings, device):
        net = real_prepare(spec, settings, device)
        net.register_forward_pre_hook(lambda module, inputs: batches.append(len(inputs[0])))
        return net

    monkeypatch.setattr(timing, "_prepare", traced)
    settings = ThroughputSettings(
        batch_size=4, input_size=(3, 32, 32), warmup=2, iters=3, warmup_batch_size=1
    )
    record = measure_throughput("dynamixer_digits", settings)
    assert batches == [1, 1, 4, 4, 4]
    assert (record.batch_size, record.warmup_batch_size, len(record.batch_seconds)) == (4, 1, 3)


def test_a_training_step_runs_forward_backward_and_an_optimizer_step(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    built: list[tuple[torch.nn.Module, list[torch.Tensor]]] = []
    real_prepare = timing._prepare

    def kept(spec, settings, device):
        net = real_prepare(spec, settings, device)
        built.append((net, [p.detach().clone() for p in net.parameters()]))
        return net

    monkeypatch.setattr(timing, "_prepare", kept)
    settings = ThroughputSettings(batch_size=2, input_size=(3, 32, 32), warmup=0, iters=2)
    record = measure_throughputs(["dynamixer_digits"], settings, step="train")[0]
    assert record.step == "train" and record.median_images_per_s > 0
    ((net, before),) = built
    assert net.training  # timed in train mode
    assert any(not torch.equal(p, b) for p, b in zip(net.parameters(), before, strict=True))
    assert all(p.grad is None for p in net.parameters())  # gradients freed after each step
    with pytest.raises(ValueError, match=r"unknown step 'eval'; accepted: inference, train"):
        measure_throughputs(["dynamixer_digits"], settings, step="eval")
