"""Data-parallel training across processes (`keras.distribution.DataParallel`), pure Keras.

Each process holds the same training windows and feeds its slice of every global batch
(`ShardedBatches`): process p of N gets rows [p*B/N, (p+1)*B/N) of the global batch of B,
drawn from one permutation per epoch that every process computes from the seed. The global
batch is therefore the one a single process would draw, and the loss curve is the same
whatever N (tested with two processes). After training, the replicated weights are copied
into an ordinary model, so calibration and saving run as on one process.
"""

from __future__ import annotations

from collections.abc import Callable

import keras
import numpy as np

from lcad.models.errors import ConfigError


def data_parallel() -> tuple[int, int] | None:
    """(this process's shard, number of processes) under a DataParallel distribution."""
    dist = keras.distribution.distribution()
    if not isinstance(dist, keras.distribution.DataParallel):
        return None
    return int(dist.data_shard_id), int(dist.num_processes)


class ShardedBatches(keras.utils.PyDataset):
    """This process's part of each global batch; a new permutation each epoch (`shuffle`),
    the same in every process. Rows past the last whole global batch are left out (every
    process must feed the same shape)."""

    def __init__(self, x: np.ndarray, y: np.ndarray, batch_size: int, rank: int, world: int,
                 seed: int = 0, shuffle: bool = True):
        super().__init__()
        if batch_size % world:
            raise ConfigError(f"train.batch_size {batch_size} is not a multiple of the "
                              f"{world} training processes")
        if x.shape[0] < batch_size:
            raise ConfigError(f"{x.shape[0]} windows are fewer than one global batch of "
                              f"{batch_size}: lower train.batch_size or use fewer processes")
        self.x, self.y = x, y
        self.batch_size, self.rank, self.world = batch_size, rank, world
        self.seed, self.shuffle, self.epoch = seed, shuffle, 0
        self.order = self._order()

    def _order(self) -> np.ndarray:
        n = self.x.shape[0]
        if not self.shuffle:
            return np.arange(n)
        return np.random.default_rng([self.seed, self.epoch]).permutation(n)

    def __len__(self) -> int:
        return int(self.x.shape[0] // self.batch_size)

    def __getitem__(self, k: int) -> tuple[np.ndarray, np.ndarray]:
        # the global batch in one order whatever the number of processes, then this
        # process's slice of it: row i of the global batch gets the same random draws
        # (dropout, the variational sampling noise) as on one process
        part = self.batch_size // self.world
        batch = np.sort(self.order[k * self.batch_size: (k + 1) * self.batch_size])
        rows = batch[self.rank * part: (self.rank + 1) * part]
        return self.x[rows], self.y[rows]

    def on_epoch_end(self) -> None:
        self.epoch += 1
        self.order = self._order()


def validation_batches(x: np.ndarray, y: np.ndarray, batch_size: int, rank: int, world: int
                       ) -> ShardedBatches:
    """Held-out windows in global batches of at most `batch_size` (a multiple of `world`)."""
    size = min(batch_size, (x.shape[0] // world) * world)
    if size == 0:
        raise ConfigError(f"{x.shape[0]} validation windows cannot be shared by {world} "
                          "training processes")
    return ShardedBatches(x, y, size, rank, world, shuffle=False)


def local_copy(model: keras.Model, build: Callable[[], keras.Model]) -> keras.Model:
    """The trained (replicated) weights in a new model built outside the distribution."""
    weights = model.get_weights()
    keras.distribution.set_distribution(None)
    local = build()
    local.set_weights(weights)
    return local
