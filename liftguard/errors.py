"""Exit codes and the errors the command line turns into them; every subcommand imports
these from here (never from ``liftguard.cli``, which imports the subcommands).

Exit codes: 0 ok, 2 usage or configuration error, 1 runtime failure, 130 interrupted.
"""
from __future__ import annotations

import sys

EXIT_OK, EXIT_RUNTIME, EXIT_USAGE = 0, 1, 2
EXIT_INTERRUPTED = 130


class UsageError(Exception):
    """Bad arguments that argparse could not catch; exits 2."""


class ConfigError(Exception):
    """A configuration problem; ``str()`` is one line per problem, each naming file and key."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


def interrupted_exit(signal_name: str | None) -> int:
    """Exit code of a command a signal ended early after it ended its session and printed
    the summary: 130 for Ctrl-C (SIGINT), 0 for SIGTERM (a requested stop, as ``run``)."""
    if signal_name is None:
        return EXIT_OK
    print(f"liftguard: stopped by {signal_name}; the session was ended and analysed",
          file=sys.stderr)
    return EXIT_INTERRUPTED if signal_name == "SIGINT" else EXIT_OK
