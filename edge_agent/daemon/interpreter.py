"""Interpreter settings for the real-time loop, applied once when the daemon starts.

The loop shares one interpreter with the session worker (rep analysis, display series), the
store writer and sync. Two of CPython's defaults put milliseconds into a decision's latency
whenever the worker is busy:

* The GIL switch interval (5 ms): a thread that wants the GIL waits up to that long for a
  thread running Python code to hand it over, so a decision arriving while the worker analyses
  a rep waited up to 5 ms (per-window wall p99 9 ms against a CPU p99 of 1.5 ms in the unpaced
  replay of ``scripts/bench``). ``SWITCH_INTERVAL_S`` (1 ms) bounds that wait; the cost is more
  frequent hand-overs between threads that are all busy, a few per cent of a busy worker's
  throughput at most.
* The garbage collector: a full collection walks every object alive, most of which were made
  at start-up (the bundle, numpy, scikit-learn) and live as long as the process.
  ``gc.freeze()`` after start-up moves them out of the collector's generations, so the
  collections the loop's allocations trigger only walk what was made since.

Thread priorities are left alone: a lower-priority (``os.setpriority``) session worker that
holds the GIL when the loop wants it is then scheduled later, and the loop waits longer for it
(priority inversion through the GIL).
"""
from __future__ import annotations

import gc
import logging
import sys

log = logging.getLogger(__name__)

SWITCH_INTERVAL_S = 0.001
_default_interval: list[float] = []


def settle_for_real_time() -> None:
    """Shorten the GIL switch interval and freeze the objects made at start-up (see above)."""
    if not _default_interval:
        _default_interval.append(sys.getswitchinterval())
    sys.setswitchinterval(SWITCH_INTERVAL_S)
    gc.collect()
    gc.freeze()
    log.debug("GIL switch interval %.1f ms; %d start-up objects frozen out of the collector",
              SWITCH_INTERVAL_S * 1e3, gc.get_freeze_count())


def release_real_time() -> None:
    """Undo ``settle_for_real_time`` when the daemon stops (a process that goes on, such as a
    test or ``liftguard analyze`` after a box session, gets its collector and interval back)."""
    gc.unfreeze()
    if _default_interval:
        sys.setswitchinterval(_default_interval[0])
