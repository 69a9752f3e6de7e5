"""Data sets and loaders: scikit-learn digits, CIFAR-10/100, ImageNet folders, synthetic images.

Two loader paths share one interface. The device path keeps a whole split as one uint8 tensor on
the training device and crops/flips each batch there in one gather; the workers path feeds a
torch DataLoader. Both hand the device uint8 images and normalise them there.

Every training batch is a pure function of (seed, epoch, batch index): the epoch order is a
permutation seeded from (seed, epoch), crop/flip draws come from a generator seeded from
(seed, epoch, batch) (ImageNet: from (seed, epoch, sample)). So a run resumed in the middle of
an epoch replays exactly the batches the uninterrupted run would have seen, and the device and
workers paths give identical batches for the in-memory data sets.
"""
from __future__ import annotations

import hashlib
import math
import os
import pickle
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Callable, Iterator, Optional

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, Dataset, Sampler

from ..errors import UserError
from ..config.spec import DATASET_SHAPES, DataSpec

__all__ = [
    "DatasetInfo", "TrainData", "ValData", "dataset_info", "check_data", "build_data",
    "resolve_loader", "IMAGE_EXTENSIONS",
]

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


def resolve_loader(spec: DataSpec) -> str:
    """The loader path a spec asks for: "device" or "workers" ("auto" picks by data set)."""
    if spec.loader != "auto":
        return spec.loader
    return "workers" if spec.name == "imagenet" else "device"


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


def _crop_pad(size: int) -> int:
    """Translation range of the random crop: 4 pixels at 32 (the paper's CIFAR), 1 at 8 (digits)."""
    return max(1, size // 8)


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


def _inception_box(width: int, height: int, draws: list[float]) -> tuple[float, float, float, float]:
    """A random box of 8%..100% of the area and aspect 3/4..4/3 (Inception-style crop).

    `draws` holds 22 uniforms: 10 tries of (area, aspect), then the box position.
    """
    area = width * height
    lo, hi = math.log(3 / 4), math.log(4 / 3)
    for i in range(10):
        target = area * (0.08 + 0.92 * draws[2 * i])
        aspect = math.exp(lo + (hi - lo) * draws[2 * i + 1])
        w, h = round(math.sqrt(target * aspect)), round(math.sqrt(target / aspect))
        if 0 < w <= width and 0 < h <= height:
            left = min(int(draws[20] * (width - w + 1)), width - w)
            top = min(int(draws[21] * (height - h + 1)), height - h)
            return left, top, left + w, top + h
    # Every try fell outside the image (extreme aspect): the central box clamped to the range.
    w, h = width, height
    if width / height < 3 / 4:
        h = round(width * 4 / 3)
    elif width / height > 4 / 3:
        w = round(height * 4 / 3)
    left, top = (width - w) // 2, (height - h) // 2
    return left, top, left + w, top + h


def _center_box(width: int, height: int, size: int) -> tuple[float, float, float, float]:
    """The box that "resize the short side to size*256/224, take the central size x size" reads."""
    side = min(width, height) * size / round(size * 256 / 224)
    left, top = (width - side) / 2, (height - side) / 2
    return left, top, left + side, top + side


class _FolderImages(Dataset):
    """Images decoded from files. A ticket (index, epoch) augments; a plain index does not."""

    def __init__(self, samples: tuple[tuple[str, int], ...], size: int, seed: int):
        self.samples, self.size, self.seed = samples, size, seed

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, ticket):
        from PIL import Image

        index, epoch = ticket if isinstance(ticket, tuple) else (ticket, None)
        path, label = self.samples[index]
        with Image.open(path) as im:
            img = im.convert("RGB")
        if epoch is None:
            img = img.resize((self.size, self.size), Image.BILINEAR, box=_center_box(*img.size, self.size))
        else:
            # A private generator: the draws depend only on (seed, epoch, sample), whichever
            # worker (or the main process) decodes it, and no global RNG is touched.
            g = torch.Generator().manual_seed(_seed_of("sample", self.seed, epoch, index))
            draws = torch.rand(23, generator=g, dtype=torch.float64).tolist()
            box = _inception_box(*img.size, draws)
            img = img.resize((self.size, self.size), Image.BILINEAR, box=box)
            if draws[22] < 0.5:
                img = img.transpose(Image.FLIP_LEFT_RIGHT)
        pixels = torch.from_numpy(np.array(img, dtype=np.uint8)).permute(2, 0, 1).contiguous()
        return pixels, label


# ---------------------------------------------------------------- deterministic randomness

