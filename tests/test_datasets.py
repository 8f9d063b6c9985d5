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


# --- TensorFlow Playground's data and inputs -------------------------------------------------------

def test_playground_xor_quadrants():
    d = make("playground_xor", seed=3)
    assert d.X.shape == (500, 2) and d.n_classes == 2
    x1, x2 = d.X[:, 0], d.X[:, 1]
    assert np.all((np.abs(x1) >= 0.3) & (np.abs(x1) <= 5.3)) and np.all((np.abs(x2) >= 0.3) & (np.abs(x2) <= 5.3))
    np.testing.assert_array_equal(d.y, (x1 * x2 >= 0).astype(int))  # noise 0: the quadrant decides


def test_playground_noise_moves_the_labels_not_the_points():
    clean, noisy = make("playground_xor", seed=4), make("playground_xor", seed=4, noise=0.5)
    np.testing.assert_array_equal(clean.X, noisy.X)
    flipped = np.mean(clean.y != noisy.y)
    # Flips happen only where the ±2.5 label jitter crosses an axis; many points are farther out.
    assert 0.1 < flipped < 0.4
    clean, noisy = make("playground_circle", seed=4), make("playground_circle", seed=4, noise=0.3)
    np.testing.assert_array_equal(clean.X, noisy.X)
    assert np.any(clean.y != noisy.y)


def test_playground_gaussian_clusters_widen_with_noise():
    for noise, variance in ((0.0, 0.5), (0.25, 2.25), (0.5, 4.0)):  # linear 0.5 → 4 over noise 0 → 0.5
        d = make("playground_gauss", seed=5, n_samples=40000, noise=noise)
        positive = d.X[d.y == 1]
        assert len(positive) == 20000
        np.testing.assert_allclose(positive.mean(axis=0), [2.0, 2.0], atol=0.05)
        np.testing.assert_allclose(positive.var(axis=0), variance, rtol=0.03)
        np.testing.assert_allclose(d.X[d.y == 0].mean(axis=0), [-2.0, -2.0], atol=0.05)


def test_playground_circle_and_spiral_geometry():
    d = make("playground_circle", seed=6)
    r = np.hypot(d.X[:, 0], d.X[:, 1])
    assert np.all(r[d.y == 1] < 2.5) and np.all((r[d.y == 0] >= 3.5) & (r[d.y == 0] <= 5.0))
    d = make("playground_spiral", n_samples=8)
    i = np.arange(4)
    r, t = i / 4 * 5.0, 1.75 * i / 4 * 2 * np.pi
    np.testing.assert_allclose(d.X[:4], np.column_stack([r * np.sin(t), r * np.cos(t)]), atol=1e-15)
    np.testing.assert_allclose(d.X[4:], -d.X[:4], atol=1e-14)  # the second arm: turned by π
    assert d.y.tolist() == [1] * 4 + [0] * 4


def test_playground_regression_sets():
    d = make("playground_plane", seed=7)
    assert d.X.shape == (1200, 2) and d.y is None and d.targets.shape == (1200, 1)
    np.testing.assert_allclose(d.targets[:, 0], (d.X[:, 0] + d.X[:, 1]) / 10, rtol=1e-15)
    from rulelab.data.playground import multi_gauss_target

    centres = np.array([[-4, 2.5], [0, 2.5], [4, 2.5], [-4, -2.5], [0, -2.5], [4, -2.5]])
    np.testing.assert_array_equal(multi_gauss_target(centres), [1, -1, 1, -1, 1, -1])
    # 1 from the (−4, 2.5) bump: 1 − 1/2; 3 from every centre: 0; halfway between two: the first of equals.
    np.testing.assert_allclose(multi_gauss_target(np.array([[-4, 3.5], [-2, 0.0], [-2, 2.5]])), [0.5, 0.0, 0.0])
    np.testing.assert_allclose(multi_gauss_target(np.array([[-2.5, 2.5]])), [0.25])
    d = make("playground_multi_gauss", seed=7)
    np.testing.assert_array_equal(d.targets[:, 0], multi_gauss_target(d.X))
    assert -1 <= d.targets.min() < -0.5 and 0.5 < d.targets.max() <= 1


