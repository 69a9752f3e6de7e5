"""ImageNet decoding backends (engine/data/decode.py, gpudecode.py): same samples, same draws, pixels
that agree up to decoder rounding, bad files decoded or skipped with a count, resume mid-epoch.

`nvjpeg` runs here through its CPU twin: the same worker items and `decode_batch`, with
torchvision's CPU decoder standing in for the GPU's (test_cuda.py runs it on a GPU).
"""
from __future__ import annotations

import io
import re
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from resnext_bench.config.specs import DataSpec
from resnext_bench.engine.data import build_data
from resnext_bench.engine.data.build import _checked_schedule
from resnext_bench.engine.data.decode import (Unreadable, center_box, dct_scale, decode_pil,
                                              decode_turbo, resolve_backend, turbo_decoder)
from resnext_bench.engine.data.layout import FolderSource
from resnext_bench.engine.data.gpudecode import GpuDecodeTrainData, GpuDecodeValData, EncodedImages
from resnext_bench.engine.data.seam import _Normaliser
from resnext_bench.engine.data.sources import IMAGENET_STATS
from resnext_bench.engine.data.workers import _sample_tickets
from resnext_bench.errors import UserError

CPU = torch.device("cpu")
SIZE = 32


def photo(w: int, h: int, seed: int) -> Image.Image:
    """A smooth colour field: decoders and resamplers agree on it up to rounding."""
    g = np.random.default_rng(seed)
    base = (g.random((4, 4, 3)) * 255).astype(np.uint8)
    return Image.fromarray(base).resize((w, h), Image.BICUBIC)


def jpeg_bytes(img: Image.Image, **kw) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format="JPEG", quality=95, **kw)
    return buf.getvalue()


def write_tree(root: Path, per_class: int = 4, classes: int = 3, bad: bool = False) -> None:
    """ROOT/{train,val}/cK/*.JPEG of smooth photos (sizes vary); with `bad`, ImageNet's oddities too."""
    for split in ("train", "val"):
        for c in range(classes):
            folder = root / split / f"c{c}"
            folder.mkdir(parents=True)
            for i in range(per_class):
                w, h = (120, 90) if i % 2 else (90, 120)
                (folder / f"img{i}.JPEG").write_bytes(jpeg_bytes(photo(w, h, seed=c * 100 + i)))
    if bad:
        odd = root / "train" / "c0"
        photo(100, 80, 7).convert("CMYK").save(odd / "cmyk.JPEG", format="JPEG", quality=95)
        photo(100, 80, 8).convert("L").save(odd / "gray.JPEG", format="JPEG", quality=95)
        photo(100, 80, 9).save(odd / "png.JPEG", format="PNG")  # a PNG named .JPEG
        (odd / "corrupt.JPEG").write_bytes(b"\xff\xd8\xff\xe0 this is not a JPEG")
        (odd / "truncated.JPEG").write_bytes(jpeg_bytes(photo(100, 80, 10))[:300])


def epoch_of(train, epoch=0, start=0):
    images, labels = zip(*train.batches(epoch, start))
    return torch.cat(images), torch.cat(labels)


def spec_for(root, loader, **kw):
    return DataSpec("imagenet", root=str(root), image_size=SIZE, num_workers=0, loader=loader, **kw)


def nvjpeg_twin(root, batch=4, seed=0):
    """The nvjpeg delivery path with the CPU standing in for the GPU."""
    from resnext_bench.engine.data.folders import scan_folder_tree
    from resnext_bench.engine.data.layout import _root_path

    spec = spec_for(root, "nvjpeg")
    tree = scan_folder_tree(_root_path(spec))
    schedule = _checked_schedule(spec, len(tree.train), batch, seed, 1, 0)
    normalise = _Normaliser(*IMAGENET_STATS, CPU)
    train = GpuDecodeTrainData(EncodedImages(FolderSource(tree.train), SIZE, seed), _sample_tickets(schedule), spec,
                               schedule, normalise, CPU)
    val = GpuDecodeValData(EncodedImages(FolderSource(tree.val), SIZE, seed), batch, spec, normalise, CPU, 1, 0)
    return train, val


