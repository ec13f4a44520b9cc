"""Sparse training for the embedding models: a step costs O(batch), not O(embedding table).

Keras' ``fit`` differentiates the loss with respect to every weight, so an ``Embedding``'s
gradient is a table-sized array that is zero except on the rows the batch used, and Adam
then updates every row of every table, its two moment tables included, on every step. On
latest-small (10k movies) that is cheap; at the 25M scale (160k users, 59k movies, 50
factors: 11M weights) it dominates, an order of magnitude above this step's cost
(``python -m benchmarks.step_cost``; figures in ``benchmarks/results/``).

:class:`SparseAdagrad` with :func:`use_sparse_updates` trains the factor tables the way
matrix-factorization SGD does, but in large compiled batches:

* the step gathers the batch's user and movie rows (factors and biases), differentiates
  the loss with respect to those rows only, and scatter-adds the updates back
  (``table.at[rows].add``); Keras' JAX trainer donates the state, so XLA updates the
  tables in place;
* the optimizer is row-wise Adagrad: one accumulator per table row (the mean squared
  gradient over the row's elements), updated only on the rows seen, each occurrence of a
  row in the batch adding its own; a row's step size shrinks as it is trained, so rare
  movies keep large steps and frequent ones settle. One scalar per row instead of one per
  weight halves the scatter/gather work and measured as accurate as element-wise Adagrad;
* regularization is per rating, as in SGD matrix factorization (and Surprise's SVD): each
  rating adds ``l2 * (|p_u|^2 + |q_i|^2) + bias_l2 * (b_u^2 + b_i^2)`` to its loss, so rows
  a batch does not touch are left alone. The model's own table-wide ``embeddings_regularizer``
  is not used by this step (build the model with ``l2=0``).

Everything else (the dense layers of the MLP) gets the same Adagrad update from the
ordinary, dense gradient; these weights are small. (Bias rows reach the loss through the
model's ``biases(users, movies)``, which the step points at the gathered rows while it
traces.) Gradients are taken per rating (the mean-loss gradient times the batch size), so
``learning_rate`` means the same at any batch size. The prediction function, saving and
loading are untouched: a model trained this way is an ordinary model of its class.

With ``batch_size`` (what :func:`movierec.training.fit` uses) ``fit`` is handed blocks of
up to ``steps_per_call x batch_size`` ratings, and the compiled step runs the ordinary step
on each consecutive ``batch_size`` slice of its block in a ``jax.lax.scan`` (a loop inside
the compiled function, not unrolled): the same updates in the same order as that many
ordinary ``fit`` steps over the same shuffled order, with Keras' per-step Python, data
adapter, callback and host-to-device costs paid once per block. (``fit`` over arrays
shuffles the whole epoch, then cuts it into batches; :mod:`movierec.training` hands ``fit``
its blocks through :class:`movierec.training.blocks.ShuffledBlocks`, which does the same
for less.)

For ``dot-bias`` (the fast preset's model, and the blends' factor members) the step is, by
default, one fused kernel rather than ``jax.numpy`` code (:mod:`movierec.models.fused`: the
same updates, computed in loops over the ratings on two threads and called from the
compiled step as an XLA foreign function, once per block for all of its steps); other
models, distributed runs and machines without numba trace the ``jax.numpy`` step below.

The sparse step needs the JAX backend (Keras' stateless ``train_step``); on other backends
:func:`use_sparse_updates` raises and :class:`SparseAdagrad` is plain dense Adagrad.
"""

from __future__ import annotations

from contextlib import contextmanager
from functools import partial
from typing import Any

import keras
import numpy as np
from keras import ops

from movierec.models.embedding import DotBiasModel, row_sum

__all__ = ["SparseAdagrad", "block_size", "sparse_updates_supported", "use_sparse_updates"]


