"""Packed shards: an ImageFolder tree as WebDataset-compatible tar shards with a random-access index.

`pack` writes, per split, SPLIT-000000.tar, SPLIT-000001.tar, ... (plain POSIX ustar archives in
which each sample is the adjacent pair KEY.jpg / KEY.cls, KEY being the sample's index in
layout's scan order, zero-padded), a SPLIT.idx.npy index (shard, offset, size, label and source
index of every sample) and, last, manifest.json. `open_shards` reads samples back by random
access: the training schedule already permutes sample indices as a function of (seed, epoch), so
packed data is shuffled exactly as files are, with no shuffle buffer.

Input policy. A JPEG in RGB or grayscale mode that PIL decodes to the end is stored byte for byte,
unless `max_side` bounds it: then it is resized (LANCZOS, longest side = max_side) and re-encoded
as RGB JPEG at `quality`. Any other decodable input (PNG, CMYK JPEG, PNG named .JPEG, ...) is
converted to RGB JPEG at `quality` (resized too if larger than the bound) and listed as converted.
An input PIL cannot decode (corrupt, truncated, not an image) is skipped and listed: the index
stays dense (sample i of a split is the i-th readable image in scan order, with its folder's
label), and each sample's source index (its KEY) says which folder image it is.

Resumable: a shard is written under a temporary name, renamed when complete, then recorded in a
sidecar (SPLIT-000000.tar.json: size, sha256, rows); a rerun verifies the recorded shards and
continues from the first missing or damaged one. pack.json pins the source tree and options, so a
rerun against a changed tree or other options is refused unless forced.

Imports neither torch nor PIL at module level (PIL only where images are encoded), and file
handles open lazily in the process that reads, so DataLoader workers forked after `open_shards`
each get their own.
"""
from __future__ import annotations

import hashlib
import io
import json
import os
import re
import sys
import tarfile
import warnings
from collections import deque
from dataclasses import asdict, dataclass, field
from functools import partial
from itertools import islice
from pathlib import Path
from typing import Callable, Iterator, Optional

import numpy as np

from ...errors import UserError
from ...fsutil import atomic_write, write_json, write_text
from ...progress import progress
from .folders import FOLDER_LAYOUT, scan_folder_tree

FORMAT, VERSION = "resnext-bench-shards", 1
SPLITS = ("train", "val")
MANIFEST, PLAN = "manifest.json", "pack.json"
RESAMPLE = "LANCZOS"
INDEX_DTYPE = np.dtype([("shard", "<u4"), ("offset", "<u8"), ("size", "<u4"), ("label", "<u4"), ("source", "<u4")])
KEY_DIGITS = 8  # wide enough for ImageNet-21k's 14 M images: keys sort in sample order
BLOCK, RECORD = tarfile.BLOCKSIZE, tarfile.RECORDSIZE
KEPT_MODES = ("RGB", "L")
_OWN_FILE = re.compile(r"^(?:(?:train|val)-\d{6}\.tar(?:\.json)?|\.(?:train|val)-\d{6}\.tar\.partial"
                       r"|(?:train|val)\.idx\.npy|manifest\.json|pack\.json)$")


# ---------------------------------------------------------------- options

@dataclass(frozen=True)
class PackOptions:
    """How images are stored and how samples are grouped into shards (all part of a pack's identity)."""

    max_side: Optional[int] = None  # re-encode images whose longest side exceeds this; None keeps sizes
    quality: int = 90  # JPEG quality of re-encoded and converted images
    shard_mb: float = 256.0  # a shard closes before it would exceed this many MB (10^6 bytes)
    shard_samples: Optional[int] = None  # ... or when it holds this many samples

    def check(self) -> None:
        """Raise a one-line UserError naming the option that is out of range."""
        if self.max_side is not None and self.max_side < 16:
            raise UserError(f"--max-side: expected an integer >= 16, got {self.max_side}")
        if not 1 <= self.quality <= 100:
            raise UserError(f"--quality: expected an integer in 1..100, got {self.quality}")
        if not self.shard_mb > 0:
            raise UserError(f"--shard-size: expected MB > 0, got {self.shard_mb:g}")
        if self.shard_samples is not None and self.shard_samples < 1:
            raise UserError(f"--shard-samples: expected an integer >= 1, got {self.shard_samples}")

    @property
    def shard_bytes(self) -> int:
        return int(self.shard_mb * 1e6)