def _seed_of(*parts) -> int:
    """A 63-bit seed from a tuple of ints and strings, the same in every process."""
    digest = hashlib.blake2b(repr(parts).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little") >> 1


class _Schedule:
    """Which samples each rank's batch k of epoch e holds, and their crop/flip draws.

    Global batch k is positions k*B .. (k+1)*B of the epoch's permutation; rank r takes the
    r-th contiguous slice of it, so the ranks of a step together see exactly the batch a single
    process would, with the same augmentation.
    """

    def __init__(self, n: int, batch_size: int, seed: int, world_size: int, rank: int):
        self.n, self.batch_size, self.seed = n, batch_size, seed
        self.per_rank = batch_size // world_size
        self.rank = rank
        self.num_batches = n // batch_size  # drop_last: every step has the full batch

    def order(self, epoch: int) -> torch.Tensor:
        g = torch.Generator().manual_seed(_seed_of("order", self.seed, epoch))
        return torch.randperm(self.n, generator=g)

    def _mine(self, values: torch.Tensor) -> torch.Tensor:
        return values[..., self.rank * self.per_rank:(self.rank + 1) * self.per_rank]

    def indices(self, order: torch.Tensor, k: int) -> torch.Tensor:
        return self._mine(order[k * self.batch_size:(k + 1) * self.batch_size])

    def crop_draws(self, epoch: int, k: int, pad: int, flip: bool) -> torch.Tensor:
        """(3, per_rank) int64: row offset, column offset (0..2*pad), mirror flag."""
        g = torch.Generator().manual_seed(_seed_of("crop", self.seed, epoch, k))
        offsets = torch.randint(0, 2 * pad + 1, (2, self.batch_size), generator=g)
        flips = torch.randint(0, 2, (1, self.batch_size), generator=g) if flip else offsets.new_zeros(1, self.batch_size)
        return self._mine(torch.cat([offsets, flips]))

    def check_start(self, epoch: int, start: int) -> None:
        if epoch < 0 or not 0 <= start <= self.num_batches:
            raise ValueError(f"epoch {epoch}, start {start}: expected epoch >= 0 and 0 <= start <= {self.num_batches}")


def gather_crops(padded: torch.Tensor, idx: torch.Tensor, oy: torch.Tensor, ox: torch.Tensor,
                 flip: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Crop `size` at (oy, ox) from padded images `idx`, mirrored where `flip`, in one gather."""
    h, w = size
    dev = padded.device
    rows = oy[:, None] + torch.arange(h, device=dev)
    cols = ox[:, None] + torch.arange(w, device=dev)
    cols = torch.where(flip[:, None].bool(), cols.flip(1), cols)
    chans = torch.arange(padded.shape[1], device=dev)
    return padded[idx[:, None, None, None], chans[None, :, None, None], rows[:, None, :, None], cols[:, None, None, :]]


class _Normaliser:
    """uint8 (N, C, H, W) on the device -> float, minus mean, over std."""

    def __init__(self, mean, std, device: torch.device):
        self.mean, self.std = tuple(mean), tuple(std)
        std_t = torch.tensor(std, dtype=torch.float32, device=device).view(1, -1, 1, 1)
        mean_t = torch.tensor(mean, dtype=torch.float32, device=device).view(1, -1, 1, 1)
        self.scale, self.shift = 1.0 / (255.0 * std_t), mean_t / std_t

    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        return images.float().mul_(self.scale).sub_(self.shift)


# ---------------------------------------------------------------- the two loader paths

class TrainData:
    """Training batches of one rank: `batches(epoch, start)` replays any epoch from any batch."""

    num_batches: int  # per epoch, per rank
    images_per_batch: int  # per rank
    loader: str  # "device" or "workers"
    mean: tuple[float, ...]
    std: tuple[float, ...]

    def __init__(self, schedule: _Schedule, normalise: _Normaliser, device: torch.device):
        self.schedule, self.normalise, self.device = schedule, normalise, device
        self.num_batches = schedule.num_batches
        self.images_per_batch = schedule.per_rank
        self.mean, self.std = normalise.mean, normalise.std

    def sample_indices(self, epoch: int, k: int) -> torch.Tensor:
        """Indices (into the training split) of the samples in this rank's batch k of `epoch`."""
        return self.schedule.indices(self.schedule.order(epoch), k)

    def batches(self, epoch: int, start: int = 0) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """Normalised float images (N, C, H, W) and int64 labels on the device, batches start.. of `epoch`."""
        raise NotImplementedError


class ValData:
    """Validation samples of one rank (rank-strided, no padding), in a fixed order, unaugmented."""

    size: int  # samples on this rank
    mean: tuple[float, ...]
    std: tuple[float, ...]

    def __init__(self, size: int, batch_size: int, normalise: _Normaliser):
        self.size, self.batch_size, self.normalise = size, batch_size, normalise
        self.mean, self.std = normalise.mean, normalise.std

    def batches(self, batch_size: Optional[int] = None) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """All of this rank's validation samples, normalised, on the device."""
        raise NotImplementedError


class DeviceTrainData(TrainData):
    """The whole training split, padded for cropping, as one uint8 tensor on the device."""

    loader = "device"

    def __init__(self, images, labels, pad: int, flip: bool, schedule, normalise, device):
        super().__init__(schedule, normalise, device)
        self.size = tuple(images.shape[-2:])
        self.padded = F.pad(images, (pad, pad, pad, pad)).to(device)
        self.labels = labels.to(device)
        self.pad, self.flip = pad, flip

    def batches(self, epoch: int, start: int = 0):
        self.schedule.check_start(epoch, start)
        order = self.schedule.order(epoch)
        for k in range(start, self.num_batches):
            idx = self.schedule.indices(order, k)
            draws = self.schedule.crop_draws(epoch, k, self.pad, self.flip)
            plan = torch.cat([idx[None], draws]).to(self.device, non_blocking=True)  # one copy a batch
            images = gather_crops(self.padded, plan[0], plan[1], plan[2], plan[3], self.size)
            yield self.normalise(images), self.labels[plan[0]]


class DeviceValData(ValData):
    def __init__(self, images, labels, batch_size: int, normalise, device, world_size: int, rank: int):
        super().__init__(len(labels[rank::world_size]), batch_size, normalise)
        self.images = images[rank::world_size].to(device)
        self.labels = labels[rank::world_size].to(device)

    def batches(self, batch_size: Optional[int] = None):
        step = batch_size or self.batch_size
        for start in range(0, self.size, step):
            yield self.normalise(self.images[start:start + step]), self.labels[start:start + step]


class _TensorImages(Dataset):
    """In-memory images for DataLoader workers. A ticket (index, oy, ox, flip) crops; an index does not."""

    def __init__(self, images: torch.Tensor, labels: torch.Tensor, pad: int):
        self.padded = F.pad(images, (pad, pad, pad, pad)) if pad else images
        self.labels, self.pad = labels, pad
        self.size = tuple(images.shape[-2:])

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, ticket):
        index, oy, ox, flip = ticket if isinstance(ticket, tuple) else (ticket, self.pad, self.pad, 0)
        image = self.padded[index, :, oy:oy + self.size[0], ox:ox + self.size[1]]
        return (image.flip(-1) if flip else image).contiguous(), self.labels[index]


class _EpochSampler(Sampler):
    """Batch sampler of tickets for batches start.. of one epoch; set (epoch, start) before iterating.

    Iterated in the main process each time the DataLoader starts over, so persistent workers
    need not know the epoch.
    """

    def __init__(self, num_batches: int, tickets: Callable[[int], Callable[[int], list]]):
        self.num_batches, self.tickets = num_batches, tickets
        self.epoch, self.start = 0, 0

    def __iter__(self):
        batch_tickets = self.tickets(self.epoch)
        for k in range(self.start, self.num_batches):
            yield batch_tickets(k)

    def __len__(self) -> int:
        return self.num_batches - self.start


class _ChunkSampler(Sampler):
    """Batch sampler over fixed indices in order; its batch size may change between passes."""

    def __init__(self, indices: list[int], batch_size: int):
        self.indices, self.batch_size = indices, batch_size

    def __iter__(self):
        for start in range(0, len(self.indices), self.batch_size):
            yield self.indices[start:start + self.batch_size]

    def __len__(self) -> int:
        return math.ceil(len(self.indices) / self.batch_size)


def _make_loader(dataset: Dataset, sampler: Sampler, spec: DataSpec, device: torch.device) -> DataLoader:
    # A private generator: otherwise every pass draws the workers' base seed from the global
    # RNG, and the training engine's random state would depend on how often data was read.
    return DataLoader(dataset, batch_sampler=sampler, num_workers=spec.num_workers,
                      pin_memory=device.type == "cuda", persistent_workers=spec.num_workers > 0,
                      generator=torch.Generator().manual_seed(0))


class WorkerTrainData(TrainData):
    """Training batches assembled by a DataLoader; augmentation draws travel in the tickets."""

    loader = "workers"

    def __init__(self, dataset: Dataset, tickets, spec: DataSpec, schedule, normalise, device):
        super().__init__(schedule, normalise, device)
        self.sampler = _EpochSampler(schedule.num_batches, tickets)
        self._loader = _make_loader(dataset, self.sampler, spec, device)

    def batches(self, epoch: int, start: int = 0):
        self.schedule.check_start(epoch, start)
        self.sampler.epoch, self.sampler.start = epoch, start
        if start == self.num_batches:
            return
        for images, labels in self._loader:
            images = images.to(self.device, non_blocking=True)
            yield self.normalise(images), labels.to(self.device, non_blocking=True)


class WorkerValData(ValData):
    def __init__(self, dataset: Dataset, batch_size: int, spec: DataSpec, normalise, device,
                 world_size: int, rank: int):
        indices = list(range(rank, len(dataset), world_size))
        super().__init__(len(indices), batch_size, normalise)
        self.device = device
        self.sampler = _ChunkSampler(indices, batch_size)
        self._loader = _make_loader(dataset, self.sampler, spec, device)

    def batches(self, batch_size: Optional[int] = None):
        self.sampler.batch_size = batch_size or self.batch_size
        if self.size == 0:
            return
        for images, labels in self._loader:
            images = images.to(self.device, non_blocking=True)
            yield self.normalise(images), labels.to(self.device, non_blocking=True)


def _crop_tickets(schedule: _Schedule, pad: int, flip: bool):
    """Tickets (index, oy, ox, flip) with the same draws the device path makes."""
    def for_epoch(epoch: int):
        order = schedule.order(epoch)

        def for_batch(k: int) -> list:
            idx = schedule.indices(order, k)
            draws = schedule.crop_draws(epoch, k, pad, flip)
            return list(zip(idx.tolist(), *draws.tolist()))
        return for_batch
    return for_epoch


def _sample_tickets(schedule: _Schedule):
    """Tickets (index, epoch): the worker seeds each sample's augmentation from them."""
    def for_epoch(epoch: int):
        order = schedule.order(epoch)
        return lambda k: [(i, epoch) for i in schedule.indices(order, k).tolist()]
    return for_epoch


# ---------------------------------------------------------------- entry point

def build_data(spec: DataSpec, batch_size: int, device: torch.device, seed: int,
               world_size: int = 1, rank: int = 0) -> tuple[TrainData, ValData]:
    """Training and validation data of one rank; `batch_size` is the global batch over all ranks."""
    device = torch.device(device)
    check_data(spec)
    if world_size < 1 or not 0 <= rank < world_size:
        raise ValueError(f"rank {rank} of world_size {world_size}: expected 0 <= rank < world_size")
    if batch_size < 1 or batch_size % world_size:
        raise UserError(f"batch_size {batch_size}: must be a positive multiple of the {world_size} processes")
    if spec.name == "imagenet":
        return _build_folder_data(spec, batch_size, device, seed, world_size, rank)
    return _build_array_data(spec, batch_size, device, seed, world_size, rank)


def _checked_schedule(spec: DataSpec, n: int, batch_size: int, seed: int, world_size: int, rank: int) -> _Schedule:
    schedule = _Schedule(n, batch_size, seed, world_size, rank)
    if schedule.num_batches == 0:
        raise UserError(f"batch_size {batch_size} exceeds the {n} training images of {spec.name}"
                        " (lower the batch size or raise data.train_limit)")
    return schedule


def _build_array_data(spec, batch_size, device, seed, world_size, rank):
    arrays = _arrays(spec)
    schedule = _checked_schedule(spec, len(arrays.train_y), batch_size, seed, world_size, rank)
    normalise = _Normaliser(arrays.mean, arrays.std, device)
    pad = _crop_pad(arrays.train_x.shape[-1])
    per_rank = schedule.per_rank
    if resolve_loader(spec) == "device":
        train = DeviceTrainData(arrays.train_x, arrays.train_y, pad, arrays.flip, schedule, normalise, device)
        val = DeviceValData(arrays.val_x, arrays.val_y, per_rank, normalise, device, world_size, rank)
        return train, val
    train_set = _TensorImages(arrays.train_x, arrays.train_y, pad)
    train = WorkerTrainData(train_set, _crop_tickets(schedule, pad, arrays.flip), spec, schedule, normalise, device)
    val_set = _TensorImages(arrays.val_x, arrays.val_y, 0)
    val = WorkerValData(val_set, per_rank, spec, normalise, device, world_size, rank)
    return train, val


def _build_folder_data(spec, batch_size, device, seed, world_size, rank):
    tree = _scan_folder_tree(_root_path(spec))
    size = spec.image_size or NATIVE_SIZE["imagenet"]
    train_samples, val_samples = tree.train[: spec.train_limit], tree.val[: spec.val_limit]
    schedule = _checked_schedule(spec, len(train_samples), batch_size, seed, world_size, rank)
    normalise = _Normaliser(*IMAGENET_STATS, device)
    train_set = _FolderImages(train_samples, size, seed)
    train = WorkerTrainData(train_set, _sample_tickets(schedule), spec, schedule, normalise, device)
    val_set = _FolderImages(val_samples, size, seed)
    val = WorkerValData(val_set, schedule.per_rank, spec, normalise, device, world_size, rank)
    return train, val
