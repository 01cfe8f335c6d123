"""Channels matched across runs, steps and checkpoints: the matching itself, the align route, the command."""

from __future__ import annotations

import numpy as np
import pytest

from tb_cnnviz.channel_matching import correlation_matrix, match_channels


def _activations(samples: int = 400, channels: int = 12, seed: int = 0) -> np.ndarray:
    """Channels with a shared component (so they correlate with each other too), not only noise."""
    generator = np.random.default_rng(seed)
    shared = generator.normal(size=(samples, 1))
    return generator.normal(size=(samples, channels)) + 0.6 * shared


def test_a_permutation_of_the_channels_is_recovered_exactly():
    first = _activations()
    order = np.random.default_rng(1).permutation(first.shape[1])
    # Channel j of the second table is channel order[j] of the first, rescaled and shifted (correlation 1).
    second = 3.0 * first[:, order] - 7.0
    matching = match_channels(first, second)
    expected = {int(old): new for new, old in enumerate(order)}
    assert {pair.channel: pair.other for pair in matching.pairs} == expected
    assert all(pair.correlation == pytest.approx(1.0) for pair in matching.pairs)
    assert matching.unmatched == matching.other_unmatched == matching.weak == []
    assert matching.mean_correlation == pytest.approx(1.0) and matching.share_above == 1.0


def test_the_matching_maximizes_total_correlation_not_each_channel_greedily():
    # Channel 0 correlates best with other 0 (0.9) but channel 1 only with other 0 (0.8) and weakly with 1:
    # greedy takes (0, 0) and leaves (1, 1); the optimum is (0, 1) + (1, 0) when that sums higher.
    correlations = np.array([[0.9, 0.85], [0.8, 0.0]])
    first = np.random.default_rng(2).normal(size=(20_000, 2))
    # The second table built from the first so that its correlations follow the target matrix.
    noise = np.random.default_rng(3).normal(size=(20_000, 2))
    second = first @ correlations + noise * np.sqrt(np.clip(1 - (correlations**2).sum(axis=0), 0, None))
    measured = correlation_matrix(first, second)
    matching = match_channels(first, second)
    pairs = {pair.channel: pair.other for pair in matching.pairs}
    assert pairs == {0: 1, 1: 0}
    assert measured[0, 1] + measured[1, 0] > measured[0, 0] + measured[1, 1]


def test_counts_that_differ_leave_the_extra_channels_unmatched():
    first = _activations(channels=10)
    keep = [7, 2, 9, 0]
    second = first[:, keep] + 0.05 * np.random.default_rng(4).normal(size=(first.shape[0], len(keep)))
    matching = match_channels(first, second, channels=range(10, 20), other_channels=[40, 41, 42, 43])
    assert {pair.channel: pair.other for pair in matching.pairs} == {17: 40, 12: 41, 19: 42, 10: 43}
    assert matching.unmatched == [11, 13, 14, 15, 16, 18] and matching.other_unmatched == []
    assert [pair.channel for pair in matching.pairs] == sorted(pair.channel for pair in matching.pairs)

    reverse = match_channels(second, first, channels=[40, 41, 42, 43], other_channels=range(10, 20))
    assert reverse.unmatched == [] and reverse.other_unmatched == [11, 13, 14, 15, 16, 18]


def test_a_constant_channel_correlates_zero_never_nan_and_is_weak():
    first = _activations(channels=4)
    first[:, 2] = 5.0  # a dead channel: the same value everywhere
    second = first.copy()
    second[:, 2] = 0.0
    correlations = correlation_matrix(first, second)
    assert np.isfinite(correlations).all()
    assert (correlations[2] == 0).all() and (correlations[:, 2] == 0).all()
    matching = match_channels(first, second)
    assert {pair.channel: pair.other for pair in matching.pairs} == {0: 0, 1: 1, 2: 2, 3: 3}
    assert matching.weak == [2]
    assert matching.as_dict()["share_above"] == 0.75


def test_tables_of_other_probes_or_with_nan_are_refused_with_the_reason():
    with pytest.raises(ValueError, match="same probes"):
        match_channels(np.zeros((10, 3)), np.zeros((12, 3)))
    bad = _activations(channels=3)
    bad[4, 1] = np.nan
    with pytest.raises(ValueError, match="NaN or Inf"):
        match_channels(bad, _activations(channels=3))
    with pytest.raises(ValueError, match=r"\(samples, channels\)"):
        match_channels(np.zeros(10), np.zeros((10, 1)))
