"""Anomaly models: LSTM autoencoder (TFLite), IsolationForest, One-Class SVM, hybrid fusion, bundles.

Public API (see ``models.anomaly.api`` and docs/models.md): ``fit_bundle``, ``load_bundle``,
``AnomalyModel``, ``AthleteProfile``, ``Decision``/``WindowDecision``/``RepDecision``/``RepDecisions``,
``BundleError``, ``TrainingDataError``.
"""
from models.anomaly.api import (
    AnomalyModel,
    AthleteProfile,
    BundleError,
    Decision,
    RepDecision,
    RepDecisions,
    TrainingDataError,
    WindowDecision,
    fit_bundle,
    load_bundle,
)

__all__ = [
    "AnomalyModel", "AthleteProfile", "BundleError", "Decision", "RepDecision", "RepDecisions", "TrainingDataError",
    "WindowDecision", "fit_bundle", "load_bundle",
]
