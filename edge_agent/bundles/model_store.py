"""Installed model bundles on the box: verify, install atomically, roll back, sign.

Layout under ``<data_dir>/models``::

    <sha256 of manifest.json>/     one verified bundle per directory, never modified
    default  -> <sha>              the bundle the daemon uses (symlink)
    previous -> <sha>              the one before, for ``liftguard model rollback``

Installing (``install_bundle``) copies or unpacks the bundle into a staging directory on
the same filesystem and verifies *that copy* (what is verified is what is used): format
version, HMAC signature when a key is configured (required then), the SHA-256 of every file,
no unlisted or non-regular file, channels this box has, a sample rate it can feed, every
manifest value in range. Only after all that is the copy loaded as the daemon will load it
(its detectors, calibration and autoencoder, and one window scored), so that a file that
does not load is refused now and never reaches the daemon. Only then is the staging
directory renamed to ``<sha>`` and ``default``
switched by ``os.replace`` of a temporary symlink, an atomic rename: a reader sees either
the old bundle or the new one, never a mix, and a refused bundle leaves ``default`` as it
was. The running daemon notices the new target between sessions and reloads.
"""
from __future__ import annotations

import hashlib
import json
import logging
import lzma
import os
import shutil
import tarfile
import tempfile
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edge_agent.bundles.errors import ModelStoreError
from models.anomaly.bundle import MANIFEST, read_verified_manifest, sign_manifest
from models.anomaly.errors import BundleError
from sensors.frame import BOX_CHANNELS, IMU_CHANNELS, PLATFORM_CHANNELS

log = logging.getLogger(__name__)

DEFAULT_LINK = "default"
PREVIOUS_LINK = "previous"
STAGING_PREFIX = ".incoming-"
MAX_ARCHIVE_BYTES = 256 * 1024 * 1024
"""Unpacked size limit for an archive (a decompression bomb fills the SD card otherwise)."""
MAX_ARCHIVE_MEMBERS = 64


@dataclass(frozen=True)
class BoxSensors:
    """What this box can feed a model: its channels and its IMU sample rate."""

    channels: tuple[str, ...]
    max_rate_hz: float

    @classmethod
    def from_config(cls, cfg: Any) -> "BoxSensors":
        if cfg.get("source.kind") != "hardware":
            channels = BOX_CHANNELS
        else:
            channels = ((IMU_CHANNELS if cfg.get("imu.enabled") else ())
                        + (PLATFORM_CHANNELS if cfg.get("loadcells.enabled") else ()))
        return cls(tuple(channels), float(cfg.get("imu.sample_rate_hz")))

    def check(self, manifest: dict[str, Any], origin: str) -> None:
        channels = manifest.get("channels")
        if not isinstance(channels, list) or not channels:
            raise ModelStoreError(f"{origin}: manifest names no channels")
        missing = [c for c in channels if c not in self.channels]
        if missing:
            raise ModelStoreError(f"{origin}: bundle needs channels {missing} that this box "
                                  f"does not record (it has {list(self.channels)})")
        rate = manifest.get("sample_rate_hz")
        if not isinstance(rate, (int, float)) or not rate > 0:
            raise ModelStoreError(f"{origin}: manifest sample_rate_hz {rate!r} is not a rate")
        if rate > self.max_rate_hz * 1.01:
            raise ModelStoreError(f"{origin}: bundle sample rate {rate:g} Hz is above this "
                                  f"box's IMU rate {self.max_rate_hz:g} Hz ([imu] "
                                  f"sample_rate_hz); it would score interpolated data")


@dataclass(frozen=True)
class InstalledBundle:
    sha256: str
    path: Path
    previous: Path | None
    manifest: dict[str, Any]
    unchanged: bool = False   # it was the default already


def manifest_sha256(bundle_dir: Path) -> str:
    return hashlib.sha256((bundle_dir / MANIFEST).read_bytes()).hexdigest()


def current(models_dir: Path, link: str = DEFAULT_LINK) -> Path | None:
    """The directory a link points at (resolved), None when there is none."""
    path = models_dir / link
    if not path.exists():
        return None
    return path.resolve()


