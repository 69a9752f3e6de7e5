"""Data sets and loaders: exact formats, fixed splits, real augmentation, exact resume, disjoint shards."""
from __future__ import annotations

import re
from pathlib import Path

import pytest
import torch
from PIL import Image

from resnext_bench.engine.data import build_data, check_data, dataset_info
from resnext_bench.errors import UserError
from resnext_bench.config.specs import DataSpec

from support.data import write_cifar

CPU = torch.device("cpu")


# ---------------------------------------------------------------- helpers

COLOURS = {"cat": (230, 20, 20), "dog": (20, 20, 230)}


def write_folder(root: Path, train_per_class: int = 3, val_per_class: int = 2) -> None:
    """A two-class ImageFolder tree: red cats, blue dogs, PNG and JPEG, landscape and portrait."""
    for split, count in (("train", train_per_class), ("val", val_per_class)):
        for name, colour in COLOURS.items():
            folder = root / split / name
            folder.mkdir(parents=True)
            for i in range(count):
                size = (40, 30) if i % 2 == 0 else (30, 40)
                ext = "png" if i % 2 == 0 else "jpg"
                Image.new("RGB", size, colour).save(folder / f"img{i}.{ext}")


def denormalise(images: torch.Tensor, mean, std) -> torch.Tensor:
    """Undo the loader's normalisation: back to uint8 pixels."""
    mean = torch.tensor(mean).view(1, -1, 1, 1)
    std = torch.tensor(std).view(1, -1, 1, 1)
    return (images * std + mean).mul(255).round().clamp(0, 255).to(torch.uint8)


def collect(batches) -> tuple[torch.Tensor, torch.Tensor]:
    images, labels = zip(*batches)
    return torch.cat(images), torch.cat(labels)


def same_batches(a, b) -> bool:
    a, b = list(a), list(b)
    return len(a) == len(b) and all(torch.equal(x1, x2) and torch.equal(y1, y2) for (x1, y1), (x2, y2) in zip(a, b))


def find_view(augmented: torch.Tensor, raw: torch.Tensor, pad: int, flips: bool):
    """The (dy, dx, flipped) crop of the zero-padded `raw` that equals `augmented`, or None."""
    h, w = raw.shape[-2:]
    padded = torch.nn.functional.pad(raw, (pad, pad, pad, pad))
    for flipped in (False, True) if flips else (False,):
        source = padded.flip(-1) if flipped else padded
        for dy in range(2 * pad + 1):
            for dx in range(2 * pad + 1):
                if torch.equal(source[:, dy:dy + h, dx:dx + w], augmented):
                    return dy, dx, flipped
    return None


@pytest.fixture
def cifar_root(tmp_path):
    return tmp_path, write_cifar(tmp_path, "cifar10")


# ---------------------------------------------------------------- data sets

def test_digits_split_is_fixed_whatever_the_seed(tmp_path):
    spec = DataSpec("digits")
    info = dataset_info(spec)
    assert (info.num_classes, info.in_chans, info.image_size) == (10, 1, 8)
    assert (info.train_size, info.val_size) == (1437, 360)
    train0, val0 = build_data(spec, 64, CPU, seed=0)
    train1, val1 = build_data(spec, 64, CPU, seed=1)
    images0, labels0 = collect(val0.batches())
    images1, labels1 = collect(val1.batches())
    assert torch.equal(images0, images1) and torch.equal(labels0, labels1)
    assert images0.shape == (360, 1, 8, 8) and images0.dtype == torch.float32
    assert sorted(labels0.unique().tolist()) == list(range(10))
    # Normalised with the training split's statistics: near zero mean and unit spread.
    assert abs(images0.mean().item()) < 0.15 and 0.85 < images0.std().item() < 1.15
    assert train0.num_batches == 1437 // 64 and train0.images_per_batch == 64
    x, y = next(train0.batches(0))
    assert x.shape == (64, 1, 8, 8) and y.dtype == torch.int64


def test_digits_are_translated_by_at_most_one_pixel_and_never_mirrored():
    spec = DataSpec("digits")
    train, _ = build_data(spec, 64, CPU, seed=0)
    from resnext_bench.engine.data.sources import _digits_arrays  # the raw split, to compare against
    raw = _digits_arrays().train_x
    images, labels = next(train.batches(3))
    idx = train.sample_indices(3, 0)
    pixels = denormalise(images, train.mean, train.std)
    views = [find_view(pixels[i], raw[j], pad=1, flips=False) for i, j in enumerate(idx.tolist())]
    assert all(v is not None for v in views)
    assert any(v != (1, 1, False) for v in views)  # some were really moved
    assert torch.equal(labels, _digits_arrays().train_y[idx])


