"""`liftguard config check`: validate the config file and report which secrets are set."""
from __future__ import annotations

import argparse

from edge_agent.secrets import SECRET_NAMES, load_secrets


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("config", help="configuration tools")
    psub = p.add_subparsers(dest="config_command", metavar="ACTION")
    psub.required = True
    check = psub.add_parser("check", help="validate --config and show where secrets come from")
    check.set_defaults(func=run_check)


def run_check(args: argparse.Namespace) -> int:
    cfg = args.cfg
    secrets = load_secrets(cfg.get("device.secrets_file"))
    print(f"config: {cfg.path or 'built-in defaults'}: OK")
    for name, var in SECRET_NAMES.items():
        where = secrets.sources.get(name, f"not set (env {var} or secrets file)")
        print(f"secret {name}: {where}")
    return 0
