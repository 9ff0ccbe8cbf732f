"""Every output path the user names is checked the same way before work starts: a missing
directory is named as the user gave it (never an internal temporary file), and nothing is
created on the way."""
from __future__ import annotations

import subprocess
import sys

import pytest


def liftguard(*args: str, cwd) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "liftguard", *args], capture_output=True,
                          text=True, timeout=120, cwd=cwd)


@pytest.mark.parametrize("argv, option", [
    (["simulate", "--lift", "squat", "--reps", "2", "--out", "no/such/dir/rec.csv"], "--out"),
    (["train", "--sim", "2", "--lift", "squat", "--out", "no/such/dir/bundle"], "--out"),
])
def test_missing_output_directory_is_named_and_not_created(tmp_path, argv, option):
    out = liftguard(*argv, cwd=tmp_path)
    assert out.returncode == 2, out.stderr
    assert f"{option} no/such/dir" in out.stderr
    assert ".tmp" not in out.stderr and ".new-" not in out.stderr
    assert not (tmp_path / "no").exists()


def test_train_out_may_be_one_new_level(tmp_path):
    from liftguard.commands.output_paths import output_dir

    assert output_dir(str(tmp_path / "new"), "--out") == tmp_path / "new"
    (tmp_path / "file").write_text("x")
    from liftguard.errors import UsageError
    with pytest.raises(UsageError, match="exists and is not a directory"):
        output_dir(str(tmp_path / "file"), "--out")
