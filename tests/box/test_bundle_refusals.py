"""Corrupt bundles whose checksums were updated to match: refused with ``BundleError`` naming
the field or file, at install time, and a daemon that meets one anyway runs on the rules."""
from __future__ import annotations

import io
import json
import shutil
import tarfile
from pathlib import Path

import joblib
import pytest
from hypothesis import given
from hypothesis import strategies as st

from edge_agent.bundles.errors import ModelStoreError
from edge_agent.bundles.model_store import current, install_bundle
from edge_agent.daemon.scoring import make_scorer
from liftguard.box import box_daemon
from models.anomaly import BundleError, load_bundle
from models.anomaly.bundle import MANIFEST, read_verified_manifest, sha256_file
from sensors.frame import BOX_CHANNELS
from tests.support.bundles import BOX, DEFAULT_BUNDLE, manifest_text, set_field
from tests.support.daemon_helpers import NO_PINS, config


@pytest.fixture
def copy(tmp_path):
    target = tmp_path / "bundle"
    shutil.copytree(DEFAULT_BUNDLE, target)
    return target


def truncate(bundle: Path, name: str) -> None:
    """Cut a file in half and record its new checksum, as an attacker or a bad copy would."""
    path = bundle / name
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    manifest = json.loads(manifest_text(bundle))
    manifest["files"][name] = sha256_file(path)
    (bundle / MANIFEST).write_text(json.dumps(manifest))


def drop_estimator(bundle: Path, name: str) -> None:
    """Rewrite detectors.joblib without one estimator the manifest's rep decision still names."""
    path = bundle / "detectors.joblib"
    estimators = joblib.load(path)
    del estimators[name]
    joblib.dump(estimators, path, compress=3)
    manifest = json.loads(manifest_text(bundle))
    manifest["files"][path.name] = sha256_file(path)
    (bundle / MANIFEST).write_text(json.dumps(manifest))


CORRUPTIONS = [
    (lambda b: set_field(b, "sample_rate_hz", "1" + "0" * 400), "sample_rate_hz"),
    (lambda b: set_field(b, "window.length_samples", "1e999"), "window.length_samples"),
    (lambda b: set_field(b, "calibration.false_alarm_rate", '"x"'), "calibration.false_alarm_rate"),
    (lambda b: set_field(b, "window.hop_samples", "-3"), "window.hop_samples"),
    (lambda b: set_field(b, "norms.rep_median", "[1, NaN]"), "norms.rep_median[1]"),
    (lambda b: set_field(b, "channels", '["ax", "ax"]'), "channels"),
    (lambda b: truncate(b, "calibration.npz"), "calibration.npz: does not load"),
    (lambda b: truncate(b, "autoencoder.tflite"), "autoencoder.tflite: does not load"),
    (lambda b: truncate(b, "detectors.joblib"), "detectors.joblib: does not load"),
    (lambda b: drop_estimator(b, "rep_mahalanobis"), "rep_mahalanobis"),
    (lambda b: set_field(b, "detectors.rep", '["rep_bogus", "rep_ocsvm"]'), "rep_bogus"),
]
IDS = ["rate-400-digits", "length-1e999", "far-x", "hop-negative", "norm-nan", "channels-twice",
       "npz-truncated", "tflite-truncated", "joblib-truncated", "rep-detector-not-in-bundle", "rep-detector-unknown"]


@pytest.mark.parametrize("corrupt, names", CORRUPTIONS, ids=IDS)
def test_corrupt_bundle_is_refused_naming_the_field_or_file(copy, corrupt, names):
    corrupt(copy)
    with pytest.raises(BundleError, match=names.replace("[", r"\[").replace("]", r"\]")):
        load_bundle(copy)


@pytest.mark.parametrize("corrupt, names", CORRUPTIONS, ids=IDS)
def test_install_refuses_it_and_keeps_the_current_bundle(copy, tmp_path, corrupt, names):
    models = tmp_path / "models"
    install_bundle(DEFAULT_BUNDLE, models, BOX)
    before = current(models)
    corrupt(copy)
    with pytest.raises(ModelStoreError, match="refused") as refused:
        install_bundle(copy, models, BOX)
    assert names.split(":")[0].split("[")[0] in str(refused.value)
    assert current(models) == before


@pytest.mark.parametrize("corrupt, names", CORRUPTIONS[:1] + CORRUPTIONS[6:8],
                         ids=IDS[:1] + IDS[6:8])
