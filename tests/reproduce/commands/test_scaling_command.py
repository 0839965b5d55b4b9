"""`python -m reproduce scaling`: bad input refused before a model is built, the side each model
runs at found by running it, growth exponents, a tiny real run, and the claims checked."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from benchmarks.records import ModelSpec
from reproduce.claims.scaling import dynamixer_generation_share, scaling_checks
from reproduce.commands import scaling as scaling_command
from reproduce.tables.scaling import fit_size, growth_frame
from tests.conftest import refusal


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--sizes"], "expected at least one argument"),
        (["--sizes", "224", "big"], "--sizes takes whole numbers; got 'big'"),
        (["--sizes", "16"], "--sizes: 16 is outside 32-1024 pixels"),
        (["--sizes", "224", "2048"], "--sizes: 2048 is outside 32-1024 pixels"),
        (["--batches", "1", "4", "2"], "--batches must be increasing positive integers; got 1 4 2"),
        (["--batches", "0", "1"], "--batches must be increasing positive integers; got 0 1"),
        (["--models", "not_a_model"], "unknown model 'not_a_model'"),
        (["--device", "tpu"], "tpu"),
    ],
)
def test_bad_input_is_one_line_and_exit_2_before_a_model_is_built(
    argv, message, capsys, no_model_is_built
) -> None:
    error = refusal(scaling_command.main, argv, capsys)
    assert message in error and "Traceback" not in error


def test_the_side_used_is_found_by_running_the_model() -> None:
    cycle = fit_size(ModelSpec("cyclemlp_b1"), 288)
    assert (cycle.size, cycle.same_weights, cycle.status) == (288, True, "ok")
    # Mixer-B/16 is rebuilt for 160 (its token-mixing weights are sized to the grid).
    mixer = fit_size(ModelSpec("mixer_b16_224"), 160)
    assert (mixer.size, mixer.same_weights, mixer.weights_load) == (160, False, False)
    assert mixer.params != fit_size(ModelSpec("mixer_b16_224"), 224).params
    # DynaMixer-S needs a multiple of 14: 160 becomes 154, the nearest it takes.
    assert fit_size(ModelSpec("dynamixer_s"), 160).size == 154
    # ViP-S/7 ties its segments to the grid side: no side near 288 runs, and the row says why.
    vip = fit_size(ModelSpec("vip_s7"), 288)
    assert vip.size is None and "num_segments 32 must equal the token grid side" in vip.status


def _frame(model: str, sides: list[int], seconds: list[list[float]], macs: list[int]):
    return pd.DataFrame(
        {
            "model": model,
            "sweep": "resolution",
            "requested_size": sides,
            "size": sides,
            "same_weights": True,
            "weights_load": True,
            "params": 1000,
            "macs": macs,
            "batch_size": 2,
            "status": "ok",
            "images_per_s": [2 / s[0] for s in seconds],
            "batch_seconds": [" ".join(map(str, s)) for s in seconds],
            "peak_memory_mb": [100.0 * side**2 / 224**2 for side in sides],
            "device": "cpu",
            "device_name": "Test CPU 9000",
        }
    )


def test_growth_exponents_are_slopes_against_pixels_with_an_interval() -> None:
    sides = [112, 224, 448]
    # Seconds proportional to pixels in two rounds, to pixels^1.5 in the third.
    seconds = [[0.25, 0.25, 0.125], [1.0, 1.0, 1.0], [4.0, 4.0, 8.0]]
    growth = growth_frame(_frame("cyclemlp_b1", sides, seconds, [1, 4, 16])).iloc[0]
    assert growth["macs_slope"] == pytest.approx(1.0)
    assert growth["time_slope"] == pytest.approx(1.0)
    assert (growth["time_slope_low"], growth["time_slope_high"]) == pytest.approx((1.0, 1.5))
    assert growth["memory_slope"] == pytest.approx(1.0)
    assert growth["sizes"] == "112 224 448" and bool(growth["same_weights"])


def test_cyclemlps_claims_are_checked_from_the_study() -> None:
    sides = [112, 160, 224, 448]
    seconds = [[s**2 / 224**2] * 3 for s in sides]  # exactly linear, every round
    frame = _frame("cyclemlp_b1", sides, seconds, [s**2 for s in sides])
    checks = {c.subject: c for c in scaling_checks([("scaling_cpu.csv", frame)])}
    assert checks["cyclemlp_b1: other input sizes"].verdict == "reproduced"
    assert checks["cyclemlp_b1: MACs linear in the pixels"].verdict == "reproduced"
    assert checks["cyclemlp_b1: measured time linear in the pixels"].verdict == "reproduced"
    quadratic = _frame("cyclemlp_b1", sides, seconds, [s**4 for s in sides])
    checks = {c.subject: c for c in scaling_checks([("scaling_cpu.csv", quadratic)])}
    assert checks["cyclemlp_b1: MACs linear in the pixels"].verdict == "not reproduced"


def test_dynamixers_generation_term_grows_as_pixels_squared() -> None:
    spec = ModelSpec("dynamixer_s", {"fused": False})
    # Counted on the meta device from the model's operations: S * N * N^2 * d per line.
    small, large = (dynamixer_generation_share(spec, side, 10**9) for side in (224, 448))
    assert large / small == pytest.approx(16.0)  # N doubles: N^4 per branch


def test_a_tiny_real_run_writes_the_table_the_csv_and_the_figure(tmp_path: Path) -> None:
    argv = ["--models", "cyclemlp_b1", "--sizes", "64", "96", "--batches", "1", "2"]
    argv += ["--iters", "2", "-b", "1", "--no-memory", "--output-dir", str(tmp_path)]
    assert scaling_command.main(argv) == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "scaling_cpu.csv",
        "scaling_cpu.md",
        "scaling_cpu.png",
    ]
    frame = pd.read_csv(tmp_path / "scaling_cpu.csv")
    assert set(frame["status"]) == {"ok"} and len(frame) == 4
