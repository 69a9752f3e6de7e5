"""The pixels of the small data sets as uint8 tensors, and their statistics: scikit-learn digits (a
fixed stratified split), CIFAR-10/100 (torchvision's on-disk pickles) and synthetic images.
ImageNet folders are scanned by layout.py and decoded by the workers path.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from ...config.specs import DataSpec
from ...errors import UserError
from .layout import (CIFAR_FILES, NATIVE_SIZE, NUM_CLASSES, SYNTHETIC_TRAIN, SYNTHETIC_VAL, _check_cifar_files,
                     _files_stamp, _read_cifar_pickle, _root_path)

# Per-channel statistics of the training pixels in [0, 1] (digits' are computed from its split).
CIFAR10_STATS = ((0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616))
CIFAR100_STATS = ((0.5071, 0.4865, 0.4409), (0.2673, 0.2564, 0.2762))
IMAGENET_STATS = ((0.485, 0.456, 0.406), (0.229, 0.224, 0.225))
SYNTHETIC_STATS = ((0.5, 0.5, 0.5), (0.2887, 0.2887, 0.2887))  # uniform 0..255

# ---------------------------------------------------------------- in-memory data sets

@dataclass(frozen=True)
class Arrays:
    """Both splits of a small data set as uint8 (N, C, H, W) tensors with int64 labels."""

    train_x: torch.Tensor
    train_y: torch.Tensor
    val_x: torch.Tensor
    val_y: torch.Tensor
    num_classes: int
    mean: tuple[float, ...]
    std: tuple[float, ...]
    flip: bool  # mirror-symmetric images (not digits)


def _raw_arrays(spec: DataSpec) -> Arrays:
    """The full splits at native size (cached: dataset_info and build_data read the files once)."""
    if spec.name == "digits":
        return _digits_arrays()
    if spec.name == "synthetic":
        return _synthetic_arrays(spec.image_size or NATIVE_SIZE["synthetic"])
    root = _root_path(spec)
    _check_cifar_files(spec.name, root)
    return _cifar_arrays(spec.name, str(root), _files_stamp(spec.name, root))


@lru_cache(maxsize=1)
def _digits_arrays() -> Arrays:
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
    return Arrays(
        train_x, torch.from_numpy(labels[train_idx]),
        torch.from_numpy(images[val_idx]), torch.from_numpy(labels[val_idx]),
        10, (float(pixels.mean()),), (float(pixels.std()),), flip=False)


@lru_cache(maxsize=2)
def _synthetic_arrays(size: int) -> Arrays:
    g = torch.Generator().manual_seed(0)
    n = SYNTHETIC_TRAIN + SYNTHETIC_VAL
    images = torch.randint(0, 256, (n, 3, size, size), generator=g, dtype=torch.uint8)
    labels = torch.randint(0, NUM_CLASSES["synthetic"], (n,), generator=g)
    cut = SYNTHETIC_TRAIN
    return Arrays(images[:cut], labels[:cut], images[cut:], labels[cut:],
                   NUM_CLASSES["synthetic"], *SYNTHETIC_STATS, flip=True)


@lru_cache(maxsize=2)
def _cifar_arrays(name: str, root: str, stamp: tuple) -> Arrays:
    folder, train_files, val_files, label_key = CIFAR_FILES[name]
    base = Path(root) / folder
    train_x, train_y = _read_cifar_files([base / f for f in train_files], label_key)
    val_x, val_y = _read_cifar_files([base / f for f in val_files], label_key)
    mean, std = CIFAR10_STATS if name == "cifar10" else CIFAR100_STATS
    num_classes = NUM_CLASSES[name]
    for labels, files in ((train_y, train_files), (val_y, val_files)):
        if len(labels) and (int(labels.min()) < 0 or int(labels.max()) >= num_classes):
            raise UserError(f"data root {root}: {folder}/{files[0]}: labels outside 0..{num_classes - 1}")
    return Arrays(train_x, train_y, val_x, val_y, num_classes, mean, std, flip=True)


def _read_cifar_files(paths: list[Path], label_key: str) -> tuple[torch.Tensor, torch.Tensor]:
    images, labels = [], []
    for path in paths:
        x, y = _read_cifar_pickle(path, label_key)
        images.append(x)
        labels.append(y)
    return torch.from_numpy(np.concatenate(images)), torch.from_numpy(np.concatenate(labels))


def load_arrays(spec: DataSpec) -> Arrays:
    """The splits after limits, resized once when image_size differs from the native size."""
    raw = _raw_arrays(spec)
    train_x, train_y = raw.train_x[: spec.train_limit], raw.train_y[: spec.train_limit]
    val_x, val_y = raw.val_x[: spec.val_limit], raw.val_y[: spec.val_limit]
    size = spec.image_size
    if size is not None and size != train_x.shape[-1]:
        train_x, val_x = _resize_uint8(train_x, size), _resize_uint8(val_x, size)
    return Arrays(train_x, train_y, val_x, val_y, raw.num_classes, raw.mean, raw.std, raw.flip)


def _resize_uint8(images: torch.Tensor, size: int, chunk: int = 2048) -> torch.Tensor:
    parts = []
    for start in range(0, len(images), chunk):
        x = images[start:start + chunk].float()
        x = F.interpolate(x, size=(size, size), mode="bilinear", antialias=True, align_corners=False)
        parts.append(x.round_().clamp_(0, 255).to(torch.uint8))
    return torch.cat(parts) if parts else images.new_zeros((0, images.shape[1], size, size))


