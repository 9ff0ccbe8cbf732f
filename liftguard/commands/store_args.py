"""What the read-only store commands (``sessions``, ``export``) share: ``--data-dir`` and
opening the store without changing it (edge_agent.store.reader)."""
from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from liftguard.errors import UsageError

if TYPE_CHECKING:
    from edge_agent.store.reader import StoreReader


def add_data_dir(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data-dir", metavar="DIR", default=None,
                        help="the data directory holding liftguard.db (default: [device] "
                             "data_dir of the config)")


def open_reader(args: argparse.Namespace) -> StoreReader:
    """The store read-only; a missing store is a usage error naming the path (nothing is
    created, no session is recovered)."""
    from edge_agent.store.errors import StoreError
    from edge_agent.store.reader import StoreReader

    try:
        return StoreReader(args.data_dir or args.cfg.data_dir)
    except StoreError as exc:
        raise UsageError(str(exc)) from None
