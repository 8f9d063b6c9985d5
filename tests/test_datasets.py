"""Built-in datasets, user data files, seeded splits and standardisation."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from rulelab.data.datasets import DATASETS, split_dataset


def make(name, seed=0, base_dir=Path("."), **options):
    info = DATASETS[name]
    return info.make(info.Options(**options), np.random.default_rng(seed), base_dir)


def test_logic_gates_truth_tables():
    X = make("and").X
    np.testing.assert_array_equal(X, [[0, 0], [0, 1], [1, 0], [1, 1]])
    assert make("and").y.tolist() == [0, 0, 0, 1]
    assert make("or").y.tolist() == [0, 1, 1, 1]
    assert make("nand").y.tolist() == [1, 1, 1, 0]
    assert make("xor").y.tolist() == [0, 1, 1, 0]
    np.testing.assert_array_equal(make("xor", encoding="bipolar").X, [[-1, -1], [-1, 1], [1, -1], [1, 1]])


def test_parity():
    d = make("parity", n_bits=4)
    assert d.X.shape == (16, 4)
    np.testing.assert_array_equal(d.y, d.X.sum(axis=1) % 2)


def test_digits_shipped_copy():
    d = make("digits")
    assert d.X.shape == (1797, 64) and d.n_classes == 10 and d.image_shape == (8, 8)
    assert d.X.min() == 0.0 and d.X.max() == 1.0
    assert np.bincount(d.y).tolist() == [178, 182, 177, 183, 181, 182, 181, 179, 174, 180]


@pytest.mark.parametrize("name", ["blobs", "moons", "circles", "spiral"])
def test_generated_sets_are_seeded(name):
    a, b, c = make(name, seed=1), make(name, seed=1), make(name, seed=2)
    np.testing.assert_array_equal(a.X, b.X)
    assert not np.array_equal(a.X, c.X)
    assert a.X.shape == (200, 2) and sorted(set(a.y.tolist())) == [0, 1]


def test_circles_radii_without_noise():
    d = make("circles", noise=0.0, factor=0.3)
    r = np.linalg.norm(d.X, axis=1)
    np.testing.assert_allclose(r[d.y == 0], 1.0)
    np.testing.assert_allclose(r[d.y == 1], 0.3)


def test_random_patterns():
    d = make("random_patterns", n_patterns=7, length=30)
    assert d.X.shape == (7, 30) and set(np.unique(d.X)) == {-1.0, 1.0}


def test_csv_with_header_and_named_label(tmp_path):
    (tmp_path / "d.csv").write_text("a,b,kind\n1,2,cat\n3,4,dog\n5,6,cat\n")
    d = make("csv", base_dir=tmp_path, path="d.csv", label_column="kind")
    np.testing.assert_array_equal(d.X, [[1, 2], [3, 4], [5, 6]])
    assert d.y.tolist() == [0, 1, 0] and d.n_classes == 2


def test_npz(tmp_path):
    np.savez(tmp_path / "d.npz", X=np.arange(12.0).reshape(3, 2, 2), y=np.array([5, 7, 5]))
    d = make("npz", base_dir=tmp_path, path="d.npz")
    assert d.X.shape == (3, 4) and d.y.tolist() == [0, 1, 0]


def test_split_and_standardise():
    d = make("blobs", n_samples=100)
    s1 = split_dataset(d, 0.25, np.random.default_rng(0), standardize=True)
    s2 = split_dataset(d, 0.25, np.random.default_rng(0), standardize=True)
    assert s1.X_train.shape == (75, 2) and s1.X_test.shape == (25, 2)
    np.testing.assert_array_equal(s1.X_test, s2.X_test)
    np.testing.assert_allclose(s1.X_train.mean(axis=0), 0.0, atol=1e-12)
    np.testing.assert_allclose(s1.X_train.std(axis=0), 1.0)
