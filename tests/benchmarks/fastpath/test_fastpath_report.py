"""The fast-path report's judging and rendering, on synthetic timings (nothing is timed here)."""

from __future__ import annotations

import dataclasses
import json
import re
from pathlib import Path

import pytest
import torch

from benchmarks.fastpath import render
from benchmarks.fastpath import targets as fastpath_targets
from benchmarks.fastpath.__main__ import main
from benchmarks.fastpath.compiling import compile_model
from benchmarks.fastpath.options import BF16_EMULATED, Settings
from benchmarks.fastpath.report import Case, CaseResult, FastPathReport, MemoryPeak, Target
from benchmarks.fastpath.run import _training_precisions, run_report
from common.environment import describe_environment


def _result(key: str, images_per_s: float, batch: int = 32) -> CaseResult:
    name, rest = key.split(" ", 1)
    parts = rest.split()
    path = parts[0] if parts[0] in ("plain", "fused") else "-"
    mode, precision = parts[-2], parts[-1]
    case = Case(key, name, path, mode, precision, batch)
    seconds = batch / images_per_s
    return CaseResult(
        case=case,
        batch_seconds=(seconds, seconds),
        median_seconds=seconds,
        images_per_s=images_per_s,
        min_images_per_s=images_per_s,
        max_images_per_s=images_per_s,
        gflop_per_image=14.6,
        utilisation=None if mode == "train" else images_per_s * 14.6 / 60.0,
        first_call_seconds=seconds,
    )


def _report(
    fused_eager: float,
    train_fused: float,
    fused_peak_mb: float,
    device: str = "cpu",
    cpu_bf16: tuple[str, ...] | None = ("avx512_bf16",),
) -> FastPathReport:
    """A synthetic report; by default from a CPU with native bf16 (every target judged)."""
    environment = dataclasses.replace(
        describe_environment("cpu"), device=device, device_name="Test CPU", cpu_bf16=cpu_bf16
    )
    report = FastPathReport(
        environment=environment,
        settings={"batch_size": "32"},
        gemm_peak_gflops={"fp32": 60.0, "bf16": 5.0},
    )
    report.results = [
        _result("dynamixer_s plain eager fp32", 2.0),
        _result("dynamixer_s fused eager fp32", fused_eager),
        _result("vip_s7 eager fp32", 2.3),
        _result("vip_s7 contiguous eager fp32", 2.76),
        _result("dynamixer_s fused compiled fp32", 2.5),
        _result("vip_s7 compiled fp32", 2.4),
        _result("dynamixer_s fused eager bf16", 0.5, batch=4),
        _result("vip_s7 eager bf16", 0.5, batch=4),
        _result("dynamixer_s plain train fp32", 32 / 30.0),
        _result("dynamixer_s fused train fp32", 32 / train_fused),
    ]
    report.memory = [
        MemoryPeak("dynamixer_s", "plain", 32, "peak RSS", 1000.0, 9000.0, 8000.0),
        MemoryPeak("dynamixer_s", "fused", 32, "peak RSS", 1000.0, fused_peak_mb, 0.0),
    ]
    return report


def test_targets_are_ratios_of_medians_with_pass_and_miss():
    report = _report(fused_eager=2.6, train_fused=29.0, fused_peak_mb=8000.0)
    targets = {t.name: t for t in fastpath_targets.evaluate_targets(report)}
    fast = targets["fused fp32 eager vs plain fp32 eager"]
    assert fast.measured == pytest.approx(1.3) and fast.passed
    best = targets["best DynaMixer-S mode vs plain fp32 eager"]
    assert best.measured == pytest.approx(1.3) and not best.passed  # 2.5x required
    assert "fused eager fp32" in best.detail
    utilisation = targets["fp32 FLOP utilisation (of the GEMM peak)"]
    assert utilisation.measured == pytest.approx(2.6 * 14.6 / 60.0)
    assert targets["DynaMixer-S (fused) vs ViP-S/7, eager fp32"].passed
    assert targets["DynaMixer-S (fused) vs ViP-S/7, compiled fp32"].passed
    assert targets["DynaMixer-S (fused) vs ViP-S/7, eager bf16"].passed  # equal counts
    assert targets["training step speed (fp32), fused vs plain"].measured == pytest.approx(30 / 29)
    memory = targets["training-step peak memory, fused / plain (at most 1)"]
    assert memory.measured == pytest.approx(8000 / 9000) and memory.passed


