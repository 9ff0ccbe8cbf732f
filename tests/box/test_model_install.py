"""`liftguard model install|rollback|sign`: refused bundles leave the running model in place,
good ones swap atomically, the daemon switches between sessions, nothing is unpickled early."""
from __future__ import annotations

import io
import json
import os
import shutil
import tarfile
from pathlib import Path

import joblib
import pytest

from edge_agent.bundles.model_store import current
from liftguard.box import box_daemon
from liftguard.cli import main
from models.anomaly import fit_bundle
from models.anomaly.bundle import sign_manifest, write_manifest
from models.anomaly.synthetic import DEFAULT_CHANNELS, synthetic_reps
from sensors.simulator import SimulatorSource
from tests.support.daemon_helpers import NO_PINS, config

KEY = "box-bundle-key"
RATE = 100.0


@pytest.fixture(scope="module")
def bundles(tmp_path_factory):
    root = tmp_path_factory.mktemp("bundles")
    reps = synthetic_reps(24, seed=0)
    good = fit_bundle(reps, DEFAULT_CHANNELS, RATE, root / "good", autoencoder=False,
                      n_folds=3, signing_key=KEY.encode())
    _edit(good, KEY, lift_types=["squat", "bench_press", "deadlift"])   # every lift a box records
    other = root / "other"
    shutil.copytree(good, other)
    _edit(other, KEY, lift_types=["squat", "deadlift"])      # a different, valid bundle
    unsigned = root / "unsigned"
    shutil.copytree(good, unsigned)
    _edit(unsigned, None)
    return {"good": good, "other": other, "unsigned": unsigned}


def _edit(bundle: Path, key: str | None, **changes) -> None:
    """Change manifest fields and write it again (checksums recomputed, signed with ``key``)."""
    manifest = json.loads((bundle / "manifest.json").read_text())
    manifest.update(changes)
    for name in ("files", "signature", "format_version"):
        manifest.pop(name, None)
    write_manifest(bundle, manifest, key.encode() if key else None)


def write_manifest_raw(bundle: Path, manifest: dict, key: str | None) -> None:
    """The manifest exactly as given (no format_version fixed up), signed with ``key``."""
    if key:
        manifest["signature"] = sign_manifest(manifest, key.encode())
    (bundle / "manifest.json").write_text(json.dumps(manifest))


@pytest.fixture
def box(tmp_path, monkeypatch):
    """A box config file; its bundle_key comes from the environment."""
    monkeypatch.setenv("LIFTGUARD_BUNDLE_KEY", KEY)

    def make(**imu) -> tuple[Path, Path]:
        lines = ["[device]", f'data_dir = "{tmp_path / "data"}"', 'secrets_file = ""', "[imu]"]
        lines += [f"{k} = {json.dumps(v)}" for k, v in imu.items()]
        path = tmp_path / "config.toml"
        path.write_text("\n".join(lines) + "\n")
        return path, tmp_path / "data" / "models"
    return make


def cli(config_path: Path, *args: str) -> int:
    return main(["--config", str(config_path), "model", *map(str, args)])