@pytest.mark.parametrize("name", ["cifar10", "cifar100"])
def test_cifar_pixels_and_labels_round_trip_exactly(tmp_path, name):
    train_x, train_y, val_x, val_y = write_cifar(tmp_path, name)
    spec = DataSpec(name, root=str(tmp_path))
    info = dataset_info(spec)
    assert (info.num_classes, info.in_chans, info.image_size) == ((10 if name == "cifar10" else 100), 3, 32)
    assert (info.train_size, info.val_size) == (100, 20)
    train, val = build_data(spec, 10, CPU, seed=0)
    images, labels = collect(val.batches(batch_size=8))
    assert torch.equal(denormalise(images, val.mean, val.std), torch.from_numpy(val_x))
    assert labels.tolist() == val_y.tolist()
    _, epoch_labels = collect(train.batches(0))
    assert sorted(epoch_labels.tolist()) == sorted(train_y.tolist())


def test_cifar_crops_are_padded_translations_or_mirrors_of_the_right_image(cifar_root):
    root, (train_x, train_y, _, _) = cifar_root
    train, _ = build_data(DataSpec("cifar10", root=str(root)), 20, CPU, seed=0)
    moved = mirrored = 0
    for k, (images, labels) in enumerate(train.batches(0)):
        idx = train.sample_indices(0, k)
        assert labels.tolist() == train_y[idx.numpy()].tolist()
        pixels = denormalise(images, train.mean, train.std)
        for i, j in enumerate(idx.tolist()):
            view = find_view(pixels[i], torch.from_numpy(train_x[j]), pad=4, flips=True)
            assert view is not None
            moved += view[:2] != (4, 4)
            mirrored += view[2]
    assert moved > 0 and mirrored > 0


def test_train_and_val_limits_keep_the_first_samples(cifar_root):
    root, (_, train_y, _, val_y) = cifar_root
    spec = DataSpec("cifar10", root=str(root), train_limit=30, val_limit=7)
    info = dataset_info(spec)
    assert (info.train_size, info.val_size) == (30, 7)
    train, val = build_data(spec, 10, CPU, seed=0)
    assert train.num_batches == 3 and val.size == 7
    _, labels = collect(train.batches(0))
    assert sorted(labels.tolist()) == sorted(train_y[:30].tolist())
    assert collect(val.batches())[1].tolist() == val_y[:7].tolist()


def test_image_folder_loads_at_the_requested_size_with_aligned_labels(tmp_path):
    write_folder(tmp_path)
    spec = DataSpec("imagenet", root=str(tmp_path), image_size=32, num_workers=0)
    info = dataset_info(spec)
    assert (info.num_classes, info.in_chans, info.image_size, info.train_size, info.val_size) == (2, 3, 32, 6, 4)
    train, val = build_data(spec, 2, CPU, seed=0)
    assert train.loader == "turbo" and train.num_batches == 3  # auto: the fastest CPU backend
    seen = []
    for images, labels in train.batches(0):
        assert images.shape == (2, 3, 32, 32)
        pixels = denormalise(images, train.mean, train.std).float()
        red_minus_blue = pixels[:, 0].mean((1, 2)) - pixels[:, 2].mean((1, 2))
        assert ((red_minus_blue > 100) == (labels == 0)).all()  # cats are red, dogs blue
        seen += labels.tolist()
    assert sorted(seen) == [0, 0, 0, 1, 1, 1]
    images, labels = collect(val.batches())
    assert images.shape == (4, 3, 32, 32) and sorted(labels.tolist()) == [0, 0, 1, 1]
    expected = torch.tensor([COLOURS["cat" if y == 0 else "dog"] for y in labels.tolist()], dtype=torch.float32)
    assert torch.allclose(denormalise(images, val.mean, val.std).float().mean((2, 3)), expected, atol=3)


def test_image_folder_limit_takes_every_class_first(tmp_path):
    write_folder(tmp_path)
    spec = DataSpec("imagenet", root=str(tmp_path), image_size=16, num_workers=0, train_limit=2)
    train, _ = build_data(spec, 2, CPU, seed=0)
    assert sorted(next(train.batches(0))[1].tolist()) == [0, 1]


