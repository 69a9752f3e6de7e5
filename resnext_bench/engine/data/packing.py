"""Packing: an ImageFolder tree as WebDataset-compatible tar shards with a random-access index.

`pack` writes, per split, the shards (shardwriter writes each one), the SPLIT.idx.npy index and,
last, manifest.json, in the format shardformat describes; shards.py reads them back.

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

Imports neither torch nor PIL at module level (PIL only where images are encoded).
"""
from __future__ import annotations

import hashlib
import io
import json
import os
import re
import sys
import warnings
from collections import deque
from dataclasses import asdict, dataclass, field
from functools import partial
from itertools import islice
from pathlib import Path
from typing import Callable, Iterator, Optional

import numpy as np

from ...errors import UserError, printable
from ...fsutil import atomic_write, inside_input, write_json, write_text
from ...progress import progress
from .folders import FOLDER_LAYOUT, scan_folder_tree
from .shardformat import FORMAT, INDEX_DTYPE, MANIFEST, VERSION, file_problem
from .shardwriter import ShardWriter, archive_bytes, sample_bytes, shard_name

SPLITS = ("train", "val")
PLAN = "pack.json"
RESAMPLE = "LANCZOS"
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
    why = inside_input(Path(out).expanduser(), [root])  # before the tree is scanned
    if why:
        raise UserError(f"{printable(out)}: output folder {why}")
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
        why = file_problem(out / name, record["bytes"], record["sha256"])
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


def _sidecar(out: Path, name: str) -> Path:
    return out / f"{name}.json"


def _read_record(out: Path, name: str, source_start: int) -> Optional[dict]:
    """A shard's sidecar, or None when absent or not a consistent record starting at `source_start` (redo it)."""
    try:
        record = json.loads(_sidecar(out, name).read_text())
        rows = [record[k] for k in ("offsets", "sizes", "labels", "keys")]
        ok = record["file"] == name and record["sources"][0] == source_start and len({len(r) for r in rows}) == 1
    except (OSError, ValueError, KeyError, TypeError, IndexError):
        return None
    return record if ok else None


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
            if writer and (archive_bytes(writer.offset + sample_bytes(len(data))) > options.shard_bytes
                           or len(writer.sizes) == (options.shard_samples or -1)):
                records.append(_finish(out, writer, source))
                writer = None
            if writer is None:
                first = records[-1]["sources"][1] if records else start
                writer = ShardWriter(out, split, len(done) + len(records), first)
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


def _finish(out: Path, writer: ShardWriter, source_end: int) -> dict:
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