@pytest.fixture
def no_unpickling(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("joblib.load called while installing")
    monkeypatch.setattr(joblib, "load", refuse)


@pytest.fixture
def unpickling_only_verified_copies(monkeypatch):
    """Install loads the bundle (to refuse files that do not load), but only its verified
    staging copy, never the source it was given."""
    loaded: list[Path] = []
    real_load = joblib.load

    def load(path, *args, **kwargs):
        path = Path(path)
        assert path.parent.name.startswith(".incoming-"), f"unpickled {path} before verifying"
        loaded.append(path)
        return real_load(path, *args, **kwargs)
    monkeypatch.setattr(joblib, "load", load)
    return loaded


def test_good_bundle_swaps_atomically_and_rolls_back(box, bundles, capsys,
                                                     unpickling_only_verified_copies):
    cfg, models = box()
    assert cli(cfg, "install", bundles["good"]) == 0
    assert [p.name for p in unpickling_only_verified_copies] == ["detectors.joblib"]
    first = current(models)
    assert (models / "default").is_symlink() and first.parent == models
    assert json.loads((first / "manifest.json").read_text())["channels"] == list(DEFAULT_CHANNELS)
    assert cli(cfg, "install", bundles["other"], "--allow-missing-lifts") == 0
    second = current(models)
    assert second != first and current(models, "previous") == first
    assert "kept for 'liftguard model rollback'" in capsys.readouterr().out
    assert cli(cfg, "rollback") == 0
    assert current(models) == first and current(models, "previous") == second
    assert not list(models.glob(".incoming-*")) and not list(models.glob(".*.tmp-*"))


def test_rollback_without_a_previous_bundle_is_refused(box, bundles, capsys):
    cfg, models = box()
    assert cli(cfg, "rollback") == 1
    assert "no previous bundle" in capsys.readouterr().out


def _refused(cfg: Path, models: Path, bundle: Path, capsys, reason: str) -> None:
    before = current(models)
    assert cli(cfg, "install", bundle) == 1
    out = capsys.readouterr().out
    assert "NOT installed; the current one stays" in out and reason in out, out
    assert current(models) == before
    assert not list(models.glob(".incoming-*"))


@pytest.fixture
def installed(box, bundles):
    cfg, models = box()
    assert cli(cfg, "install", bundles["good"]) == 0
    return cfg, models


def test_tampered_file_is_refused(installed, bundles, tmp_path, capsys, no_unpickling):
    bad = tmp_path / "tampered"
    shutil.copytree(bundles["other"], bad)
    with (bad / "detectors.joblib").open("ab") as handle:
        handle.write(b"\0")
    _refused(*installed, bad, capsys, "detectors.joblib: SHA-256 mismatch")


def test_truncated_archive_is_refused(installed, bundles, tmp_path, capsys, no_unpickling):
    archive = tmp_path / "b.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(bundles["other"], arcname="bundle")
    data = archive.read_bytes()
    archive.write_bytes(data[: len(data) // 2])
    _refused(*installed, archive, capsys, "truncated")


def test_unsigned_bundle_is_refused_when_a_key_is_configured(installed, bundles, capsys,
                                                             no_unpickling):
    _refused(*installed, bundles["unsigned"], capsys, "not signed")


def test_bundle_signed_with_another_key_is_refused(installed, bundles, tmp_path, capsys,
                                                   no_unpickling):
    bad = tmp_path / "wrong-key"
    shutil.copytree(bundles["other"], bad)
    _edit(bad, "somebody-else's-key")
    _refused(*installed, bad, capsys, "signature does not verify")


def test_channel_mismatch_is_refused(box, bundles, capsys, no_unpickling):
    cfg, models = box(enabled=False)            # this box has no bar IMU
    _refused(cfg, models, bundles["good"], capsys, "does not record")


def test_rate_mismatch_is_refused(box, bundles, capsys, no_unpickling):
    cfg, models = box(sample_rate_hz=50)        # IMU sampled slower than the model's 100 Hz
    _refused(cfg, models, bundles["good"], capsys, "above this box's IMU rate 50 Hz")


def test_unknown_format_version_is_refused(installed, bundles, tmp_path, capsys,
                                           no_unpickling):
    bad = tmp_path / "v99"
    shutil.copytree(bundles["other"], bad)
    manifest = json.loads((bad / "manifest.json").read_text())
    manifest["format_version"] = 99
    manifest.pop("signature")
    write_manifest_raw(bad, manifest, KEY)
    _refused(*installed, bad, capsys, "unknown format_version 99")


def test_unlisted_file_and_unsafe_archive_members_are_refused(installed, bundles, tmp_path,
                                                              capsys):
    extra = tmp_path / "extra"
    shutil.copytree(bundles["other"], extra)
    (extra / "payload.pkl").write_bytes(b"not listed")
    _refused(*installed, extra, capsys, "not listed in the manifest: ['payload.pkl']")
    evil = tmp_path / "evil.tar.gz"
    with tarfile.open(evil, "w:gz") as tar:
        info = tarfile.TarInfo("../../etc/cron.d/x")
        info.size = 3
        tar.addfile(info, io.BytesIO(b"boo"))
    _refused(*installed, evil, capsys, "unexpected path")
    link = tmp_path / "link.tar.gz"
    with tarfile.open(link, "w:gz") as tar:
        info = tarfile.TarInfo("manifest.json")
        info.type, info.linkname = tarfile.SYMTYPE, "/etc/shadow"
        tar.addfile(info)
    _refused(*installed, link, capsys, "links or special files")


def test_archive_installs_like_a_directory(box, bundles, tmp_path):
    cfg, models = box()
    archive = tmp_path / "bundle.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(bundles["good"], arcname="good-bundle")
    assert cli(cfg, "install", archive) == 0
    assert sorted(p.name for p in current(models).iterdir()) == \
        sorted(p.name for p in bundles["good"].iterdir())


def test_sign_then_install(box, bundles, tmp_path, capsys):
    cfg, models = box()
    bundle = tmp_path / "to-sign"
    shutil.copytree(bundles["unsigned"], bundle)
    assert cli(cfg, "install", bundle) == 1
    assert cli(cfg, "sign", bundle) == 0
    assert json.loads((bundle / "manifest.json").read_text())["signature"]["alg"] == "hmac-sha256"
    assert cli(cfg, "install", bundle) == 0
    with (bundle / "calibration.npz").open("ab") as handle:
        handle.write(b"\0")
    capsys.readouterr()
    assert cli(cfg, "sign", bundle) == 1                # never bless a tampered bundle
    assert "SHA-256 mismatch" in capsys.readouterr().out


def test_daemon_switches_to_the_new_bundle_between_sessions(tmp_path, bundles, monkeypatch):
    monkeypatch.setenv("LIFTGUARD_BUNDLE_KEY", KEY)
    cfg_path = tmp_path / "c.toml"
    cfg_path.write_text(f'[device]\ndata_dir = "{tmp_path}"\nsecrets_file = ""\n')
    d = box_daemon(config(tmp_path, feedback=NO_PINS), sources=[SimulatorSource(realtime=False)],
               api=False)
    try:
        assert d.model_info is None and d.scorer.kind == "rules"
        sid = d.sessions.start("squat")
        assert main(["--config", str(cfg_path), "model", "install", str(bundles["good"])]) == 0
        assert d.reload_model_if_changed() is False and d.scorer.kind == "rules"  # mid-session
        d.sessions.end(sid)
        assert d.reload_model_if_changed() is True
        assert d.loop.scorer is d.scorer and d.scorer.kind == "model"
        assert d.model_info["bundle"] == str(current(tmp_path / "models"))
        assert d.reload_model_if_changed() is False                     # nothing new
        assert main(["--config", str(cfg_path), "model", "rollback"]) == 1   # no previous
        os.unlink(tmp_path / "models" / "default")
        assert d.reload_model_if_changed() is True and d.scorer.kind == "rules"
    finally:
        d.sessions.wait_idle(30)
        d.close()


def test_bundle_not_covering_the_boxs_lifts_is_refused_unless_allowed(box, bundles, capsys):
    cfg, models = box()
    assert cli(cfg, "install", bundles["good"]) == 0
    first = current(models)
    capsys.readouterr()
    assert cli(cfg, "install", bundles["other"]) == 1
    out = capsys.readouterr().out
    assert "NOT installed" in out and "bench_press" in out and "--allow-missing-lifts" in out
    assert current(models) == first
    assert cli(cfg, "install", bundles["other"], "--allow-missing-lifts") == 0
    assert current(models) != first


def test_reinstalling_the_default_changes_nothing_and_says_so(box, bundles, capsys, caplog):
    cfg, models = box()
    assert cli(cfg, "install", bundles["good"]) == 0
    first = current(models)
    capsys.readouterr()
    with caplog.at_level("INFO", logger="edge_agent.bundles.model_store"):
        assert cli(cfg, "install", bundles["good"]) == 0
    assert "already the default" in capsys.readouterr().out
    assert current(models) == first and current(models, "previous") is None
    assert not any("previous: " + first.name[:12] in r.getMessage() for r in caplog.records)


def test_model_list_is_text_with_json_on_request(box, bundles, capsys):
    cfg, models = box()
    assert cli(cfg, "list") == 0
    text = capsys.readouterr().out
    assert "default: none installed" in text and "the shipped bundle" in text
    assert cli(cfg, "install", bundles["good"]) == 0
    capsys.readouterr()
    assert cli(cfg, "list") == 0
    text = capsys.readouterr().out
    assert f"default: {current(models).name[:12]} (squat, bench_press, deadlift;" in text
    assert not text.lstrip().startswith("{")
    assert cli(cfg, "list", "--json") == 0
    data = json.loads(capsys.readouterr().out)
    assert data["default"]["sha256"] == current(models).name and data["reason"] is None