def test_slower_fused_path_and_more_memory_are_misses():
    report = _report(fused_eager=1.9, train_fused=31.0, fused_peak_mb=9500.0)
    targets = {t.name: t for t in fastpath_targets.evaluate_targets(report)}
    assert not targets["fused fp32 eager vs plain fp32 eager"].passed
    assert not targets["DynaMixer-S (fused) vs ViP-S/7, eager fp32"].passed
    assert not targets["training step speed (fp32), fused vs plain"].passed
    assert not targets["training-step peak memory, fused / plain (at most 1)"].passed


def test_context_compares_with_a_vip_given_the_same_token_layout():
    report = _report(fused_eager=2.6, train_fused=29.0, fused_peak_mb=8000.0)
    context = {t.name: t for t in fastpath_targets.evaluate_context(report)}
    same = context["DynaMixer-S (fused) vs ViP-S/7 with contiguous tokens too, eager fp32"]
    assert same.measured == pytest.approx(2.6 / 2.76) and not same.passed
    layout = context["ViP-S/7: contiguous tokens vs its authors' layout, eager fp32"]
    assert layout.measured == pytest.approx(2.76 / 2.3) and layout.passed
    report.targets, report.context = (
        fastpath_targets.evaluate_targets(report),
        list(context.values()),
    )
    text = render.render_markdown(report)
    assert "## Context (not targets)" in text and "| 0.942 | 1.000 | no |" in text


def test_a_near_miss_is_not_printed_as_the_target():
    target = Target("a vs b", 0.99962, 1.0, False, "")
    assert render._shown(target) == ("0.9996", "1.000")


def test_gpu_runs_are_judged_on_the_gpu_targets():
    # The GPU targets: eager 1.3x plain, best mode 5x; no CPU GEMM-utilisation target.
    report = _report(fused_eager=2.5, train_fused=29.0, fused_peak_mb=8000.0, device="cuda:0")
    targets = {t.name: t for t in fastpath_targets.evaluate_targets(report)}
    fast = targets["fused fp32 eager vs plain fp32 eager"]
    assert fast.required == 1.3 and not fast.passed  # 1.25x: enough on a CPU, not on a GPU
    assert targets["best DynaMixer-S mode vs plain fp32 eager"].required == 5.0
    assert "fp32 FLOP utilisation (of the GEMM peak)" not in targets
    cpu = {t.name: t for t in fastpath_targets.evaluate_targets(_report(2.5, 29.0, 8000.0))}
    assert cpu["fused fp32 eager vs plain fp32 eager"].passed


@pytest.mark.parametrize(
    ("scope", "mode", "pattern"),
    [
        ("layers", "default", r"compile scope must be one of \('regional', 'full'\); got 'layers'"),
        ("regional", "fast", r"compile mode must be one of .*reduce-overhead.*; got 'fast'"),
    ],
)
def test_compile_model_names_bad_scope_or_mode(scope, mode, pattern):
    with pytest.raises(ValueError, match=pattern):
        compile_model(torch.nn.Linear(2, 2), scope, mode)


def test_report_files_say_where_and_how_it_was_measured(tmp_path):
    report = _report(fused_eager=2.6, train_fused=29.0, fused_peak_mb=8000.0)
    report.targets = fastpath_targets.evaluate_targets(report)
    report.notes.append("a note")
    markdown, data = render.write_report(report, tmp_path)
    assert markdown.name == "fastpath_cpu.md" and data.name == "fastpath_cpu.json"
    text = markdown.read_text()
    for expected in ("torch ", "load average", "GEMM peak", "| PASS |", "| MISS |", "a note"):
        assert expected in text
    assert text.startswith("# DynaMixer fast path on cpu (Test CPU, native bf16 (avx512_bf16))")
    assert "| dynamixer_s fused eager fp32 | 32 | 2.60 |" in text
    record = json.loads(data.read_text())
    assert record["environment"]["device"] == "cpu"
    assert len(record["results"]) == len(report.results)
    summary = render.render_text(report)
    assert summary.count("PASS") + summary.count("MISS") == len(report.targets)


