"""Real training of NAS-Bench-101 networks: the networks themselves (:mod:`.network`)."""

from netembed.train.network import CellModule, Network, NetworkConfig, build_network, count_trainable

__all__ = ["NetworkConfig", "Network", "CellModule", "build_network", "count_trainable"]
