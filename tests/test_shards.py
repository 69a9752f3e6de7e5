"""Packed shards: the folder's samples in the folder's order, WebDataset's tar layout, resumable packing,
damaged shards named, ImageNet's odd files decoded or skipped."""
from __future__ import annotations

import io
import json
import os
import pickle
import signal
import subprocess
import sys
import tarfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from support.polling import wait_until
from resnext_bench.cli import main
from resnext_bench.engine.data import packing
from resnext_bench.engine.data.folders import scan_folder_tree
from resnext_bench.engine.data.packing import PackOptions, pack
from resnext_bench.engine.data.shards import open_shards
from resnext_bench.errors import UserError

CLASSES = ("n01", "n02", "n03")


def noise(size: tuple[int, int], mode: str = "RGB", seed: int = 0) -> Image.Image:
    """Smooth noise: compresses like a photograph, not like a flat colour."""
    rng = np.random.default_rng(seed)
    bands = len(mode)
    small = rng.integers(0, 256, (size[1] // 4 + 1, size[0] // 4 + 1, bands), dtype=np.uint8)
    img = Image.fromarray(small.squeeze(-1) if bands == 1 else small, mode).resize(size, Image.BILINEAR)
    return img


def write_tree(root: Path) -> dict[str, Path]:
    """A three-class ImageFolder tree with ImageNet's odd files; returns them by kind."""
    odd = {}
    for split, count in (("train", 4), ("val", 2)):
        for c, name in enumerate(CLASSES):
            folder = root / split / name
            folder.mkdir(parents=True)
            for i in range(count):
                size = (96, 72) if (i + c) % 2 else (40, 56)  # some above, some below a max side of 64
                noise(size, seed=100 * c + i).save(folder / f"{name}_{i}.JPEG", quality=90)
    train = root / "train"
    odd["cmyk"] = train / "n01" / "n01_cmyk.JPEG"
    noise((60, 45), "CMYK", seed=1).save(odd["cmyk"], "JPEG", quality=90)
    odd["gray"] = train / "n02" / "n02_gray.JPEG"
    noise((50, 70), "L", seed=2).save(odd["gray"], "JPEG", quality=90)
    odd["png"] = train / "n03" / "n03_png.JPEG"
    noise((80, 60), "RGBA", seed=3).save(odd["png"], "PNG")
    odd["corrupt"] = train / "n01" / "n01_corrupt.JPEG"
    odd["corrupt"].write_bytes(b"\xff\xd8\xff\xe0 not really a JPEG " * 20)
    odd["truncated"] = root / "val" / "n02" / "n02_truncated.JPEG"
    whole = io.BytesIO()
    noise((64, 64), seed=4).save(whole, "JPEG", quality=90)
    odd["truncated"].write_bytes(whole.getvalue()[: len(whole.getvalue()) // 2])
    return odd


@pytest.fixture(scope="module")
def tree(tmp_path_factory) -> tuple[Path, dict[str, Path]]:
    root = tmp_path_factory.mktemp("imagefolder")
    return root, write_tree(root)


def quiet(_line: str) -> None:
    pass


def pack_quiet(root, out, **kw):
    options = PackOptions(**{k: kw.pop(k) for k in ("max_side", "quality", "shard_mb", "shard_samples") if k in kw})
    return pack(root, out, options, workers=kw.pop("workers", 1), log=kw.pop("log", quiet), **kw)


# ---------------------------------------------------------------- round trip

def test_packed_samples_are_the_folder_samples_in_scan_order(tree, tmp_path):
    root, odd = tree
    pack_quiet(root, tmp_path / "p", shard_samples=3)
    packed, scan = open_shards(tmp_path / "p"), scan_folder_tree(root.resolve())
    assert packed.classes == scan.classes == CLASSES
    skipped = {"train": {str(odd["corrupt"])}, "val": {str(odd["truncated"])}}
    for split in ("train", "val"):
        folder = [(p, y) for p, y in getattr(scan, split) if p not in skipped[split]]
        part = packed.split(split)
        assert len(part) == len(folder) == len(getattr(scan, split)) - 1
        assert part.labels() == [y for _, y in folder]
        for i, (path, label) in enumerate(folder):
            assert getattr(scan, split)[part.source_index(i)][0] == path
            assert part.label(i) == label
            data = part.read(i)
            if path in (str(odd["cmyk"]), str(odd["png"])):  # converted: an RGB JPEG of the same picture
                with Image.open(io.BytesIO(data)) as got, Image.open(path) as want:
                    assert got.format == "JPEG" and got.mode == "RGB" and got.size == want.size
                    rgb = want.convert("RGB")  # what the folder reader decodes
                    assert np.abs(np.asarray(got, np.int16) - np.asarray(rgb, np.int16)).mean() < 12
                    encoded = io.BytesIO()
                    rgb.save(encoded, "JPEG", quality=90)
                    assert data == encoded.getvalue()
            else:  # RGB and grayscale JPEGs: the file's own bytes
                assert data == Path(path).read_bytes()
    entry = packed.manifest["splits"]
    assert [s["path"] for s in entry["train"]["skipped"]] == [str(odd["corrupt"].relative_to(root))]
    assert [s["path"] for s in entry["val"]["skipped"]] == [str(odd["truncated"].relative_to(root))]
    assert "truncated" in entry["val"]["skipped"][0]["reason"]
    converted = {c["path"]: c["from"] for c in entry["train"]["converted"]}
    assert converted == {str(odd["cmyk"].relative_to(root)): "JPEG CMYK", str(odd["png"].relative_to(root)): "PNG RGBA"}
    assert entry["train"]["reencoded"] == 0 and entry["val"]["converted"] == []


def test_shards_are_webdataset_tars_and_the_index_points_into_them(tree, tmp_path):
    root, _ = tree
    pack_quiet(root, tmp_path / "p", shard_samples=4)
    part = open_shards(tmp_path / "p").split("train")
    index = np.load(tmp_path / "p" / "train.idx.npy")
    seen = 0
    for number, path in enumerate(part.shards):
        with tarfile.open(path) as tar:  # plain tarfile, as WebDataset reads them
            members = tar.getmembers()
            assert len(members) % 2 == 0 and len(members) <= 8
            for image, cls in zip(members[0::2], members[1::2]):
                key = image.name.split(".")[0]
                assert (image.name, cls.name) == (f"{key}.jpg", f"{key}.cls")  # same key, adjacent
                row = index[seen]
                assert (int(key), number, image.offset_data, image.size) == \
                    (row["source"], row["shard"], row["offset"], row["size"])
                assert tar.extractfile(image).read() == part.read(seen)
                assert int(tar.extractfile(cls).read()) == part.label(seen)
                seen += 1
    assert seen == len(part)


def test_shard_size_bound_in_mb(tree, tmp_path):
    root, _ = tree
    result = pack_quiet(root, tmp_path / "p", shard_mb=0.02)
    shards_ = result.manifest["splits"]["train"]["shards"]
    assert len(shards_) > 2
    assert all(s["bytes"] <= 20_000 or s["samples"][1] - s["samples"][0] == 1 for s in shards_)
    assert [os.path.getsize(tmp_path / "p" / s["file"]) for s in shards_] == [s["bytes"] for s in shards_]


def test_reencoding_bounds_the_longest_side_and_keeps_small_jpegs(tree, tmp_path):
    root, odd = tree
    pack_quiet(root, tmp_path / "p", max_side=64, quality=85)
    packed, scan = open_shards(tmp_path / "p"), scan_folder_tree(root.resolve())
    reencoded = 0
    for i in range(len(packed.split("train"))):
        part = packed.split("train")
        path = scan.train[part.source_index(i)][0]
        with Image.open(io.BytesIO(part.read(i))) as got, Image.open(path) as src:
            assert max(got.size) <= 64
            if max(src.size) > 64:
                assert got.mode == "RGB" and max(got.size) == 64
                assert abs(got.size[0] / got.size[1] - src.size[0] / src.size[1]) < 0.05
                reencoded += path not in (str(odd["png"]),)  # the PNG counts as converted, not re-encoded
            elif path not in (str(odd["cmyk"]), str(odd["png"])):
                assert part.read(i) == Path(path).read_bytes()
    manifest = packed.manifest
    assert manifest["splits"]["train"]["reencoded"] == reencoded > 0
    assert manifest["encoder"]["resample"] == "LANCZOS" and manifest["options"]["max_side"] == 64
    png = [c["from"] for c in manifest["splits"]["train"]["converted"] if c["path"].endswith("n03_png.JPEG")]
    assert png == ["PNG RGBA, resized"]


# ---------------------------------------------------------------- resume, damage, refusals

def test_interrupted_pack_resumes_to_the_uninterrupted_shards(tree, tmp_path, monkeypatch):
    root, _ = tree
    reference = pack_quiet(root, tmp_path / "whole", shard_samples=3, workers=2)  # the pool path
    real, calls = packing._prepare, []

    def failing(task, **kw):
        calls.append(task[0])
        if len(calls) == 8:  # mid-way through the third shard of train
            raise RuntimeError("injected failure")
        return real(task, **kw)

    monkeypatch.setattr(packing, "_prepare", failing)
    out = tmp_path / "resumed"
    with pytest.raises(RuntimeError, match="injected failure"):
        pack_quiet(root, out, shard_samples=3)
    assert len(calls) == 8
    assert sorted(p.name for p in out.glob("train-*.tar")) == ["train-000000.tar", "train-000001.tar"]
    assert (out / ".train-000002.tar.partial").is_file()  # interrupted mid-shard
    assert not (out / "manifest.json").exists() and not list(out.glob("val-*"))

    monkeypatch.setattr(packing, "_prepare", real)
    lines = []
    result = pack_quiet(root, out, shard_samples=3, log=lines.append)
    assert result.reused == {"train": 2, "val": 0}
    assert any("2 complete shards verified" in line and "continuing at train-000002.tar" in line for line in lines)
    assert result.manifest == reference.manifest
    for split in ("train", "val"):
        for s in result.manifest["splits"][split]["shards"]:
            assert (out / s["file"]).read_bytes() == (tmp_path / "whole" / s["file"]).read_bytes()
    assert not list(out.glob(".*.partial"))


def test_rerun_verifies_checksums_and_rewrites_a_damaged_shard(tree, tmp_path):
    root, _ = tree
    out = tmp_path / "p"
    first = pack_quiet(root, out, shard_samples=3)
    victim = out / "train-000001.tar"
    data = bytearray(victim.read_bytes())
    data[700] ^= 0xFF  # same size, other bytes: only the checksum can tell
    victim.write_bytes(bytes(data))
    with pytest.raises(UserError, match="train-000001.tar has a sha256 other than recorded"):
        open_shards(out).verify(quick=False)
    open_shards(out).verify(quick=True)  # sizes alone cannot see it

    lines = []
    again = pack_quiet(root, out, shard_samples=3, log=lines.append)
    assert any("train-000001.tar has a sha256 other than recorded; rewriting from it" in line for line in lines)
    assert again.reused == {"train": 1, "val": len(first.manifest["splits"]["val"]["shards"])}
    assert again.manifest == first.manifest
    open_shards(out).verify(quick=False)


def test_truncated_shard_is_named_at_open_and_at_read(tree, tmp_path):
    root, _ = tree
    out = tmp_path / "p"
    pack_quiet(root, out, shard_samples=3)
    part = open_shards(out).split("train")
    victim = out / "train-000002.tar"
    size = victim.stat().st_size
    with open(victim, "r+b") as f:
        f.truncate(part._index["offset"][6] + 10)  # the first sample of shard 2 loses its tail
    assert victim.stat().st_size < size
    with pytest.raises(UserError, match=r"train-000002.tar: truncated \(sample 6 wants"):
        part.read(6)  # opened before the damage: the short read is reported, not returned
    assert len(part.read(5)) == part._index["size"][5]  # other shards still read
    with pytest.raises(UserError, match=r"shard .*train-000002.tar is truncated \([\d,]+ bytes, expected"):
        open_shards(out)
    victim.unlink()
    with pytest.raises(UserError, match=r"shard .*train-000002.tar is missing"):
        open_shards(out)


def test_readers_in_forked_and_spawned_workers_open_their_own_files(tree, tmp_path):
    root, _ = tree
    pack_quiet(root, tmp_path / "p", shard_samples=3)
    part = open_shards(tmp_path / "p").split("train")
    expected = part.read(4)
    assert len(part._fds) == 1
    clone = pickle.loads(pickle.dumps(part))  # what a spawned DataLoader worker receives
    assert clone._fds == {} and clone.read(4) == expected
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: its own descriptor, the same bytes
        try:
            own = part.read(4) == expected and part._fds and part._pid == os.getpid()
            os.write(write_end, b"ok" if own else b"no")
        finally:
            os._exit(0)
    os.waitpid(pid, 0)
    assert os.read(read_end, 2) == b"ok"


def run_cli(capsys, *argv) -> tuple[int, str, str]:
    code = main(["pack", *map(str, argv)])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_pack_verb_refuses_bad_input_with_one_line(tree, tmp_path, capsys):
    root, _ = tree
    out = tmp_path / "p"
    code, stdout, _ = run_cli(capsys, root, out, "--shard-samples", "5", "--workers", "1")
    assert code == 0 and "train: 15 samples in 3 shards (3 written, 0 kept from an earlier run)" in stdout
    assert "2 converted, 1 unreadable skipped" in stdout
    before = {p.name: p.read_bytes() for p in out.iterdir()}

    cases = [
        ((root, out, "--shard-samples", "5", "--quality", "80"),
         "holds a different pack (other options: quality 90 -> 80)"),
        ((root, out), "holds a different pack (other options: shard_samples 5 -> None)"),
        ((tmp_path / "nowhere", tmp_path / "q"), "not a directory"),
        ((root / "train", tmp_path / "q"), "missing train/"),
        ((root, out / "manifest.json" / "sub"), "cannot create the output folder"),
        ((root, tmp_path / "q", "--quality", "0"), "--quality: expected an integer in 1..100"),
        ((root, tmp_path / "q", "--max-side", "8"), "--max-side: expected an integer >= 16"),
    ]
    for argv, message in cases:
        code, _, err = run_cli(capsys, *argv)
        assert code == 2 and message in err and err.count("\n") == 1, (argv, err)
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before  # nothing lost or half-written

    changed = root / "val" / "n03" / "n03_0.JPEG"
    saved = changed.read_bytes()
    try:
        noise((40, 56), seed=99).save(changed, quality=70)
        code, _, err = run_cli(capsys, root, out, "--shard-samples", "5", "--workers", "1")
        assert code == 2 and "the source tree changed since it was packed" in err
        code, stdout, _ = run_cli(capsys, root, out, "--shard-samples", "5", "--workers", "1", "--force")
        assert code == 0 and "(3 written, 0 kept" in stdout
        assert json.loads((out / "manifest.json").read_text())["splits"]["val"]["samples"] == 6
    finally:
        changed.write_bytes(saved)


def test_packing_and_reading_leave_torch_out_and_reading_leaves_pil_out(tree, tmp_path):
    root, _ = tree
    pack_quiet(root, tmp_path / "p", shard_samples=4)
    probe = f"""
import sys
from resnext_bench.engine.data.shards import open_shards
split = open_shards({str(tmp_path / 'p')!r}).split("train")
assert split.read(len(split) - 1)[:2] == b"\\xff\\xd8"
print("read:", ",".join(m for m in ("torch", "PIL") if m in sys.modules))
from resnext_bench.cli import main
assert main(["pack", {str(root)!r}, {str(tmp_path / 'q')!r}, "--workers", "2"]) == 0
print("pack:", ",".join(m for m in ("torch", "PIL") if m in sys.modules))
"""
    proc = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120,
                          cwd=Path(__file__).resolve().parents[1])
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "read: \n" in proc.stdout and "pack: PIL\n" in proc.stdout, proc.stdout


def test_killed_pack_verb_resumes_to_the_uninterrupted_shards(tmp_path, capsys):
    root = tmp_path / "tree"
    picture = io.BytesIO()
    noise((200, 150), seed=5).save(picture, "JPEG", quality=90)
    for split, count in (("train", 200), ("val", 20)):
        for name in CLASSES:
            (root / split / name).mkdir(parents=True)
            for i in range(count):
                (root / split / name / f"{i:03d}.JPEG").write_bytes(picture.getvalue())
    argv = [str(root), "--max-side", "100", "--shard-samples", "20", "--workers", "1"]
    whole = pack_quiet(root, tmp_path / "whole", max_side=100, shard_samples=20)
    out = tmp_path / "killed"
    proc = subprocess.Popen([sys.executable, "-m", "resnext_bench.cli", "pack", argv[0], str(out), *argv[1:]],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=Path(__file__).resolve().parents[1])
    try:
        wait_until(lambda: (out / "train-000001.tar.json").exists(), "the second shard", proc=proc, interval=0.005)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == -signal.SIGKILL  # the kill landed while packing
    assert not (out / "manifest.json").exists() and not (out / "train-000029.tar.json").exists()
    kept = len(list(out.glob("train-*.tar.json")))
    assert kept >= 2

    code, stdout, _ = run_cli(capsys, *argv[:1], out, *argv[1:])
    assert code == 0 and f"train: 600 samples in 30 shards ({30 - kept} written, {kept} kept" in stdout
    resumed = json.loads((out / "manifest.json").read_text())
    assert resumed == whole.manifest
    assert [len(resumed["splits"][s]["shards"]) for s in ("train", "val")] == [30, 3]
    open_shards(out).verify(quick=False)
