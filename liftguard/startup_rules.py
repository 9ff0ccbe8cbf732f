"""The rules ``liftguard run`` applies at start-up beyond the config schema, in one place so
that ``liftguard config check`` applies exactly the same ones (without opening any device).

Each rule returns a message naming the key(s); ``problems(cfg, secrets)`` lists them all.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping

from sync.netaddr import is_loopback


def source_problems(cfg: Any) -> list[str]:
    kind = cfg.get("source.kind")
    if kind == "replay":
        path = cfg.get("source.replay_file")
        if not path:
            return ["[source] kind = 'replay' needs [source] replay_file"]
        if not Path(path).is_file():
            return [f"[source] replay_file = {path!r}: no such file"]
        return []
    if kind == "hardware" and not cfg.get("imu.enabled") and not cfg.get("loadcells.enabled"):
        return ["[imu] and [loadcells] are both disabled: no sensor to read"]
    return []


def api_problems(cfg: Any, secrets: Mapping[str, Any]) -> list[str]:
    bind = cfg.get("api.bind")
    if not is_loopback(bind) and not secrets.get("api_token"):
        return [f"[api] bind = {bind!r} is not a loopback address: set the api_token secret "
                f"(env LIFTGUARD_API_TOKEN or the secrets file) or bind to 127.0.0.1"]
    return []


def problems(cfg: Any, secrets: Mapping[str, Any]) -> list[str]:
    return source_problems(cfg) + api_problems(cfg, secrets)
