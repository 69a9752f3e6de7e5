"""Data sets written to disk in their publishers' layouts, tiny."""
from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np


def write_cifar(root: Path, name: str, per_file: int = 20, seed: int = 0):
    """Tiny CIFAR pickles in torchvision's layout; returns the written (train_x, train_y, val_x, val_y)."""
    rng = np.random.default_rng(seed)
    if name == "cifar10":
        folder, train_files, val_files, key, classes = "cifar-10-batches-py", [f"data_batch_{i}" for i in range(1, 6)], ["test_batch"], b"labels", 10
    else:
        folder, train_files, val_files, key, classes = "cifar-100-python", ["train"], ["test"], b"fine_labels", 100
    (root / folder).mkdir(parents=True)
    written = {}
    for split, files in (("train", train_files), ("val", val_files)):
        xs, ys = [], []
        for file in files:
            n = per_file * (5 if name == "cifar100" and split == "train" else 1)
            data = rng.integers(0, 256, (n, 3072), dtype=np.uint8)
            labels = rng.integers(0, classes, n).tolist()
            entry = {b"batch_label": file.encode(), b"data": data, key: labels}
            if name == "cifar100":
                entry[b"coarse_labels"] = [y // 5 for y in labels]
            with open(root / folder / file, "wb") as f:
                pickle.dump(entry, f)
            xs.append(data.reshape(-1, 3, 32, 32))
            ys.extend(labels)
        written[split] = (np.concatenate(xs), np.array(ys))
    return (*written["train"], *written["val"])


def write_jpeg_tree(root: Path, classes: int = 3, train_per_class: int = 4, val_per_class: int = 4) -> Path:
    """An ImageNet-format tree ROOT/{train,val}/cK/*.JPEG of smooth photographs, landscape and portrait
    (each class its own colours, so a small model can learn something); returns ROOT."""
    from PIL import Image

    for split, count in (("train", train_per_class), ("val", val_per_class)):
        for c in range(classes):
            folder = Path(root) / split / f"c{c}"
            folder.mkdir(parents=True)
            for i in range(count):
                rng = np.random.default_rng(1000 * c + 10 * i + (split == "val"))
                tint = np.array([255 if k == c % 3 else 60 for k in range(3)], dtype=float)
                base = (rng.random((4, 4, 3)) * 0.5 + 0.5) * tint
                size = (96, 72) if i % 2 else (72, 96)
                Image.fromarray(base.astype(np.uint8)).resize(size, Image.BICUBIC).save(
                    folder / f"img{i}.JPEG", quality=95)
    return Path(root)
