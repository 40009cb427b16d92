"""Latency on a device nobody here has measured, from a prior learned across the devices that were.

A device's log latency is modelled as linear in the space's label-free structure features
(``Space.feature_inputs`` and an intercept): ``log ms = x . w``, one weight vector per device.
``LatencyPrior.learn`` fits ``w`` for every known device and keeps their mean, their covariance
(how devices differ: a GPU's batch size, a phone's cost of a 3x3 conv) and the residual
variance. ``adapt`` turns a few timings of a new device into its weights: the posterior mean of
Bayesian linear regression under that learned prior, nothing tuned on the new device. With no
timing it is the mean device; with many, the device's own least squares. The posterior also gives
each architecture's spread, so a constraint can read an upper quantile (``DeviceLatency.ms``).

>>> import numpy as np
>>> x = np.array([[0.0], [1.0], [2.0], [3.0]])  # one feature; devices: log ms = a + b x
>>> columns = {"slow": np.exp(1.0 + 1.0 * x[:, 0]), "fast": np.exp(0.0 + 0.5 * x[:, 0])}
>>> prior = LatencyPrior.learn(x, columns, space="toy")
>>> new = prior.adapt(x[[0, 3]], np.exp([0.5, 0.5 + 3 * 0.75]))  # timed twice: between the two
>>> bool(np.all(np.diff(new.log_ms(x)) > 0)), prior.config.devices
(True, ('slow', 'fast'))
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from netembed.errors import NetembedError

__all__ = ["DeviceConfig", "DeviceLatency", "LatencyConfig", "LatencyError", "LatencyPrior", "log_ms"]

#: Added to the prior's covariance: a direction no known device varied in is not ruled out.
JITTER = 1e-4


class LatencyError(NetembedError, ValueError):
    """Latencies or features a latency model cannot use (non-positive milliseconds, shapes)."""


def log_ms(ms, what: str = "latencies") -> np.ndarray:
    """Natural logs of milliseconds, refusing what is not a positive finite number."""
    try:
        values = np.asarray(ms, dtype=np.float64)
    except (TypeError, ValueError):
        raise LatencyError(f"{what} must be positive finite milliseconds, got {ms!r}") from None
    bad = ~np.isfinite(values) | (values <= 0)
    if bad.any():
        raise LatencyError(f"{what} must be positive finite milliseconds, got {float(values[bad][0])!r}")
    return np.log(values)


def _design(features: np.ndarray) -> np.ndarray:
    """The features with an intercept column first."""
    features = np.asarray(features, dtype=np.float64)
    if features.ndim != 2:
        raise LatencyError(f"features must be a (architectures, features) array, got shape {features.shape}")
    return np.column_stack([np.ones(len(features)), features])


@dataclass(frozen=True)
class LatencyConfig:
    """The space whose structure features the prior reads, their number, and the devices it was
    learned from (at least two)."""

    space: str = "nb201"
    features: int = 1
    devices: tuple[str, ...] = ("a", "b")

    def __post_init__(self) -> None:
        object.__setattr__(self, "devices", tuple(self.devices))  # JSON gives a list
        if isinstance(self.features, bool) or not isinstance(self.features, int) or self.features < 1:
            raise LatencyError(f"features must be a positive integer, got {self.features!r}")
        if len(self.devices) < 2 or not all(isinstance(d, str) and d for d in self.devices):
            raise LatencyError(f"devices must name at least two devices, got {list(self.devices)}")


@dataclass(frozen=True)
class DeviceConfig:
    """One device's latency model: the space, its number of structure features, the device and
    the devices of the prior it was adapted from."""

    space: str = "nb201"
    features: int = 1
    device: str = "device"
    prior_devices: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "prior_devices", tuple(self.prior_devices))  # JSON gives a list
        if isinstance(self.features, bool) or not isinstance(self.features, int) or self.features < 1:
            raise LatencyError(f"features must be a positive integer, got {self.features!r}")


class DeviceLatency(nn.Module):
    """One device's weights over the intercept and the structure features, their posterior
    covariance and the residual variance (float64 buffers)."""

    def __init__(self, config: DeviceConfig = DeviceConfig()):
        super().__init__()
        self.config, width = config, config.features + 1
        self.register_buffer("weights", torch.zeros(width, dtype=torch.float64))
        self.register_buffer("covariance", torch.zeros(width, width, dtype=torch.float64))
        self.register_buffer("noise", torch.zeros((), dtype=torch.float64))

    def log_ms(self, features: np.ndarray) -> np.ndarray:
        """The posterior mean of each architecture's log milliseconds."""
        return _design(features) @ self.weights.numpy()

    def log_ms_spread(self, features: np.ndarray) -> np.ndarray:
        """The posterior predictive standard deviation of each architecture's log milliseconds:
        what the few timings leave unknown of the weights, and the residual about any device's fit."""
        design = _design(features)
        variance = np.einsum("ij,jk,ik->i", design, self.covariance.numpy(), design) + float(self.noise)
        return np.sqrt(np.maximum(variance, 0.0))

    def ms(self, features: np.ndarray, quantile: float = 0.5) -> np.ndarray:
        """Milliseconds at the posterior predictive ``quantile`` (0.5: the median, exp of the mean
        log; 0.95: a bound the device stays under with probability 0.95 under the model)."""
        if not 0 < quantile < 1:
            raise LatencyError(f"quantile must be in (0, 1), got {quantile!r}")
        from scipy.stats import norm

        return np.exp(self.log_ms(features) + norm.ppf(quantile) * self.log_ms_spread(features))

    def save_pretrained(self, directory: str | os.PathLike, meta: dict | None = None):
        from netembed.models import hub

        return hub.save_pretrained(self, self.config, directory, meta)

    @classmethod
    def from_pretrained(cls, name_or_dir: str | os.PathLike) -> DeviceLatency:
        from netembed.models import hub

        return hub.load_pretrained(cls, hub.resolve(name_or_dir), DeviceConfig)[0]


