"""While the daemon runs, the objects made at start-up are frozen out of the garbage collector
(edge_agent/daemon/collector.py), with the GIL switch interval at 1 ms (build_daemon); a clean
stop unfreezes them."""
from __future__ import annotations

import gc
import sys

from edge_agent.daemon.app import SWITCH_INTERVAL_S
from liftguard.box import box_daemon
from sensors.simulator import SimulatorSource
from tests.support.daemon_helpers import NO_PINS, config


def test_the_daemon_freezes_its_start_up_objects_while_it_runs(tmp_path):
    daemon = box_daemon(config(tmp_path, feedback=NO_PINS),
                        sources=[SimulatorSource(reps=1, realtime=False)], api=False,
                        console=False)
    try:
        daemon.start(live=False)
        assert gc.get_freeze_count() > 1000   # numpy, the bundle, the daemon itself
        assert sys.getswitchinterval() == SWITCH_INTERVAL_S
        daemon.run_lockstep()
    finally:
        daemon.stop("test")
    assert gc.get_freeze_count() == 0
