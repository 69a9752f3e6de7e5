"""Writing one shard of a pack: a ustar archive of KEY.jpg / KEY.cls pairs (format: shardformat),
written under a temporary name, hashed on the way and renamed into place when complete.

The bytes depend on the samples alone (fixed owner, mode and time in every header), so a shard
rewritten after an interruption equals the one an uninterrupted pack writes.
"""
from __future__ import annotations

import hashlib
import os
import tarfile
from pathlib import Path

from .shardformat import KEY_DIGITS

BLOCK, RECORD = tarfile.BLOCKSIZE, tarfile.RECORDSIZE


def _tar_header(name: str, size: int) -> bytes:
    """A ustar header with fixed owner, mode and time, so the same samples give the same bytes."""
    info = tarfile.TarInfo(name)
    info.size, info.mtime, info.mode = size, 0, 0o444
    return info.tobuf(tarfile.USTAR_FORMAT, "utf-8", "strict")


def _padded(n: int) -> int:
    return -(-n // BLOCK) * BLOCK


def archive_bytes(content: int) -> int:
    """Size of a tar whose members take `content` bytes: end-of-archive blocks, padded to whole records."""
    return -(-(content + 2 * BLOCK) // RECORD) * RECORD


def sample_bytes(image_size: int) -> int:
    """Bytes a sample adds to a tar: two headers, the image and the label, each padded to a block."""
    return 3 * BLOCK + _padded(image_size)


class ShardWriter:
    """One tar being written under a temporary name; hashed on the way, renamed by `finish`."""

    def __init__(self, out: Path, split: str, number: int, source_start: int):
        self.name = shard_name(split, number)
        self.path, self.tmp = out / self.name, out / f".{self.name}.partial"
        self.source_start = source_start
        self.file = open(self.tmp, "wb")
        self.sha, self.offset = hashlib.sha256(), 0
        self.offsets, self.sizes, self.labels, self.sources = [], [], [], []
        self.skipped, self.converted, self.reencoded = [], [], 0

    def _write(self, data: bytes) -> None:
        self.file.write(data)
        self.sha.update(data)
        self.offset += len(data)

    def _member(self, name: str, data: bytes) -> int:
        self._write(_tar_header(name, len(data)))
        start = self.offset
        self._write(data + bytes(_padded(len(data)) - len(data)))
        return start

    def add(self, source: int, data: bytes, label: int) -> None:
        key = f"{source:0{KEY_DIGITS}d}"
        self.offsets.append(self._member(f"{key}.jpg", data))
        self._member(f"{key}.cls", str(label).encode())
        self.sizes.append(len(data))
        self.labels.append(label)
        self.sources.append(source)

    def finish(self, source_end: int) -> dict:
        """End the archive, rename it into place and return its record (written as the sidecar)."""
        self._write(bytes(archive_bytes(self.offset) - self.offset))
        self.file.flush()
        os.fsync(self.file.fileno())
        self.file.close()
        os.replace(self.tmp, self.path)
        return {"file": self.name, "bytes": self.offset, "sha256": self.sha.hexdigest(),
                "sources": [self.source_start, source_end], "offsets": self.offsets, "sizes": self.sizes,
                "labels": self.labels, "keys": self.sources, "skipped": self.skipped,
                "converted": self.converted, "reencoded": self.reencoded}

    def abandon(self) -> None:
        """Close without renaming: the partial file stays, as after a kill, and a rerun overwrites it."""
        self.file.close()


def shard_name(split: str, number: int) -> str:
    return f"{split}-{number:06d}.tar"