class LatencyPrior(nn.Module):
    """The mean and covariance of the known devices' weights and the residual variance about
    each device's own fit (float64 buffers, saved with ``netembed.models.hub``)."""

    def __init__(self, config: LatencyConfig = LatencyConfig()):
        super().__init__()
        self.config, width = config, config.features + 1
        self.register_buffer("mean", torch.zeros(width, dtype=torch.float64))
        self.register_buffer("covariance", torch.eye(width, dtype=torch.float64))
        self.register_buffer("noise", torch.ones((), dtype=torch.float64))

    @classmethod
    def learn(cls, features: np.ndarray, columns: Mapping[str, np.ndarray], space: str) -> LatencyPrior:
        """From every known device's latencies (``columns``: device -> milliseconds, one per row
        of ``features``)."""
        design = _design(features)
        prior = cls(LatencyConfig(space, design.shape[1] - 1, tuple(columns)))
        logs = np.column_stack([log_ms(ms, f"{device}'s latencies") for device, ms in columns.items()])
        if len(logs) != len(design):
            raise LatencyError(f"latencies must give one value per architecture ({len(design)}), got {len(logs)}")
        weights, *_ = np.linalg.lstsq(design, logs, rcond=None)  # (features + 1, devices)
        prior.mean.copy_(torch.from_numpy(weights.mean(axis=1)))
        prior.covariance.copy_(torch.from_numpy(np.cov(weights) + JITTER * np.eye(len(weights))))
        prior.noise.fill_(max(float(np.mean((logs - design @ weights) ** 2)), 1e-8))
        return prior

    def adapt(self, features: np.ndarray, ms, device: str = "device") -> DeviceLatency:
        """A new ``device`` from the milliseconds measured at ``features``' architectures."""
        design, logs = _design(features), log_ms(ms, "measured latencies")
        mean = self.mean.numpy()
        if len(logs) != len(design) or design.shape[1] != len(mean):
            raise LatencyError(
                f"measured latencies must match {len(design)} architectures of {len(mean) - 1} features each, "
                f"got {len(logs)} values and {design.shape[1] - 1} features"
            )
        config = self.config
        adapted = DeviceLatency(DeviceConfig(config.space, config.features, device, config.devices))
        adapted.weights.copy_(torch.from_numpy(mean + self.posterior(design, logs - design @ mean)))
        adapted.covariance.copy_(torch.from_numpy(self.posterior_covariance(design)))
        adapted.noise.copy_(self.noise)
        return adapted

    def _gain(self, design: np.ndarray) -> np.ndarray:
        """How timings at ``design``'s rows move the weights: covariance X^T (X covariance X^T + noise I)^-1."""
        covariance, noise = self.covariance.numpy(), float(self.noise)
        gram = design @ covariance @ design.T + noise * np.eye(len(design))
        return np.linalg.solve(gram, design @ covariance).T

    def posterior(self, design: np.ndarray, residual: np.ndarray) -> np.ndarray:
        """The posterior mean of weights about the prior's mean, given ``residual`` log latencies
        at ``design``'s rows (intercept column first)."""
        return self._gain(design) @ residual

    def posterior_covariance(self, design: np.ndarray) -> np.ndarray:
        """The weights' covariance once timings at ``design``'s rows are known."""
        covariance = self.covariance.numpy()
        posterior = covariance - self._gain(design) @ design @ covariance
        return (posterior + posterior.T) / 2  # symmetric to rounding

    def save_pretrained(self, directory: str | os.PathLike, meta: dict | None = None):
        from netembed.models import hub

        return hub.save_pretrained(self, self.config, directory, meta)

    @classmethod
    def from_pretrained(cls, name_or_dir: str | os.PathLike) -> LatencyPrior:
        from netembed.models import hub

        return hub.load_pretrained(cls, hub.resolve(name_or_dir), LatencyConfig)[0]
