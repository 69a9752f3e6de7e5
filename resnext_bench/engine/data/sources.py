"""The data sets: where each is read from, its shapes and statistics, and what is wrong with it.

scikit-learn digits (a fixed stratified split), CIFAR-10/100 (torchvision's on-disk pickles,
optionally downloaded), synthetic images, and ImageNet as an ImageFolder tree (scanned here,
decoded by the workers path). Also `check_data` and `dataset_info`, which need only this.
"""
from __future__ import annotations

import os
import pickle
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Optional

import numpy as np
import torch
import torch.nn.functional as F

from ...errors import UserError
from ...config.spec import DATASET_SHAPES, DataSpec

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".ppm", ".bmp", ".pgm", ".tif", ".tiff", ".webp")

# Classes and native image size come from the one table in spec.py (also used without the data).
NATIVE_SIZE = {name: size for name, (_, _, size) in DATASET_SHAPES.items()}
NUM_CLASSES = {name: classes for name, (classes, _, _) in DATASET_SHAPES.items()}

# Per-channel statistics of the training pixels in [0, 1] (digits' are computed from its split).
CIFAR10_STATS = ((0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616))
CIFAR100_STATS = ((0.5071, 0.4865, 0.4409), (0.2673, 0.2564, 0.2762))
IMAGENET_STATS = ((0.485, 0.456, 0.406), (0.229, 0.224, 0.225))
SYNTHETIC_STATS = ((0.5, 0.5, 0.5), (0.2887, 0.2887, 0.2887))  # uniform 0..255

SYNTHETIC_TRAIN, SYNTHETIC_VAL = 512, 128

CIFAR_FILES = {
    "cifar10": ("cifar-10-batches-py", [f"data_batch_{i}" for i in range(1, 6)], ["test_batch"], "labels"),
    "cifar100": ("cifar-100-python", ["train"], ["test"], "fine_labels"),
}
CIFAR_LAYOUT = {
    "cifar10": "torchvision's CIFAR-10 layout: cifar-10-batches-py/{data_batch_1..5,test_batch}",
    "cifar100": "torchvision's CIFAR-100 layout: cifar-100-python/{train,test}",
}
FOLDER_LAYOUT = "torchvision's ImageFolder layout: ROOT/train/CLASS/IMAGE and ROOT/val/CLASS/IMAGE"


# ---------------------------------------------------------------- public description

@dataclass(frozen=True)
class DatasetInfo:
    """What a model and a cost estimate need to know about a data set."""

    name: str
    num_classes: int
    in_chans: int
    image_size: int  # training crop
    train_size: int  # after train_limit
    val_size: int  # after val_limit


def dataset_info(spec: DataSpec) -> DatasetInfo:
    """Classes, channels, training image size and split sizes (after limits); validates the root."""
    check_data(spec)
    size = spec.image_size or NATIVE_SIZE[spec.name]
    if spec.name == "imagenet":
        tree = _scan_folder_tree(_root_path(spec))
        return DatasetInfo(spec.name, len(tree.classes), 3, size,
                           _limited(len(tree.train), spec.train_limit), _limited(len(tree.val), spec.val_limit))
    raw = _raw_arrays(spec)
    return DatasetInfo(spec.name, raw.num_classes, raw.train_x.shape[1], size,
                       _limited(len(raw.train_y), spec.train_limit), _limited(len(raw.val_y), spec.val_limit))


def check_data(spec: DataSpec) -> None:
    """Raise a one-line UserError naming the path and expected layout when the data is unusable."""
    _check_options(spec)
    if spec.name in CIFAR_FILES:
        root = _root_path(spec)
        if spec.download:
            _download_cifar(spec.name, root)
        _check_cifar_files(spec.name, root)
    elif spec.name == "imagenet":
        _scan_folder_tree(_root_path(spec))


def _check_options(spec: DataSpec) -> None:
    for key in ("train_limit", "val_limit", "image_size"):
        value = getattr(spec, key)
        if value is not None and value < 1:
            raise UserError(f"data.{key}: expected an integer >= 1, got {value}")
    if spec.num_workers < 0:
        raise UserError(f"data.num_workers: expected an integer >= 0, got {spec.num_workers}")
    if spec.name == "imagenet" and spec.loader == "device":
        raise UserError("data.loader: imagenet is decoded from files by DataLoader workers; use auto or workers")


def _limited(n: int, limit: Optional[int]) -> int:
    return n if limit is None else min(n, limit)


def _root_path(spec: DataSpec) -> Path:
    if not spec.root:
        layout = CIFAR_LAYOUT.get(spec.name, FOLDER_LAYOUT)
        raise UserError(f"data.root is required for {spec.name} (expected {layout})")
    root = Path(spec.root).expanduser()
    if not root.is_dir():
        layout = CIFAR_LAYOUT.get(spec.name, FOLDER_LAYOUT)
        hint = "; or set data.download: true" if spec.name in CIFAR_FILES else ""
        raise UserError(f"data root {root}: not a directory (expected {layout}{hint})")
    return root


# ---------------------------------------------------------------- in-memory data sets

