"""nayose.cluster._components (numpy union-find) gives scipy's connected_components labels."""

import numpy as np
import pytest

from nayose.cluster import _components

csgraph = pytest.importorskip("scipy.sparse.csgraph")
sparse = pytest.importorskip("scipy.sparse")


def _scipy(n, left, right):
    g = sparse.coo_matrix((np.ones(len(left), dtype=np.int8), (left, right)), shape=(n, n))
    return csgraph.connected_components(g, directed=False)[1]


def test_random_graphs_match_scipy():
    rng = np.random.default_rng(7)
    for _ in range(500):
        n = int(rng.integers(1, 200))
        m = int(rng.integers(0, 400))
        left = rng.integers(0, n, m).astype(np.int32)
        right = rng.integers(0, n, m).astype(np.int32)
        ours = _components(n, left, right)
        assert ours.dtype == np.int32
        assert np.array_equal(ours, _scipy(n, left, right))


@pytest.mark.parametrize("shape", ["path", "reversed path", "star", "zigzag", "tree"])
def test_adversarial_shapes_match_scipy(shape):
    rng = np.random.default_rng(3)
    n = 5000
    if shape == "path":
        p = rng.permutation(n)
        left, right = p[:-1], p[1:]
    elif shape == "reversed path":
        left = np.arange(n - 1, 0, -1)
        right = left - 1
    elif shape == "star":
        left, right = np.full(n - 1, n - 1), np.arange(n - 1)
    elif shape == "zigzag":
        h = n // 2
        seq = np.empty(2 * h, dtype=np.int64)
        seq[0::2], seq[1::2] = np.arange(h), np.arange(h, 2 * h)
        left, right = seq[:-1], seq[1:]
    else:
        p = rng.permutation(n)
        c = np.arange(1, n)
        left, right = p[c], p[(c - 1) // 2]
    left, right = left.astype(np.int32), right.astype(np.int32)
    assert np.array_equal(_components(n, left, right), _scipy(n, left, right))


def test_no_records_and_no_pairs():
    assert len(_components(0, np.zeros(0, np.int32), np.zeros(0, np.int32))) == 0
    assert np.array_equal(_components(3, np.zeros(0, np.int32), np.zeros(0, np.int32)), [0, 1, 2])
