"""CartPole under the agentgym contract: Gymnasium's ``CartPoleEnv`` physics, two views, a reward vector.

The episode start is Gymnasium's own (``CartPoleEnv.reset`` with the same seed gives the same
state), and each step applies the same Euler update as ``CartPoleEnv.step`` on plain floats,
which skips the per-step array building and action-space check of the original and keeps the
vector view as fast as ``gymnasium.make("CartPole-v1")``.

Example:
    >>> env = CartPoleEnv(view="text")
    >>> obs, info = env.reset(seed=0)
    >>> "Pole" in obs
    True
"""

from __future__ import annotations

import math
from functools import lru_cache
from typing import Any, ClassVar

import numpy as np
from gymnasium.envs.classic_control import cartpole

from agentgym.envs.base import AgentGymEnv, Transition

DEFAULT_MAX_STEPS = 500


def lqr_gains(env: cartpole.CartPoleEnv) -> tuple[float, ...]:
    """Discrete-time LQR gains of the cart-pole linearised about upright (force = -gains @ state)."""
    return _lqr_gains(env.gravity, env.masscart, env.masspole, env.length, env.tau)


@lru_cache(maxsize=8)
def _lqr_gains(gravity: float, masscart: float, masspole: float, length: float, tau: float,
               state_cost=(1.0, 1.0, 10.0, 1.0), force_cost: float = 0.1) -> tuple[float, ...]:
    """Cached per physical constants: the linearisation of ``CartPoleEnv.step`` at theta = 0 with its
    Euler step ``tau``, then the discrete Riccati equation iterated to convergence."""
    total_mass = masscart + masspole
    pole_mass_length = masspole * length
    denominator = length * (4.0 / 3.0 - masspole / total_mass)
    a = np.zeros((4, 4))
    b = np.zeros(4)
    a[0, 1] = a[2, 3] = 1.0
    a[3, 2] = gravity / denominator
    b[3] = -1.0 / (total_mass * denominator)
    a[1, 2] = -pole_mass_length / total_mass * a[3, 2]
    b[1] = 1.0 / total_mass - pole_mass_length / total_mass * b[3]
    a_d = np.eye(4) + tau * a
    b_d = (tau * b).reshape(4, 1)
    q = np.diag(state_cost)
    r = np.array([[force_cost]])
    p = q.copy()
    gains = np.zeros((1, 4))
    for _ in range(5000):
        new_gains = np.linalg.solve(r + b_d.T @ p @ b_d, b_d.T @ p @ a_d)
        p = q + a_d.T @ p @ (a_d - b_d @ new_gains)
        if np.allclose(new_gains, gains, rtol=1e-12, atol=1e-12):
            break
        gains = new_gains
    return tuple(float(g) for g in new_gains[0])


def _side(value: float, positive: str, negative: str, tolerance: float) -> str:
    if value > tolerance:
        return positive
    if value < -tolerance:
        return negative
    return ""


