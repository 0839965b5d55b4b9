"""benchmarks.timing: the one timing engine, its records, and bad settings refused early."""

from __future__ import annotations

import dataclasses
import datetime
import re

import pytest
import torch

import benchmarks.records as records
import benchmarks.timing as timing
from benchmarks.gemm import gemm_call, measure_gemm_peak
from benchmarks.records import (
    Environment,
    ModelSpec,
    Throughput,
)
from benchmarks.timing import ThroughputSettings, measure_throughput, measure_throughputs, validate


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
    assert record.environment.device_name == records._cpu_name()
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
        (ThroughputSettings(amp="bf16"), r"AMP \(bf16\) is for GPUs.*'cpu'"),
        (ThroughputSettings(amp="fp16"), r"AMP \(fp16\) is for GPUs"),
        (ThroughputSettings(amp="fp8"), r"unknown AMP dtype 'fp8'; accepted: bf16, fp16"),
        (ThroughputSettings(batch_size=0), r"batch_size must be an integer >= 1; got 0"),
        (ThroughputSettings(batch_size=-3), r"batch_size must be an integer >= 1; got -3"),
        (ThroughputSettings(iters=0), r"iters must be an integer >= 1; got 0"),
        (ThroughputSettings(warmup=-1), r"warmup must be an integer >= 0; got -1"),
        (ThroughputSettings(compile=True, warmup=0), r"compile=True needs warmup >= 1"),
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
