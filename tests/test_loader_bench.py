"""`loader-bench`: the generated set, the paired table, cores per GPU, and the nvjpeg measurement's code
(run here with the CPU standing in for the GPU)."""
from __future__ import annotations

import math

import pytest

from PIL import Image
from support.slurm import fake_gpu_partition

from resnext_bench.bench import loader
from resnext_bench.cli import main


def test_the_table_pairs_every_backend_with_pil_and_says_cores_per_gpu(tmp_path, capsys):
    out = tmp_path / "lb.md"
    assert main(["loader-bench", "--images", "12", "--repeats", "2", "--size", "64", "--data", str(tmp_path / "d"),
                 "--train-ips", "3000", "--max-side", "128", "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert out.read_text().strip() == text.strip()
    rows = {line.split("|")[1].strip(): line for line in text.splitlines() if line.startswith("| ") and "---" not in line}
    assert "pil" in rows and "turbo (torchvision.io)" in rows
    assert "| 1.00x (1.00-1.00) |" in rows["pil"]
    rate = float(rows["pil"].split("|")[2].replace(",", ""))
    assert int(rows["pil"].split("|")[5]) == math.ceil(3000 / rate)  # cores per GPU from the measured rate
    assert "12 JPEGs, quality 90" in text and "cores per GPU at 3,000 img/s" in text
    # The packed copies (longest side 128, as `pack --max-side 128` stores them) decode far faster than the
    # 500x375 originals, and are measured against pil on the originals.
    packed = rows["turbo, pack --max-side 128"] if "turbo, pack --max-side 128" in rows else \
        rows["turbo (torchvision.io), pack --max-side 128"]
    assert float(packed.split("|")[3].split("x")[0]) > 1.5
    assert max(max(Image.open(p).size) for p in (tmp_path / "d").glob("v1-12-max128/train/*/*.JPEG")) <= 128
    # The set is written once and reused: a second run writes nothing.
    files = sorted((tmp_path / "d" / "v1-12").rglob("*.JPEG"))
    stamps = [f.stat().st_mtime_ns for f in files]
    assert len(files) == 12
    loader.make_images(tmp_path / "d" / "v1-12", 12)
    assert [f.stat().st_mtime_ns for f in files] == stamps


def test_the_generated_files_look_like_imagenet_files(tmp_path):
    samples = loader.make_images(tmp_path, 20)
    summary = loader.size_summary(samples)
    mean_kb = float(summary.split("KB mean")[0].split(":")[-1])
    assert 80 < mean_kb < 200 and "500x375" in summary  # ImageNet's average file is ~110 KB, mostly 500x375


def test_the_nvjpeg_measurement_runs_end_to_end_on_a_cpu_stand_in(tmp_path):
    samples = loader.make_images(tmp_path, 6)
    row = loader.measure_nvjpeg(samples, 32, repeats=1, batch=4, device="cpu", log=lambda m: None)
    assert row.backend == "nvjpeg" and row.images_per_core_s > 0 and row.gpu_images_s > 0
    assert "CPU stand-in" in row.note and "grey levels" in row.note
    parity = float(row.note.split("by ")[1].split(" grey")[0])
    assert parity < 4  # the same central boxes: decoder/resampler rounding only


@pytest.mark.parametrize("arg", [["--images", "0"], ["--train-ips", "-5"], ["--repeats", "0"], ["--max-side", "8"]])
def test_bad_options_are_one_line_errors(arg, tmp_path, capsys):
    assert main(["loader-bench", "--data", str(tmp_path), *arg]) == 2
    assert len(capsys.readouterr().err.strip().splitlines()) == 1


def dry_run(tmp_path, capsys, monkeypatch, cpus_per_gpu: int, *extra: str) -> str:
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    fake_gpu_partition(tmp_path / "bin", monkeypatch)  # the profile's partition, here too
    profile = tmp_path / f"gpu{cpus_per_gpu}.yaml"
    profile.write_text((root / "slurm" / "gpu-cluster.example.yaml").read_text()
                       .replace("cpus_per_gpu: 10 ", f"cpus_per_gpu: {cpus_per_gpu} "))
    assert main(["launch", str(root / "ablations" / "table3_resnet101.yaml"), "--cluster", str(profile), "--dry-run",
                 "--sweep-dir", str(tmp_path / "sweep"), "--throughput", "3676", *extra]) == 0
    return capsys.readouterr().out


def test_the_dry_run_says_whether_the_profiles_cores_keep_the_input_up(tmp_path, capsys, monkeypatch):
    from resnext_bench.cluster.dryrun import LOADER_RATES

    out = dry_run(tmp_path, capsys, monkeypatch, 10)  # auto on GPUs: nvjpeg
    need = math.ceil(3676 / LOADER_RATES["nvjpeg"])
    assert f"needs {need} CPU cores per GPU" in out and "cpus_per_gpu 10: enough" in out and "warning: cpus" not in out
    out = dry_run(tmp_path, capsys, monkeypatch, 4, "--set", "data.loader=turbo")
    need = math.ceil(3676 / LOADER_RATES["turbo"])
    assert f"warning: cpus_per_gpu 4 is below the {need} cores per GPU that turbo needs" in out
    out = dry_run(tmp_path, capsys, monkeypatch, 4, "--set", "data.loader=turbo", "--loader-rate", "1000")
    assert "needs 4 CPU cores per GPU at 1,000 images/s per core (stated)" in out and "enough" in out
    assert not (tmp_path / "sweep").exists()  # a dry run writes nothing


def test_no_input_check_for_data_held_in_memory(tmp_path, capsys, monkeypatch):
    fake_gpu_partition(tmp_path / "bin", monkeypatch)  # the profile's partition, here too
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    assert main(["launch", str(root / "ablations" / "demo.yaml"), "--cluster", str(root / "slurm" / "gpu-cluster.example.yaml"),
                 "--dry-run", "--sweep-dir", str(tmp_path / "s"), "--throughput", "3676"]) == 0
    assert "input:" not in capsys.readouterr().out


def test_a_bad_loader_rate_is_one_line_and_exit_2(tmp_path, capsys):
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    assert main(["launch", str(root / "ablations" / "table3_resnet101.yaml"), "--cluster",
                 str(root / "slurm" / "gpu-cluster.example.yaml"), "--dry-run", "--sweep-dir", str(tmp_path / "s"),
                 "--loader-rate", "0"]) == 2
    assert len(capsys.readouterr().err.strip().splitlines()) == 1
