"""Reading a pack (written by packing.py, format in shardformat.py) by random access.

`open_shards` checks the manifest and every shard's size; `ShardSplit.read(i)` is one positioned
read of sample i. The training schedule already permutes sample indices as a function of (seed,
epoch), so packed data is shuffled exactly as files are, with no shuffle buffer.

Imports neither torch nor PIL, and file handles open lazily in the process that reads, so
DataLoader workers forked after `open_shards` each get their own.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import numpy as np

from ...errors import UserError
from .shardformat import FORMAT, INDEX_DTYPE, KEY_DIGITS, MANIFEST, VERSION, file_problem


def open_shards(root: str | Path) -> "ShardSet":
    """Open a pack written by `pack`; raise a one-line UserError naming a missing or truncated shard."""
    root = Path(root).expanduser()
    path = root / MANIFEST
    try:
        manifest = json.loads(path.read_text())
    except FileNotFoundError:
        raise UserError(f"{path}: missing (not a pack written by `resnext-bench pack`, or packing has not "
                        "finished: rerun it to resume)") from None
    except (OSError, ValueError) as e:
        raise UserError(f"{path}: unreadable manifest ({type(e).__name__}: {e})") from None
    if not isinstance(manifest, dict) or (manifest.get("format"), manifest.get("version")) != (FORMAT, VERSION):
        raise UserError(f"{path}: not a {FORMAT} v{VERSION} manifest")
    return ShardSet(root, manifest)


class ShardSet:
    """A pack: its classes and, per split, a random-access `ShardSplit`."""

    def __init__(self, root: Path, manifest: dict):
        self.root, self.manifest = root, manifest
        self.classes: tuple[str, ...] = tuple(manifest["classes"])
        self._splits = {name: ShardSplit(root, name, entry) for name, entry in manifest["splits"].items()}

    def split(self, name: str) -> "ShardSplit":
        if name not in self._splits:
            raise UserError(f"{self.root}: no split {name!r} (has {', '.join(self._splits)})")
        return self._splits[name]

    def verify(self, quick: bool = True) -> None:
        """Check every split's shards (sizes; sha256 too unless quick); raise a UserError naming the bad ones."""
        for split in self._splits.values():
            split.verify(quick)


class ShardSplit:
    """The samples of one split, read by index: `read(i)` is the JPEG bytes of sample i, `label(i)` its class."""

    def __init__(self, root: Path, name: str, entry: dict):
        self.root, self.name, self.entry = root, name, entry
        self.shards = tuple(root / s["file"] for s in entry["shards"])
        self.verify(quick=True)
        index_path = root / entry["index"]["file"]
        try:
            self._index = np.load(index_path, allow_pickle=False)
        except (OSError, ValueError, EOFError) as e:
            raise UserError(f"{index_path}: unreadable index ({type(e).__name__}: {e})") from None
        if self._index.dtype != INDEX_DTYPE or len(self._index) != entry["samples"]:
            raise UserError(f"{index_path}: expected {entry['samples']:,} rows of {INDEX_DTYPE}, "
                            f"got {len(self._index):,} of {self._index.dtype}")
        self._fds: dict[int, int] = {}
        self._pid = os.getpid()

    def __len__(self) -> int:
        return len(self._index)

    def label(self, i: int) -> int:
        return int(self._index["label"][i])

    def labels(self) -> list[int]:
        return self._index["label"].tolist()

    def source_index(self, i: int) -> int:
        """Index of sample i in layout's scan order of the folder tree (differs from i after a skipped input)."""
        return int(self._index["source"][i])

    def shard_of(self, i: int) -> Path:
        """The shard file that holds sample i."""
        return self.shards[int(self._index["shard"][i])]

    def read(self, i: int) -> bytes:
        """The JPEG bytes of sample i: one positioned read, safe across threads and forked workers."""
        if not 0 <= i < len(self._index):
            raise IndexError(f"sample {i} out of range for {len(self._index)} samples of {self.name}")
        shard, offset, size = (int(self._index[c][i]) for c in ("shard", "offset", "size"))
        path = self.shards[shard]
        try:
            data = os.pread(self._fd(shard), size, offset)
        except FileNotFoundError:
            raise UserError(f"shard {path}: missing") from None
        if len(data) != size:
            raise UserError(f"shard {path}: truncated (sample {i} wants {size:,} bytes at offset {offset:,}, "
                            f"got {len(data):,})")
        return data

    def _fd(self, shard: int) -> int:
        if self._pid != os.getpid():  # a forked worker opens its own rather than borrow the parent's
            self._fds, self._pid = {}, os.getpid()
        fd = self._fds.get(shard)
        if fd is None:
            fd = self._fds[shard] = os.open(self.shards[shard], os.O_RDONLY)
        return fd

    def verify(self, quick: bool = True) -> None:
        """Sizes of all shards (and their sha256 unless quick); a UserError names every bad shard."""
        bad = []
        for path, s in zip(self.shards, self.entry["shards"]):
            why = file_problem(path, s["bytes"], None if quick else s["sha256"])
            if why:
                bad.append(f"shard {path} {why}")
        if not quick:
            index = self.entry["index"]
            why = file_problem(self.root / index["file"], index["bytes"], index["sha256"])
            if why:
                bad.append(f"index {self.root / index['file']} {why}")
        if bad:
            more = f" (and {len(bad) - 1} more: {'; '.join(bad[1:4])}{'; ...' if len(bad) > 4 else ''})"
            raise UserError(bad[0] + (more if len(bad) > 1 else ""))

    def close(self) -> None:
        if self._pid == os.getpid():
            for fd in self._fds.values():
                os.close(fd)
        self._fds = {}

    def __getstate__(self) -> dict:  # descriptors do not travel to spawned workers; they reopen their own
        return dict(self.__dict__, _fds={})


@dataclass(frozen=True)
class ShardSource:
    """A split of a pack as the decoders' sample source (engine/data/decode.py): the first `limit`
    samples, read by index; names in logs say which folder image a sample came from."""

    split: "ShardSplit"
    limit: Optional[int] = None

    def __len__(self) -> int:
        return len(self.split) if self.limit is None else min(self.limit, len(self.split))

    def limited(self, limit: Optional[int]) -> "ShardSource":
        return ShardSource(self.split, limit if self.limit is None or limit is None else min(limit, self.limit))

    def label(self, index: int) -> int:
        return self.split.label(index)

    def name(self, index: int) -> str:
        return f"{self.split.name} sample {index} (key {self.split.source_index(index):0{KEY_DIGITS}d} in " \
               f"{self.split.shard_of(index).name})"

    def read(self, index: int) -> bytes:
        return self.split.read(index)