@dataclass(frozen=True)
class _Arrays:
    """Both splits of a small data set as uint8 (N, C, H, W) tensors with int64 labels."""

    train_x: torch.Tensor
    train_y: torch.Tensor
    val_x: torch.Tensor
    val_y: torch.Tensor
    num_classes: int
    mean: tuple[float, ...]
    std: tuple[float, ...]
    flip: bool  # mirror-symmetric images (not digits)


def _raw_arrays(spec: DataSpec) -> _Arrays:
    """The full splits at native size (cached: dataset_info and build_data read the files once)."""
    if spec.name == "digits":
        return _digits_arrays()
    if spec.name == "synthetic":
        return _synthetic_arrays(spec.image_size or NATIVE_SIZE["synthetic"])
    root = _root_path(spec)
    _check_cifar_files(spec.name, root)
    return _cifar_arrays(spec.name, str(root), _files_stamp(spec.name, root))


@lru_cache(maxsize=1)
def _digits_arrays() -> _Arrays:
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    digits = load_digits()
    images = np.rint(digits.images * (255.0 / 16.0)).astype(np.uint8)[:, None]  # 0..16 -> 0..255
    labels = digits.target.astype(np.int64)
    # A fixed split, independent of the run seed, so every run is scored on the same images.
    train_idx, val_idx = train_test_split(
        np.arange(len(labels)), test_size=0.2, stratify=labels, random_state=0)
    train_x = torch.from_numpy(images[train_idx])
    pixels = train_x.double() / 255.0
    return _Arrays(
        train_x, torch.from_numpy(labels[train_idx]),
        torch.from_numpy(images[val_idx]), torch.from_numpy(labels[val_idx]),
        10, (float(pixels.mean()),), (float(pixels.std()),), flip=False)


@lru_cache(maxsize=2)
def _synthetic_arrays(size: int) -> _Arrays:
    g = torch.Generator().manual_seed(0)
    n = SYNTHETIC_TRAIN + SYNTHETIC_VAL
    images = torch.randint(0, 256, (n, 3, size, size), generator=g, dtype=torch.uint8)
    labels = torch.randint(0, NUM_CLASSES["synthetic"], (n,), generator=g)
    cut = SYNTHETIC_TRAIN
    return _Arrays(images[:cut], labels[:cut], images[cut:], labels[cut:],
                   NUM_CLASSES["synthetic"], *SYNTHETIC_STATS, flip=True)


def _check_cifar_files(name: str, root: Path) -> None:
    folder, train_files, val_files, _ = CIFAR_FILES[name]
    for file in train_files + val_files:
        if not (root / folder / file).is_file():
            raise UserError(f"data root {root}: missing {folder}/{file} (expected {CIFAR_LAYOUT[name]})")


def _files_stamp(name: str, root: Path) -> tuple:
    """Sizes and modification times of the files, so a rewritten file is read again."""
    folder, train_files, val_files, _ = CIFAR_FILES[name]
    stats = [(root / folder / f).stat() for f in train_files + val_files]
    return tuple((s.st_size, s.st_mtime_ns) for s in stats)


@lru_cache(maxsize=2)
def _cifar_arrays(name: str, root: str, stamp: tuple) -> _Arrays:
    folder, train_files, val_files, label_key = CIFAR_FILES[name]
    base = Path(root) / folder
    train_x, train_y = _read_cifar_files([base / f for f in train_files], label_key)
    val_x, val_y = _read_cifar_files([base / f for f in val_files], label_key)
    mean, std = CIFAR10_STATS if name == "cifar10" else CIFAR100_STATS
    num_classes = NUM_CLASSES[name]
    for labels, files in ((train_y, train_files), (val_y, val_files)):
        if len(labels) and (int(labels.min()) < 0 or int(labels.max()) >= num_classes):
            raise UserError(f"data root {root}: {folder}/{files[0]}: labels outside 0..{num_classes - 1}")
    return _Arrays(train_x, train_y, val_x, val_y, num_classes, mean, std, flip=True)


def _read_cifar_files(paths: list[Path], label_key: str) -> tuple[torch.Tensor, torch.Tensor]:
    images, labels = [], []
    for path in paths:
        x, y = _read_cifar_pickle(path, label_key)
        images.append(x)
        labels.append(y)
    return torch.from_numpy(np.concatenate(images)), torch.from_numpy(np.concatenate(labels))


def _read_cifar_pickle(path: Path, label_key: str) -> tuple[np.ndarray, np.ndarray]:
    """One torchvision CIFAR pickle: rows of 3072 bytes in CHW order, and their labels."""
    try:
        with open(path, "rb") as f:
            entry = pickle.load(f, encoding="bytes")
        entry = {k.decode() if isinstance(k, bytes) else k: v for k, v in entry.items()}
        data = np.asarray(entry["data"], dtype=np.uint8)
        labels = np.asarray(entry[label_key], dtype=np.int64)
    except KeyError as e:
        raise UserError(f"{path}: not a CIFAR batch file (no {e.args[0]!r} entry)") from None
    except (OSError, EOFError, ValueError, TypeError, AttributeError, pickle.UnpicklingError) as e:
        raise UserError(f"{path}: unreadable CIFAR batch file ({type(e).__name__}: {e})") from None
    if data.ndim != 2 or data.shape[1] != 3 * 32 * 32 or len(labels) != len(data):
        raise UserError(f"{path}: expected N x 3072 pixel rows and N labels, got data {data.shape}, "
                        f"{len(labels)} labels")
    return data.reshape(-1, 3, 32, 32), labels