@pytest.fixture
def tree(tmp_path):
    """The ImageNet-format folder in its own subfolder, so packs written beside it are not inside it."""
    write_tree(tmp_path / "tree")
    return tmp_path / "tree"


def test_auto_picks_turbo_on_a_cpu_and_workers_means_the_reference():
    assert resolve_backend("auto", CPU) == "turbo"
    assert resolve_backend("workers", CPU) == "pil"
    assert resolve_backend("pil", CPU) == "pil"
    with pytest.raises(UserError, match="data.loader"):
        DataSpec("digits", loader="turbo")  # the decoding backends are ImageNet's


def test_nvjpeg_on_a_cpu_device_is_a_one_line_error(tree):
    with pytest.raises(UserError, match="CUDA"):
        build_data(spec_for(tree, "nvjpeg"), 4, CPU, seed=0)


@pytest.mark.parametrize("backend", ["turbo", "nvjpeg"])
def test_every_backend_sees_the_same_samples_and_crops_as_the_reference(tree, backend):
    reference, ref_val = build_data(spec_for(tree, "pil"), 4, CPU, seed=3)
    if backend == "nvjpeg":
        train, val = nvjpeg_twin(tree, seed=3)
    else:
        train, val = build_data(spec_for(tree, backend), 4, CPU, seed=3)
    for epoch in (0, 1):
        ref_images, ref_labels = epoch_of(reference, epoch)
        images, labels = epoch_of(train, epoch)
        assert labels.tolist() == ref_labels.tolist()  # same order, same labels
        # Same boxes and mirror flags: the crops differ by decoder/resampler rounding only. A wrong box
        # or a missed flip moves the mean error on these smooth fields far above this bound.
        error = (images - ref_images).abs().mean().item() * 255 * 0.226
        assert error < 4, f"{backend} epoch {epoch}: mean |difference| {error:.2f} grey levels"
    (v_ref, y_ref), (v, y) = epoch_of_val(ref_val), epoch_of_val(val)
    assert y.tolist() == y_ref.tolist()
    assert (v - v_ref).abs().mean().item() * 255 * 0.226 < 4


def epoch_of_val(val):
    images, labels = zip(*val.batches())
    return torch.cat(images), torch.cat(labels)


def test_a_wrong_box_is_far_above_the_agreement_bound(tree):
    """The bound above can fail: the same image through another epoch's draws is far from it."""
    reference, _ = build_data(spec_for(tree, "pil"), 4, CPU, seed=3)
    a, _ = epoch_of(reference, 0)
    train, _ = build_data(spec_for(tree, "turbo"), 4, CPU, seed=4)  # other seed: other boxes (and order)
    b, _ = epoch_of(train, 0)
    assert (a - b).abs().mean().item() * 255 * 0.226 > 8


@pytest.mark.parametrize("backend", ["pil", "turbo", "nvjpeg"])
def test_an_epoch_resumed_at_batch_k_is_the_tail_of_the_whole_epoch(tree, backend):
    make = (lambda: nvjpeg_twin(tree)[0]) if backend == "nvjpeg" else (
        lambda: build_data(spec_for(tree, backend), 4, CPU, seed=0)[0])
    whole_images, whole_labels = epoch_of(make(), 2)
    tail_images, tail_labels = epoch_of(make(), 2, start=1)  # a fresh loader, as after a restart
    assert torch.equal(tail_labels, whole_labels[4:]) and torch.equal(tail_images, whole_images[4:])


def test_dct_scaling_only_when_the_box_still_covers_the_output():
    assert dct_scale(500, 375, (0, 0, 500, 375), 224) == 1
    assert dct_scale(1000, 800, (0, 0, 1000, 800), 224) == 2  # 800 / 2 = 400 >= 224
    assert dct_scale(2000, 2000, (0, 0, 1900, 1900), 224) == 8
    assert dct_scale(1000, 800, (0, 0, 300, 300), 224) == 1