def install_bundle(source: Path, models_dir: Path, box: BoxSensors,
                   signing_key: bytes | None = None,
                   lifts: tuple[str, ...] | None = None) -> InstalledBundle:
    """Verify ``source`` (a bundle directory or a .tar/.tar.gz of one) and make it the
    default; the old default becomes ``previous``. Raises ``ModelStoreError`` naming the
    reason and leaves everything installed as it was. ``lifts``: the lifts the box records,
    each of which the bundle's ``lift_types`` must cover (None: no such check)."""
    source = Path(source)
    models_dir.mkdir(parents=True, exist_ok=True)
    _remove_stale_staging(models_dir)
    staging = Path(tempfile.mkdtemp(prefix=STAGING_PREFIX, dir=models_dir))
    try:
        if source.is_dir():
            _copy_bundle_dir(source, staging)
        elif source.is_file():
            _unpack_archive(source, staging)
        else:
            raise ModelStoreError(f"{source}: no such bundle directory or archive")
        manifest = verify_bundle(staging, box, signing_key, origin=str(source))
        check_loads(staging, signing_key, origin=str(source))
        missing = [lift for lift in lifts or () if lift not in (manifest.get("lift_types") or ())]
        if missing:
            raise ModelStoreError(
                f"{source}: the bundle covers {', '.join(manifest.get('lift_types') or []) or 'no lift'}"
                f" but this box records {', '.join(missing)} too: those sets would be judged "
                f"by a model of another lift (--allow-missing-lifts installs it anyway)")
        sha = manifest_sha256(staging)
        final = models_dir / sha
        if final.exists():
            verify_bundle(final, box, signing_key, origin=str(final))
            shutil.rmtree(staging)
        else:
            _fsync_tree(staging)
            os.rename(staging, final)
            _fsync_dir(models_dir)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    previous = current(models_dir)
    _adopt_plain_directory(models_dir)
    if previous is not None and previous != final:
        _point(models_dir, PREVIOUS_LINK, previous.name)
    _point(models_dir, DEFAULT_LINK, sha)
    _prune(models_dir)
    if previous == final:
        log.info("model bundle %s from %s is already the default; nothing changed", sha[:12],
                 source)
    else:
        log.info("model bundle %s installed from %s (previous: %s)", sha[:12], source,
                 previous.name[:12] if previous else "none")
    return InstalledBundle(sha, final, previous if previous != final else None, manifest,
                           unchanged=previous == final)


def verify_bundle(bundle_dir: Path, box: BoxSensors, signing_key: bytes | None,
                  origin: str) -> dict[str, Any]:
    """Every check, without unpickling anything; returns the manifest."""
    try:
        manifest = read_verified_manifest(bundle_dir, signing_key=signing_key)
    except BundleError as exc:
        raise ModelStoreError(f"{origin}: refused: {_without_path(str(exc), bundle_dir)}") from None
    listed = set(manifest["files"]) | {MANIFEST}
    extra = sorted(p.name for p in bundle_dir.iterdir() if p.name not in listed)
    if extra:
        raise ModelStoreError(f"{origin}: refused: files not listed in the manifest: {extra}")
    box.check(manifest, f"{origin}: refused")
    return manifest


def check_loads(bundle_dir: Path, signing_key: bytes | None, origin: str) -> None:
    """Load a verified bundle as the daemon will; ``ModelStoreError`` naming the file or
    field when it does not load."""
    from models.anomaly.model import load_model  # scikit-learn: imported only to install

    try:
        load_model(bundle_dir, signing_key=signing_key)
    except BundleError as exc:
        raise ModelStoreError(f"{origin}: refused: {_without_path(str(exc), bundle_dir)}") from None


def rollback(models_dir: Path) -> Path:
    """Swap ``default`` and ``previous``; returns the bundle now in use."""
    old, prev = current(models_dir), current(models_dir, PREVIOUS_LINK)
    if prev is None:
        raise ModelStoreError(f"{models_dir}: no previous bundle to roll back to")
    if old is not None:
        _point(models_dir, PREVIOUS_LINK, old.name)
    _point(models_dir, DEFAULT_LINK, prev.name)
    log.info("model rolled back to %s (was %s)", prev.name[:12], old.name[:12] if old else "none")
    return prev


def sign_bundle(bundle_dir: Path, key: bytes) -> dict[str, Any]:
    """Add (or replace) the HMAC-SHA256 signature in a bundle's manifest, after checking
    its checksums (signing a tampered bundle would bless it). For the workstation."""
    try:
        manifest = read_verified_manifest(bundle_dir)
    except BundleError as exc:
        raise ModelStoreError(f"cannot sign: {exc}") from None
    manifest["signature"] = sign_manifest(manifest, key)
    path = bundle_dir / MANIFEST
    tmp = path.with_name(MANIFEST + ".tmp")
    tmp.write_text(json.dumps(manifest, indent=2, sort_keys=True))
    os.replace(tmp, path)
    return manifest


# ---- staging ------------------------------------------------------------------------------

def _copy_bundle_dir(source: Path, staging: Path) -> None:
    for entry in source.iterdir():
        if entry.is_symlink() or not entry.is_file():
            raise ModelStoreError(f"{entry}: refused: a bundle holds plain files only")
        shutil.copyfile(entry, staging / entry.name)


