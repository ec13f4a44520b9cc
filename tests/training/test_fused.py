"""The fused dot-bias step (movierec.models.fused) against the jax.numpy sparse step."""

from __future__ import annotations

import keras
import numpy as np
import pytest
from helpers import synthetic_pair_split

from movierec.models import build_model
from movierec.models import fused as fused_module
from movierec.models.sparse import SparseAdagrad, sparse_updates_supported, use_sparse_updates
from movierec.training import TrainConfig, fit

pytestmark = [
    pytest.mark.skipif(not sparse_updates_supported(), reason="the sparse step needs JAX"),
    pytest.mark.skipif(sparse_updates_supported() and not fused_module.supported(),
                       reason="the fused step needs numba and JAX on the CPU"),
]
RANGE = (1.0, 5.0)


@pytest.fixture(scope="module")
def data():
    return synthetic_pair_split()


def _train(pairs, y, *, fused: bool, weighted: bool = False, epochs: int = 3):
    keras.utils.set_random_seed(4)
    model = build_model("dot-bias", 80, 50, factors=6, l2=0.0, rating_range=RANGE, seed=4)
    model.compile(optimizer=SparseAdagrad(0.05), loss="mse")
    kind = use_sparse_updates(model, l2=0.02, bias_l2=0.005, batch_size=64, fused=fused)
    weight = np.linspace(0.5, 1.5, len(y)).astype(np.float32) if weighted else None
    history = model.fit(pairs, y, sample_weight=weight, batch_size=3 * 64, epochs=epochs,
                        shuffle=True, verbose=0)
    return kind, model, history.history["loss"]


@pytest.mark.parametrize("weighted", [False, True])
def test_fused_step_trains_what_the_jax_numpy_step_trains(weighted, data):
    """Same seed, same batches: the kernel's weights, accumulators and losses are the
    autodiff step's, to float32 rounding, after several epochs of repeated rows."""
    pairs, y = data[0], data[1]
    kind_a, plain, loss_a = _train(pairs, y, fused=False, weighted=weighted)
    kind_b, kernel, loss_b = _train(pairs, y, fused=True, weighted=weighted)
    assert (kind_a, kind_b) == ("jax.numpy", "fused")
    for a, b in zip(plain.get_weights(), kernel.get_weights(), strict=True):
        np.testing.assert_allclose(b, a, rtol=2e-4, atol=2e-5)
    for a, b in zip(plain.optimizer.variables, kernel.optimizer.variables, strict=True):
        np.testing.assert_allclose(keras.ops.convert_to_numpy(b.value),
                                   keras.ops.convert_to_numpy(a.value), rtol=2e-4, atol=2e-5)
    np.testing.assert_allclose(loss_b, loss_a, rtol=1e-5)
    # and training moved the weights: the comparison is not of two untouched models
    untouched = build_model("dot-bias", 80, 50, factors=6, l2=0.0, rating_range=RANGE, seed=4)
    assert not np.allclose(untouched.get_weights()[0], kernel.get_weights()[0], atol=1e-3)


