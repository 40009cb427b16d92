import numpy as np
import pytest

from netembed.benchmarks import quality
from netembed.benchmarks.analysis import ring_graph


def test_smoothness_tells_an_informative_embedding_from_noise():
    rng = np.random.default_rng(0)
    accuracy = rng.uniform(0.8, 0.95, 3000)
    informative = np.c_[accuracy, rng.normal(0, 1e-4, 3000)]  # neighbours share accuracy
    noise = rng.normal(size=(3000, 2))
    good = quality.smoothness(informative, accuracy, np.random.default_rng(1), queries=500)
    bad = quality.smoothness(noise, accuracy, np.random.default_rng(1), queries=500)
    assert good["ratio"] < 0.05 and 0.85 < bad["ratio"] < 1.15
    assert good["random_gap"] == pytest.approx(bad["random_gap"])  # same random partners
    with pytest.raises(ValueError, match="one row per cell, got 3000 and 10"):
        quality.smoothness(noise, accuracy[:10], rng)


def test_move_distances_on_a_ring_and_their_correlation():
    graph = ring_graph(200)  # each node reaches its two neighbours
    pairs = quality.move_distances(graph, np.random.default_rng(0), sources=5, targets=100)
    assert len(pairs["moves"]) == 500
    ring_distance = np.minimum((pairs["target"] - pairs["source"]) % 200, (pairs["source"] - pairs["target"]) % 200)
    assert np.array_equal(pairs["moves"], ring_distance)
    angle = 2 * np.pi * np.arange(200) / 200
    circle = np.c_[np.cos(angle), np.sin(angle)]  # embedding distance grows with ring distance
    result = quality.edit_distance_correlation(circle, pairs)
    assert result["spearman"] > 0.99 and result["pairs"] == 500
    shuffled = quality.edit_distance_correlation(np.random.default_rng(1).permutation(circle), pairs)
    assert abs(shuffled["spearman"]) < 0.2


def test_pca_and_map(tmp_path):
    rng = np.random.default_rng(0)
    points = rng.normal(size=(500, 5)) * [5, 3, 0.1, 0.1, 0.1]
    projected = quality.pca(points)
    assert projected.shape == (500, 2) and projected[:, 0].var() > projected[:, 1].var() > 1
    path = quality.plot_map(points, rng.uniform(0.5, 0.95, 500), tmp_path / "map.png", "test")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
