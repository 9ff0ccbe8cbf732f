"""No setting exists only in tests: every Flask config key the web app reads is set by the
product itself (``coach.create_app``, or a Flask / Flask-WTF default), and every config-file
key the product reads is declared in ``liftguard.config.SCHEMA`` (with its default, so
``liftguard`` sets it from the config file or its default). A key read in the product but set
only under tests/ (as the session commands' broker once was) fails here, naming the file."""
from __future__ import annotations

import ast
import re
from pathlib import Path

import flask
import pytest

REPO = Path(__file__).resolve().parents[2]
PRODUCT = ("liftguard", "coach", "edge_agent", "sync", "sensors", "models", "evaluation")
FLASK_READ = re.compile(r"\bconfig(?:\.get\(|\[)\s*[\"']([A-Z][A-Z0-9_]*)[\"']")
CONFIG_READ = re.compile(r"\.get\(\s*[\"']([a-z_]+)\.([a-z_0-9]+)[\"']")
SECTION_READ = re.compile(r"\bsection\(\s*[\"']([a-z_]+)[\"']\s*\)(?:\[[\"']([a-z_0-9]+)[\"']\])?")


def product_files() -> list[Path]:
    return [p for d in PRODUCT for p in sorted((REPO / d).rglob("*.py"))]


def flask_keys_set_in(path: Path) -> set[str]:
    """Keys given to ``<x>.config.update(KEY=...)`` or assigned as ``<x>.config["KEY"] = ...``."""
    keys: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) \
                and node.func.attr in ("update", "setdefault") \
                and isinstance(node.func.value, ast.Attribute) and node.func.value.attr == "config":
            keys |= {k.arg for k in node.keywords if k.arg}
            keys |= {a.value for a in node.args if isinstance(a, ast.Constant)
                     and isinstance(a.value, str)}
        if isinstance(node, ast.Assign):
            for target in node.targets:
                if isinstance(target, ast.Subscript) and isinstance(target.value, ast.Attribute) \
                        and target.value.attr == "config" \
                        and isinstance(target.slice, ast.Constant):
                    keys.add(target.slice.value)
    return keys


def flask_defaults() -> set[str]:
    from flask_wtf import csrf
    wtf = set(re.findall(r"[\"'](WTF_[A-Z_]+)[\"']", Path(csrf.__file__).read_text()))
    return set(flask.Flask.default_config) | wtf


def test_every_flask_setting_read_by_the_web_app_is_set_by_the_web_app():
    set_by_product = set().union(*(flask_keys_set_in(p) for p in product_files()))
    known = set_by_product | flask_defaults()
    unset = [f"{p.relative_to(REPO)}: reads app config {key!r}, which only tests set"
             for p in product_files() for key in FLASK_READ.findall(p.read_text("utf-8"))
             if key not in known]
    assert not unset, "\n".join(unset)
    assert "COACH_SETTINGS" in set_by_product, "the scan finds create_app's settings"


def test_every_config_key_read_by_the_product_is_declared_with_a_default():
    from liftguard.config import SCHEMA
    missing = []
    for p in product_files():
        text = p.read_text("utf-8")
        for section, key in CONFIG_READ.findall(text):
            if section in SCHEMA and key not in SCHEMA[section]:
                missing.append(f"{p.relative_to(REPO)}: reads [{section}] {key}")
        for section, key in SECTION_READ.findall(text):
            if section not in SCHEMA or (key and key not in SCHEMA[section]):
                missing.append(f"{p.relative_to(REPO)}: reads [{section}] {key or '(section)'}")
    assert not missing, "\n".join(missing)


@pytest.mark.parametrize("source, expect", [
    ('app.config.update(A_KEY=1)\nx = current_app.config.get("ONLY_IN_TESTS")\n', False),
    ('app.config["ONLY_IN_TESTS"] = 1\nx = current_app.config["ONLY_IN_TESTS"]\n', True),
])
def test_the_scan_tells_a_key_set_in_the_product_from_one_that_is_not(tmp_path, source, expect):
    path = tmp_path / "mod.py"
    path.write_text(source)
    read = set(FLASK_READ.findall(source))
    assert (read <= flask_keys_set_in(path) | flask_defaults()) is expect