@pytest.mark.skipif(turbo_decoder() != "simplejpeg", reason="DCT scaling needs simplejpeg")
def test_a_scaled_decode_agrees_with_the_full_decode():
    data = jpeg_bytes(photo(1200, 900, 1))
    box = (100.0, 50.0, 1100.0, 850.0)  # 800 px short side: decoded at 1/2 for a 224 crop
    assert dct_scale(1200, 900, box, 224) == 2
    scaled = decode_turbo(data, 224, lambda w, h: box, False)
    full = decode_turbo(data, 224, lambda w, h: box, False, binding="torchvision.io")
    assert (scaled.float() - full.float()).abs().mean() < 2


@pytest.mark.parametrize("decode", [decode_pil, decode_turbo])
def test_imagenets_odd_files_are_decoded_as_rgb(decode):
    img = photo(100, 80, 5)
    box_of = lambda w, h: center_box(w, h, SIZE)  # noqa: E731
    reference = decode_pil(jpeg_bytes(img), SIZE, box_of, False).float()
    odd = {}
    for name, kw in (("cmyk", {"format": "JPEG"}), ("gray", {"format": "JPEG"}), ("png", {"format": "PNG"})):
        buf = io.BytesIO()
        {"cmyk": img.convert("CMYK"), "gray": img.convert("L"), "png": img}[name].save(buf, **kw)
        odd[name] = decode(buf.getvalue(), SIZE, box_of, False)
        assert odd[name].shape == (3, SIZE, SIZE) and odd[name].dtype == torch.uint8
    assert (odd["png"].float() - reference).abs().mean() < 3
    assert (odd["cmyk"].float() - reference).abs().mean() < 6  # PIL's naive CMYK->RGB, as torchvision's loader
    grey = odd["gray"]
    assert torch.equal(grey[0], grey[1]) and torch.equal(grey[1], grey[2])


@pytest.mark.parametrize("decode", [decode_pil, decode_turbo])
def test_corrupt_and_truncated_files_are_unreadable_not_crashes(decode):
    box_of = lambda w, h: center_box(w, h, SIZE)  # noqa: E731
    with pytest.raises(Unreadable):
        decode(b"\xff\xd8\xff\xe0 this is not a JPEG", SIZE, box_of, False)
    with pytest.raises(Unreadable):
        decode(jpeg_bytes(photo(100, 80, 10))[:300], SIZE, box_of, False)


@pytest.mark.parametrize("backend", ["pil", "turbo", "nvjpeg"])
def test_an_epoch_with_bad_files_skips_the_unreadable_and_says_how_many(tmp_path, backend, capsys):
    write_tree(tmp_path, bad=True)
    train = nvjpeg_twin(tmp_path)[0] if backend == "nvjpeg" else build_data(spec_for(tmp_path, backend), 4, CPU,
                                                                             seed=0)[0]
    images, labels = epoch_of(train, 0)
    # 12 photos + 5 odd files = 17 train samples; 4 full batches of 4 = 16 scheduled, 2 of them unreadable
    # if both bad files are among the scheduled ones.
    scheduled = [i for k in range(train.num_batches) for i in train.sample_indices(0, k).tolist()]
    names = [train.skips.dataset.source.name(i) for i in scheduled]
    bad = [n for n in names if Path(n).name in ("corrupt.JPEG", "truncated.JPEG")]
    assert bad, "the schedule holds at least one of the two unreadable files (16 of 17 samples)"
    assert len(labels) == len(scheduled) - len(bad) and images.shape[0] == len(labels)
    assert sorted(Path(n).name for n in train.skips.last) == sorted(Path(n).name for n in bad)
    err = capsys.readouterr().err
    assert f"skipped {len(bad)} unreadable image" in err and Path(bad[0]).name in err


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU (the CPU twin above runs everywhere)")
def test_nvjpeg_on_the_gpu_sees_the_reference_samples_and_crops(tmp_path, capsys):
    write_tree(tmp_path, bad=True)
    cuda = torch.device("cuda")
    train, val = build_data(spec_for(tmp_path, "auto"), 4, cuda, seed=3)
    assert train.loader == "nvjpeg"  # auto on a GPU with torchvision's nvjpeg decoder
    reference, ref_val = build_data(spec_for(tmp_path, "pil"), 4, CPU, seed=3)
    for epoch in (0, 1):
        ref_images, ref_labels = epoch_of(reference, epoch)
        images, labels = epoch_of(train, epoch)
        assert images.device.type == "cuda" and labels.tolist() == ref_labels.tolist()
        error = (images.cpu() - ref_images).abs().mean().item() * 255 * 0.226
        print(f"nvjpeg on {torch.cuda.get_device_name(0)}, epoch {epoch}: mean |nvjpeg - pil| {error:.2f} grey levels")
        assert error < 4
    (v_ref, y_ref), (v, y) = epoch_of_val(ref_val), epoch_of_val(val)
    assert y.tolist() == y_ref.tolist() and (v.cpu() - v_ref).abs().mean().item() * 255 * 0.226 < 4


