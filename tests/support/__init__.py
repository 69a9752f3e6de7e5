"""Helpers shared by the test modules: no test module imports another test module or conftest.

polling (wait_until), slurm (require_slurm), ablations (the tiny ablation, the launch grid, small specs),
sweeps (fabricated run folders and sweeps for the analysis stage), training (a tiny run folder, stop flags,
outcome comparison), ddp (the process-group probe), data (dataset files on disk), report (reading report.md).
"""