@dataclass
class PackResult:
    """What `pack` did: the manifest it wrote and, per split, how many shards it kept from an earlier run."""

    manifest: dict
    reused: dict = field(default_factory=dict)
    written: dict = field(default_factory=dict)


# ---------------------------------------------------------------- encoding one image

def _bounded_size(size: tuple[int, int], max_side: int) -> tuple[int, int]:
    scale = max_side / max(size)
    return max(1, round(size[0] * scale)), max(1, round(size[1] * scale))


def _prepare(task: tuple[int, str], max_side: Optional[int], quality: int) -> tuple[int, str, Optional[bytes], str]:
    """(source index, kind, JPEG bytes, note) for one image; kind is kept|reencoded|converted|skipped."""
    from PIL import Image

    source, path = task
    try:
        with open(path, "rb") as f:
            raw = f.read()
    except OSError as e:  # unreadable, not undecodable: skipping it would drop a good image for a passing fault
        raise UserError(f"{path}: cannot read ({e.strerror or e}); rerun to resume once it reads") from None
    try:
        with warnings.catch_warnings():  # EXIF chatter and the like: the decode below is the test
            warnings.simplefilter("ignore")
            with Image.open(io.BytesIO(raw)) as im:
                fmt, mode = im.format, im.mode
                im.load()  # decodes to the end: a truncated or corrupt file raises here, not in an epoch
                plain_jpeg = fmt == "JPEG" and mode in KEPT_MODES
                too_big = max_side is not None and max(im.size) > max_side
                if plain_jpeg and not too_big:
                    return source, "kept", raw, ""
                img = im.convert("RGB")  # what the folder reader does to every image
            if too_big:
                img = img.resize(_bounded_size(img.size, max_side), getattr(Image, RESAMPLE))
            buf = io.BytesIO()
            img.save(buf, "JPEG", quality=quality)
    except Exception as e:  # noqa: BLE001 (any undecodable input is skipped and listed, never raised later)
        return source, "skipped", None, f"{type(e).__name__}: {e}".replace("\n", " ")
    if plain_jpeg:
        return source, "reencoded", buf.getvalue(), ""
    return source, "converted", buf.getvalue(), f"{fmt} {mode}" + (", resized" if too_big else "")


def stored_bytes(path: str | Path, options: PackOptions) -> Optional[bytes]:
    """The bytes `pack` stores for one image under `options` (None: it would skip the image)."""
    return _prepare((0, str(path)), options.max_side, options.quality)[2]


def _prepare_chunk(prepare: Callable, tasks: list) -> list:
    return [prepare(t) for t in tasks]


def _prepared(tasks: list, prepare: Callable, workers: int, chunk: int = 16) -> Iterator[tuple]:
    """prepare(task) for every task, in order; with workers > 1 in a process pool, a bounded window in flight."""
    if workers <= 1:
        yield from map(prepare, tasks)
        return
    import multiprocessing

    chunks = (tasks[i:i + chunk] for i in range(0, len(tasks), chunk))
    with multiprocessing.Pool(workers) as pool:  # leaving the block terminates the workers, also on errors
        pending = deque(pool.apply_async(_prepare_chunk, (prepare, c)) for c in islice(chunks, 4 * workers))
        while pending:
            results = pending.popleft().get()
            nxt = next(chunks, None)
            if nxt is not None:
                pending.append(pool.apply_async(_prepare_chunk, (prepare, nxt)))
            yield from results


# ---------------------------------------------------------------- writing one shard

def _tar_header(name: str, size: int) -> bytes:
    """A ustar header with fixed owner, mode and time, so the same samples give the same bytes."""
    info = tarfile.TarInfo(name)
    info.size, info.mtime, info.mode = size, 0, 0o444
    return info.tobuf(tarfile.USTAR_FORMAT, "utf-8", "strict")


