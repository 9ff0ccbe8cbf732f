"""`pip install .` must ship every package and the `liftguard` console script."""
from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_wheel_contains_packages_and_console_script(tmp_path):
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps",
                    "-w", str(tmp_path), str(REPO)], check=True, capture_output=True)
    wheel = next(tmp_path.glob("liftguard-*.whl"))
    names = zipfile.ZipFile(wheel).namelist()
    for package in ("liftguard", "edge_agent", "coach", "sensors", "models", "sync", "evaluation"):
        assert f"{package}/__init__.py" in names, package
    assert not any(n.startswith("tests/") for n in names)
    assert "sync/schema/0001_seed.sql" in names, "migrations must ship in the wheel"
    assert "models/bundles/default/manifest.json" in names, "the default bundle must ship"
    entry_points = next(n for n in names if n.endswith("entry_points.txt"))
    text = zipfile.ZipFile(wheel).read(entry_points).decode()
    assert "liftguard = liftguard.cli:main" in text
    metadata = zipfile.ZipFile(wheel).read(next(n for n in names if n.endswith("METADATA"))).decode()
    for dep in ("numpy", "scikit-learn", "joblib", "smbus2", "pyserial", "paho-mqtt",
                "psycopg2-binary", "gpiozero", "ai-edge-litert"):
        assert f"Requires-Dist: {dep}" in metadata, dep
