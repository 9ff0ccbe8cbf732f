"""Sample sources: MPU-6050-class IMU over I2C, load-cell frames over serial, lift simulator,
CSV replay. All yield ``sensors.frame.Frame``; hardware access lives only here.

Never imports ``edge_agent``.
"""
from sensors.clock import Clock, ManualClock
from sensors.frame import BOX_CHANNELS, IMU_CHANNELS, PLATFORM_CHANNELS, Frame
from sensors.source import FrameSource, SourceHealth

__all__ = ["BOX_CHANNELS", "IMU_CHANNELS", "PLATFORM_CHANNELS", "Clock", "Frame",
           "FrameSource", "ManualClock", "SourceHealth"]
