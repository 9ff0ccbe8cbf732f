"""`liftguard` command line: subcommands, global options, exit codes.

Exit codes: 0 ok, 2 usage or configuration error, 1 runtime failure.
"""
from __future__ import annotations

import argparse
import importlib
import logging
import sys
from typing import Sequence

from liftguard.config import DEFAULT_CONFIG_PATH, Config, load_config
from liftguard.errors import (
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_RUNTIME,
    EXIT_USAGE,
    ConfigError,
    UsageError,
)
from liftguard.logsetup import setup_logging

log = logging.getLogger("liftguard")

# Command name -> (module in liftguard.commands, one-line help). Only the module of the
# command being run is imported (``register(subparsers)``), so ``--help`` and light commands
# such as ``status`` never load numpy, scikit-learn or the daemon. A test keeps the help texts
# equal to what each module registers.
COMMANDS: dict[str, tuple[str, str]] = {
    "simulate": ("simulate", "simulate a set of reps (with faults) into a recording CSV + labels"),
    "replay": ("replay", "replay a recording CSV and summarise it"),
    "analyze": ("analyze", "per-rep metrics, scores and feedback for a recording"),
    "run": ("run", "run the real-time daemon (sensors, feedback, sessions, API)"),
    "demo": ("demo", "run the daemon on a simulated box and show the feedback"),
    "status": ("status", "ask the running daemon how it is doing"),
    "sessions": ("sessions", "list and show sessions in the local store"),
    "export": ("export", "write a stored session's frames as a recording CSV"),
    "calibrate": ("calibrate", "calibrate the IMU or the load cells"),
    "sensors": ("sensors_check", "sensor hardware tools"),
    "feedback": ("feedback_check", "buzzer, LEDs and session button tools"),
    "config": ("config_check", "configuration tools"),
    "model": ("model", "install, roll back, list or sign anomaly-model bundles"),
    "train": ("train", "train an anomaly-model bundle on clean sets"),
    "evaluate": ("evaluate", "evaluate the anomaly models (simulator faults, real squats)"),
    "db": ("db", "database schema and raw-data retention tools"),
    "sync": ("sync_cmd", "send stored sessions and data to PostgreSQL"),
    "ingest": ("ingest", "server: store MQTT messages from boxes in PostgreSQL"),
    "web": ("web", "server: the coach web app (needs the web extra)"),
}
COMMAND_MODULES = tuple(f"liftguard.commands.{module}" for module, _ in COMMANDS.values())
GLOBAL_VALUE_OPTIONS = ("--config", "--log-level")
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")


def _add_global_options(parser: argparse.ArgumentParser | argparse._ArgumentGroup,
                        default: object, skip: set[str] | frozenset[str] = frozenset()) -> None:
    if "--config" not in skip:
        parser.add_argument("--config", metavar="FILE", default=default,
                            help=f"TOML config file (default: {DEFAULT_CONFIG_PATH} if it "
                                 "exists, else built-in defaults)")
    if "--log-level" not in skip:
        parser.add_argument("--log-level", default=default, choices=LOG_LEVELS,
                            help="override [logging] level")


def _accept_global_options(parser: argparse.ArgumentParser) -> None:
    """``--config``/``--log-level`` after the (sub)command too, on every level; SUPPRESS keeps
    a value given before the command when none is given after it."""
    own = {opt for action in parser._actions for opt in action.option_strings}
    if not set(GLOBAL_VALUE_OPTIONS) <= own:
        group = parser.add_argument_group("global options (also accepted before the command)")
        _add_global_options(group, argparse.SUPPRESS, own)
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for child in set(action.choices.values()):
                _accept_global_options(child)


def command_in(argv: Sequence[str]) -> str | None:
    """The subcommand named in ``argv`` (the first word that is not an option or its value)."""
    skip = False
    for word in argv:
        if skip:
            skip = False
        elif word in GLOBAL_VALUE_OPTIONS:
            skip = True
        elif not word.startswith("-"):
            return word
    return None


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The parser; only ``command``'s module is imported (all, when ``command`` is ``"*"``)."""
    from liftguard import __version__

    parser = argparse.ArgumentParser(
        prog="liftguard",
        description="liftguard: barbell IMU + load-cell platform monitor for squat, "
                    "bench press and deadlift. Scores are training aids, not medical advice.",
        epilog="'liftguard COMMAND --help' describes each command. Exit codes: 0 ok, "
               "1 runtime failure, 2 usage or configuration error, 130 interrupted.")
    _add_global_options(parser, None)
    parser.add_argument("--version", action="version", version=f"liftguard {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for name, (module, help_text) in COMMANDS.items():
        if command == "*" or name == command:
            importlib.import_module(f"liftguard.commands.{module}").register(sub)
        else:
            sub.add_parser(name, help=help_text)
    _accept_global_options(parser)
    return parser


def resolve_config(args: argparse.Namespace) -> Config:
    """Load ``--config``; without it, the default path if present, else embedded defaults."""
    if args.config is not None:
        return load_config(args.config)
    if DEFAULT_CONFIG_PATH.exists():
        return load_config(DEFAULT_CONFIG_PATH)
    return load_config(None)


def main(argv: Sequence[str] | None = None) -> int:
    try:
        return _main(sys.argv[1:] if argv is None else list(argv))
    except KeyboardInterrupt:
        print("liftguard: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED


def _main(argv: list[str]) -> int:
    parser = build_parser(command_in(argv))
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
    except Exception as exc:  # the CLI's last line of defence
        log.debug("unhandled error", exc_info=True)
        print(f"liftguard: error: {exc}", file=sys.stderr)
        return EXIT_RUNTIME


if __name__ == "__main__":
    sys.exit(main())
