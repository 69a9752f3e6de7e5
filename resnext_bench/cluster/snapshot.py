"""The code snapshot queued jobs import: SWEEP/code/HASH, whole and checked against its manifest."""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
import time
from pathlib import Path

from ..errors import UserError
from ..record import sweep as sweep_layout

MANIFEST = "MANIFEST.json"  # a snapshot's file list with sha256 of each, checked before a snapshot is used


def package_manifest(package: Path) -> dict[str, str]:
    """{relative path: sha256} of the package's code and data files."""
    files = sorted(p for p in package.rglob("*") if p.suffix in (".py", ".csv") and "__pycache__" not in p.parts)
    return {str(p.relative_to(package)): hashlib.sha256(p.read_bytes()).hexdigest() for p in files}


def snapshot_matches(dest: Path, manifest: dict[str, str]) -> bool:
    """The snapshot at `dest` holds exactly the manifest's files with their hashes (and says so)."""
    try:
        stored = json.loads((dest / MANIFEST).read_text())
    except (OSError, ValueError):
        return False
    if stored != manifest:
        return False
    root = dest / "resnext_bench"
    try:
        on_disk = {str(p.relative_to(root)) for p in root.rglob("*") if p.is_file() and "__pycache__" not in p.parts}
        return on_disk == set(manifest) and all(
            hashlib.sha256((root / rel).read_bytes()).hexdigest() == digest for rel, digest in manifest.items())
    except OSError:
        return False


def snapshot_code(sweep: Path) -> Path:
    """Copy the package into SWEEP/code/HASH so queued jobs run the code as it was at launch.

    Staged in a private temporary folder, verified against its manifest and moved into place in
    one rename; a snapshot already there is used only when it matches the manifest (one that does
    not is set aside as HASH.bad-TIME and replaced).
    """
    package = Path(__file__).resolve().parents[1]
    manifest = package_manifest(package)
    digest = hashlib.sha1(json.dumps(manifest, sort_keys=True).encode()).hexdigest()[:12]
    root = sweep_layout.code_root(sweep)
    dest = root / digest
    if dest.exists() and snapshot_matches(dest, manifest):
        return dest
    root.mkdir(parents=True, exist_ok=True)
    stage = Path(tempfile.mkdtemp(prefix=f".{digest}.", dir=root))
    try:
        for rel in manifest:
            target = stage / "resnext_bench" / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(package / rel, target)
        (stage / MANIFEST).write_text(json.dumps(manifest, indent=1, sort_keys=True))
        if not snapshot_matches(stage, manifest):
            raise UserError(f"code snapshot {stage}: the copy does not match the package (a file changed while "
                            "copying?); launch again")
        if dest.exists() or dest.is_symlink():
            if snapshot_matches(dest, manifest):  # another launcher finished the same snapshot first
                return dest
            os.replace(dest, dest.with_name(f"{digest}.bad-{time.strftime('%Y%m%dT%H%M%S')}-{os.getpid()}"))
        try:
            os.rename(stage, dest)
        except OSError:  # made meanwhile by another launcher: use it only if it is whole
            if not snapshot_matches(dest, manifest):
                raise UserError(f"code snapshot {dest}: exists and does not match its manifest; remove it and "
                                "launch again") from None
    finally:
        shutil.rmtree(stage, ignore_errors=True)
    return dest


