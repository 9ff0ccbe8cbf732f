"""Model bundle on disk: write it, and verify it before anything in it is deserialised.

Layout: ``manifest.json`` plus the files it lists under ``files`` with their SHA-256.
Loading checks, in this order, and refuses with ``BundleError`` naming the problem: the
manifest parses and has a known ``format_version``; an HMAC-SHA256 signature verifies when a
key is configured; every value the loader uses has its type and range
(``manifest_values``, naming the field); the channels and sample rate match the box; every
listed file exists and matches its checksum, and no unlisted file is used. Only then is
``joblib.load`` called, and a file that does not load is a ``BundleError`` naming it.
"""
from __future__ import annotations

import hashlib
import hmac
import json
import logging
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from models.anomaly.errors import BundleError
from models.anomaly.manifest_values import check_manifest_values

log = logging.getLogger(__name__)

FORMAT_VERSION = 1
MANIFEST = "manifest.json"
SAMPLE_RATE_TOLERANCE = 0.01


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _canonical(manifest: dict[str, Any]) -> bytes:
    unsigned = {key: value for key, value in manifest.items() if key != "signature"}
    return json.dumps(unsigned, sort_keys=True, separators=(",", ":")).encode()


def sign_manifest(manifest: dict[str, Any], key: bytes) -> dict[str, str]:
    return {"alg": "hmac-sha256", "value": hmac.new(key, _canonical(manifest), hashlib.sha256).hexdigest()}


def write_manifest(bundle_dir: Path, manifest: dict[str, Any], signing_key: bytes | None = None) -> Path:
    """Record the checksum of every file already in ``bundle_dir`` and write the manifest."""
    files = sorted(p for p in bundle_dir.iterdir() if p.is_file() and p.name != MANIFEST)
    manifest = dict(manifest, format_version=FORMAT_VERSION, files={p.name: sha256_file(p) for p in files})
    if signing_key is not None:
        manifest["signature"] = sign_manifest(manifest, signing_key)
    path = bundle_dir / MANIFEST
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(manifest, indent=2, sort_keys=True))
    tmp.replace(path)
    return path


def read_verified_manifest(
    bundle_dir: Path,
    expect_channels: Sequence[str] | None = None,
    expect_rate: float | None = None,
    signing_key: bytes | None = None,
) -> dict[str, Any]:
    """Parse and check the manifest and every file checksum; raise ``BundleError`` on any problem."""
    path = Path(bundle_dir) / MANIFEST
    try:
        manifest = json.loads(path.read_text())
    except FileNotFoundError as exc:
        raise BundleError(f"{path}: no manifest; not a model bundle") from exc
    except (OSError, UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise BundleError(f"{path}: manifest unreadable: {type(exc).__name__}: {str(exc)[:200]}") from None
    if not isinstance(manifest, dict):
        raise BundleError(f"{path}: manifest is not a JSON object")
    version = manifest.get("format_version")
    if type(version) is not int or version != FORMAT_VERSION:
        raise BundleError(f"{path}: unknown format_version {repr(version)[:20]}; this box reads version {FORMAT_VERSION}")
    _check_signature(path, manifest, signing_key)
    check_manifest_values(path, manifest)
    _check_sensors(path, manifest, expect_channels, expect_rate)
    files = manifest.get("files")
    if not isinstance(files, dict) or not files:
        raise BundleError(f"{path}: manifest lists no files with checksums")
    for name, expected in files.items():
        if not name or Path(name).name != name or not isinstance(expected, str):
            raise BundleError(f"{path}: file entry {name!r} is not a plain file name")
        file_path = path.parent / name
        if not file_path.is_file():
            raise BundleError(f"{file_path}: listed in the manifest but missing")
        actual = sha256_file(file_path)
        if not hmac.compare_digest(actual, str(expected)):
            raise BundleError(f"{file_path}: SHA-256 mismatch (manifest {expected}, file {actual}); bundle altered or corrupt")
    return manifest


def _check_sensors(path: Path, manifest: dict, expect_channels: Sequence[str] | None, expect_rate: float | None) -> None:
    channels = manifest.get("channels")
    if expect_channels is not None and list(channels or []) != list(expect_channels):
        raise BundleError(f"{path}: bundle channels {channels} do not match this box's channels {list(expect_channels)}")
    rate = manifest.get("sample_rate_hz")
    if expect_rate is not None:
        if not isinstance(rate, (int, float)) or not math.isclose(rate, expect_rate, rel_tol=SAMPLE_RATE_TOLERANCE):
            raise BundleError(f"{path}: bundle sample rate {rate} Hz does not match this box's {expect_rate} Hz")


def _check_signature(path: Path, manifest: dict, signing_key: bytes | None) -> None:
    if signing_key is None:
        return
    signature = manifest.get("signature")
    if not isinstance(signature, dict) or signature.get("alg") != "hmac-sha256":
        raise BundleError(f"{path}: a signing key is configured but the manifest is not signed (hmac-sha256)")
    expected = sign_manifest(manifest, signing_key)["value"]
    if not hmac.compare_digest(expected, str(signature.get("value"))):
        raise BundleError(f"{path}: manifest signature does not verify; bundle altered or signed with another key")


def bundle_file(bundle_dir: Path, manifest: dict[str, Any], name: str) -> Path:
    """Path of a file the manifest lists (and so has checksummed); refuses any other name."""
    if name not in manifest.get("files", {}):
        raise BundleError(f"{bundle_dir}: manifest does not list {name!r}")
    return Path(bundle_dir) / name