def test_synthetic_images_follow_image_size():
    info = dataset_info(DataSpec("synthetic", image_size=20))
    assert (info.num_classes, info.in_chans, info.image_size, info.train_size, info.val_size) == (10, 3, 20, 512, 128)
    train, val = build_data(DataSpec("synthetic", image_size=20), 64, CPU, seed=0)
    assert next(train.batches(0))[0].shape == (64, 3, 20, 20)
    assert next(val.batches())[0].shape == (64, 3, 20, 20)


# ---------------------------------------------------------------- determinism and resume

LOADERS = [
    pytest.param(dict(name="synthetic", loader="device"), id="device"),
    pytest.param(dict(name="synthetic", loader="workers", num_workers=0), id="workers"),
]


@pytest.mark.parametrize("fields", LOADERS)
def test_an_epoch_resumed_at_batch_k_is_the_tail_of_the_whole_epoch(fields):
    train, _ = build_data(DataSpec(**fields), 64, CPU, seed=5)
    state = torch.get_rng_state()
    whole = list(train.batches(2))
    assert torch.equal(torch.get_rng_state(), state)  # the engine's random state is its own
    assert len(whole) == train.num_batches == 8
    for k in (0, 3, 7, 8):
        assert same_batches(train.batches(2, start=k), whole[k:])


@pytest.mark.parametrize("fields", LOADERS)
def test_batches_depend_on_seed_and_epoch_only(fields):
    spec = DataSpec(**fields)
    first, _ = build_data(spec, 64, CPU, seed=1)
    again, _ = build_data(spec, 64, CPU, seed=1)
    other, _ = build_data(spec, 64, CPU, seed=2)
    assert same_batches(first.batches(0), again.batches(0))
    assert not same_batches(first.batches(0), first.batches(1))
    assert not same_batches(first.batches(0), other.batches(0))


def test_persistent_workers_resume_after_an_abandoned_epoch():
    spec = DataSpec("synthetic", loader="workers", num_workers=2)
    train, val = build_data(spec, 64, CPU, seed=0)
    whole = list(train.batches(1))
    for _, _ in zip(range(2), train.batches(1)):  # a preempted epoch: left after two batches
        pass
    assert same_batches(train.batches(1, start=2), whole[2:])
    assert same_batches(train.batches(1), whole)
    assert sum(len(y) for _, y in val.batches(50)) == 128


def test_device_and_worker_paths_give_identical_batches(cifar_root):
    root, _ = cifar_root
    device_train, device_val = build_data(DataSpec("cifar10", root=str(root), loader="device"), 20, CPU, seed=3)
    worker_train, worker_val = build_data(
        DataSpec("cifar10", root=str(root), loader="workers", num_workers=0), 20, CPU, seed=3)
    assert device_train.loader == "device" and worker_train.loader == "workers"
    assert same_batches(device_train.batches(4), worker_train.batches(4))
    assert same_batches(device_val.batches(6), worker_val.batches(6))


def test_image_folder_epochs_replay_exactly_without_touching_the_global_rng(tmp_path):
    write_folder(tmp_path)
    spec = DataSpec("imagenet", root=str(tmp_path), image_size=24, num_workers=0)
    train, _ = build_data(spec, 2, CPU, seed=0)
    state = torch.get_rng_state()
    whole = list(train.batches(1))
    assert torch.equal(torch.get_rng_state(), state)
    assert same_batches(train.batches(1, start=1), whole[1:])
    assert not same_batches(train.batches(0), whole)


# ---------------------------------------------------------------- distributed shards

def test_ranks_see_disjoint_halves_of_each_global_batch():
    spec = DataSpec("synthetic")
    single, single_val = build_data(spec, 32, CPU, seed=0)
    ranks = [build_data(spec, 32, CPU, seed=0, world_size=2, rank=r) for r in (0, 1)]
    (train0, val0), (train1, val1) = ranks
    assert train0.images_per_batch == 16 and train0.num_batches == single.num_batches == 16
    for k, ((x, y), (x0, y0), (x1, y1)) in enumerate(zip(single.batches(1), train0.batches(1), train1.batches(1))):
        assert torch.equal(torch.cat([x0, x1]), x) and torch.equal(torch.cat([y0, y1]), y)
    mine = [torch.cat([t.sample_indices(1, k) for k in range(t.num_batches)]) for t in (train0, train1)]
    assert not set(mine[0].tolist()) & set(mine[1].tolist())
    assert len(set(mine[0].tolist()) | set(mine[1].tolist())) == 32 * 16
    assert val0.size + val1.size == single_val.size == 128
    labels = [collect(v.batches(10))[1] for v in (val0, val1)]
    assert torch.equal(torch.stack(labels, 1).flatten(), collect(single_val.batches())[1])


