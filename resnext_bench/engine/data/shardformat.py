"""A pack's on-disk format, shared by its writer (packing, shardwriter) and its reader (shards).

Per split: SPLIT-000000.tar, SPLIT-000001.tar, ... (plain POSIX ustar archives in which each sample
is the adjacent pair KEY.jpg / KEY.cls, KEY being the sample's index in layout's scan order,
zero-padded), a SPLIT.idx.npy index (shard, offset, size, label and source index of every sample)
and, last, manifest.json, which names and checksums them all.

Imports neither torch nor PIL.
"""
from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Optional

import numpy as np

FORMAT, VERSION = "resnext-bench-shards", 1
MANIFEST = "manifest.json"
INDEX_DTYPE = np.dtype([("shard", "<u4"), ("offset", "<u8"), ("size", "<u4"), ("label", "<u4"), ("source", "<u4")])
KEY_DIGITS = 8  # wide enough for ImageNet-21k's 14 M images: keys sort in sample order


def file_problem(path: Path, size: int, sha256: Optional[str]) -> str:
    """'' when the file has `size` bytes (and `sha256`, when given), else what is wrong with it."""
    try:
        actual = path.stat().st_size
    except FileNotFoundError:
        return "is missing"
    if actual != size:
        return f"is {'truncated' if actual < size else 'longer than recorded'} ({actual:,} bytes, expected {size:,})"
    if sha256 is not None and file_sha256(path) != sha256:
        return "has a sha256 other than recorded"
    return ""


def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()
