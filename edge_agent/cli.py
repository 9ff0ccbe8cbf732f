"""`liftguard` command line: subcommands, global options, exit codes.

Exit codes: 0 ok, 2 usage or configuration error, 1 runtime failure.
"""
from __future__ import annotations

import argparse
import importlib
import logging
import sys
from typing import Sequence

from edge_agent.config import DEFAULT_CONFIG_PATH, Config, ConfigError, load_config
from edge_agent.logsetup import setup_logging

log = logging.getLogger("liftguard")

EXIT_OK, EXIT_RUNTIME, EXIT_USAGE = 0, 1, 2

# Each module registers its subcommand(s) through ``register(subparsers)``.
COMMAND_MODULES = (
    "edge_agent.commands.simulate",
    "edge_agent.commands.replay",
    "edge_agent.commands.calibrate",
    "edge_agent.commands.sensors_check",
    "edge_agent.commands.config_check",
    "edge_agent.commands.db",
    "edge_agent.commands.analyze",
    "edge_agent.commands.sync_cmd",
    "edge_agent.commands.ingest",
    "edge_agent.commands.web",
    "edge_agent.commands.run",
    "edge_agent.commands.demo",
    "edge_agent.commands.sessions",
    "edge_agent.commands.export",
    "edge_agent.commands.status",
    "edge_agent.commands.model",
    "edge_agent.commands.train",
    "edge_agent.commands.evaluate",
)


class UsageError(Exception):
    """Bad arguments that argparse could not catch; exits 2."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="liftguard",
        description="liftguard: barbell IMU + load-cell platform monitor for squat, "
                    "bench press and deadlift. Scores are training aids, not medical advice.")
    parser.add_argument("--config", metavar="FILE", default=None,
                        help=f"TOML config file (default: {DEFAULT_CONFIG_PATH} if it exists, "
                             "else built-in defaults)")
    parser.add_argument("--log-level", default=None,
                        choices=("DEBUG", "INFO", "WARNING", "ERROR"),
                        help="override [logging] level")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(sub)
    return parser


def resolve_config(args: argparse.Namespace) -> Config:
    """Load ``--config``; without it, the default path if present, else embedded defaults."""
    if args.config is not None:
        return load_config(args.config)
    if DEFAULT_CONFIG_PATH.exists():
        return load_config(DEFAULT_CONFIG_PATH)
    return load_config(None)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    setup_logging(args.log_level or "INFO")
    try:
        args.cfg = resolve_config(args)
        if args.log_level is None:
            setup_logging(args.cfg.get("logging.level"))
        return int(args.func(args) or EXIT_OK)
    except ConfigError as exc:
        for line in exc.problems:
            print(f"liftguard: config error: {line}", file=sys.stderr)
        return EXIT_USAGE
    except UsageError as exc:
        print(f"liftguard: usage error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        return EXIT_RUNTIME
    except Exception as exc:  # noqa: BLE001 - the CLI's last line of defence
        log.debug("unhandled error", exc_info=True)
        print(f"liftguard: error: {exc}", file=sys.stderr)
        return EXIT_RUNTIME


if __name__ == "__main__":
    sys.exit(main())