@keras.saving.register_keras_serializable(package="movierec")
class SparseAdagrad(keras.optimizers.Optimizer):
    """Row-wise Adagrad whose embedding-table updates touch only the rows in the batch.

    For a matrix (a table or a Dense kernel) there is one accumulator per row:
    ``accumulator[row] += mean(g[row] ** 2)``; vectors have one per element. Then
    ``weight -= learning_rate * g / sqrt(accumulator + epsilon)``, with ``g`` the per-rating
    gradient. Used through :func:`use_sparse_updates`; on its own (any backend) it is dense
    row-wise Adagrad on the mean-loss gradient.

    Args:
        learning_rate: step size (a float or a Keras schedule).
        epsilon: added under the square root.
        name: the optimizer's name.
    """

    def __init__(self, learning_rate: float = 0.03, epsilon: float = 1e-8,
                 name: str = "sparse_adagrad", **kwargs: Any) -> None:
        super().__init__(learning_rate=learning_rate, name=name, **kwargs)
        self.epsilon = float(epsilon)

    def build(self, var_list) -> None:
        if self.built:
            return
        super().build(var_list)
        self._accumulators = [
            self.add_variable(shape=_accumulator_shape(var.shape), initializer="zeros",
                              dtype=var.dtype, name=f"{_clean(var.path)}_accumulator")
            for var in var_list
        ]

    def update_step(self, gradient, variable, learning_rate) -> None:
        """The dense update (non-sparse use, any backend)."""
        lr = ops.cast(learning_rate, variable.dtype)
        gradient = ops.cast(gradient, variable.dtype)
        accumulator = self._accumulators[self._get_variable_index(variable)]
        self.assign_add(accumulator, _row_mean_square(gradient))
        self.assign_sub(variable, ops.divide(
            ops.multiply(lr, gradient), ops.sqrt(ops.add(accumulator, self.epsilon))))

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.update({"epsilon": self.epsilon})
        return config


def _accumulator_shape(shape) -> tuple[int, ...]:
    return (shape[0], 1) if len(shape) == 2 else tuple(shape)


def _row_mean_square(gradient):
    square = ops.square(gradient)
    if len(gradient.shape) != 2:
        return square
    # a product with ones, not ops.mean(axis=-1): faster on XLA's CPU backend (row_sum)
    return ops.divide(row_sum(square), float(gradient.shape[-1]))


def _clean(path: str) -> str:
    return path.replace("/", "_").replace(":", "_")


def sparse_updates_supported() -> bool:
    """True when the Keras backend can run the sparse step (JAX)."""
    return keras.backend.backend() == "jax"


def use_sparse_updates(model: keras.Model, *, l2: float = 0.0, bias_l2: float = 0.0,
                       batch_size: int | None = None, fused: bool | None = None) -> str:
    """Make ``model.fit`` train ``model``'s factor tables with sparse row updates.

    Call after ``model.compile(optimizer=SparseAdagrad(...), loss=...)`` and before ``fit``.
    With ``batch_size``, a ``fit`` batch larger than it is trained as consecutive steps of
    ``batch_size`` ratings (the last one shorter when it does not divide) in one compiled
    call: pass ``fit`` a multiple of it (:func:`block_size`).

    Args:
        model: a movierec embedding model (exposes ``user_embedding``, ``movie_embedding``,
            ``user_bias``, ``movie_bias`` and ``score``).
        l2: per-rating penalty on the user and movie factor rows.
        bias_l2: per-rating penalty on the user and movie biases.
        batch_size: ratings per update step; ``None``: one step per ``fit`` batch.
        fused: run the step of a ``dot-bias`` model as one fused kernel
            (:mod:`movierec.models.fused`): ``None`` (the default) does when it can (numba
            installed, JAX on the CPU, no ``keras.distribution``, MSE loss); ``False``
            traces the ``jax.numpy`` step; ``True`` insists, and raises when it cannot.

    Returns:
        The step installed: ``"fused"`` or ``"jax.numpy"``.

    Raises:
        RuntimeError: the backend is not JAX, or the model is not compiled with
            :class:`SparseAdagrad`.
        TypeError: the model does not have the embedding-model layout.
    """
    if not sparse_updates_supported():
        raise RuntimeError(
            f"sparse updates need the JAX backend (KERAS_BACKEND=jax), not "
            f"{keras.backend.backend()!r}; train with the default Adam optimizer instead"
        )
    if not isinstance(getattr(model, "optimizer", None), SparseAdagrad):
        raise RuntimeError("compile the model with SparseAdagrad before use_sparse_updates")
    for name in ("user_embedding", "movie_embedding", "score"):
        if not hasattr(model, name):
            raise TypeError(f"{type(model).__name__} has no {name!r}; it cannot train sparsely")
    if batch_size is not None and batch_size < 1:
        raise ValueError(f"batch_size must be a positive number of ratings, not {batch_size}")
    if hasattr(model, "training_examples"):
        # AutoRec trains on whole rating vectors; SVD++'s implicit factors get gradients
        # from every movie a batch's users rated, not only the batch's own rows.
        raise TypeError(f"{type(model).__name__} does not train row by row on rating pairs; "
                        "train it with the adam optimizer")
    if not model.built:
        model.build((None, 2))
    model.optimizer.build(model.trainable_variables)
    plan = _Plan(model)
    why_not = _why_not_fused(model, plan)
    if fused and why_not:
        raise RuntimeError(f"the fused dot-bias step cannot run here: {why_not}")
    use_fused = fused is not False and not why_not
    if use_fused:  # the kernel takes a fit batch's steps in one call
        model.train_step = partial(_fused_train_step, model, plan, float(l2), float(bias_l2),
                                   batch_size)
    else:
        step = partial(_sparse_train_step, model, plan, float(l2), float(bias_l2))
        model.train_step = (step if batch_size is None
                            else partial(_block_step, step, batch_size))
    model.train_function = None  # rebuilt from the new step on the next fit
    return "fused" if use_fused else "jax.numpy"