class CartPoleEnv(AgentGymEnv):
    """Keep a pole upright on a moving cart by pushing the cart left or right.

    Reward vector: ``task`` is Gymnasium's reward (+1 per step, the falling step included),
    ``safety`` is -1 on the step the pole falls or the cart leaves the track, ``efficiency`` is
    ``-switch_cost`` each time the push direction changes from the previous step's (actuator
    chatter). Success: still balanced at the step limit; progress: steps survived / step limit.
    """

    aspects = ("task", "safety", "efficiency")
    LABELS: ClassVar[list[str]] = ["push left", "push right"]

    def __init__(self, view: str = "vector", switch_cost: float = 0.01, render_mode: str | None = None) -> None:
        self._inner = cartpole.CartPoleEnv()
        super().__init__(view=view, n_actions=2, render_mode=render_mode,
                         vector_observation_space=self._inner.observation_space)
        inner = self._inner
        self.switch_cost = float(switch_cost)
        self._gains = lqr_gains(inner)
        # The constants of CartPoleEnv.step, read once so the step uses plain floats.
        self._force_mag = inner.force_mag
        self._gravity = inner.gravity
        self._total_mass = inner.total_mass
        self._polemass_length = inner.polemass_length
        self._masspole = inner.masspole
        self._length = inner.length
        self._tau = inner.tau
        self._x_limit = inner.x_threshold
        self._theta_limit = inner.theta_threshold_radians
        self._euler = inner.kinematics_integrator == "euler"
        self._state: tuple[float, ...] = (0.0, 0.0, 0.0, 0.0)
        self._last_action = -1
        self._fallen = False

    # ----------------------------------------------------------------- hooks
    def _reset_state(self, seed: int | None, options: dict[str, Any] | None) -> None:
        self._inner.reset(seed=seed, options=options)
        state = self._inner.state
        assert state is not None  # set by the reset above
        self._state = tuple(float(v) for v in state)
        self._last_action = -1
        self._fallen = False

    def _apply(self, action: int) -> Transition:
        x, x_dot, theta, theta_dot = self._state
        force = self._force_mag if action == 1 else -self._force_mag
        costheta = math.cos(theta)
        sintheta = math.sin(theta)
        temp = (force + self._polemass_length * (theta_dot * theta_dot) * sintheta) / self._total_mass
        thetaacc = (self._gravity * sintheta - costheta * temp) / (
            self._length * (4.0 / 3.0 - self._masspole * (costheta * costheta) / self._total_mass)
        )
        xacc = temp - self._polemass_length * thetaacc * costheta / self._total_mass
        tau = self._tau
        if self._euler:
            x = x + tau * x_dot
            x_dot = x_dot + tau * xacc
            theta = theta + tau * theta_dot
            theta_dot = theta_dot + tau * thetaacc
        else:
            x_dot = x_dot + tau * xacc
            x = x + tau * x_dot
            theta_dot = theta_dot + tau * thetaacc
            theta = theta + tau * theta_dot
        self._state = (x, x_dot, theta, theta_dot)
        fallen = x < -self._x_limit or x > self._x_limit or theta < -self._theta_limit or theta > self._theta_limit
        switched = self._last_action >= 0 and action != self._last_action
        self._last_action = action
        self._fallen = fallen
        vector = {"task": 1.0, "safety": -1.0 if fallen else 0.0, "efficiency": -self.switch_cost if switched else 0.0}
        return 1.0, vector, fallen

    def vector_observation(self) -> np.ndarray:
        return np.array(self._state, dtype=np.float32)

    def text_observation(self) -> str:
        x, x_dot, theta, theta_dot = self._state
        limit = self._max_steps or DEFAULT_MAX_STEPS
        angle = math.degrees(theta)
        spin = math.degrees(theta_dot)
        where = _side(x, "right of centre", "left of centre", 0.05) or "at the centre"
        moving = _side(x_dot, "moving right", "moving left", 0.02) or "almost still"
        leaning = _side(theta, "leaning right", "leaning left", math.radians(0.5)) or "upright"
        toward = "right" if theta_dot > 0 else "left"
        if abs(spin) < 1.0:
            turning = "barely rotating"
        elif leaning == "upright":
            turning = f"rotating {toward}"
        elif (theta_dot > 0) == (theta > 0):
            turning = f"rotating {toward}, falling further"
        else:
            turning = f"rotating {toward}, recovering"
        lines = [
            f"Balance the pole on the cart for {limit} steps. The episode ends if the pole leans more than "
            f"{math.degrees(self._theta_limit):.0f} degrees or the cart goes beyond {self._x_limit:.1f} from the "
            "centre.",
            f"Cart: position {x:+.3f} ({where}), velocity {x_dot:+.3f} ({moving}).",
            f"Pole: angle {angle:+.2f} degrees ({leaning}), angular velocity {spin:+.1f} degrees/s ({turning}).",
            f"Step {self._elapsed} of {limit}.",
        ]
        if self._fallen:
            lines.append("The pole has fallen (or the cart left the track): the episode is over.")
        return "\n".join(lines)

    def action_labels(self) -> list[str]:
        return self.LABELS

    def outcome(self) -> tuple[bool, float]:
        limit = self._max_steps or DEFAULT_MAX_STEPS
        return (not self._fallen and self._elapsed >= limit), min(1.0, self._elapsed / limit)

    def oracle_action(self) -> int:
        """LQR about upright, applied as bang-bang: push right when the LQR force is positive."""
        gains = self._gains
        x, x_dot, theta, theta_dot = self._state
        force = -(gains[0] * x + gains[1] * x_dot + gains[2] * theta + gains[3] * theta_dot)
        return 1 if force > 0 else 0