@pytest.mark.parametrize(
    ("argv", "pattern"),
    [
        (["--batch-size", "0"], r"--batch-size must be >= 1; got 0"),
        (["--warmup", "0"], r"--warmup must be >= 1"),
        (["--device", "tpu"], r"--device must be cpu or cuda; got 'tpu'"),
    ],
)
def test_bad_options_fail_before_anything_is_built(argv, pattern, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 2
    assert re.search(pattern, capsys.readouterr().err)


@pytest.mark.parametrize(
    ("settings", "pattern"),
    [
        (
            Settings(device="cuda", compile_mode="reduce-overhead", warmup=3),
            r"--compile-mode reduce-overhead captures CUDA graphs: .* use --compile-scope full",
        ),
        (
            Settings(device="cuda", compile_scope="full", compile_mode="max-autotune"),
            r"records CUDA graphs on its second call: it needs warmup >= 3; got 1",
        ),
        (
            Settings(compile_scope="none", compile_mode="max-autotune"),
            r"--compile-mode max-autotune has nothing to compile with --compile-scope none",
        ),
        (Settings(compile_scope="layers"), r"--compile-scope must be one of .*; got 'layers'"),
    ],
)
def test_settings_are_checked_before_anything_is_built(settings, pattern):
    with pytest.raises(ValueError, match=pattern):
        run_report(settings, progress=lambda _: None)


def test_report_json_reads_back_and_renders_the_same(tmp_path):
    report = _report(fused_eager=2.6, train_fused=29.0, fused_peak_mb=8000.0)
    report.targets = fastpath_targets.evaluate_targets(report)
    report.context = fastpath_targets.evaluate_context(report)
    markdown, data = render.write_report(report, tmp_path)
    assert render.render_markdown(render.read_report(data)) == markdown.read_text()


def test_committed_report_is_what_its_json_renders_to():
    # results/fastpath_cpu.md must be the rendering of the measurements beside it, nothing else.
    committed = Path(__file__).parents[3] / "results" / "fastpath_cpu.json"
    report = render.read_report(committed)
    assert render.render_markdown(report) == committed.with_suffix(".md").read_text()
    assert [t.name for t in report.targets] == [
        t.name for t in fastpath_targets.evaluate_targets(report)
    ]
    assert [t.measured for t in report.targets] == pytest.approx(
        [t.measured for t in fastpath_targets.evaluate_targets(report)]
    )


def test_unknown_compile_mode_is_refused_with_the_accepted_ones(capsys):
    with pytest.raises(SystemExit):
        main(["--compile-mode", "fastest"])
    error = capsys.readouterr().err
    assert "invalid choice: 'fastest'" in error and "reduce-overhead" in error


@pytest.mark.slow
def test_report_end_to_end_on_the_real_models(tmp_path, capsys):
    """The whole report on the CPU at batch 1 (about a minute): real models, real timings."""
    argv = ["--batch-size", "1", "--iters", "1", "--train-iters", "1", "--compile", "none"]
    argv += ["--no-bf16", "--no-memory", "--output-dir", str(tmp_path)]
    assert main(argv) == 0
    record = json.loads((tmp_path / "fastpath_cpu.json").read_text())
    keys = {r["case"]["key"] for r in record["results"]}
    assert {"dynamixer_s plain eager fp32", "dynamixer_s fused eager fp32"} <= keys
    assert {"vip_s7 eager fp32", "vip_s7 contiguous eager fp32"} <= keys
    assert {"dynamixer_s plain train fp32", "dynamixer_s fused train fp32"} <= keys
    names = {t["name"] for t in record["targets"]}
    assert "fused fp32 eager vs plain fp32 eager" in names and len(record["context"]) == 2
    assert all(r["images_per_s"] > 0 for r in record["results"])
    assert "wrote" in capsys.readouterr().out


BF16_TARGETS = (
    "best DynaMixer-S mode vs plain fp32 eager",
    "DynaMixer-S (fused) vs ViP-S/7, eager bf16",
    "training step speed (bf16), fused vs plain",
)


def _report_with_bf16_training(cpu_bf16: tuple[str, ...] | None) -> FastPathReport:
    report = _report(fused_eager=2.6, train_fused=29.0, fused_peak_mb=8000.0, cpu_bf16=cpu_bf16)
    report.results += [
        _result("dynamixer_s plain train bf16", 2 / 9.0, batch=2),
        _result("dynamixer_s fused train bf16", 2 / 6.0, batch=2),
    ]
    report.targets = fastpath_targets.evaluate_targets(report)
    return report


def test_bf16_targets_cannot_be_read_on_a_cpu_without_native_bf16(tmp_path):
    report = _report_with_bf16_training(cpu_bf16=())
    targets = {t.name: t for t in report.targets}
    for name in BF16_TARGETS:
        assert targets[name].unreadable == BF16_EMULATED, name
        assert "Test CPU, no native bf16 (bf16 emulated)" in targets[name].detail
    fp32 = [t for t in report.targets if t.name not in BF16_TARGETS]
    assert fp32 and not any(t.unreadable for t in fp32)
    assert targets["training step speed (bf16), fused vs plain"].measured == pytest.approx(1.5)
    markdown, _ = render.write_report(report, tmp_path)
    text = markdown.read_text()
    title = "# DynaMixer fast path on cpu (Test CPU, no native bf16 (bf16 emulated))"
    assert text.startswith(title)
    assert "- bf16: emulated on this CPU (Test CPU: no avx512_bf16 or amx_bf16)" in text
    assert f"| 1.000 | {BF16_EMULATED} | 0.50 vs 0.50 img/s; Test CPU, no native bf16" in text
    assert "## Training step (forward + backward, fp32 and bf16)" in text
    summary = render.render_text(report)
    assert summary.splitlines()[0] == "cpu: Test CPU, no native bf16 (bf16 emulated)"
    assert summary.count(BF16_EMULATED) == len(BF16_TARGETS)
    assert summary.count("PASS") + summary.count("MISS") == len(fp32)


def test_bf16_targets_are_judged_on_a_cpu_with_native_bf16(tmp_path):
    report = _report_with_bf16_training(cpu_bf16=("avx512_bf16", "amx_bf16"))
    targets = {t.name: t for t in report.targets}
    for name in BF16_TARGETS:
        assert targets[name].unreadable == "", name
        assert "Test CPU, native bf16 (avx512_bf16, amx_bf16)" in targets[name].detail
    assert not targets["best DynaMixer-S mode vs plain fp32 eager"].passed
    assert targets["training step speed (bf16), fused vs plain"].passed
    text = render.render_markdown(report)
    assert "- bf16: native on this CPU (Test CPU: avx512_bf16, amx_bf16)" in text
    assert BF16_EMULATED not in text


def test_a_report_from_before_bf16_was_recorded_re_renders(tmp_path):
    """Old JSONs have no cpu_bf16 and no unreadable field: bf16 support reads as unknown and
    every target keeps the verdict it was given."""
    report = _report_with_bf16_training(cpu_bf16=None)
    _, data = render.write_report(report, tmp_path)
    record = json.loads(data.read_text())
    del record["environment"]["cpu_bf16"]
    for target in record["targets"]:
        del target["unreadable"]
    data.write_text(json.dumps(record))
    old = render.read_report(data)
    assert old.environment.native_bf16 is None
    text = render.render_markdown(old)
    assert "(Test CPU, native bf16 not recorded)" in text.splitlines()[0]
    assert "whether it has native bf16 was not recorded by this report" in text
    assert BF16_EMULATED not in text and text.count("| PASS |") + text.count("| MISS |") == len(
        old.targets
    )
    assert main(["--render", str(data)]) == 0
    assert data.with_suffix(".md").read_text() == text


def test_a_cpu_record_of_native_bf16_reads_back_as_a_tuple(tmp_path):
    _, data = render.write_report(_report_with_bf16_training(("amx_bf16",)), tmp_path)
    assert render.read_report(data).environment.cpu_bf16 == ("amx_bf16",)


@pytest.mark.parametrize(
    ("device", "bf16", "expected"),
    [("cpu", True, ("fp32", "bf16")), ("cpu", False, ("fp32",)), ("cuda", True, ("bf16",))],
)
def test_training_steps_are_timed_in_fp32_and_bf16_on_a_cpu(device, bf16, expected):
    settings = Settings(device=device, bf16=bf16)
    assert _training_precisions(settings, torch.device(device)) == expected