def _padded(n: int) -> int:
    return -(-n // BLOCK) * BLOCK


def _archive_bytes(content: int) -> int:
    """Size of a tar whose members take `content` bytes: end-of-archive blocks, padded to whole records."""
    return -(-(content + 2 * BLOCK) // RECORD) * RECORD


def _sample_bytes(image_size: int) -> int:
    """Bytes a sample adds to a tar: two headers, the image and the label, each padded to a block."""
    return 3 * BLOCK + _padded(image_size)


class _ShardWriter:
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
        self._write(bytes(_archive_bytes(self.offset) - self.offset))
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


def _sidecar(out: Path, name: str) -> Path:
    return out / f"{name}.json"


# ---------------------------------------------------------------- packing

def pack(root: str | Path, out: str | Path, options: PackOptions = PackOptions(), workers: Optional[int] = None,
         force: bool = False, log: Callable[[str], None] = lambda line: print(line, file=sys.stderr)) -> PackResult:
    """Pack ROOT/{train,val}/CLASS/IMAGE into tar shards under OUT; resume an interrupted pack of the same tree."""
    options.check()
    workers = workers if workers is not None else os.cpu_count() or 1
    if workers < 1:
        raise UserError(f"--workers: expected an integer >= 1, got {workers}")
    root = Path(root).expanduser()
    if not root.is_dir():
        raise UserError(f"{root}: not a directory (expected {FOLDER_LAYOUT})")
    root = root.resolve()
    tree = scan_folder_tree(root)
    samples = {split: getattr(tree, split) for split in SPLITS}
    if max(len(tree.classes), *(len(s) for s in samples.values())) >= 2 ** 32:
        raise UserError(f"{root}: too many images or classes for the index's 32-bit columns")
    out = _writable_folder(Path(out).expanduser())
    plan = {"format": FORMAT, "version": VERSION, "source_root": str(root), "classes": list(tree.classes),
            "source_fingerprint": _fingerprint(root, samples), "options": asdict(options)}
    _claim(out, plan, force)

    done = {split: _completed_shards(out, split, log) for split in SPLITS}
    complete = {split: bool(done[split]) and done[split][-1]["sources"][1] == len(samples[split]) for split in SPLITS}
    if not all(complete.values()):
        (out / MANIFEST).unlink(missing_ok=True)  # present only while every shard it names is complete
    prepare = partial(_prepare, max_side=options.max_side, quality=options.quality)
    result = PackResult(manifest={})
    for split in SPLITS:
        result.reused[split] = len(done[split])
        if done[split]:
            log(f"pack {split}: {len(done[split])} complete shards verified (size and sha256)"
                + ("" if complete[split] else f"; continuing at {shard_name(split, len(done[split]))}"))
        if not complete[split]:
            done[split] += _write_split(out, split, samples[split], done[split], options, prepare, workers, root, log)
        result.written[split] = len(done[split]) - result.reused[split]
    splits = {split: _write_index(out, split, samples[split], done[split], root) for split in SPLITS}
    from PIL import __version__ as pillow

    result.manifest = dict(plan, encoder={
        "pillow": pillow, "resample": RESAMPLE, "quality": options.quality, "max_side": options.max_side,
        "policy": "RGB and grayscale JPEGs decoded by PIL are stored byte for byte unless larger than max_side "
                  "(then resized and re-encoded as RGB JPEG); other decodable inputs are converted to RGB JPEG; "
                  "undecodable ones are skipped (listed per split; the index stays dense, its source column and "
                  "each tar KEY give the scan-order index of every sample)"},
        tar="WebDataset-compatible POSIX ustar; members KEY.jpg (JPEG bytes), KEY.cls (class index, ASCII)",
        splits=splits)
    write_json(out / MANIFEST, result.manifest)
    return result


def _writable_folder(out: Path) -> Path:
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise UserError(f"{out}: cannot create the output folder ({e.strerror or e})") from None
    if not os.access(out, os.W_OK | os.X_OK):
        raise UserError(f"{out}: output folder is not writable")
    return out


def _fingerprint(root: Path, samples: dict) -> str:
    """sha256 over every image's relative path, label, size and mtime: a changed tree changes it."""
    h = hashlib.sha256()
    for split, items in samples.items():
        for path, label in items:
            st = os.stat(path)
            h.update(f"{split}\t{os.path.relpath(path, root)}\t{label}\t{st.st_size}\t{st.st_mtime_ns}\n".encode())
    return h.hexdigest()


def _claim(out: Path, plan: dict, force: bool) -> None:
    """Record `plan` in OUT, refusing (unless forced) an OUT that holds another pack."""
    own = sorted(p for p in out.iterdir() if _OWN_FILE.match(p.name))
    why = _difference(out / PLAN, plan) if own else ""
    if why and not force:
        raise UserError(f"{out}: holds a different pack ({why}); pass --force to replace it")
    for path in own if why else ():  # only files this module names; anything else in OUT is left alone
        path.unlink()
    if not own or why:
        write_json(out / PLAN, plan)


def _difference(path: Path, plan: dict) -> str:
    """What differs between the pack recorded at `path` and `plan` ('' when the same pack)."""
    try:
        recorded = json.loads(path.read_text())
    except FileNotFoundError:
        return f"shard files but no {PLAN}"
    except (OSError, ValueError) as e:
        return f"unreadable {PLAN}: {type(e).__name__}"
    if not isinstance(recorded, dict) or (recorded.get("format"), recorded.get("version")) != (FORMAT, VERSION):
        return f"{PLAN} is not a {FORMAT} v{VERSION} plan"
    if recorded.get("classes") != plan["classes"]:
        return "other classes"
    if recorded.get("source_fingerprint") != plan["source_fingerprint"]:
        return f"the source tree changed since it was packed from {recorded.get('source_root')}"
    if recorded.get("options") != plan["options"]:
        old = recorded.get("options") or {}
        return "other options: " + ", ".join(f"{k} {old.get(k)} -> {v}" for k, v in plan["options"].items()
                                             if old.get(k) != v)
    return ""


def _completed_shards(out: Path, split: str, log: Callable[[str], None]) -> list[dict]:
    """Records of the shards 0.. of a split that are complete and verified, up to the first that is not.

    Shards after that one are removed: they are rewritten, from the same samples, in the same order.
    """
    done, source = [], 0
    while True:
        name = shard_name(split, len(done))
        record = _read_record(out, name, source)
        if record is None:
            break
        why = _shard_problem(out / name, record["bytes"], record["sha256"])
        if why:
            log(f"pack {split}: {name} {why}; rewriting from it")
            break
        done.append(record)
        source = record["sources"][1]
    own = re.compile(rf"^{split}-(\d{{6}})\.tar(\.json)?$")
    later = [(m[2] is None, p) for p in out.iterdir() if (m := own.match(p.name)) and int(m[1]) >= len(done)]
    for _, path in sorted(later):
        path.unlink()  # sidecars first: a tar without one is never taken as complete
    return done


def _read_record(out: Path, name: str, source_start: int) -> Optional[dict]:
    """A shard's sidecar, or None when absent or not a consistent record starting at `source_start` (redo it)."""
    try:
        record = json.loads(_sidecar(out, name).read_text())
        rows = [record[k] for k in ("offsets", "sizes", "labels", "keys")]
        ok = record["file"] == name and record["sources"][0] == source_start and len({len(r) for r in rows}) == 1
    except (OSError, ValueError, KeyError, TypeError, IndexError):
        return None
    return record if ok else None


def _shard_problem(path: Path, size: int, sha256: Optional[str]) -> str:
    """'' when the file has `size` bytes (and `sha256`, when given), else what is wrong with it."""
    try:
        actual = path.stat().st_size
    except FileNotFoundError:
        return "is missing"
    if actual != size:
        return f"is {'truncated' if actual < size else 'longer than recorded'} ({actual:,} bytes, expected {size:,})"
    if sha256 is not None and _sha256(path) != sha256:
        return "has a sha256 other than recorded"
    return ""


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


def _write_split(out: Path, split: str, samples: tuple, done: list[dict], options: PackOptions,
                 prepare: Callable, workers: int, root: Path, log: Callable[[str], None]) -> list[dict]:
    """Write the shards of a split from the first sample after `done`; return their records."""
    start = done[-1]["sources"][1] if done else 0
    tasks = [(i, samples[i][0]) for i in range(start, len(samples))]
    records, writer, pending_skips = [], None, []
    results = progress(_prepared(tasks, prepare, workers), total=len(tasks), desc=f"pack {split}",
                       label=lambda r: Path(samples[r[0]][0]).name)
    try:
        for source, kind, data, note in results:
            rel = os.path.relpath(samples[source][0], root)
            if kind == "skipped":
                log(f"pack {split}: skipped {rel}: {note}")
                (writer.skipped if writer else pending_skips).append([source, rel, note])
                continue
            if writer and (_archive_bytes(writer.offset + _sample_bytes(len(data))) > options.shard_bytes
                           or len(writer.sizes) == (options.shard_samples or -1)):
                records.append(_finish(out, writer, source))
                writer = None
            if writer is None:
                first = records[-1]["sources"][1] if records else start
                writer = _ShardWriter(out, split, len(done) + len(records), first)
                writer.skipped, pending_skips = pending_skips, []
            writer.add(source, data, samples[source][1])
            if kind == "converted":
                writer.converted.append([source, rel, note])
            writer.reencoded += kind == "reencoded"
    except BaseException:
        if writer:
            writer.abandon()
        raise
    if writer is None:
        raise UserError(f"{root}: no image of {split}/ could be decoded (see the skipped files above)")
    records.append(_finish(out, writer, len(samples)))
    return records


def _finish(out: Path, writer: _ShardWriter, source_end: int) -> dict:
    record = writer.finish(source_end)
    # Compact (one line): a 256 MB shard of ImageNet has ~2,300 rows. The shard counts as complete from here on.
    write_text(_sidecar(out, writer.name), json.dumps(record, separators=(",", ":")) + "\n")
    return record


def _write_index(out: Path, split: str, samples: tuple, records: list[dict], root: Path) -> dict:
    """Write SPLIT.idx.npy from the shard records and return the split's manifest entry."""
    index = np.concatenate([_rows(number, r) for number, r in enumerate(records)])
    buf = io.BytesIO()
    np.save(buf, index)
    data = buf.getvalue()
    atomic_write(out / f"{split}.idx.npy", lambda f: f.write(data))
    shards, first = [], 0
    for r in records:
        count = len(r["sizes"])
        shards.append({"file": r["file"], "samples": [first, first + count], "sources": r["sources"],
                       "bytes": r["bytes"], "sha256": r["sha256"]})
        first += count
    skipped = [{"source": s, "path": p, "reason": why} for r in records for s, p, why in r["skipped"]]
    converted = [{"source": s, "path": p, "from": what} for r in records for s, p, what in r["converted"]]
    return {"samples": len(index), "source_samples": len(samples), "shards": shards,
            "index": {"file": f"{split}.idx.npy", "bytes": len(data), "sha256": hashlib.sha256(data).hexdigest(),
                      "columns": list(INDEX_DTYPE.names)},
            "reencoded": sum(r["reencoded"] for r in records), "converted": converted, "skipped": skipped}


def _rows(number: int, record: dict) -> np.ndarray:
    rows = np.empty(len(record["sizes"]), INDEX_DTYPE)
    rows["shard"] = number
    for column, key in (("offset", "offsets"), ("size", "sizes"), ("label", "labels"), ("source", "keys")):
        rows[column] = record[key]
    return rows


# ---------------------------------------------------------------- reading

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
            why = _shard_problem(path, s["bytes"], None if quick else s["sha256"])
            if why:
                bad.append(f"shard {path} {why}")
        if not quick:
            index = self.entry["index"]
            why = _shard_problem(self.root / index["file"], index["bytes"], index["sha256"])
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