def _download_cifar(name: str, root: Path) -> None:
    """Fetch the archive with torchvision unless the files are already there."""
    try:
        _check_cifar_files(name, root)
        return
    except UserError:
        pass
    import torchvision

    cls = torchvision.datasets.CIFAR10 if name == "cifar10" else torchvision.datasets.CIFAR100
    try:
        cls(str(root), train=True, download=True)
    except Exception as e:  # network, disk or checksum failure: all the user's to fix
        raise UserError(f"data root {root}: downloading {name} failed ({type(e).__name__}: {e})") from None


def _arrays(spec: DataSpec) -> _Arrays:
    """The splits after limits, resized once when image_size differs from the native size."""
    raw = _raw_arrays(spec)
    train_x, train_y = raw.train_x[: spec.train_limit], raw.train_y[: spec.train_limit]
    val_x, val_y = raw.val_x[: spec.val_limit], raw.val_y[: spec.val_limit]
    size = spec.image_size
    if size is not None and size != train_x.shape[-1]:
        train_x, val_x = _resize_uint8(train_x, size), _resize_uint8(val_x, size)
    return _Arrays(train_x, train_y, val_x, val_y, raw.num_classes, raw.mean, raw.std, raw.flip)


def _resize_uint8(images: torch.Tensor, size: int, chunk: int = 2048) -> torch.Tensor:
    parts = []
    for start in range(0, len(images), chunk):
        x = images[start:start + chunk].float()
        x = F.interpolate(x, size=(size, size), mode="bilinear", antialias=True, align_corners=False)
        parts.append(x.round_().clamp_(0, 255).to(torch.uint8))
    return torch.cat(parts) if parts else images.new_zeros((0, images.shape[1], size, size))


# ---------------------------------------------------------------- ImageNet folders

@dataclass(frozen=True)
class _FolderTree:
    classes: tuple[str, ...]
    train: tuple[tuple[str, int], ...]  # (path, label), interleaved over classes
    val: tuple[tuple[str, int], ...]


def _scan_folder_tree(root: Path) -> _FolderTree:
    """Scan ROOT/{train,val}/CLASS/IMAGE, or raise a UserError saying what is wrong."""
    stamp = tuple((root / split).stat().st_mtime_ns if (root / split).is_dir() else None
                  for split in ("train", "val"))
    return _scan_folder_tree_cached(str(root), stamp)


@lru_cache(maxsize=2)
def _scan_folder_tree_cached(root: str, stamp: tuple) -> _FolderTree:
    splits = {}
    for split in ("train", "val"):
        folder = Path(root) / split
        if not folder.is_dir():
            raise UserError(f"data root {root}: missing {split}/ (expected {FOLDER_LAYOUT})")
        classes = sorted(e.name for e in os.scandir(folder) if e.is_dir())
        if not classes:
            raise UserError(f"data root {root}: {split}/ has no class folders (expected {FOLDER_LAYOUT}; "
                            "ImageNet's val images must be sorted into class folders)")
        splits[split] = classes
    if splits["train"] != splits["val"]:
        only_train = sorted(set(splits["train"]) - set(splits["val"]))
        only_val = sorted(set(splits["val"]) - set(splits["train"]))
        raise UserError(f"data root {root}: class folders differ between train/ and val/ "
                        f"(only in train: {_few(only_train)}; only in val: {_few(only_val)})")
    classes = splits["train"]
    samples = {split: _list_images(Path(root) / split, classes) for split in ("train", "val")}
    for split, found in samples.items():
        if not found:
            raise UserError(f"data root {root}: {split}/ holds no images in its class folders "
                            f"(looked for {', '.join(IMAGE_EXTENSIONS)})")
    return _FolderTree(tuple(classes), samples["train"], samples["val"])


def _few(names: list[str], shown: int = 3) -> str:
    if not names:
        return "none"
    more = f" and {len(names) - shown} more" if len(names) > shown else ""
    return ", ".join(names[:shown]) + more


def _list_images(folder: Path, classes: list[str]) -> tuple[tuple[str, int], ...]:
    """(path, label) of every image, interleaved round-robin over classes.

    The interleaving makes "the first N samples" (train_limit / val_limit) class-balanced.
    """
    keyed = []
    for label, name in enumerate(classes):
        files = sorted(e.name for e in os.scandir(folder / name)
                       if e.is_file() and e.name.lower().endswith(IMAGE_EXTENSIONS))
        keyed.extend((pos, label, str(folder / name / f)) for pos, f in enumerate(files))
    keyed.sort(key=lambda item: (item[0], item[1]))
    return tuple((path, label) for _, label, path in keyed)
