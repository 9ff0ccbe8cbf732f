"""Sample sources: MPU-6050-class IMU over I2C, load-cell frames over serial, lift simulator,
CSV replay. All yield ``sensors.frame.Frame``; hardware access lives only here.

Never imports ``edge_agent``.
"""
from sensors.clock import Clock, ManualClock
from sensors.errors import SensorError
from sensors.frame import BOX_CHANNELS, IMU_CHANNELS, PLATFORM_CHANNELS, Frame
from sensors.imu_source import IMUSource, probe_imu
from sensors.loadcell_source import LoadCellSource, probe_loadcells
from sensors.replay_source import ReplaySource
from sensors.simulator import SimulatorSource, simulate_set
from sensors.source import FrameSource, SourceHealth, UnavailableSource

__all__ = ["BOX_CHANNELS", "IMU_CHANNELS", "PLATFORM_CHANNELS", "Clock", "Frame", "FrameSource",
           "IMUSource", "LoadCellSource", "ManualClock", "ReplaySource", "SensorError",
           "SimulatorSource", "SourceHealth", "UnavailableSource", "probe_imu", "probe_loadcells",
           "simulate_set"]
