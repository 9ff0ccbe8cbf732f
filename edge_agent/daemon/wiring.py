"""``build_daemon``: the box's daemon wired from the validated config and the secrets the
command line resolved. Every part is built here, in start-up order (feedback, store, clock
watch, sessions, model bundle, real-time loop, readers, session button, local API), and handed
to ``Daemon``, which runs them. Events the parts raise reach the daemon through callbacks
bound to it once it exists.
"""
from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import Any, Callable, Sequence

from edge_agent.bundles.choice import choose_bundle
from edge_agent.daemon.api import LocalApi
from edge_agent.daemon.app import SWITCH_INTERVAL_S, Daemon, DaemonParts, Wakeup, resolved_bundle
from edge_agent.daemon.errors import ApiConfigError, DaemonError
from edge_agent.daemon.readers import SourceReader
from edge_agent.daemon.realtime import AutoSession, RealtimeLoop
from edge_agent.daemon.ring import FrameRing
from edge_agent.daemon.scoring import make_scorer
from edge_agent.daemon.sessions import SessionManager
from edge_agent.feedback import (
    ConsoleSink,
    FeedbackConfig,
    FeedbackDispatcher,
    FeedbackError,
    GpioOutputs,
    SessionButton,
    open_pin_library,
)
from edge_agent.settings import SecretLookup, Settings
from edge_agent.store import LocalStore
from edge_agent.uplink.timesync import ClockWatch
from sensors.frame import PLATFORM_CHANNELS
from sensors.source import FrameSource, UnavailableSource
from sync.chunks import chunk_resolution
from sync.roster import Roster

log = logging.getLogger(__name__)


def build_daemon(cfg: Settings, secrets: SecretLookup, *,
                 sources: Sequence[FrameSource] | None = None, pin_factory: Any = None,
                 api: bool = True, console: bool | None = None,
                 say: Callable[[str], None] | None = None) -> Daemon:
    """The daemon for ``cfg``; ``sources`` replace the configured ones (demo, replay, tests),
    ``api=False`` leaves the local API out. ``DaemonError`` names what cannot start."""
    sys.setswitchinterval(SWITCH_INTERVAL_S)
    daemon: Daemon | None = None   # bound below; the callbacks run only once it is
    d = cfg.section("daemon")
    fb_cfg = FeedbackConfig.from_section(cfg.section("feedback"))
    console_sink = ConsoleSink(fb_cfg.console if console is None else console)
    outputs, pin_factory, gpio_state = gpio_outputs(fb_cfg, pin_factory, cfg.data_dir)
    dispatcher = FeedbackDispatcher(fb_cfg, outputs, console=console_sink)
    st = cfg.section("store")
    store = LocalStore(cfg.data_dir, cfg.get("device.id"), cap_mb=st["cap_mb"],
                       commit_interval_s=st["commit_interval_s"], synchronous=st["synchronous"],
                       resolution=box_chunk_resolution(cfg))
    clock_watch = ClockWatch(store)
    clock_watch.check()
    # a session records the last probed state: the probe may take a subprocess
    sessions = SessionManager(
        store, dispatcher, say=say or console_sink.write,
        wall_clock_synced=lambda: bool(clock_watch.synced),
        velocity_loss_limit_pct=cfg.get("feedback.velocity_loss_limit_pct") or None,
        bench_on_platform=cfg.get("loadcells.bench_on_platform"))
    bundle_link, shipped_reason = choose_bundle(cfg)
    key = secrets.get("bundle_key")
    bundle_key = key.encode() if key else None
    bundle_target = resolved_bundle(bundle_link)
    scorer, model_info, model_reason = make_scorer(bundle_target or bundle_link, fb_cfg.alert_on,
                                                   bundle_key)
    sessions.attach_scorer(scorer, cfg.data_dir)
    loop = RealtimeLoop(
        dispatcher=dispatcher, scorer=scorer, sessions=sessions,
        hop_s=1.0 / d["hop_hz"], window_s=d["window_s"],
        auto=AutoSession(d["auto_start"], d["auto_start_lift"], d["auto_start_load_n"],
                         d["idle_end_s"]),
        on_alert=lambda alert: daemon.alerted(alert))
    wake = Wakeup()
    readers = [SourceReader(s, FrameRing(d["ring_frames"]), poll_interval_s=d["poll_interval_s"],
                            on_frames=wake.notify,
                            on_fault=lambda name, what: daemon.sensor_fault(name, what),
                            on_recovered=lambda name: daemon.sensor_recovered(name))
               for s in (list(sources) if sources is not None else sources_from_config(cfg))]
    parts = DaemonParts(store=store, dispatcher=dispatcher, sessions=sessions,
                        clock_watch=clock_watch, loop=loop, readers=readers, wake=wake,
                        scorer=scorer, model_info=model_info,
                        model_reason=model_reason or shipped_reason, bundle_key=bundle_key,
                        bundle_target=bundle_target, alert_on=fb_cfg.alert_on,
                        gpio_state=gpio_state)
    if fb_cfg.button_pin is not None and outputs is not None:
        parts.button = session_button(fb_cfg, sessions, d["auto_start_lift"], pin_factory)
    if api:
        try:
            roster_path = cfg.data_path(cfg.get("sync.roster_file"), "roster.json")
            parts.api = LocalApi(sessions, lambda: daemon.status(), bind=cfg.get("api.bind"),
                                 port=cfg.get("api.port"), token=secrets.get("api_token"),
                                 roster=lambda: Roster.load(roster_path))
        except ApiConfigError as exc:
            sessions.close()
            dispatcher.close()
            store.close()
            raise DaemonError(str(exc)) from None
    daemon = Daemon(cfg, secrets, parts)
    return daemon


