"""Every metric against values worked out by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest

from feed.experiments import metrics as m

RANKED = ["a", "b", "c", "d"]
POSITIVES = {"b", "d", "z"}  # z was never ranked


def test_ndcg_by_hand():
    # Hits at ranks 2 and 4: DCG = 1/log2(3) + 1/log2(5); ideal puts 3 hits first.
    dcg = 1 / math.log2(3) + 1 / math.log2(5)
    ideal = 1 + 1 / math.log2(3) + 1 / math.log2(4)
    assert m.ndcg_at_k(RANKED, POSITIVES, 4) == pytest.approx(dcg / ideal)
    # At k=2 the ideal holds two hits: (1/log2 3) / (1 + 1/log2 3) = 0.38685...
    assert m.ndcg_at_k(RANKED, POSITIVES, 2) == pytest.approx(0.386853, abs=1e-6)
    assert m.ndcg_at_k(["b", "d"], {"b", "d"}, 2) == pytest.approx(1.0)
    assert math.isnan(m.ndcg_at_k(RANKED, set(), 4))


def test_recall_hit_and_mrr_by_hand():
    assert m.recall_at_k(RANKED, POSITIVES, 4) == pytest.approx(2 / 3)
    assert m.recall_at_k(RANKED, POSITIVES, 1) == 0.0
    assert m.hit_rate_at_k(RANKED, POSITIVES, 1) == 0.0
    assert m.hit_rate_at_k(RANKED, POSITIVES, 2) == 1.0
    assert m.mrr_at_k(RANKED, POSITIVES, 4) == pytest.approx(0.5)
    assert m.mrr_at_k(RANKED, {"d"}, 4) == pytest.approx(0.25)
    assert m.mrr_at_k(RANKED, {"d"}, 3) == 0.0
    assert math.isnan(m.recall_at_k(RANKED, set(), 4))


def test_short_lists_count_as_misses():
    # A page shorter than k: missing slots are not hits.
    assert m.recall_at_k(["b"], POSITIVES, 10) == pytest.approx(1 / 3)
    assert m.ndcg_at_k(["b"], {"b"}, 10) == pytest.approx(1.0)


def test_intra_list_diversity_by_hand():
    near = np.array([1.0, 0.0], dtype=np.float32)
    far = np.array([0.0, 1.0], dtype=np.float32)
    # Pairs: (near, far) = 1, (near, near) = 0, (far, near) = 1 → mean 2/3.
    assert m.intra_list_diversity(np.stack([near, far, near])) == pytest.approx(2 / 3)
    assert m.intra_list_diversity(np.stack([near, near])) == pytest.approx(0.0)
    assert math.isnan(m.intra_list_diversity(near[None, :]))


def test_novelty_by_hand():
    # Shares 1/2 and 1/8 carry 1 and 3 bits: mean 2.
    assert m.novelty(np.array([0.5, 0.125])) == pytest.approx(2.0)
    assert m.novelty(np.array([1.0])) == 0.0
    assert math.isnan(m.novelty(np.array([])))


def test_coverage_by_hand():
    assert m.coverage(np.array([0, 3, 0, 1])) == pytest.approx(0.5)


def test_gini_by_hand():
    assert m.gini(np.array([0, 0, 0, 1])) == pytest.approx(0.75)
    assert m.gini(np.array([5, 5, 5])) == pytest.approx(0.0)
    # [1, 2, 3]: sum |xi - xj| over ordered pairs = 8; 8 / (2 * 9 * 2) = 2/9.
    assert m.gini(np.array([3, 1, 2])) == pytest.approx(2 / 9)
    assert math.isnan(m.gini(np.zeros(4)))


def test_adherence_and_obeys_by_hand():
    matches = [True, True, False, True, False]
    assert m.target_share(matches) == pytest.approx(0.6)
    assert m.adherence_at_k("boost", matches, 4) == pytest.approx(0.75)
    assert m.adherence_at_k("exclude", matches, 4) == pytest.approx(0.25)
    assert m.obeys("boost", 0.8, 0.1) and not m.obeys("boost", 0.7, 0.1)
    assert m.obeys("only", 1.0, 0.0) and not m.obeys("only", 0.9, 0.0)
    assert m.obeys("exclude", 0.0, 0.3) and not m.obeys("exclude", 0.05, 0.3)
    # "less": the share must fall by 70% (0.3 → at most 0.09).
    assert m.obeys("suppress", 0.09, 0.3) and not m.obeys("suppress", 0.1, 0.3)
    assert m.obeys("suppress", 0.0, 0.0) and not m.obeys("suppress", 0.1, 0.0)


def test_suppression_ratio_and_collateral_by_hand():
    assert m.suppression_ratio(0.4, 0.1) == pytest.approx(0.25)
    assert math.isnan(m.suppression_ratio(0.0, 0.1))
    # Mean relevance 0.5 before, 0.4 after: -20%.
    before, after = np.array([0.4, 0.6]), np.array([0.3, 0.5])
    assert m.collateral_change(before, after) == pytest.approx(-0.2)
    assert math.isnan(m.collateral_change(before, np.array([])))


def test_steps_until_obeys_and_persistence_by_hand():
    assert m.steps_until_obeys([False, False, True, True]) == 2.0
    assert m.steps_until_obeys([True]) == 0.0
    assert math.isnan(m.steps_until_obeys([False, False]))
    assert m.persistence([True, False, True, True]) == pytest.approx(0.75)
    assert math.isnan(m.persistence([]))


def test_latency_summary_by_hand():
    summary = m.latency_summary(np.array([1.0, 2.0, 3.0, 4.0, 10.0]))
    assert summary.mean_ms == pytest.approx(4.0)
    assert summary.p50_ms == pytest.approx(3.0)
    # numpy's linear interpolation: rank 0.95 * 4 = 3.8 → 4 + 0.8 * (10 - 4) = 8.8.
    assert summary.p95_ms == pytest.approx(8.8)
    assert summary.max_ms == 10.0


def test_bootstrap_weights_and_means():
    weights = m.resample_weights(5, 200, seed=3)
    assert weights.shape == (200, 5)
    assert np.all(weights.sum(axis=1) == 5)
    assert np.array_equal(weights, m.resample_weights(5, 200, seed=3))
    values = np.array([1.0, np.nan, 3.0])
    # One resample drawing user 0 twice and user 1 once: user 1 has no value → mean 1.
    # Another drawing each once: (1 + 3) / 2.
    w = np.array([[2.0, 1.0, 0.0], [1.0, 1.0, 1.0], [0.0, 3.0, 0.0]])
    means = m.weighted_means(values, w)
    assert means[0] == pytest.approx(1.0) and means[1] == pytest.approx(2.0)
    assert math.isnan(means[2])


def test_percentile_interval_by_hand():
    samples = np.arange(101, dtype=np.float64)  # 0..100
    assert m.percentile_interval(samples, 0.9) == pytest.approx((5.0, 95.0))
    assert all(math.isnan(x) for x in m.percentile_interval(np.array([np.nan]), 0.9))
