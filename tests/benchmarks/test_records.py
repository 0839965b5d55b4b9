"""benchmarks.records: every record says what was measured, where, with which libraries."""

from __future__ import annotations

import datetime
import re

import torch

from benchmarks.counting import count_flops, count_params
from benchmarks.records import FlopCount, ModelSpec, ParamCount, flatten
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


def test_count_records_carry_model_overrides_and_provenance() -> None:
    spec = ModelSpec("dynamixer_s", {"reduced_dim": 4})
    params = count_params(spec)
    flops = count_flops(spec)
    assert isinstance(params, ParamCount) and isinstance(flops, FlopCount)
    assert params.model == flops.model == "dynamixer_s"
    assert params.overrides == flops.overrides == {"reduced_dim": 4}
    assert params.params > count_params("dynamixer_s").params  # d = 4 generates bigger layers
    assert flops.input_size == (3, 224, 224)
    assert flops.counter == "ptflops 0.7.5, aten backend"
    _assert_environment(params.environment, "meta")
    flat = flatten(params)
    assert flat["params"] == params.params and flat["device"] == "meta"
    assert "environment" not in flat and flat["torch_version"] == torch.__version__


def test_records_survive_pickling_as_submitit_ships_them() -> None:
    """A Slurm job's Table 4 result comes back through pickle: records must round-trip."""
    import pickle

    spec = ModelSpec("resmlp_s12")
    for record in (count_params(spec), count_flops(spec)):
        back = pickle.loads(pickle.dumps(record))
        assert back == record and flatten(back) == flatten(record)