def test_kernel_matches_the_steps_written_out_in_numpy():
    """One call of the registered kernel (through jax.jit) taking a block as four steps
    (rows repeating within and across them, the last step shorter, a learning rate per
    step), against :func:`fused.reference_step` in float64."""
    import jax
    import jax.numpy as jnp

    assert fused_module.ready()
    rng = np.random.default_rng(3)
    n_users, n_movies, factors, n, batch = 5, 9, 13, 64 * 3 + 10, 64
    tables = [rng.normal(0, 0.4, (n_users, factors)), rng.normal(0, 0.4, (n_movies, factors)),
              rng.normal(0, 0.2, (n_users, 1)), rng.normal(0, 0.2, (n_movies, 1))]
    accumulators = [rng.uniform(0, 0.5, (len(t), 1)) for t in tables]
    pairs = np.stack([rng.integers(0, n_users, n),
                      rng.integers(0, n_movies - 1, n)],  # the last movie: unrated
                     axis=1).astype(np.int32)
    y, weight = rng.uniform(0.5, 5, n), rng.uniform(0.5, 1.5, n)
    rates = np.array([0.2, 0.1, 0.05, 0.3])
    assert fused_module.steps_of(n, batch) == len(rates)
    settings = {"l2": 0.1, "bias_l2": 0.02, "rating_range": (0.5, 5.0), "epsilon": 1e-8,
                "batch_size": batch}

    def step(tables, accumulators, learning_rate):
        return fused_module.dot_bias_step(
            tables, accumulators, jnp.asarray(pairs), jnp.asarray(y, jnp.float32),
            jnp.asarray(weight, jnp.float32), learning_rate=learning_rate, **settings)

    f32 = [[jnp.asarray(v, jnp.float32) for v in part] for part in (tables, accumulators)]
    got = jax.jit(step)(*f32, jnp.asarray(rates, jnp.float32))
    want = fused_module.reference_step(tables, accumulators, pairs, y, weight,
                                       learning_rate=rates, **settings)
    for got_part, want_part in zip(got[:2], want[:2], strict=True):
        for a, b in zip(got_part, want_part, strict=True):
            np.testing.assert_allclose(np.asarray(a), b, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(np.asarray(got[2]), want[2], rtol=1e-5)  # predictions
    np.testing.assert_allclose(np.asarray(got[3]), want[3], rtol=1e-5)  # each step's loss
    # a movie row no step touched did not move
    np.testing.assert_array_equal(np.asarray(got[0][1])[-1], f32[0][1][-1])


def _kernel_inputs(seed: int, n: int, batch: int):
    """Arguments for ``_fused_kernel.block``, called directly."""
    rng = np.random.default_rng(seed)
    n_users, n_movies, factors = 40, 70, 9
    f = np.float32
    tables = [rng.normal(0, 0.3, (n_users, factors)).astype(f),
              rng.normal(0, 0.3, (n_movies, factors)).astype(f),
              rng.normal(0, 0.1, n_users).astype(f), rng.normal(0, 0.1, n_movies).astype(f)]
    accumulators = [rng.uniform(0, 0.5, len(t)).astype(f) for t in tables]
    pairs = np.stack([rng.integers(0, n_users, n), rng.integers(0, n_movies, n)],
                     axis=1).astype(np.int32)
    data = [pairs[:, 0], pairs[:, 1],  # columns of the pairs, as the XLA handler passes them
            rng.uniform(0.5, 5, n).astype(f), np.ones(n, f),
            np.full(-(-n // batch), 0.05, f), np.array([0.05, 0.01, 0.5, 5.0, 1e-8], f)]
    scratch = [np.zeros(n, f), np.zeros((2 * -(-n // batch), 2), f),
               np.zeros((batch, factors), f), np.zeros((batch, factors), f),
               np.zeros((2, n_users), f), np.zeros((2, n_movies), f),
               np.zeros((6, batch), f), np.zeros(2, np.int32), 2]
    return tables + accumulators + data + scratch


def test_one_thread_runs_every_task_and_computes_the_same_bits_as_two():
    """The kernel's two threads share its tasks; with numba limited to one thread the
    same loop runs them all in order (no wait for a partner that never comes), and since
    each task computes the same thing whoever runs it, the tables match bit for bit."""
    import numba

    fused_module.ready()
    from movierec.models import _fused_kernel

    results = []
    previous = numba.get_num_threads()
    try:
        two = min(2, numba.config.NUMBA_NUM_THREADS)
        for threads, asked in ((1, 2), (two, 1), (two, 2)):  # numba's, the kernel's
            numba.set_num_threads(threads)
            arguments = _kernel_inputs(5, 1000, 128)
            arguments[-1] = asked
            _fused_kernel.block(*arguments)
            results.append([*arguments[:8], *arguments[14:16]])  # + predictions, losses
    finally:
        numba.set_num_threads(previous)
    for first, *others in zip(*results, strict=True):
        for other in others:
            np.testing.assert_array_equal(other, first)
    assert not np.array_equal(results[0][0], _kernel_inputs(5, 1000, 128)[0])  # it trained


def test_a_learning_rate_schedule_is_read_at_each_step_of_a_block(data):
    """A schedule that decays every step: the fused kernel, given a block of steps per
    call, steps each at its own rate, as the jax.numpy step does one step at a time."""
    pairs, y = data[0], data[1]
    trained = []
    for fused in (False, True):
        keras.utils.set_random_seed(4)
        model = build_model("dot-bias", 80, 50, factors=6, l2=0.0, rating_range=RANGE,
                            seed=4)
        schedule = keras.optimizers.schedules.ExponentialDecay(0.2, decay_steps=1,
                                                               decay_rate=0.7)
        model.compile(optimizer=SparseAdagrad(schedule), loss="mse")
        use_sparse_updates(model, l2=0.02, batch_size=64, fused=fused)
        model.fit(pairs, y, batch_size=4 * 64, epochs=1, shuffle=False, verbose=0)
        trained.append(model.get_weights())
    for a, b in zip(*trained, strict=True):
        np.testing.assert_allclose(b, a, rtol=2e-4, atol=2e-5)
    # the rate fell: a step at the first rate throughout would have moved the rows further
    keras.utils.set_random_seed(4)
    fixed = build_model("dot-bias", 80, 50, factors=6, l2=0.0, rating_range=RANGE, seed=4)
    fixed.compile(optimizer=SparseAdagrad(0.2), loss="mse")
    use_sparse_updates(fixed, l2=0.02, batch_size=64, fused=True)
    fixed.fit(pairs, y, batch_size=4 * 64, epochs=1, shuffle=False, verbose=0)
    assert not np.allclose(fixed.get_weights()[0], trained[1][0], atol=1e-3)


def test_fit_records_the_fused_step_and_reloads_as_an_ordinary_model(data, tmp_path):
    train_pairs, train_y, test_pairs, test_y, n_users, n_movies = data
    config = TrainConfig(model="dot-bias", optimizer="sparse-adagrad", batch_size=64,
                         learning_rate=0.05, l2=0.01, epochs=4, seed=1)
    result = fit(config, train_pairs, train_y, test_pairs, test_y, n_users=n_users,
                 n_movies=n_movies, rating_range=RANGE, verbose=0)
    assert result.metrics["sparse_step"] == "fused"
    # one kernel call per epoch (the ratings fit one block), each counted once
    assert result.metrics["kernel_calls"] == 4
    assert 0 <= result.metrics["kernel_calls_on_two_threads"] <= 4
    path = tmp_path / "model.keras"
    result.model.save(path)
    again = keras.saving.load_model(path, safe_mode=True)
    np.testing.assert_allclose(again.predict(test_pairs, verbose=0),
                               result.model.predict(test_pairs, verbose=0), rtol=1e-6)


def test_fused_is_refused_where_it_cannot_run():
    mlp = build_model("mlp", 5, 4, factors=3, rating_range=RANGE)
    mlp.compile(optimizer=SparseAdagrad(0.1), loss="mse")
    with pytest.raises(RuntimeError, match="dot-bias only"):
        use_sparse_updates(mlp, fused=True)
    assert use_sparse_updates(mlp) == "jax.numpy"  # the default quietly takes the other step
    bce = build_model("dot-bias", 5, 4, factors=3, rating_range=RANGE)
    bce.compile(optimizer=SparseAdagrad(0.1), loss="binary_crossentropy")
    with pytest.raises(RuntimeError, match="MSE"):
        use_sparse_updates(bce, fused=True)


def test_a_kernel_that_fails_to_build_falls_back_with_a_warning(data, monkeypatch):
    def broken():
        raise OSError("no compiler here")

    monkeypatch.setattr(fused_module, "_state", {})
    monkeypatch.setattr(fused_module, "_compile", broken)
    model = build_model("dot-bias", 80, 50, factors=4, l2=0.0, rating_range=RANGE)
    model.compile(optimizer=SparseAdagrad(0.05), loss="mse")
    with pytest.warns(RuntimeWarning, match="no compiler here"):
        assert use_sparse_updates(model, l2=0.01) == "jax.numpy"
    model.fit(data[0], data[1], batch_size=64, epochs=1, verbose=0)  # and it trains
    with pytest.raises(RuntimeError, match="did not compile"):
        use_sparse_updates(model, fused=True)


def test_the_thread_tuner_keeps_the_faster_count_and_looks_again_less_often():
    """The kernel's thread-count tuner, driven with made-up cycle counts: warm-up on two
    (not timed), two of each timed, the faster kept, the other tried after 8 calls, then
    after 16 when it lost again, never more than LAST_INTERVAL apart, and kept when it
    turns out faster."""
    from movierec.models import _fused_kernel as kernel

    tuner = np.zeros(kernel.TUNER_WORDS)
    costs = {1: 300.0, 2: 100.0}
    chosen = []
    for call in range(200):
        if call == 170:
            costs = {1: 50.0, 2: 400.0}  # the machine changed: one thread is now faster
        threads = kernel._threads(tuner)
        chosen.append(threads)
        kernel._record(tuner, threads, costs[threads])
    assert chosen[:5] == [2, 2, 1, 2, 1]  # warm-up, then each count timed twice
    ones = [call for call, threads in enumerate(chosen) if threads == 1]
    assert ones[:4] == [2, 4, 13, 30]  # looks after 8 calls, then after 16
    looks = [call for call in ones if call < 170]
    assert max(np.diff(looks)) == kernel.LAST_INTERVAL + 1  # then no further apart
    assert chosen[-20:].count(2) <= 2  # after the change one thread is kept, but for looks
    assert tuner[kernel.CALLS] == 200 and tuner[kernel.WITH_TWO] == chosen.count(2)