def _unpack_archive(archive: Path, staging: Path) -> None:
    """Unpack regular files only, flat, within size limits; tolerate one top directory."""
    try:
        with tarfile.open(archive, "r:*") as tar:
            members = tar.getmembers()
            if len(members) > MAX_ARCHIVE_MEMBERS:
                raise ModelStoreError(f"{archive}: refused: {len(members)} archive members "
                                      f"(at most {MAX_ARCHIVE_MEMBERS})")
            files = [m for m in members if not m.isdir()]
            bad = [m.name for m in files if not m.isreg()]
            if bad:
                raise ModelStoreError(f"{archive}: refused: archive has links or special "
                                      f"files: {bad}")
            total = sum(m.size for m in files)
            if total > MAX_ARCHIVE_BYTES:
                raise ModelStoreError(f"{archive}: refused: unpacks to {total} bytes (limit "
                                      f"{MAX_ARCHIVE_BYTES})")
            tops = {Path(m.name).parts[0] for m in files if len(Path(m.name).parts) > 1}
            for m in files:
                parts = Path(m.name).parts
                name = parts[-1] if parts else ""
                if (not parts or name in (".", "..") or Path(m.name).is_absolute()
                        or ".." in parts or len(parts) > 2
                        or (len(parts) == 2 and len(tops) != 1)):
                    raise ModelStoreError(f"{archive}: refused: unexpected path {m.name!r} "
                                          f"(a bundle is flat, optionally in one directory)")
                handle = tar.extractfile(m)
                if handle is None or (staging / name).exists():
                    raise ModelStoreError(f"{archive}: refused: duplicate or unreadable "
                                          f"member {m.name!r}")
                with handle, (staging / name).open("xb") as out:
                    shutil.copyfileobj(handle, out)
    except (tarfile.TarError, EOFError, OSError, ValueError, lzma.LZMAError, zlib.error) as exc:
        raise ModelStoreError(f"{archive}: refused: not a readable tar archive ({exc}); "
                              f"truncated?") from None


def _remove_stale_staging(models_dir: Path) -> None:
    for stale in models_dir.glob(STAGING_PREFIX + "*"):
        shutil.rmtree(stale, ignore_errors=True)


def _fsync_tree(directory: Path) -> None:
    for p in directory.iterdir():
        fd = os.open(p, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
    _fsync_dir(directory)


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


# ---- links --------------------------------------------------------------------------------

def _point(models_dir: Path, link: str, target_name: str) -> None:
    """Atomically make ``models_dir/link`` a relative symlink to ``target_name``."""
    tmp = models_dir / f".{link}.tmp-{os.getpid()}"
    tmp.unlink(missing_ok=True)
    os.symlink(target_name, tmp)
    os.replace(tmp, models_dir / link)
    _fsync_dir(models_dir)


def _adopt_plain_directory(models_dir: Path) -> None:
    """A ``default`` that is a real directory (copied by hand) moves to ``<sha>`` so that
    ``default`` can become a link; it then counts as the previous bundle."""
    default = models_dir / DEFAULT_LINK
    if default.is_dir() and not default.is_symlink():
        sha = manifest_sha256(default) if (default / MANIFEST).is_file() else "unversioned"
        target = models_dir / sha
        if target.exists():
            shutil.rmtree(default)
        else:
            os.rename(default, target)
        _point(models_dir, DEFAULT_LINK, sha)


def _prune(models_dir: Path) -> None:
    """Keep the bundles ``default`` and ``previous`` point at; delete the others."""
    keep = {p.name for p in (current(models_dir), current(models_dir, PREVIOUS_LINK)) if p}
    for entry in models_dir.iterdir():
        if (entry.is_dir() and not entry.is_symlink() and entry.name not in keep
                and not entry.name.startswith(".")):
            shutil.rmtree(entry, ignore_errors=True)
            log.info("removed old model bundle %s", entry.name[:12])


def _without_path(message: str, staging: Path) -> str:
    return message.replace(str(staging / MANIFEST) + ": ", "").replace(str(staging) + "/", "")


def describe(models_dir: Path) -> dict[str, Any]:
    """What is installed, for ``liftguard model list``."""
    out: dict[str, Any] = {}
    for link in (DEFAULT_LINK, PREVIOUS_LINK):
        target = current(models_dir, link)
        if target is None:
            out[link] = None
            continue
        try:
            manifest = json.loads((target / MANIFEST).read_text())
        except (OSError, ValueError):
            manifest = {}
        out[link] = {"sha256": target.name, "path": str(target),
                     "channels": manifest.get("channels"),
                     "sample_rate_hz": manifest.get("sample_rate_hz"),
                     "lift_types": manifest.get("lift_types"),
                     "signed": isinstance(manifest.get("signature"), dict)}
    return out
