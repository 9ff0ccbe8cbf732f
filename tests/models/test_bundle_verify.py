"""Bundle verification: nothing is unpickled before checksums, signature and sensors check out."""
from __future__ import annotations

import json
import shutil

import joblib
import pytest

from models.anomaly import BundleError, fit_bundle, load_bundle
from models.anomaly.synthetic import DEFAULT_CHANNELS, synthetic_reps

RATE = 100.0
KEY = b"test-signing-key"


@pytest.fixture(scope="module")
def bundle(tmp_path_factory):
    return fit_bundle(synthetic_reps(24, seed=0), DEFAULT_CHANNELS, RATE, tmp_path_factory.mktemp("b") / "bundle",
                      autoencoder=False, signing_key=KEY)


@pytest.fixture
def copy(bundle, tmp_path):
    target = tmp_path / "copy"
    shutil.copytree(bundle, target)
    return target


@pytest.fixture
def no_unpickling(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("joblib.load called before the bundle verified")

    monkeypatch.setattr(joblib, "load", refuse)


def _edit_manifest(path, **changes):
    manifest = json.loads((path / "manifest.json").read_text())
    manifest.update(changes)
    (path / "manifest.json").write_text(json.dumps(manifest))


def test_manifest_lists_checksums_versions_and_calibration(bundle):
    manifest = json.loads((bundle / "manifest.json").read_text())
    assert set(manifest["files"]) == {"detectors.joblib", "calibration.npz"}
    assert manifest["format_version"] == 1 and manifest["channels"] == list(DEFAULT_CHANNELS)
    assert manifest["window"]["length_samples"] == 100 and manifest["window"]["hop_samples"] == 25
    assert {"numpy", "scikit-learn", "joblib"} <= set(manifest["libraries"])
    assert manifest["calibration"]["false_alarm_rate"] == 0.05
    assert manifest["saturation_limits"] is None
    assert "out-of-fold" in manifest["calibration"]["method"]
    assert len(manifest["scalers"]["channels"]["data_min"]) == len(DEFAULT_CHANNELS)
    assert sum(p.stat().st_size for p in bundle.iterdir()) < 2_000_000


def test_signed_bundle_loads_with_key(bundle):
    model = load_bundle(bundle, expect_channels=DEFAULT_CHANNELS, expect_rate=RATE, signing_key=KEY)
    assert model.channels == DEFAULT_CHANNELS


def test_tampered_detector_file_is_refused_before_unpickling(copy, no_unpickling):
    with (copy / "detectors.joblib").open("ab") as handle:
        handle.write(b"\0")
    with pytest.raises(BundleError, match="detectors.joblib: SHA-256 mismatch"):
        load_bundle(copy)


def test_missing_file_is_named(copy, no_unpickling):
    (copy / "calibration.npz").unlink()
    with pytest.raises(BundleError, match="calibration.npz: listed in the manifest but missing"):
        load_bundle(copy)


def test_channel_and_rate_mismatch_are_refused(bundle, no_unpickling):
    with pytest.raises(BundleError, match="do not match this box's channels"):
        load_bundle(bundle, expect_channels=("ax", "ay", "az"))
    with pytest.raises(BundleError, match="sample rate 100.0 Hz does not match this box's 200.0 Hz"):
        load_bundle(bundle, expect_rate=200.0)


def test_unknown_format_version_is_refused(copy, no_unpickling):
    _edit_manifest(copy, format_version=99)
    with pytest.raises(BundleError, match="unknown format_version 99"):
        load_bundle(copy)


def test_edited_manifest_fails_signature(copy, no_unpickling):
    _edit_manifest(copy, lift_types=["deadlift"])
    with pytest.raises(BundleError, match="signature does not verify"):
        load_bundle(copy, signing_key=KEY)
    with pytest.raises(BundleError, match="signature does not verify"):
        load_bundle(copy.parent / "copy", signing_key=b"other-key")


def test_unsigned_bundle_refused_when_key_configured(copy, no_unpickling):
    manifest = json.loads((copy / "manifest.json").read_text())
    del manifest["signature"]
    (copy / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(BundleError, match="not signed"):
        load_bundle(copy, signing_key=KEY)


def test_path_in_file_list_is_refused(copy, no_unpickling):
    manifest = json.loads((copy / "manifest.json").read_text())
    manifest["files"]["../evil.joblib"] = "0" * 64
    (copy / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(BundleError, match="not a plain file name"):
        load_bundle(copy)


def test_garbage_manifest_and_missing_manifest(copy, tmp_path):
    (copy / "manifest.json").write_text("{not json")
    with pytest.raises(BundleError, match="manifest unreadable"):
        load_bundle(copy)
    with pytest.raises(BundleError, match="no manifest"):
        load_bundle(tmp_path / "empty")


def test_fit_refuses_non_empty_output_dir(bundle):
    with pytest.raises(FileExistsError, match="not empty"):
        fit_bundle(synthetic_reps(24, seed=0), DEFAULT_CHANNELS, RATE, bundle, autoencoder=False)
