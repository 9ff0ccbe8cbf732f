"""Anomaly models: LSTM autoencoder (TFLite), IsolationForest, One-Class SVM, hybrid fusion, bundles.

Public API (see ``models.anomaly.api`` and docs/models.md): ``fit_bundle``, ``load_bundle``,
``AnomalyModel``, ``AthleteProfile``, ``Decision``/``WindowDecision``/``RepDecision``/``RepDecisions``,
``BundleError``, ``TrainingDataError``.
"""
from models.anomaly.api import (
    AnomalyModel,
    AthleteProfile,
    Decision,
    RepDecision,
    RepDecisions,
    WindowDecision,
    fit_bundle,
    load_bundle,
)
from models.anomaly.errors import BundleError, TrainingDataError

__all__ = [
    "AnomalyModel", "AthleteProfile", "BundleError", "Decision", "RepDecision", "RepDecisions", "TrainingDataError",
    "WindowDecision", "fit_bundle", "load_bundle",
]
