"""Table 4's rows and its submitit job."""

from __future__ import annotations

import pytest
import torch

from benchmarks.settings import ThroughputSettings
from reproduce.tables import table4
from reproduce.tables.table4_measurement import Table4Job
from tests.reproduce.conftest import (
    TABLE,
)


def test_dynamixer_rows_time_the_official_computation_unless_fused() -> None:
    rows = {row.zoo_name: row for row in TABLE.rows}
    assert table4.row_spec(rows["dynamixer_s"]).overrides == {"fused": False}
    assert table4.row_spec(rows["dynamixer_m"], fused=True).overrides == {"fused": True}
    assert table4.row_spec(rows["vip_m7"], fused=True).overrides == {}
    assert table4.row_spec(rows["resmlp_s24"]).overrides == {}


def test_job_is_picklable_and_validates_where_it_runs() -> None:
    import pickle

    job = Table4Job(("resmlp_s24",), ThroughputSettings(device="cuda"), progress=False)
    assert pickle.loads(pickle.dumps(job)) == job
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="CUDA is not available"):
            job()
