"""Sessions named for what a user wants to do: `nox -s tests`, `nox -s reproduce_table4`, ...

Every session that needs torch runs in ONE project environment, `.nox/suite`, created once and
reinstalled only when pyproject.toml or constraints.txt change (torch alone is ~5.5 GB; one copy
per session would waste minutes and disk). pip installs it against constraints.txt, which pins
the tested stack (torch 2.14.1 + torchvision 0.29.1 from the machine's package index).
"""

from __future__ import annotations

import hashlib
import os
import sys
from pathlib import Path

import nox

ROOT = Path(__file__).parent
SUITE = ROOT / ".nox" / "suite"
SUITE_PYTHON = SUITE / "bin" / "python"
STAMP = SUITE / ".mlp-repro-stamp"
CONSTRAINTS = ROOT / "constraints.txt"

nox.options.sessions = ["tests"]
nox.options.default_venv_backend = "none"


def _install_fingerprint() -> str:
    digest = hashlib.sha256()
    for path in (ROOT / "pyproject.toml", CONSTRAINTS):
        digest.update(path.read_bytes())
    return digest.hexdigest()


def suite(session: nox.Session) -> str:
    """Create or refresh the shared project environment; return its python."""
    fingerprint = _install_fingerprint()
    if STAMP.exists() and STAMP.read_text() == fingerprint and SUITE_PYTHON.exists():
        return str(SUITE_PYTHON)
    session.log(f"building the shared environment {SUITE} (torch is large: about a minute)")
    if not SUITE_PYTHON.exists():
        session.run(sys.executable, "-m", "venv", str(SUITE), external=True)
    pip = [str(SUITE_PYTHON), "-m", "pip", "install", "--disable-pip-version-check", "-q"]
    session.run(*pip, "-c", str(CONSTRAINTS), "-e", f"{ROOT}[dev]", external=True)
    STAMP.write_text(fingerprint)
    return str(SUITE_PYTHON)


def run_in_suite(session: nox.Session, *args: str, env: dict[str, str] | None = None) -> None:
    python = suite(session)
    session.run(python, *args, external=True, env=env)


@nox.session
def tests(session: nox.Session) -> None:
    """The default test run (CPU, a few minutes): everything but slow, Slurm and GPU tests."""
    run_in_suite(session, "-m", "pytest", "-m", "not slow and not slurm", "-q", *session.posargs)


@nox.session
def slow_tests(session: nox.Session) -> None:
    """Tests marked slow: full-size runs that take longer than the default run should."""
    run_in_suite(session, "-m", "pytest", "-m", "slow and not slurm", "-q", *session.posargs)


@nox.session
def slurm_tests(session: nox.Session) -> None:
    """Start a single-node Slurm (root, Debian), run the Slurm-marked tests, stop the daemons.

    Installs slurm-wlm, munge, slurmdbd and mariadb-server with apt-get the first time
    (tests/slurm/cluster.sh); the daemons are stopped by pid even when a test fails.
    """
    python = suite(session)
    cluster = str(ROOT / "tests" / "slurm" / "cluster.sh")
    session.run("bash", cluster, "install", external=True)
    session.run("bash", cluster, "start", external=True)
    try:
        pytest = [python, "-m", "pytest", "-m", "slurm", "-q", "--durations=10"]
        session.run(*pytest, *session.posargs, external=True)
    finally:
        session.run("bash", cluster, "stop", external=True)


@nox.session
def lint(session: nox.Session) -> None:
    """ruff check and ruff format --check."""
    python = suite(session)
    session.run(python, "-m", "ruff", "check", ".", external=True)
    session.run(python, "-m", "ruff", "format", "--check", ".", external=True)


@nox.session
def reproduce_table4(session: nox.Session) -> None:
    """The main job: measure Table 4 (params, FLOPs, batch-32 throughput) on this device.

    Arguments after `--` pass through, e.g. `nox -s reproduce_table4 -- --device cuda --amp bf16`.
    """
    run_in_suite(session, "-m", "reproduce", "table4", *session.posargs)


@nox.session
def reproduce_tables(session: nox.Session) -> None:
    """Regenerate Tables 2, 3, 5-9, the consistency report and Figure 1 (CPU, minutes)."""
    run_in_suite(session, "-m", "reproduce", "tables", *session.posargs)


@nox.session
def train(session: nox.Session) -> None:
    """Launch a training config through submitit: `nox -s train -- <config> [--executor ...]`."""
    run_in_suite(session, "-m", "reproduce", "train", *session.posargs)


@nox.session
def reproduce_mlp_zoo(session: nox.Session) -> None:
    """Every vision MLP of Table 2 timed side by side: results/mlp_zoo_<device>.md, .csv, .png.

    Prints its duration estimate after the warm-up; on a GPU:
    `nox -s reproduce_mlp_zoo -- --device cuda --amp bf16`.
    """
    run_in_suite(session, "-m", "reproduce", "mlp-zoo", *session.posargs)


@nox.session
def reproduce_scaling(session: nox.Session) -> None:
    """How each vision MLP's cost grows with input size and batch: results/scaling_<device>.*

    About 20 minutes on a 2-core CPU with the defaults; on a GPU:
    `nox -s reproduce_scaling -- --device cuda --amp bf16`.
    """
    run_in_suite(session, "-m", "reproduce", "scaling", *session.posargs)


@nox.session
def reproduce_zoo(session: nox.Session) -> None:
    """Deprecated name of `reproduce_mlp_zoo` (the model list is results/model_zoo.md)."""
    session.warn("nox -s reproduce_zoo is now nox -s reproduce_mlp_zoo; running that")
    reproduce_mlp_zoo(session)


@nox.session
def benchmark_models(session: nox.Session) -> None:
    """Time zoo or timm models side by side: `nox -s benchmark_models -- 'dynamixer_*' vip_s7`.

    Writes results/benchmark-<infer|train|both>-<precision>-<layout>-<device>.csv, timm's columns.
    """
    run_in_suite(session, "-m", "benchmarks", *session.posargs)


@nox.session
def evaluate(session: nox.Session) -> None:
    """Evaluate a checkpoint on an image folder into the results store:
    `nox -s evaluate -- MODEL --checkpoint PATH --data DIR --weights-source TEXT`."""
    run_in_suite(session, "-m", "reproduce", "evaluate", *session.posargs)


@nox.session
def benchmark_fastpath(session: nox.Session) -> None:
    """pytest-benchmark over DynaMixer's mixing op and blocks (tests/microbenchmarks/), then
    the fast-path ratio report: results/fastpath_cpu.md and .json."""
    env = {"OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", str(os.cpu_count() or 1))}
    run_in_suite(
        session,
        "-m",
        "pytest",
        str(ROOT / "tests" / "microbenchmarks"),
        "-o",
        "python_files=bench_*.py",
        "-p",
        "no:cacheprovider",
        "--benchmark-only",
        "--benchmark-autosave",
        "--benchmark-storage",
        str(ROOT / "results" / "benchmarks"),
        *session.posargs,
        env=env,
    )
    # The fast-path ratios, timed side by side in one process (~10 min on 2 CPU cores).
    run_in_suite(session, "-m", "benchmarks.fastpath", env=env)


@nox.session
def benchmark(session: nox.Session) -> None:
    """Deprecated name of `benchmark_fastpath` (easily confused with `benchmark_models`)."""
    session.warn("nox -s benchmark is now nox -s benchmark_fastpath; running that")
    benchmark_fastpath(session)