@pytest.mark.parametrize("backend", ["pil", "turbo"])
def test_a_pack_of_the_tree_gives_the_folders_batches_bit_for_bit(tree, tmp_path, backend):
    from resnext_bench.engine.data.packing import pack

    packed = tmp_path / "packed"
    pack(tree, packed, workers=1)
    folder_train, folder_val = build_data(spec_for(tree, backend), 4, CPU, seed=5)
    shard_train, shard_val = build_data(spec_for(packed, backend), 4, CPU, seed=5)
    assert (shard_train.num_batches, shard_val.size) == (folder_train.num_batches, folder_val.size)
    for epoch in (0, 1):
        (a, ya), (b, yb) = epoch_of(folder_train, epoch), epoch_of(shard_train, epoch)
        assert torch.equal(ya, yb) and torch.equal(a, b)  # same bytes, same draws: same pixels
    tail_images, _ = epoch_of(build_data(spec_for(packed, backend), 4, CPU, seed=5)[0], 1, start=2)
    assert torch.equal(tail_images, b[8:])
    assert torch.equal(epoch_of_val(folder_val)[0], epoch_of_val(shard_val)[0])


@pytest.mark.parametrize("workers", [0, 1])
def test_a_truncated_shard_stops_the_epoch_naming_the_shard(tree, tmp_path, workers):
    from resnext_bench.engine.data.packing import pack

    packed = tmp_path / "packed"
    pack(tree, packed, workers=1)
    spec = DataSpec("imagenet", root=str(packed), image_size=SIZE, num_workers=workers, loader="turbo")
    train, _ = build_data(spec, 4, CPU, seed=0)
    shard = sorted(packed.glob("train-*.tar"))[0]
    with open(shard, "r+b") as f:
        f.truncate(shard.stat().st_size // 3)
    with pytest.raises(UserError, match=re.escape(str(shard)) + ".*truncated") as raised:
        epoch_of(train, 0)
    assert "\n" not in str(raised.value)  # one line, also from a DataLoader worker (not its traceback)
    with pytest.raises(UserError, match=re.escape(shard.name)):
        build_data(spec_for(packed, "turbo"), 4, CPU, seed=0)  # and a new run is refused at the start


def test_dataset_info_reads_a_pack_without_torch(tree, tmp_path):
    import subprocess
    import sys

    from resnext_bench.engine.data.packing import pack

    pack(tree, tmp_path / "packed", workers=1)
    code = ("import sys; from resnext_bench.engine.data import dataset_info; from resnext_bench.config.specs import "
            f"DataSpec; i = dataset_info(DataSpec('imagenet', root={str(tmp_path / 'packed')!r})); "
            "print(i.num_classes, i.train_size, i.val_size, 'torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert out == ["3", "12", "12", "False"]


IMAGENET_ABLATION = """
name: {name}
template: cifar-29
model: {{base_planes: 8, stem_width: 8}}
configurations:
  - {{cardinality: 2, bottleneck_width: 4}}
data: {{name: imagenet, root: {root}, image_size: 32, num_workers: {workers}, loader: {loader}}}
recipe: {{name: short, epochs: 2, batch_size: 4, lr: 0.05, warmup_epochs: 1}}
seeds: [0]
runtime: {{threads: 1, checkpoint_minutes: 10}}
"""


def imagenet_run(tmp_path: Path, name: str, root: Path, loader: str, workers: int = 0) -> Path:
    from resnext_bench.config.runs import resolve_runs
    from resnext_bench.config.load import load_ablation
    from resnext_bench.record import runwrite

    tmp_path.mkdir(parents=True, exist_ok=True)
    path = tmp_path / f"{name}.yaml"
    path.write_text(IMAGENET_ABLATION.format(name=name, root=root, loader=loader, workers=workers))
    run = resolve_runs(load_ablation(path))[0]
    run_dir = tmp_path / name / run.run_id
    runwrite.write_config(run_dir, run)
    return run_dir


@pytest.mark.parametrize("backend,packed", [("turbo", False), ("turbo", True), ("pil", True)])
def test_a_training_run_stopped_mid_epoch_resumes_to_the_same_end(tmp_path, backend, packed):
    """Through the training engine: 3 steps an epoch, a stop after step 2, a resumed run equals an
    uninterrupted one (weights and metrics), on a folder and on its pack, with DataLoader workers."""
    from resnext_bench.engine.checkpoint import load_checkpoint
    from resnext_bench.engine.train import Stopped, train_run
    from resnext_bench.engine.data.packing import pack
    from support.training import StopAfter, assert_same_outcome

    write_tree(tmp_path / "tree", per_class=4)
    root = tmp_path / "tree"
    if packed:
        pack(root, tmp_path / "packed", workers=1)
        root = tmp_path / "packed"
    reference = imagenet_run(tmp_path / "a", "ref", root, backend, workers=1)
    assert train_run(reference, log=lambda m: None)["status"] == "completed"
    stopped = imagenet_run(tmp_path / "b", "ref", root, backend, workers=1)
    with pytest.raises(Stopped):
        train_run(stopped, stop=StopAfter(1), log=lambda m: None)
    state = load_checkpoint(stopped).state
    assert (state["epoch"], state["step_in_epoch"]) == (0, 2)  # the stop landed inside epoch 1
    assert train_run(stopped, log=lambda m: None)["status"] == "completed"
    assert_same_outcome(reference, stopped)
    from resnext_bench.record import runfolder

    assert runfolder.result_of(stopped)["data_loader"] == backend  # the decoder it ran with, in its provenance


def test_a_resume_that_reads_with_another_decoder_says_so(tmp_path, monkeypatch):
    """`auto` resolves by device: a run checkpointed on one kind of machine and resumed on another changes
    decoders. The run goes on (same samples, same draws) and the log says it."""
    from resnext_bench.engine.data import build
    from resnext_bench.engine.train import Stopped, train_run
    from support.training import StopAfter

    write_tree(tmp_path / "tree", per_class=4)
    run_dir = imagenet_run(tmp_path / "a", "switch", tmp_path / "tree", "auto")
    with pytest.raises(Stopped):
        train_run(run_dir, stop=StopAfter(1), log=lambda m: None)  # auto on this CPU: turbo
    monkeypatch.setattr(build, "resolve_backend", lambda loader, device: "pil")  # as if resumed elsewhere
    lines = []
    assert train_run(run_dir, log=lines.append)["status"] == "completed"
    warnings = [line for line in lines if "warning" in line]
    assert len(warnings) == 1 and "reading data with turbo, this process reads with pil" in warnings[0], lines
