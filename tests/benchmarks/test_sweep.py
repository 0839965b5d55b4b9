"""The sweep engine: groups anchored by the reference, failures as rows, resume, Ctrl-C.

Models that fail are real timm models registered here (``sweep_test_*``): one raises when it
runs on real data (it counts fine on the meta device), one raises out of memory above batch 2.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
import torch
from timm.models import register_model
from torch import nn

from benchmarks import cli
from benchmarks.records import ModelSpec
from benchmarks.resume import held_rows, interrupted_line
from benchmarks.settings import ThroughputSettings
from benchmarks.sweep import STATUS_OK, STATUS_OOM, Sweep, failure_status, plan_groups, run_sweep
from common.files import REPO_ROOT

TINY = ThroughputSettings(batch_size=4, warmup=1, iters=2, input_size=(3, 32, 32))


class _Tiny(nn.Module):
    """A linear classifier on pooled pixels; ``fail`` says when its forward raises."""

    def __init__(self, fail: str = "", num_classes: int = 10, **_: object) -> None:
        super().__init__()
        self.fail, self.num_classes = fail, num_classes
        self.head = nn.Linear(3, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.fail == "always" and x.device.type != "meta":
            raise RuntimeError("sweep test model: no kernel for this op")
        if self.fail == "big batch" and x.device.type != "meta" and len(x) > 2:
            raise torch.OutOfMemoryError("CPU out of memory: tried to allocate 1.00 GiB")
        return self.head(x.mean(dim=(2, 3)))


@register_model
def sweep_test_ok(pretrained: bool = False, **kwargs: object) -> nn.Module:
    return _Tiny(**kwargs)


@register_model
def sweep_test_ok2(pretrained: bool = False, **kwargs: object) -> nn.Module:
    return _Tiny(**kwargs)


@register_model
def sweep_test_ok3(pretrained: bool = False, **kwargs: object) -> nn.Module:
    return _Tiny(**kwargs)


@register_model
def sweep_test_broken(pretrained: bool = False, **kwargs: object) -> nn.Module:
    return _Tiny(fail="always", **kwargs)


@register_model
def sweep_test_greedy(pretrained: bool = False, **kwargs: object) -> nn.Module:
    return _Tiny(fail="big batch", **kwargs)


def _specs(*names: str) -> list[ModelSpec]:
    return [ModelSpec(name) for name in names]


def test_groups_hold_the_reference_and_at_most_group_size_others() -> None:
    labels = ["r", "a", "b", "c", "d", "e"]
    assert plan_groups(labels, "r", 2) == [["a", "b"], ["c", "d"], ["e"]]
    assert plan_groups(labels, "c", 5) == [["r", "a", "b", "d", "e"]]
    with pytest.raises(ValueError, match="group size must be at least 1; got 0"):
        plan_groups(labels, "r", 0)


def test_failure_status_names_out_of_memory_and_other_errors_in_one_line() -> None:
    assert failure_status(torch.OutOfMemoryError("CUDA out of memory. Tried")) == STATUS_OOM
    assert failure_status(RuntimeError("a\nb\nmissing op")) == "error: RuntimeError: missing op"


def test_a_failing_model_is_a_row_and_the_others_are_timed_against_the_reference() -> None:
    written: list[list[dict]] = []
    result = run_sweep(
        _specs("sweep_test_ok", "sweep_test_broken", "sweep_test_ok2", "sweep_test_ok3"),
        TINY,
        sweep=Sweep(group_size=1),
        write_rows=lambda rows: written.append(rows),
        progress=False,
    )
    rows = {row["model"]: row for row in result.rows}
    assert rows["sweep_test_broken"]["status"].startswith("error: RuntimeError: sweep test model")
    assert "infer_samples_per_sec" not in rows["sweep_test_broken"]
    for name in ("sweep_test_ok", "sweep_test_ok2", "sweep_test_ok3"):
        assert rows[name]["status"] == STATUS_OK and rows[name]["reference"] == "sweep_test_ok"
        assert rows[name]["infer_vs_reference_low"] <= rows[name]["infer_vs_reference"]
    # Three groups (one model each with the reference): rows written after each, and at the end.
    assert [rows[n]["group"] for n in ("sweep_test_ok2", "sweep_test_ok3")] == [2, 3]
    assert len(written) == 4 and [len(rows) for rows in written] == [2, 3, 4, 4]
    # The reference's row pools its rounds from every group.
    assert rows["sweep_test_ok"]["infer_rounds"] == 3 * TINY.iters


def test_out_of_memory_is_retried_at_smaller_batches_only_when_asked() -> None:
    specs = _specs("sweep_test_ok", "sweep_test_greedy")
    plain = run_sweep(specs, TINY, sweep=Sweep(), progress=False).rows
    assert plain[1]["status"] == STATUS_OOM
    retried = run_sweep(specs, TINY, sweep=Sweep(retry_smaller_batch=True), progress=False).rows
    assert retried[1]["status"] == STATUS_OK and retried[1]["infer_batch_size"] == 2
    assert retried[1]["batch_note"] == "ran at batch 2 after out of memory at 4"
    assert retried[1]["requested_batch_size"] == 4


def test_a_reference_not_in_the_list_is_refused() -> None:
    with pytest.raises(ValueError, match="reference 'resnet18' is not in the list"):
        run_sweep(_specs("sweep_test_ok"), TINY, sweep=Sweep(reference="resnet18"))


def test_resume_keeps_rows_of_the_same_settings_and_refuses_other_settings(tmp_path) -> None:
    path = tmp_path / "first.csv"
    rows = run_sweep(_specs("sweep_test_ok", "sweep_test_ok2"), TINY, progress=False).rows
    cli.sweep_frame(rows).to_csv(path, index=False)
    held = held_rows(path, TINY)
    assert set(held) == {"sweep_test_ok", "sweep_test_ok2"}
    later = run_sweep(
        _specs("sweep_test_ok", "sweep_test_ok2", "sweep_test_ok3"),
        TINY,
        held=held,
        progress=False,
    )
    assert later.timed == 2  # the reference (always re-timed) and the new model
    assert [row["model"] for row in later.rows] == [
        "sweep_test_ok",
        "sweep_test_ok2",
        "sweep_test_ok3",
    ]
    with pytest.raises(ValueError, match="was made with requested_batch_size=4; this run has"):
        held_rows(path, ThroughputSettings(batch_size=8))
    (tmp_path / "other.csv").write_text("a,b\n1,2\n")
    with pytest.raises(ValueError, match="is not an output of this suite's sweeps"):
        held_rows(tmp_path / "other.csv", TINY)


def test_the_interrupted_line_says_how_to_resume() -> None:
    line = interrupted_line("python -m benchmarks", 3, 9, Path("x.csv"), ["a", "--resume", "y"])
    assert line == (
        "python -m benchmarks: interrupted; 3 of 9 models kept in x.csv; resume: "
        + "python -m benchmarks a --resume x.csv"
    )
    nothing = interrupted_line("python -m benchmarks", 0, 9, Path("out"), ["a", "-b", "2"])
    assert nothing == (
        "python -m benchmarks: interrupted before any of 9 models was kept; start again: "
        + "python -m benchmarks a -b 2"
    )


@pytest.mark.parametrize(
    "argv, message",
    [
        (["test_vit", "--group-size", "0"], "--group-size must be at least 1; got 0"),
        (["test_vit", "--reference", "test_resnet"], "--reference 'test_resnet' is not one of"),
        (["test_vit", "--bench", "latency", "-b", "8"], "--bench latency times batch 1"),
        (["test_vit", "--executor", "cloud"], "invalid choice: 'cloud'"),
    ],
)
def test_bad_sweep_options_are_one_line_before_a_model_is_built(
    argv, message, capsys, no_model_is_built
) -> None:
    with pytest.raises(SystemExit) as exit_status:
        cli.main(argv)
    assert exit_status.value.code == 2
    assert message in capsys.readouterr().err


def test_resume_of_a_file_made_with_other_settings_is_refused(tmp_path, capsys) -> None:
    path = tmp_path / "earlier.csv"
    rows = run_sweep(_specs("sweep_test_ok"), TINY, progress=False).rows
    cli.sweep_frame(rows).to_csv(path, index=False)
    with pytest.raises(SystemExit):
        cli.main(["test_vit", "-b", "2", "--resume", str(path)])
    assert "was made with requested_batch_size=4; this run has requested_batch_size=2" in (
        capsys.readouterr().err
    )


def _wait_for(path: Path, child: subprocess.Popen, timeout_s: float = 300) -> None:
    deadline = time.monotonic() + timeout_s
    while not path.exists():
        assert child.poll() is None, child.communicate()[1]
        assert time.monotonic() < deadline, f"{path} never appeared"
        time.sleep(0.2)


def test_ctrl_c_keeps_the_rows_measured_and_resume_finishes_them(tmp_path) -> None:
    """A real child process, interrupted by SIGINT after its first group is written."""
    path = tmp_path / "sweep.csv"
    argv = [
        *("test_vit", "test_resnet", "test_convnext", "test_efficientnet", "test_byobnet"),
        *("-b", "1", "--warmup", "1", "--iters", "2", "--group-size", "1"),
        *("--results-file", str(path)),
    ]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    command = [sys.executable, "-m", "benchmarks", *argv]
    child = subprocess.Popen(
        command, cwd=REPO_ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    _wait_for(path, child)
    child.send_signal(signal.SIGINT)
    _, stderr = child.communicate(timeout=120)
    assert child.returncode == 130, stderr
    assert "Traceback" not in stderr
    last = stderr.strip().splitlines()[-1]
    assert "interrupted;" in last and f"--resume {path}" in last
    kept = pd.read_csv(path)
    assert 2 <= len(kept) < 5 and set(kept["status"]) == {"ok"}
    done = subprocess.run(
        [*command, "--resume", str(path)], cwd=REPO_ROOT, env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    final = pd.read_csv(path)
    assert list(final["model"]) == list(argv[:5]) and set(final["status"]) == {"ok"}
    assert f"{len(kept)} rows kept from {path}" in done.stderr