def test_a_batch_that_does_not_split_over_ranks_is_refused():
    with pytest.raises(UserError, match="multiple of the 3"):
        build_data(DataSpec("synthetic"), 32, CPU, seed=0, world_size=3, rank=0)


def test_a_batch_larger_than_the_training_set_is_refused():
    with pytest.raises(UserError, match="exceeds"):
        build_data(DataSpec("synthetic", train_limit=10), 32, CPU, seed=0)


# ---------------------------------------------------------------- bad roots

def _break_missing_root(tmp_path):
    return DataSpec("cifar10", root=str(tmp_path / "nowhere")), tmp_path / "nowhere"


def _break_missing_batch(tmp_path):
    write_cifar(tmp_path, "cifar10")
    (tmp_path / "cifar-10-batches-py" / "data_batch_3").unlink()
    return DataSpec("cifar10", root=str(tmp_path)), "cifar-10-batches-py/data_batch_3"


def _break_corrupt_pickle(tmp_path):
    write_cifar(tmp_path, "cifar100")
    (tmp_path / "cifar-100-python" / "test").write_bytes(b"not a pickle")
    return DataSpec("cifar100", root=str(tmp_path)), tmp_path / "cifar-100-python" / "test"


def _break_empty_folder_tree(tmp_path):
    for split in ("train", "val"):
        (tmp_path / split / "cat").mkdir(parents=True)
    return DataSpec("imagenet", root=str(tmp_path)), "no images"


def _break_missing_val(tmp_path):
    write_folder(tmp_path)
    for file in (tmp_path / "val").rglob("*.*"):
        file.unlink()
    for folder in (tmp_path / "val").iterdir():
        folder.rmdir()
    (tmp_path / "val").rmdir()
    return DataSpec("imagenet", root=str(tmp_path)), "missing val/"


def _break_flat_val(tmp_path):
    write_folder(tmp_path, val_per_class=0)
    for folder in (tmp_path / "val").iterdir():
        folder.rmdir()
    Image.new("RGB", (8, 8)).save(tmp_path / "val" / "ILSVRC2012_val_00000001.JPEG")
    return DataSpec("imagenet", root=str(tmp_path)), "no class folders"


def _break_class_mismatch(tmp_path):
    write_folder(tmp_path)
    (tmp_path / "val" / "dog").rename(tmp_path / "val" / "bird")
    return DataSpec("imagenet", root=str(tmp_path)), "only in train: dog; only in val: bird"


def _break_no_root_given(tmp_path):
    return DataSpec("imagenet"), "data.root is required"


@pytest.mark.parametrize("breakage", [
    _break_missing_root, _break_missing_batch, _break_corrupt_pickle, _break_empty_folder_tree,
    _break_missing_val, _break_flat_val, _break_class_mismatch, _break_no_root_given,
])
def test_a_bad_root_is_one_user_error_naming_the_path(tmp_path, breakage):
    spec, expected = breakage(tmp_path)
    with pytest.raises(UserError) as caught:
        dataset_info(spec)
    message = str(caught.value)
    assert "\n" not in message
    assert str(expected) in message
    if spec.root:
        assert spec.root in message
    with pytest.raises(UserError):
        build_data(spec, 2, CPU, seed=0)


def test_check_data_accepts_a_good_root_and_ignores_root_for_builtin_sets(cifar_root):
    root, _ = cifar_root
    check_data(DataSpec("cifar10", root=str(root)))
    check_data(DataSpec("digits"))
    check_data(DataSpec("synthetic", root="/does/not/matter"))


def test_imagenet_cannot_be_held_on_the_device(tmp_path):
    write_folder(tmp_path)
    with pytest.raises(UserError, match=re.escape("data.loader")):
        check_data(DataSpec("imagenet", root=str(tmp_path), loader="device"))