def _why_not_fused(model: keras.Model, plan: _Plan) -> str:
    """Why :mod:`movierec.models.fused` cannot train ``model`` here ("" when it can)."""
    from movierec.models import fused

    if type(model) is not DotBiasModel:
        return f"it fuses dot-bias only, not {type(model).__name__}"
    if model.loss not in ("mse", "mean_squared_error"):
        return f"it fuses the MSE loss only, not {model.loss!r}"
    if plan.dense or not plan.bias_rows:
        return "the model has weights besides its four tables"
    if any(v.dtype != "float32" for v in model.trainable_variables):
        return "the tables are not float32"
    if keras.distribution.distribution() is not None:
        return "a keras.distribution is set (the kernel sees one device's memory)"
    if not fused.supported():
        return "it needs numba and JAX on the CPU"
    if not fused.ready():
        return "the kernel did not compile or failed its check (see the warning)"
    return ""


class _Plan:
    """Where each table sits in the model's and the optimizer's variable lists."""

    def __init__(self, model: keras.Model) -> None:
        trainable = model.trainable_variables
        position = {id(v): i for i, v in enumerate(trainable)}

        def index_of(layer) -> int | None:
            return None if layer is None else position[id(layer.embeddings)]

        # Every model that gets here has both factor tables (checked above).
        self.user_factors: int = position[id(model.user_embedding.embeddings)]
        self.movie_factors: int = position[id(model.movie_embedding.embeddings)]
        self.user_bias = index_of(getattr(model, "user_bias", None))
        self.movie_bias = index_of(getattr(model, "movie_bias", None))
        # Bias rows are trained sparsely too when the model reads them through ``biases``.
        self.bias_rows = self.user_bias is not None and self.movie_bias is not None
        self.sparse: tuple[int, ...] = (self.user_factors, self.movie_factors)
        if self.user_bias is not None and self.movie_bias is not None:
            self.sparse += (self.user_bias, self.movie_bias)
        self.dense = [i for i in range(len(trainable)) if i not in self.sparse]
        optimizer = model.optimizer
        opt_position = {id(v): i for i, v in enumerate(optimizer.variables)}
        self.accumulators = [opt_position[id(a)] for a in optimizer._accumulators]
        self.iterations = opt_position[id(optimizer.iterations)]


