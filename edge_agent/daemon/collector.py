"""The garbage collector while the daemon runs: the objects made at start-up frozen out of it.

A full (generation-2) collection walks every object alive, most of which were made at start-up
(numpy, scikit-learn, the bundle, the daemon's parts) and live as long as the process; it runs
on whichever thread's allocation triggered it, the real-time loop's included. ``gc.freeze()``
once the daemon is built moves them out of the collector's generations, so the collections the
loop's allocations trigger walk only what was made since. (The other interpreter setting for
the loop, the GIL switch interval of 1 ms, is made in ``build_daemon``.)

Thread priorities are left alone: a session worker niced below the loop (``os.setpriority``
on its native thread id) that holds the GIL when the loop wants it is then scheduled later on a
busy core, and the loop waits longer for it (priority inversion through the GIL).
"""
from __future__ import annotations

import gc
import logging

log = logging.getLogger(__name__)


def freeze_start_up() -> None:
    """Collect what start-up left unreachable, then freeze what is alive (see above)."""
    gc.collect()
    gc.freeze()
    log.debug("%d start-up objects frozen out of the garbage collector", gc.get_freeze_count())


def unfreeze() -> None:
    """Undo ``freeze_start_up`` when the daemon stops (a process that goes on, a test or a
    replay, gets those objects collected again when they die)."""
    gc.unfreeze()
