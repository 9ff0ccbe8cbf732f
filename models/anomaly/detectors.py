"""IsolationForest and One-Class SVM: fitting with scikit-learn, scoring with flat numpy.

A fitted sklearn ``IsolationForest`` costs ~7.5 ms per single-row call (per-tree Python and
validation overhead), far over the per-window budget. ``CompiledIsolationForest`` copies the
fitted trees (``tree_.children_left/right``, ``feature``, ``threshold``) into padded arrays and
walks all trees at once, one depth level per numpy step. Leaf values are sklearn's own
``_decision_path_lengths + _average_path_length_per_tree - 1`` and are accumulated tree by tree
in sklearn's order, so the scores equal ``score_samples`` exactly (tests check equality).

``CompiledOneClassSVM`` evaluates the RBF decision function from the support vectors, dual
coefficients and intercept (what libsvm computes), again without per-call overhead.

``CompiledMahalanobis`` (rep features only) is the distance under a Ledoit-Wolf shrunk
covariance of the clean reps' robust z-scores.

Every ``anomaly_score`` method returns *higher = more anomalous* (the negated ``score_samples``).
"""
from __future__ import annotations

from collections.abc import Hashable, Sequence

import numpy as np
from sklearn.covariance import LedoitWolf
from sklearn.ensemble import IsolationForest
from sklearn.svm import OneClassSVM

_LEAF = -1


def fit_isolation_forest(features: np.ndarray, seed: int, n_estimators: int = 100) -> IsolationForest:
    return IsolationForest(n_estimators=n_estimators, random_state=seed).fit(features)


def fit_one_class_svm(features: np.ndarray, nu: float = 0.05) -> OneClassSVM:
    return OneClassSVM(kernel="rbf", gamma="scale", nu=nu).fit(features)


def _average_path_length(n: float) -> float:
    if n <= 1:
        return 0.0
    if n == 2:
        return 1.0
    return 2.0 * (np.log(n - 1.0) + np.euler_gamma) - 2.0 * (n - 1.0) / n


class CompiledIsolationForest:
    """All trees of a fitted IsolationForest as (n_trees, max_nodes) arrays."""

    def __init__(self, forest: IsolationForest) -> None:
        trees = [est.tree_ for est in forest.estimators_]
        n_trees, width = len(trees), max(t.node_count for t in trees)
        self.left = np.zeros((n_trees, width), dtype=np.intp)
        self.right = np.zeros((n_trees, width), dtype=np.intp)
        self.feature = np.zeros((n_trees, width), dtype=np.intp)
        self.threshold = np.full((n_trees, width), np.inf)
        self.leaf_value = np.zeros((n_trees, width))
        for i, (tree, features) in enumerate(zip(trees, forest.estimators_features_)):
            n = tree.node_count
            is_leaf = tree.children_left[:n] == _LEAF
            nodes = np.arange(n)
            # A leaf points to itself, so extra walking steps stay put.
            self.left[i, :n] = np.where(is_leaf, nodes, tree.children_left[:n])
            self.right[i, :n] = np.where(is_leaf, nodes, tree.children_right[:n])
            self.feature[i, :n] = np.asarray(features)[np.where(is_leaf, 0, tree.feature[:n])]
            self.threshold[i, :n] = np.where(is_leaf, np.inf, tree.threshold[:n])
            self.leaf_value[i, :n] = (
                forest._decision_path_lengths[i][:n] + forest._average_path_length_per_tree[i][:n] - 1.0
            )
        self.depth = max(est.get_depth() for est in forest.estimators_)
        self.denominator = n_trees * _average_path_length(float(forest._max_samples))
        self._tree_index = np.arange(n_trees)

    def anomaly_score(self, features: np.ndarray) -> np.ndarray:
        """Negated ``IsolationForest.score_samples`` for rows of ``features`` (n, F)."""
        # sklearn compares float32 inputs against float64 thresholds; do the same.
        x = np.atleast_2d(features).astype(np.float32).astype(np.float64)
        rows = np.arange(x.shape[0])[:, None]
        node = np.zeros((x.shape[0], len(self._tree_index)), dtype=np.intp)
        trees = self._tree_index[None, :]
        for _ in range(self.depth):
            go_left = x[rows, self.feature[trees, node]] <= self.threshold[trees, node]
            node = np.where(go_left, self.left[trees, node], self.right[trees, node])
        depths = np.cumsum(self.leaf_value[trees, node], axis=1)[:, -1]
        if self.denominator == 0:
            return np.ones(x.shape[0])
        return 2.0 ** (-(depths / self.denominator))


