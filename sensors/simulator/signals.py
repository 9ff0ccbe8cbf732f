"""Physics from the planned motion to what the sensors see (noise-free).

IMU: specific force ``f = R^T (a + g z)`` in the sensor frame and body angular rates from the
orientation angles and their rates. Orientation is R = Rz(yaw) Ry(roll) Rx(pitch): ``pitch``
turns the bar about its own axis (x), ``roll`` tips its ends (about y), ``yaw`` about z.

Platform: total vertical force = static weight + the vertical acceleration of the masses that
move with the bar; split to the four corners bilinearly from the centre of pressure.
"""
from __future__ import annotations

import numpy as np

from sensors.frame import STANDARD_GRAVITY
from sensors.geometry import PlatformGeometry
from sensors.simulator.kinematics import SetPlan


def imu_signals(plan: SetPlan, t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(n, 3) specific force in m/s^2 and (n, 3) angular rate in rad/s, sensor frame."""
    _, _, ax = plan.x.eval(t)
    _, _, ay = plan.y.eval(t)
    _, _, az = plan.z.eval(t)
    phi, dphi, _ = plan.pitch.eval(t)
    theta, dtheta, _ = plan.roll.eval(t)
    psi, dpsi, _ = plan.yaw.eval(t)
    f = np.stack([ax, ay, az + STANDARD_GRAVITY], axis=1)
    f = _rotate_z(f, -psi)
    f = _rotate_y(f, -theta)
    f = _rotate_x(f, -phi)
    p = dphi - dpsi * np.sin(theta)
    q = dtheta * np.cos(phi) + dpsi * np.sin(phi) * np.cos(theta)
    r = -dtheta * np.sin(phi) + dpsi * np.cos(phi) * np.cos(theta)
    return f, np.stack([p, q, r], axis=1)


def _rotate_x(v: np.ndarray, a: np.ndarray) -> np.ndarray:
    c, s = np.cos(a), np.sin(a)
    return np.stack([v[:, 0], c * v[:, 1] - s * v[:, 2], s * v[:, 1] + c * v[:, 2]], axis=1)


def _rotate_y(v: np.ndarray, a: np.ndarray) -> np.ndarray:
    c, s = np.cos(a), np.sin(a)
    return np.stack([c * v[:, 0] + s * v[:, 2], v[:, 1], -s * v[:, 0] + c * v[:, 2]], axis=1)


def _rotate_z(v: np.ndarray, a: np.ndarray) -> np.ndarray:
    c, s = np.cos(a), np.sin(a)
    return np.stack([c * v[:, 0] - s * v[:, 1], s * v[:, 0] + c * v[:, 1], v[:, 2]], axis=1)


def platform_load(plan: SetPlan, t: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Total vertical force (N) and centre of pressure (x, y in m) at times ``t``."""
    share, _, _ = plan.bar_on_platform.eval(t)
    _, _, az = plan.z.eval(t)
    held, _, _ = plan.spotter_kg.eval(t)
    bar_on = share * plan.bar_mass_kg
    # A spotter's hands take weight off the bar (static), not its inertia: the lifter still
    # accelerates the whole bar.
    total_mass = plan.platform_static_kg + bar_on - share * held
    force = (total_mass * STANDARD_GRAVITY + (bar_on + plan.body_moving_kg) * az)
    bar_x, _, _ = plan.x.eval(t)
    bar_y, _, _ = plan.y.eval(t)
    body_y, _, _ = plan.body_y.eval(t)
    coupling = (bar_on - share * held) / total_mass
    cop_x = plan.cop_x.eval(t)[0] + coupling * bar_x
    cop_y = plan.cop_y.eval(t)[0] + coupling * (bar_y - body_y)
    return force, cop_x, cop_y


def corner_forces(force: np.ndarray, cop_x: np.ndarray, cop_y: np.ndarray,
                  geometry: PlatformGeometry) -> np.ndarray:
    """(n, 4) corner forces in PLATFORM_CHANNELS order (fl, fr, rl, rr), bilinear split.

    With u = 1/2 + x/W (share on the right) and w = 1/2 + y/D (share in front), each corner
    carries F * (its side's share) * (its end's share). The four forces sum to F and their
    centre of pressure is exactly (x, y); the one remaining degree of freedom, the twist
    f_fl + f_rr - f_fr - f_rl, is fixed by this rule at -F * (2u - 1) * (2w - 1).
    """
    u = 0.5 + cop_x / geometry.width_m
    w = 0.5 + cop_y / geometry.depth_m
    return np.stack([force * (1 - u) * w, force * u * w,
                     force * (1 - u) * (1 - w), force * u * (1 - w)], axis=1)