def test_playground_derived_features():
    names = ["sin_x2", "x1_times_x2", "x1", "x1_squared", "x2_squared", "sin_x1", "x2"]
    base = make("playground_gauss", seed=8)
    d = make("playground_gauss", seed=8, features=names)
    x1, x2 = base.X[:, 0], base.X[:, 1]
    expected = np.column_stack([np.sin(x2), x1 * x2, x1, x1 ** 2, x2 ** 2, np.sin(x1), x2])
    np.testing.assert_array_equal(d.X, expected)
    np.testing.assert_array_equal(d.coordinates, base.X)
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match="x1 given more than once"):
        DATASETS["playground_xor"].Options(features=["x1", "x1"])
    with pytest.raises(ValidationError):
        DATASETS["playground_xor"].Options(features=["cos_x1"])


def test_playground_scenario_keys(write_scenario):
    from rulelab.scenario import ScenarioError, load_scenario, validate_scenario

    raw = {"name": "pg", "task": {"dataset": {"name": "playground_circle", "train_percent": 30,
                                              "features": ["x1_squared", "x2_squared"]}},
           "network": {"layers": [2, 1], "activation": "step"}, "rules": [{"rule": "perceptron"}]}
    s = load_scenario(write_scenario(raw))
    assert s.task.test_fraction == pytest.approx(0.7)
    raw["task"]["dataset"]["train_percent"] = 50
    raw["task"]["test_fraction"] = 0.2
    with pytest.raises(ScenarioError, match="task.test_fraction: got 0.2, but task.dataset.train_percent: 50 "
                                            "asks for 0.5; give one of the two"):
        load_scenario(write_scenario(raw))
    del raw["task"]["dataset"]["train_percent"]
    s = load_scenario(write_scenario(raw))  # test_fraction alone: the dataset's share follows it
    assert s.task.test_fraction == 0.2 and s.dataset_options.train_percent == 80
    again = validate_scenario(s.resolved, "resolved.yaml", s.base_dir)
    assert again.task.test_fraction == 0.2
    raw["network"]["layers"] = [3, 1]
    with pytest.raises(ScenarioError, match=r"network.layers\[0\]: got 3 inputs; the dataset has 2 features"):
        load_scenario(write_scenario(raw))


def test_squared_features_let_one_unit_separate_the_circle(write_scenario):
    """The playground's lesson: x1 and x2 cannot separate a disc from a ring with one unit; x1², x2² can."""
    from rulelab.run.runner import run_scenario
    from rulelab.scenario import load_scenario

    def final_accuracy(features):
        raw = {"name": "pg", "task": {"dataset": {"name": "playground_circle", "n_samples": 200,
                                                  "features": features}},
               "network": {"layers": [len(features), 1], "activation": "step", "init": "zeros"},
               "train": {"epochs": 200}, "rules": [{"rule": "perceptron", "lr": 0.1}]}
        (record,) = run_scenario(load_scenario(write_scenario(raw)))
        return record.status, record.final("train_accuracy")

    assert final_accuracy(["x1_squared", "x2_squared"]) == ("converged", 1.0)
    status, accuracy = final_accuracy(["x1", "x2"])
    assert status == "not_converged" and accuracy < 0.8


# --- stratified splits -------------------------------------------------------------------------------

def test_stratified_counts_largest_remainder():
    from rulelab.data.datasets import stratified_counts

    labels = np.array([0] * 60 + [1] * 30 + [2] * 10)
    # Exact shares of 25 rows: 15, 7.5, 2.5; the one row left goes to the larger of the tied remainders.
    assert stratified_counts(labels, 25) == {0: 15, 1: 8, 2: 2}
    assert stratified_counts(labels, 0) == {0: 0, 1: 0, 2: 0}
    assert stratified_counts(labels, 100) == {0: 60, 1: 30, 2: 10}