def test_daemon_starts_on_the_rules_with_the_reason_in_status(copy, tmp_path, corrupt, names):
    corrupt(copy)
    cfg = config(tmp_path / "data", feedback=NO_PINS, daemon={"model_bundle": str(copy)})
    daemon = box_daemon(cfg, sources=[], api=False)
    try:
        daemon.start(live=False)
        status = daemon.status()
        assert status["model"] is None and status["decision"]["kind"] == "rules"
        assert names.split(":")[0].split("[")[0] in status["model_reason"]
    finally:
        daemon.stop()


def test_a_good_bundle_still_loads_after_refusals(copy):
    scorer, info, reason = make_scorer(copy, 0.6)
    assert info is not None and reason is None and scorer.kind == "model"


def _tar(path: Path, members: list[tuple[str, bytes]], mode: str = "w") -> Path:
    with tarfile.open(path, mode) as tar:
        for name, data in members:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


def test_tar_member_named_dot_is_refused_clearly(tmp_path):
    archive = _tar(tmp_path / "b.tar", [(".", b"x"), ("manifest.json", b"{}")])
    with pytest.raises(ModelStoreError, match=r"unexpected path '\.'"):
        install_bundle(archive, tmp_path / "models", BOX)


def test_corrupt_tar_xz_is_refused_clearly(tmp_path):
    good = _tar(tmp_path / "b.tar.xz", [("manifest.json", b"{}" * 5000)], "w:xz")
    data = bytearray(good.read_bytes())
    data[40:80] = b"\x00" * 40
    good.write_bytes(bytes(data))
    with pytest.raises(ModelStoreError, match="not a readable tar archive"):
        install_bundle(good, tmp_path / "models", BOX)


# ---- property: mutations of the shipped manifest -------------------------------------------

def _leaves(node, prefix=""):
    if isinstance(node, dict):
        for key, value in node.items():
            if key not in ("files", "signature"):
                yield from _leaves(value, f"{prefix}{key}.")
    elif isinstance(node, list) and node and not isinstance(node[0], (dict, list)):
        yield prefix[:-1], node
        yield f"{prefix[:-1]}.0", node[0]
    else:
        yield prefix[:-1], node


MANIFEST_DOC = json.loads((DEFAULT_BUNDLE / MANIFEST).read_text())
FIELDS = sorted({path for path, _ in _leaves(MANIFEST_DOC)})
HOSTILE = st.one_of(
    st.integers(min_value=-(10 ** 400), max_value=10 ** 400).map(str),
    st.sampled_from(["1e999", "-1e999", "NaN", "Infinity", '"x"', '""', "null", "true",
                     "[]", "{}", "[[[[[[1]]]]]]", '"\\ud800"', "0", "-1", "1e-320"]),
    st.floats(allow_nan=False, allow_infinity=False).map(repr),
)


def _mutate(doc, dotted: str, literal: str) -> str:
    doc = json.loads(json.dumps(doc))
    node = doc
    *parents, leaf = dotted.split(".")
    for part in parents:
        node = node[int(part)] if isinstance(node, list) else node[part]
    if isinstance(node, list):
        node[int(leaf)] = "@@VALUE@@"
    else:
        node[leaf] = "@@VALUE@@"
    return json.dumps(doc).replace('"@@VALUE@@"', literal)


@pytest.fixture(scope="module")
def scratch(tmp_path_factory):
    target = tmp_path_factory.mktemp("mutated") / "bundle"
    shutil.copytree(DEFAULT_BUNDLE, target)
    return target


@given(field=st.sampled_from(FIELDS), literal=HOSTILE)
def test_manifest_mutations_raise_only_bundle_error(scratch, field, literal):
    (scratch / MANIFEST).write_text(_mutate(MANIFEST_DOC, field, literal))
    try:
        read_verified_manifest(scratch, BOX_CHANNELS, 100.0)
    except BundleError as exc:
        assert str(scratch) in str(exc)
    (scratch / MANIFEST).write_text(json.dumps(MANIFEST_DOC))
    assert read_verified_manifest(scratch, BOX_CHANNELS, 100.0)["sample_rate_hz"] == 100.0


def test_model_install_command_refuses_and_says_why(copy, tmp_path, capsys):
    from liftguard.cli import main

    set_field(copy, "calibration.false_alarm_rate", '"x"')
    cfg = tmp_path / "config.toml"
    cfg.write_text(f'[device]\ndata_dir = "{tmp_path / "data"}"\nsecrets_file = ""\n'
                   f'[source]\nkind = "simulator"\n')
    assert main(["--config", str(cfg), "model", "install", str(copy)]) == 1
    out = capsys.readouterr().out
    assert "model NOT installed" in out and "calibration.false_alarm_rate = 'x'" in out
    assert current(tmp_path / "data" / "models") is None