def block_size(batch_size: int, steps_per_call: int, n_ratings: int) -> int:
    """The ``fit`` batch for ``steps_per_call`` steps of ``batch_size`` ratings per call:
    a multiple of ``batch_size``, no larger than the ratings rounded up to one."""
    if batch_size < 1 or steps_per_call < 1:
        raise ValueError(f"batch_size and steps_per_call must be positive, not "
                         f"{batch_size} and {steps_per_call}")
    return batch_size * max(1, min(steps_per_call, -(-n_ratings // batch_size)))


def _block_step(step, batch_size: int, state, data):
    """``step`` on each consecutive ``batch_size`` slice of a ``fit`` batch, in order: a
    ``lax.scan`` over the whole slices, then one ordinary step on the rest, if any."""
    import jax

    x, y, sample_weight = keras.utils.unpack_x_y_sample_weight(data)
    n = x.shape[0]
    whole = n // batch_size
    if whole <= 1 and n <= batch_size:
        return step(state, data)
    state = _as_lists(state)
    cut = whole * batch_size
    parts = [v for v in (x, y, sample_weight) if v is not None]
    blocks = [jax.numpy.reshape(v[:cut], (whole, batch_size, *v.shape[1:])) for v in parts]

    def body(carry, chunk):
        logs, carry = step(carry, _repack(chunk, sample_weight is not None))
        return _as_lists(carry), logs

    state, logs = jax.lax.scan(body, state, blocks)
    logs = jax.tree.map(lambda value: value[-1], logs)
    if cut < n:
        logs, state = step(state, _repack([v[cut:] for v in parts], sample_weight is not None))
    return logs, _as_lists(state)


def _as_lists(state):
    return tuple(list(part) for part in state)


def _repack(parts, weighted: bool):
    return (parts[0], parts[1], parts[2]) if weighted else (parts[0], parts[1])


def _sparse_train_step(model, plan: _Plan, l2: float, bias_l2: float, state, data):
    """Keras' JAX ``train_step(state, data)`` with row-wise factor-table updates."""
    import jax
    import jax.numpy as jnp

    trainable, non_trainable, optimizer_vars, metrics_vars = state
    x, y, sample_weight = keras.utils.unpack_x_y_sample_weight(data)
    x = jnp.asarray(x, jnp.int32)
    users, movies = x[:, 0], x[:, 1]
    rows_index = {plan.user_factors: users, plan.movie_factors: movies,
                  plan.user_bias: users, plan.movie_bias: movies}
    rows = [trainable[i][rows_index[i]] for i in plan.sparse]
    batch = x.shape[0]
    loss_fn = keras.losses.get(model.loss)
    y = jnp.reshape(jnp.asarray(y, jnp.float32), (batch, -1))

    def objective(dense_values, rows):
        values = list(trainable)
        for i, value in zip(plan.dense, dense_values, strict=True):
            values[i] = value
        mapping = [*zip(model.trainable_variables, values, strict=True),
                   *zip(model.non_trainable_variables, non_trainable, strict=True)]
        with keras.StatelessScope(state_mapping=mapping) as scope, _bias_rows(model, rows):
            y_pred = model.score(rows[0], rows[1], users, movies, training=True)
        new_non_trainable = [
            _current(scope, v) for v in model.non_trainable_variables
        ]
        per_rating = jnp.reshape(loss_fn(y, y_pred), (batch,))
        penalty = l2 * (jnp.sum(jnp.square(rows[0]), axis=1)
                        + jnp.sum(jnp.square(rows[1]), axis=1))
        if bias_l2 and plan.bias_rows:
            penalty = penalty + bias_l2 * (jnp.square(rows[2][:, 0]) + jnp.square(rows[3][:, 0]))
        if sample_weight is not None:
            weight = jnp.reshape(jnp.asarray(sample_weight, jnp.float32), (batch,))
            data_loss = jnp.sum(per_rating * weight) / jnp.sum(weight)
            total = jnp.sum((per_rating + penalty) * weight) / jnp.sum(weight)
        else:
            data_loss = jnp.mean(per_rating)
            total = jnp.mean(per_rating + penalty)
        return total, (data_loss, y_pred, new_non_trainable)

    dense_values = [trainable[i] for i in plan.dense]
    (_, (data_loss, y_pred, non_trainable)), (dense_grads, row_grads) = jax.value_and_grad(
        objective, argnums=(0, 1), has_aux=True)(dense_values, rows)

    optimizer = model.optimizer
    learning_rate = _learning_rate(optimizer, optimizer_vars)
    eps = optimizer.epsilon
    scale = jnp.asarray(batch, jnp.float32)  # mean-loss gradient -> per-rating gradient
    trainable = list(trainable)
    optimizer_vars = list(optimizer_vars)
    for i, grad in zip(plan.sparse, row_grads, strict=True):
        index = rows_index[i]
        grad = grad * scale
        a = plan.accumulators[i]
        accumulator = optimizer_vars[a].at[index].add(_row_mean_square(grad))
        step = learning_rate * grad / jnp.sqrt(accumulator[index] + eps)
        trainable[i] = trainable[i].at[index].add(-step)
        optimizer_vars[a] = accumulator
    for i, grad in zip(plan.dense, dense_grads, strict=True):
        grad = grad * scale
        a = plan.accumulators[i]
        accumulator = optimizer_vars[a] + _row_mean_square(grad)
        trainable[i] = trainable[i] - learning_rate * grad / jnp.sqrt(accumulator + eps)
        optimizer_vars[a] = accumulator
    optimizer_vars[plan.iterations] = optimizer_vars[plan.iterations] + 1

    logs, metrics_vars = model._update_metrics_variables(
        metrics_vars, data_loss, x, y, y_pred, sample_weight)
    return logs, (trainable, non_trainable, optimizer_vars, metrics_vars)


def _fused_train_step(model, plan: _Plan, l2: float, bias_l2: float,
                      batch_size: int | None, state, data):
    """:func:`_block_step` over :func:`_sparse_train_step` for dot-bias, computed by one
    call of the fused kernel (:func:`movierec.models.fused.dot_bias_step`) that takes the
    fit batch's steps of ``batch_size`` in turn. The loss logged is what the steps one by
    one would have logged: each step's mean, weighted by its ratings."""
    import jax.numpy as jnp

    from movierec.models import fused

    trainable, non_trainable, optimizer_vars, metrics_vars = state
    x, y, sample_weight = keras.utils.unpack_x_y_sample_weight(data)
    x = jnp.asarray(x, jnp.int32)
    batch = x.shape[0]
    y = jnp.reshape(jnp.asarray(y, jnp.float32), (batch, 1))
    weight = (jnp.ones((batch,), jnp.float32) if sample_weight is None
              else jnp.reshape(jnp.asarray(sample_weight, jnp.float32), (batch,)))
    optimizer = model.optimizer
    steps = fused.steps_of(batch, batch_size)
    tables, accumulators, y_pred, step_losses = fused.dot_bias_step(
        [trainable[i] for i in plan.sparse],
        [optimizer_vars[plan.accumulators[i]] for i in plan.sparse],
        x, y[:, 0], weight,
        learning_rate=_learning_rates(optimizer, optimizer_vars, plan, steps), l2=l2,
        bias_l2=bias_l2, rating_range=(model.scale.minimum, model.scale.maximum),
        epsilon=optimizer.epsilon, batch_size=batch_size)
    trainable, optimizer_vars = list(trainable), list(optimizer_vars)
    for i, table, accumulator in zip(plan.sparse, tables, accumulators, strict=True):
        trainable[i] = table
        optimizer_vars[plan.accumulators[i]] = accumulator
    optimizer_vars[plan.iterations] = optimizer_vars[plan.iterations] + steps
    y_pred = jnp.reshape(y_pred, (batch, 1))
    # Keras' loss tracker, step by step, would gather each step's mean times its size
    size = batch if batch_size is None else batch_size
    sizes = np.minimum(size, batch - size * np.arange(steps))
    data_loss = jnp.sum(step_losses * jnp.asarray(sizes, jnp.float32)) / batch
    logs, metrics_vars = model._update_metrics_variables(
        metrics_vars, data_loss, x, y, y_pred, sample_weight)
    return logs, (trainable, list(non_trainable), optimizer_vars, metrics_vars)


def _learning_rates(optimizer, optimizer_vars, plan: _Plan, steps: int):
    """The learning rate of each of the next ``steps`` steps (a schedule is evaluated at
    each step's iteration; a fixed rate is one scalar)."""
    import jax.numpy as jnp

    schedule = optimizer._learning_rate
    if not isinstance(schedule, keras.optimizers.schedules.LearningRateSchedule):
        return _learning_rate(optimizer, optimizer_vars)
    iterations = optimizer_vars[plan.iterations]
    return jnp.stack([jnp.asarray(schedule(iterations + k), jnp.float32)
                      for k in range(steps)])


def _learning_rate(optimizer, optimizer_vars):
    """The optimizer's current learning rate, read from the step's optimizer state."""
    import jax.numpy as jnp

    opt_mapping = list(zip(optimizer.variables, optimizer_vars, strict=True))
    with keras.StatelessScope(state_mapping=opt_mapping):
        return jnp.asarray(optimizer._get_current_learning_rate(), jnp.float32)


@contextmanager
def _bias_rows(model, rows):
    """While tracing the step, ``model.biases(users, movies)`` returns the gathered rows."""
    if len(rows) < 4:
        yield
        return
    model.__dict__["biases"] = lambda users, movies: ops.add(rows[2], rows[3])
    try:
        yield
    finally:
        del model.__dict__["biases"]


def _current(scope, variable):
    value = scope.get_current_value(variable)
    return variable.value if value is None else value