def session_button(fb_cfg: FeedbackConfig, sessions: SessionManager, lift: str,
                   pin_factory: Any) -> SessionButton | None:
    """The button that starts a ``lift`` session and ends the active one, or None (logged)."""
    try:
        return SessionButton(fb_cfg, is_session_active=lambda: sessions.active_id is not None,
                             start_session=lambda: sessions.try_start(lift, "button"),
                             end_session=lambda: sessions.try_end(None, "button"),
                             pin_factory=pin_factory)
    except FeedbackError as exc:
        log.warning("no session button: %s", exc)
        return None


def sources_from_config(cfg: Settings) -> list[FrameSource]:
    """The configured sources; ``liftguard.startup_rules`` has checked the config before."""
    kind = cfg.get("source.kind")
    if kind == "simulator":
        from sensors.simulator import SimulatorSource
        return [SimulatorSource.from_config(cfg.section("simulator"))]
    if kind == "replay":
        from sensors.replay_source import ReplaySource
        return [ReplaySource(cfg.get("source.replay_file"), realtime=True, restamp=True)]
    sources: list[FrameSource] = []
    if cfg.get("imu.enabled"):
        from sensors.imu_source import IMUSource
        sources.append(IMUSource.from_config(cfg.section("imu"), cfg.data_dir))
    if cfg.get("loadcells.enabled"):
        from sensors.loadcell_calibration import CalibrationError
        from sensors.loadcell_source import LoadCellSource
        try:
            sources.append(LoadCellSource.from_config(cfg.section("loadcells"), cfg.data_dir))
        except CalibrationError as exc:
            if not sources:
                raise
            log.error("load cells left out: %s. The daemon runs on the bar IMU alone (no balance "
                      "metrics) until they are calibrated and it is restarted", exc)
            sources.append(UnavailableSource(LoadCellSource.name, LoadCellSource.channels, str(exc)))
    return sources


def box_chunk_resolution(cfg: Settings) -> dict[str, float]:
    """What raw chunks count in (``sync.chunks.chunk_resolution``): the configured IMU ranges
    and, on hardware with a load-cell calibration file, its counts per newton. Without the
    file the source itself reports the problem; forces then count in 0.01 N."""
    counts_per_newton = None
    if cfg.get("source.kind") == "hardware" and cfg.get("loadcells.enabled"):
        from sensors.loadcell_calibration import CalibrationError, load_calibration
        from sensors.loadcell_source import calibration_path
        try:
            calibration = load_calibration(calibration_path(cfg.section("loadcells"),
                                                            cfg.data_dir))
            counts_per_newton = dict(zip(PLATFORM_CHANNELS, calibration.counts_per_newton))
        except CalibrationError:
            pass
    return chunk_resolution(cfg.get("imu.accel_range_g"), cfg.get("imu.gyro_range_dps"),
                            counts_per_newton)


def gpio_outputs(fb_cfg: FeedbackConfig, pin_factory: Any,
                 data_dir: Path) -> tuple[GpioOutputs | None, Any, str]:
    """The buzzer and LEDs, the pin factory the session button shares with them, and the
    GPIO state ``/status`` shows.

    Without a factory from the caller (``demo`` and tests pass gpiozero's MockFactory),
    the pin library is chosen here and named in the log; when none can drive the pins,
    the warning says the buzzer cannot sound and why.
    """
    if not fb_cfg.uses_gpio:
        log.info("feedback on the console only: every [feedback] *_pin is -1")
        return None, None, "off"
    if pin_factory is None:
        library = open_pin_library(data_dir)
        if not library.usable:
            log.warning("the buzzer cannot sound and the LEDs and session button do not "
                        "work (feedback on the console only): %s", library.describe())
            return None, None, f"unavailable: {library.describe()}"
        log.info("GPIO pins driven by %s", library.describe())
        pin_factory, state = library.factory, library.name
    else:
        state = "mock"
    try:
        return GpioOutputs(fb_cfg, pin_factory=pin_factory), pin_factory, state
    except FeedbackError as exc:
        log.warning("the buzzer cannot sound (feedback on the console only): %s", exc)
        return None, None, f"unavailable: {exc}"