def test_stratified_split_keeps_class_shares():
    from rulelab.data.datasets import Dataset

    y = np.repeat([0, 1, 2], [60, 30, 10])
    d = Dataset(np.arange(100.0)[:, None], y, 3)
    plain = split_dataset(d, 0.25, np.random.default_rng(1), validation_fraction=0.2)
    strat = split_dataset(d, 0.25, np.random.default_rng(1), validation_fraction=0.2, stratify=True)
    assert [len(s.X_test) for s in (plain, strat)] == [25, 25]
    assert [len(s.X_val) for s in (plain, strat)] == [15, 15]
    assert np.bincount(strat.y_test, minlength=3).tolist() == [15, 8, 2]
    # Validation: 15 of the 75 training rows (45, 22, 8): exact shares 9, 4.4, 1.6 → 9, 4, 2.
    assert np.bincount(strat.y_val, minlength=3).tolist() == [9, 4, 2]
    assert np.bincount(strat.y_train, minlength=3).tolist() == [36, 18, 6]
    rows = np.concatenate([strat.X_train, strat.X_test, strat.X_val])[:, 0]
    assert sorted(rows.tolist()) == list(range(100))  # a partition: every row exactly once
    # Same permutation: the test rows are the first of each class in the plain split's order.
    order = np.concatenate([plain.X_test, plain.X_val, plain.X_train])[:, 0].astype(int)
    first = [r for r in order if y[r] == 2][:2]
    assert sorted(strat.X_test[strat.y_test == 2, 0].astype(int).tolist()) == sorted(first)


def test_stratify_needs_labels(write_scenario):
    from rulelab.scenario import ScenarioError, load_scenario

    raw = {"name": "s", "task": {"kind": "regression", "stratify": True, "dataset": "playground_plane"},
           "network": {"layers": [2, 1], "activation": "linear"}, "rules": [{"rule": "delta"}]}
    with pytest.raises(ScenarioError, match="task.stratify: a stratified split needs class labels; "
                                            "this dataset has none"):
        load_scenario(write_scenario(raw))


def test_stratified_scenario_runs_with_balanced_test_sets(write_scenario):
    from rulelab.build import prepare_data
    from rulelab.scenario import load_scenario

    raw = {"name": "s", "task": {"dataset": "digits", "stratify": True, "test_fraction": 0.2},
           "network": {"layers": [64, 10], "activation": "sigmoid"}, "rules": [{"rule": "delta"}]}
    data = prepare_data(load_scenario(write_scenario(raw)), seed=0)
    counts = np.bincount(data.split.y_test, minlength=10)
    shares = np.array([178, 182, 177, 183, 181, 182, 181, 179, 174, 180]) * 359 / 1797
    assert counts.sum() == 359 and np.all(np.abs(counts - shares) < 1)


def test_decision_regions_of_derived_features_are_drawn_in_the_plane(write_scenario, tmp_path):
    """With x1², x2² as inputs the one-unit boundary is a circle in the (x1, x2) plane of the points."""
    from rulelab.output.plots import decision_boundaries, load_run
    from rulelab.output.results import RunWriter
    from rulelab.run.runner import run_scenario
    from rulelab.scenario import load_scenario

    raw = {"name": "pg", "task": {"dataset": {"name": "playground_circle", "n_samples": 200,
                                              "features": ["x1_squared", "x2_squared"]}, "standardize": True},
           "network": {"layers": [2, 1], "activation": "step", "init": "zeros"},
           "train": {"epochs": 100}, "rules": [{"rule": "perceptron", "lr": 0.1}]}
    scenario = load_scenario(write_scenario(raw))
    writer = RunWriter(tmp_path / "run", scenario, "test")
    run_scenario(scenario, on_record=writer.add)
    writer.finish()
    run = load_run(tmp_path / "run")
    (path,) = decision_boundaries(run)
    assert path.name == "decision-boundaries.png" and path.is_file()
    ax = run.objects["decision-boundaries"].axes[0]
    # The points' plane (the ring reaches ±5), not the standardised feature space (x1² ≥ 0, about −1 … 3).
    assert ax.get_xlim()[0] < -5 and ax.get_ylim()[0] < -5
