"""`liftguard config check`: validate the config file and report which secrets are set."""
from __future__ import annotations

import argparse
import sys

from liftguard.errors import EXIT_USAGE
from liftguard.secrets import SECRET_NAMES, load_secrets


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("config", help="configuration tools")
    psub = p.add_subparsers(dest="config_command", metavar="ACTION")
    psub.required = True
    check = psub.add_parser("check", help="validate --config and show where secrets come from")
    check.set_defaults(func=run_check)


def run_check(args: argparse.Namespace) -> int:
    from liftguard.startup_rules import problems

    cfg = args.cfg
    secrets = load_secrets(cfg.get("device.secrets_file"))
    where = cfg.path or "built-in defaults"
    found = problems(cfg, secrets)
    for problem in found:
        print(f"liftguard: config error: {where}: {problem}", file=sys.stderr)
    if found:
        return EXIT_USAGE
    print(f"config: {where}: OK (the rules 'liftguard run' applies at start-up pass)")
    for name, var in SECRET_NAMES.items():
        where = secrets.sources.get(name, f"not set (env {var} or secrets file)")
        print(f"secret {name}: {where}")
    return 0
