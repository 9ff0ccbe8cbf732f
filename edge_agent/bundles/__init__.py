"""Anomaly-model bundles on the box: which one runs (``choice``) and the installed set
(``model_store``: install, roll back, list)."""