class CompiledOneClassSVM:
    """RBF One-Class SVM decision function from its support vectors."""

    def __init__(self, svm: OneClassSVM) -> None:
        if svm.kernel != "rbf":
            raise ValueError(f"only the rbf kernel is compiled, got {svm.kernel!r}")
        self.support_vectors = np.asarray(svm.support_vectors_, dtype=np.float64)
        self.dual_coef = np.asarray(svm.dual_coef_, dtype=np.float64).ravel()
        self.gamma = float(svm._gamma)
        self.offset = float(np.ravel(svm.intercept_)[0]) + float(np.ravel(svm.offset_)[0])
        self._sv_sq = np.einsum("ij,ij->i", self.support_vectors, self.support_vectors)

    def anomaly_score(self, features: np.ndarray) -> np.ndarray:
        """Negated ``OneClassSVM.score_samples`` for rows of ``features`` (n, F)."""
        x = np.atleast_2d(features).astype(np.float64)
        sq_dist = np.einsum("ij,ij->i", x, x)[:, None] + self._sv_sq[None, :] - 2.0 * x @ self.support_vectors.T
        kernel = np.exp(-self.gamma * np.maximum(sq_dist, 0.0))
        return -(kernel @ self.dual_coef + self.offset)


Z_CLIP = 5.0
"""Robust z-scores are clipped to +-Z_CLIP before the Mahalanobis distance: one wild feature
(a gyro spike) must not decide alone, and a shrunk covariance fitted on ~100 reps is least
reliable far out in its tails."""


def fit_shrunk_covariance(z: np.ndarray, occasions: Sequence[Hashable] | None = None) -> LedoitWolf:
    """Ledoit-Wolf shrunk covariance of clipped robust z-scores (n reps x F features).

    With a few hundred rep features and about as many clean reps the sample covariance is
    singular; Ledoit-Wolf shrinks it towards a scaled identity by the amount that minimises
    the expected error, so its inverse exists and is stable.

    ``occasions`` (one label per rep, e.g. athlete and set) makes it the covariance of
    rep-to-rep variation *within* an occasion: each occasion's reps are centred on their own
    median and the location is 0. Shifts between sets are left to the athlete's norm and the
    calibration; on the real squat data this ranked faulty reps better for every subject
    (docs/models.md).
    """
    clipped = np.clip(z, -Z_CLIP, Z_CLIP)
    if occasions is None:
        return LedoitWolf().fit(clipped)
    labels = list(occasions)
    residuals = []
    for occasion in dict.fromkeys(labels):
        own = clipped[[label == occasion for label in labels]]
        if len(own) >= 2:  # one rep alone has no variation to show
            residuals.append(own - np.median(own, axis=0))
    if not residuals:
        return LedoitWolf().fit(clipped)
    return LedoitWolf(assume_centered=True).fit(np.concatenate(residuals))


class CompiledMahalanobis:
    """Mahalanobis distance under a fitted ``LedoitWolf`` covariance, from its location and
    precision matrix: how far a rep lies from the clean reps once the features' correlations
    (the angle-curve points of one joint move together) are taken into account."""

    def __init__(self, covariance: LedoitWolf) -> None:
        self.location = np.asarray(covariance.location_, dtype=np.float64)
        self.precision = np.asarray(covariance.precision_, dtype=np.float64)

    @classmethod
    def from_arrays(cls, location: np.ndarray, precision: np.ndarray) -> "CompiledMahalanobis":
        """From a stored location and precision matrix (no estimator object to unpickle)."""
        compiled = cls.__new__(cls)
        compiled.location = np.asarray(location, dtype=np.float64)
        compiled.precision = np.asarray(precision, dtype=np.float64)
        if compiled.precision.shape != (compiled.location.size, compiled.location.size):
            raise ValueError(f"precision {compiled.precision.shape} does not match location {compiled.location.shape}")
        return compiled

    def anomaly_score(self, z: np.ndarray) -> np.ndarray:
        """Distance of each row of robust z-scores (n, F), clipped as in fitting."""
        d = np.clip(np.atleast_2d(z), -Z_CLIP, Z_CLIP) - self.location
        return np.sqrt(np.maximum(np.einsum("ij,jk,ik->i", d, self.precision, d), 0.0))
