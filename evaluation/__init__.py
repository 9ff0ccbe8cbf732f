"""Offline evaluation and benchmark helpers: figures on simulated faults and real squats,
live-versus-batch agreement, rep and load-cue accuracy. No runtime package imports this."""
