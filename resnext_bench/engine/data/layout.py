"""What a data set is, without reading its pixels: shapes, split sizes, on-disk layouts, and what is
wrong with a root (`check_data`, `dataset_info`). Imports no torch, so a login node can plan a
launch fast; engine/data/sources.py reads the pixels.
"""
from __future__ import annotations

import pickle
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Optional

import numpy as np

from ...config.specs import DATASET_SHAPES, DataSpec
from ...errors import UserError
from .folders import FOLDER_LAYOUT, scan_folder_tree


# Classes and native image size come from the one table in config/specs.py (also used without the data).
NATIVE_SIZE = {name: size for name, (_, _, size) in DATASET_SHAPES.items()}
NUM_CLASSES = {name: classes for name, (classes, _, _) in DATASET_SHAPES.items()}

SYNTHETIC_TRAIN, SYNTHETIC_VAL = 512, 128

# Split sizes of the data sets that have no files to count: digits' fixed stratified 80/20 split of
# scikit-learn's 1,797 images (sources.py makes it), and the synthetic set.
FIXED_SPLITS = {"digits": (1437, 360), "synthetic": (SYNTHETIC_TRAIN, SYNTHETIC_VAL)}

CIFAR_FILES = {
    "cifar10": ("cifar-10-batches-py", [f"data_batch_{i}" for i in range(1, 6)], ["test_batch"], "labels"),
    "cifar100": ("cifar-100-python", ["train"], ["test"], "fine_labels"),
}
CIFAR_LAYOUT = {
    "cifar10": "torchvision's CIFAR-10 layout: cifar-10-batches-py/{data_batch_1..5,test_batch}",
    "cifar100": "torchvision's CIFAR-100 layout: cifar-100-python/{train,test}",
}


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
    """Classes, channels, training image size and split sizes (after limits); validates the root.

    Reads no pixels and imports no torch: `launch --dry-run` asks this on a login node.
    """
    check_data(spec)
    classes, chans, native = DATASET_SHAPES[spec.name]
    size = spec.image_size or native
    if spec.name == "imagenet":
        images = imagenet_images(spec)
        classes, (train, val) = len(images.classes), (len(images.train), len(images.val))
    elif spec.name in CIFAR_FILES:
        root = _root_path(spec)
        train, val = _cifar_sizes(spec.name, str(root), _files_stamp(spec.name, root))
    else:
        train, val = FIXED_SPLITS[spec.name]
    return DatasetInfo(spec.name, classes, chans, size, _limited(train, spec.train_limit), _limited(val, spec.val_limit))


def check_data(spec: DataSpec) -> None:
    """Raise a one-line UserError naming the path and expected layout when the data is unusable."""
    _check_options(spec)
    if spec.name in CIFAR_FILES:
        root = _root_path(spec)
        if spec.download:
            _download_cifar(spec.name, root)
        _check_cifar_files(spec.name, root)
    elif spec.name == "imagenet":
        imagenet_images(spec)


@dataclass(frozen=True)
class FolderSource:
    """Samples as files: (path, label) pairs in the folder scan's order."""

    samples: tuple[tuple[str, int], ...]

    def __len__(self) -> int:
        return len(self.samples)

    def limited(self, limit: Optional[int]) -> "FolderSource":
        """The first `limit` samples (all when None)."""
        return FolderSource(self.samples[:limit])

    def label(self, index: int) -> int:
        return self.samples[index][1]

    def name(self, index: int) -> str:
        return self.samples[index][0]

    def read(self, index: int) -> bytes:
        with open(self.samples[index][0], "rb") as f:
            return f.read()


def imagenet_backend(loader: str, gpu_decoding: bool) -> str:
    """The decoder `data.loader` names for ImageNet (engine/data/decode.py): `workers` is pil's name from
    before the backends; `auto` is nvjpeg where the GPU can decode, else turbo."""
    if loader == "workers":
        return "pil"
    if loader == "auto":
        return "nvjpeg" if gpu_decoding else "turbo"
    return loader


@dataclass(frozen=True)
class ImageSets:
    """ImageNet's classes and its two splits as sources (decode.FolderSource or shards.ShardSource)."""

    classes: tuple[str, ...]
    train: object
    val: object
    packed: bool


def imagenet_images(spec: DataSpec) -> ImageSets:
    """The classes and samples at data.root: an ImageFolder tree, or a pack written by `pack`
    (recognised by its manifest.json). Raises a one-line UserError for a bad tree or shard."""
    from .shardformat import MANIFEST
    from .shards import ShardSource, open_shards

    root = _root_path(spec)
    if (root / MANIFEST).exists():
        pack = open_shards(root)
        return ImageSets(pack.classes, ShardSource(pack.split("train")), ShardSource(pack.split("val")), True)
    tree = scan_folder_tree(root)
    return ImageSets(tree.classes, FolderSource(tree.train), FolderSource(tree.val), False)


def _check_options(spec: DataSpec) -> None:
    for key in ("train_limit", "val_limit", "image_size"):
        value = getattr(spec, key)
        if value is not None and value < 1:
            raise UserError(f"data.{key}: expected an integer >= 1, got {value}")
    if spec.num_workers < 0:
        raise UserError(f"data.num_workers: expected an integer >= 0, got {spec.num_workers}")


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
def _cifar_sizes(name: str, root: str, stamp: tuple) -> tuple[int, int]:
    """(train, val) image counts of a CIFAR root, from its label lists."""
    folder, train_files, val_files, label_key = CIFAR_FILES[name]
    base = Path(root) / folder
    return tuple(sum(len(_read_cifar_pickle(base / f, label_key)[1]) for f in files)
                 for files in (train_files, val_files))


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
