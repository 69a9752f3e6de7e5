"""`loader-bench`: the generated set, the paired table, cores per GPU, and the nvjpeg measurement's code
(run here with the CPU standing in for the GPU)."""
from __future__ import annotations

import math

import pytest

from PIL import Image

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
