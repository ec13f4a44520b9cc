"""The fast path's input to ``fit``: the training ratings in blocks, reshuffled each epoch.

The sparse step (:mod:`movierec.models.sparse`) takes ``fit`` batches of up to
``STEPS_PER_CALL`` steps of ratings (blocks), so ``fit`` makes a few calls per epoch, and
what is left of its cost is the data adapter's: Keras shuffles arrays by drawing a fresh
permutation with numpy and gathering each block's rows through it, every epoch (on
latest-small about as long as the whole plain SGD epoch the fast path is measured
against; ``benchmarks/results/compiled-sgd.md``). :class:`ShuffledBlocks` is a
``keras.utils.PyDataset`` that holds its own copy of the pairs and targets and shuffles
them in place between epochs, one compiled Fisher-Yates pass with a seeded generator; a
block is a copy of a slice of them. Every epoch is a uniformly random order of the
ratings, as with Keras' own shuffle, and the same seed gives the same orders.
"""

from __future__ import annotations

import keras
import numba
import numpy as np

__all__ = ["ShuffledBlocks", "shuffle_in_place"]

_MIX = 0x9E3779B97F4A7C15


@numba.njit(cache=True)
def _shuffle(pairs, targets, state):  # pragma: no cover - compiled
    # Fisher-Yates with splitmix64: each step draws from the top 53 bits as a fraction
    x = state[0]
    for i in range(pairs.shape[0] - 1, 0, -1):
        x += np.uint64(_MIX)
        z = x
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        z = z ^ (z >> np.uint64(31))
        j = np.int64(np.float64(z >> np.uint64(11)) * (1.0 / 9007199254740992.0) * (i + 1))
        pairs[i], pairs[j] = pairs[j], pairs[i]
        targets[i], targets[j] = targets[j], targets[i]
    state[0] = x


def shuffle_in_place(pairs: np.ndarray, targets: np.ndarray, state: np.ndarray) -> None:
    """Shuffle the rows of ``pairs`` (int32 ``(n, 2)``, C-contiguous) and ``targets``
    (``(n,)``) by the same permutation, drawn from ``state`` (a ``uint64`` array of one,
    advanced)."""
    _shuffle(pairs.view(np.int64).reshape(-1), targets, state)


class ShuffledBlocks(keras.utils.PyDataset):
    """``(pairs, targets)`` in blocks of ``block`` ratings (the last may be shorter), in a
    new random order each epoch.

    Args:
        pairs: ``(n, 2)`` user and movie indices (copied, as int32).
        targets: ``(n,)`` the training targets (copied, as float32).
        block: ratings per ``fit`` batch.
        seed: the shuffling's seed.
    """

    def __init__(self, pairs: np.ndarray, targets: np.ndarray, block: int, *,
                 seed: int) -> None:
        super().__init__()
        if block < 1:
            raise ValueError(f"block must be a positive number of ratings, not {block}")
        if len(pairs) != len(targets):
            raise ValueError(f"{len(pairs)} pairs but {len(targets)} targets")
        self.pairs = np.ascontiguousarray(pairs, dtype=np.int32).copy()
        self.targets = np.ascontiguousarray(targets, dtype=np.float32).reshape(-1).copy()
        self.block = int(block)
        self._state = np.array([(int(seed) * _MIX + _MIX) % 2**64], dtype=np.uint64)
        self._shuffle()

    def __len__(self) -> int:
        return -(-len(self.targets) // self.block)

    def __getitem__(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        if not 0 <= index < len(self):
            raise IndexError(f"block {index} of {len(self)}")
        part = slice(index * self.block, (index + 1) * self.block)
        # copies: the arrays are reshuffled while a block may still be read by the step
        # that JAX runs asynchronously
        return self.pairs[part].copy(), self.targets[part].copy()

    def on_epoch_end(self) -> None:
        self._shuffle()

    def _shuffle(self) -> None:
        shuffle_in_place(self.pairs, self.targets, self._state)
