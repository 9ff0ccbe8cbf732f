"""Offline evaluation of the anomaly models on recorded datasets (not used by the daemon)."""
