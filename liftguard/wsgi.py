"""Entry point for running the app under a WSGI server by name (``gunicorn liftguard.wsgi:app``).

The config file comes from ``LIFTGUARD_CONFIG`` (default /etc/liftguard/config.toml); secrets
from the secrets file it names or the environment, as for every liftguard command.
`liftguard web` does the same without this module.
"""
from __future__ import annotations

import os
from typing import Any

from coach.settings import WebSettings, settings_from_config


def settings_from_environment() -> WebSettings:
    from liftguard.config import DEFAULT_CONFIG_PATH, load_config
    from liftguard.secrets import load_secrets

    path = os.environ.get("LIFTGUARD_CONFIG") or str(DEFAULT_CONFIG_PATH)
    cfg = load_config(path)
    return settings_from_config(cfg, load_secrets(cfg.get("device.secrets_file")))


def __getattr__(name: str) -> Any:
    if name == "app":  # made on first use, so importing this module reads no files
        from coach import create_app
        return create_app(settings_from_environment())
    raise AttributeError(name)
