"""Athlete profiles (overlays, ``models.anomaly.overlay``) refreshed from coach labels.

For each athlete and lift with labels on sessions this box recorded, the overlay is rebuilt
from exactly the reps a coach marked clean, cut from the box's stored frames (the same rep
analysis that numbered them). Reps labelled as faults and unlabelled reps are never used; when
fewer than ``MIN_CLEAN_REPS`` clean reps remain, the athlete's overlay is removed and the
population model is used again. The session manager loads the overlay when that athlete's
next session starts. A refresh happens only when the clean reps or the bundle changed; the bundle is known by its
manifest's SHA-256, not its path, because an update installs a retrained bundle at the same
path and the overlays made for the old one are refused.
"""
from __future__ import annotations

import json
import logging
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

import numpy as np

from edge_agent.store import LocalStore
from models import analyze_frames
from models.anomaly.errors import OverlayError
from models.anomaly.overlay import (
    MIN_CLEAN_REPS,
    bundle_id,
    make_overlay,
    overlay_dir,
    save_overlay,
)
from models.anomaly.segments import aligned_rows
from sensors.frame import Frame
from sync.labels import RepLabel, fingerprint, group_clean

log = logging.getLogger(__name__)

STATE_FILE = "profiles-state.json"


@dataclass(frozen=True)
class ProfileReport:
    athlete_email: str
    lift: str
    rep_count: int
    session_count: int
    refreshed_at: float


def clean_rep_segments(frames: Sequence[Frame], lift: str, model: Any,
                       rep_numbers: Iterable[int]) -> list[np.ndarray]:
    """The model's rows of the reps numbered ``rep_numbers`` by the rep analysis of ``frames``."""
    wanted = set(rep_numbers)
    reps = [r for r in analyze_frames(frames, lift).reps if r.number in wanted]
    if not reps:
        return []
    rows = aligned_rows(frames, model.channels, model.sample_rate_hz)
    rate = model.sample_rate_hz
    segments = [rows[max(0, int(round(r.start_s * rate))):int(round(r.end_s * rate)) + 1]
                for r in reps]
    return [s for s in segments if len(s) >= 2]


class ProfileRefresher:
    def __init__(self, store: LocalStore, model: Callable[[], Any], data_dir: Path, *,
                 clock: Callable[[], float] = time.time) -> None:
        self.store, self._model, self._clock = store, model, clock
        self.root = Path(data_dir) / "athletes"
        self._state_path = Path(data_dir) / STATE_FILE
        self._state = self._load_state()

    def _load_state(self) -> dict[str, str]:
        try:
            data = json.loads(self._state_path.read_text())
            return data if isinstance(data, dict) else {}
        except (OSError, ValueError):
            return {}

    def _save_state(self) -> None:
        tmp = self._state_path.with_suffix(".tmp")
        tmp.write_text(json.dumps(self._state))
        os.replace(tmp, self._state_path)

    def refresh(self, labels: Iterable[RepLabel]) -> list[ProfileReport]:
        """Rebuild the overlays whose clean reps changed; one report per rebuilt overlay."""
        model = self._model()
        if model is None:
            log.debug("no model bundle: athlete profiles are not built")
            return []
        reports = []
        for (email, lift), clean in group_clean(labels).items():
            key = f"{email}|{lift}"
            mark = f"{fingerprint(clean)}|{bundle_id(model)}"
            if self._state.get(key) == mark:
                continue
            try:
                reports.append(self._rebuild(model, email, lift, clean))
            except (OverlayError, ValueError) as exc:
                log.error("profile of %s (%s) not refreshed: %s", email, lift, exc)
                continue
            self._state[key] = mark
            self._save_state()
        return reports

    def _rebuild(self, model: Any, email: str, lift: str, clean: dict[str, set[int]]
                 ) -> ProfileReport:
        reps: list[np.ndarray] = []
        used = 0
        for sid, numbers in sorted(clean.items()):
            session = self.store.get_session(sid)
            if session is None or session.get("status") != "ended":
                continue
            segments = clean_rep_segments(self.store.session_frames(sid), lift, model, numbers)
            reps += segments
            used += bool(segments)
        directory = overlay_dir(self.root, email, lift)
        now = self._clock()
        if len(reps) < MIN_CLEAN_REPS:
            if directory.exists():
                shutil.rmtree(directory)
            log.info("profile of %s (%s) removed: %d coach-confirmed clean reps, %d needed; "
                     "the population model is used", email, lift, len(reps), MIN_CLEAN_REPS)
            return ProfileReport(email, lift, 0, 0, now)
        save_overlay(directory, model, make_overlay(model, reps),
                     {"lift": lift, "reps": len(reps), "sessions": used,
                      "source": "coach labels"})
        log.info("profile of %s (%s) refreshed from %d coach-confirmed clean reps of %d "
                 "sessions; used from their next session on", email, lift, len(reps), used)
        return ProfileReport(email, lift, len(reps), used, now)
