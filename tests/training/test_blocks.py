"""ShuffledBlocks: the fast path's fit input, reshuffled in place each epoch."""

from __future__ import annotations

import itertools
from collections import Counter

import numpy as np
import pytest

from movierec.training.blocks import ShuffledBlocks, shuffle_in_place


def _ratings(n: int):
    pairs = np.stack([np.arange(n), 1000 + np.arange(n)], axis=1).astype(np.int32)
    return pairs, np.arange(n, dtype=np.float32) / 10


def _epoch(blocks: ShuffledBlocks):
    parts = [blocks[i] for i in range(len(blocks))]
    return np.concatenate([p for p, _ in parts]), np.concatenate([t for _, t in parts])


def test_each_epoch_is_a_new_order_of_every_rating_with_pairs_and_targets_together():
    pairs, targets = _ratings(1001)
    blocks = ShuffledBlocks(pairs, targets, 100, seed=3)
    assert len(blocks) == 11 and len(blocks[10][0]) == 1  # the last block is shorter
    orders = []
    for _ in range(3):
        got_pairs, got_targets = _epoch(blocks)
        assert sorted(got_pairs[:, 0].tolist()) == list(range(1001))  # each rating once
        np.testing.assert_array_equal(got_pairs[:, 1], got_pairs[:, 0] + 1000)
        np.testing.assert_allclose(got_targets, got_pairs[:, 0] / 10, rtol=1e-6)
        orders.append(got_pairs[:, 0].copy())
        blocks.on_epoch_end()
    assert not np.array_equal(orders[0], np.arange(1001))  # shuffled before the first
    assert not np.array_equal(orders[0], orders[1])
    assert not np.array_equal(orders[1], orders[2])
    np.testing.assert_array_equal(pairs[:, 0], np.arange(1001))  # the caller's: untouched


def test_the_same_seed_gives_the_same_orders_and_another_seed_others():
    pairs, targets = _ratings(500)
    a, b, c = (ShuffledBlocks(pairs, targets, 64, seed=s) for s in (7, 7, 8))
    for _ in range(2):
        np.testing.assert_array_equal(_epoch(a)[0], _epoch(b)[0])
        assert not np.array_equal(_epoch(a)[0], _epoch(c)[0])
        for blocks in (a, b, c):
            blocks.on_epoch_end()


def test_every_order_of_three_is_about_equally_likely():
    """Fisher-Yates draws each of the 3! orders with probability 1/6: 6,000 shuffles land
    within 5 standard deviations (about 145) of 1,000 each."""
    pairs, targets = _ratings(3)
    state = np.array([12345], dtype=np.uint64)
    seen: Counter[tuple[int, ...]] = Counter()
    for _ in range(6000):
        shuffle_in_place(pairs, targets, state)
        seen[tuple(pairs[:, 0].tolist())] += 1
    assert set(seen) == set(itertools.permutations(range(3)))
    assert all(abs(count - 1000) < 145 for count in seen.values()), seen


def test_a_block_is_a_copy_that_reshuffling_leaves_alone():
    pairs, targets = _ratings(50)
    blocks = ShuffledBlocks(pairs, targets, 50, seed=0)
    first, _ = blocks[0]
    kept = first.copy()
    blocks.on_epoch_end()
    np.testing.assert_array_equal(first, kept)
    assert not np.array_equal(blocks[0][0], first)
    with pytest.raises(IndexError):
        blocks[1]


def test_bad_arguments_are_refused():
    pairs, targets = _ratings(10)
    with pytest.raises(ValueError, match="positive"):
        ShuffledBlocks(pairs, targets, 0, seed=0)
    with pytest.raises(ValueError, match="10 pairs but 9 targets"):
        ShuffledBlocks(pairs, targets[:9], 4, seed=0)
