"""Signal features, rep segmentation, metrics, anomaly models and model bundles.

Never imports ``edge_agent``. TensorFlow is imported only by ``models.anomaly.autoencoder_training``.

Rep analysis public surface::

    analyze_frames(frames, lift) -> SetAnalysis      # per-rep RepMetrics + set summary
    RepSegmenter(lift, rate_hz).feed(accel, gyro)    # incremental rep detection
    rep_feedback(rep, attribution=None), set_feedback(reps, summary)
"""
from models.analysis import SetAnalysis, analyze_frames
from models.feedback_text import rep_feedback, set_feedback
from models.metrics import RepMetrics
from models.segmentation import LIFTS, RepBounds, RepSegmenter, segment_bar
from models.signals import ANALYSIS_RATE_HZ, align_frames

__all__ = ["ANALYSIS_RATE_HZ", "LIFTS", "RepBounds", "RepMetrics", "RepSegmenter", "SetAnalysis",
           "align_frames", "analyze_frames", "rep_feedback", "segment_bar", "set_feedback"]
