"""Signal features, rep segmentation, metrics, anomaly models and model bundles.

Never imports ``edge_agent``. TensorFlow is imported only under ``models.train``.
"""
