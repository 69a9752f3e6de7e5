"""Tests that need the local Slurm cluster: skip where none answers, fail instead in CI."""
import os

import pytest


def require_slurm(module_level: bool = False) -> None:
    """Skip unless a Slurm cluster answers; fail instead under RESNEXT_BENCH_REQUIRE_SLURM=1 (CI)."""
    from resnext_bench.cluster.profile import slurm_available

    if slurm_available():
        return
    if os.environ.get("RESNEXT_BENCH_REQUIRE_SLURM") == "1":
        pytest.fail("RESNEXT_BENCH_REQUIRE_SLURM=1 but no Slurm answers here (slurm/local-cluster.sh start)",
                    pytrace=False)
    pytest.skip("no Slurm cluster answers here: run `bash slurm/local-cluster.sh start` as root",
                allow_module_level=module_level)
