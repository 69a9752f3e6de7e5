"""ImageNet as class folders: ROOT/{train,val}/CLASS/IMAGE scanned once (torch-free).

Below both `layout` (what a data set is) and `packing` (the pack writer), which each read a tree.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from ...errors import UserError

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".ppm", ".bmp", ".pgm", ".tif", ".tiff", ".webp")
FOLDER_LAYOUT = "torchvision's ImageFolder layout: ROOT/train/CLASS/IMAGE and ROOT/val/CLASS/IMAGE"


@dataclass(frozen=True)
class FolderTree:
    classes: tuple[str, ...]
    train: tuple[tuple[str, int], ...]  # (path, label), interleaved over classes
    val: tuple[tuple[str, int], ...]


def scan_folder_tree(root: Path) -> FolderTree:
    """Scan ROOT/{train,val}/CLASS/IMAGE, or raise a UserError saying what is wrong."""
    stamp = tuple((root / split).stat().st_mtime_ns if (root / split).is_dir() else None
                  for split in ("train", "val"))
    return _scan_folder_tree_cached(str(root), stamp)


@lru_cache(maxsize=2)
def _scan_folder_tree_cached(root: str, stamp: tuple) -> FolderTree:
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
    return FolderTree(tuple(classes), samples["train"], samples["val"])


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
