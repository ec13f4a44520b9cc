"""numba code of :mod:`movierec.models.fused`: the fused dot-bias step and its XLA FFI
handler. Imported only when the fast path is about to use it (importing compiles, or loads
numba's on-disk cache)."""

from __future__ import annotations

import os
import platform

import numba
import numpy as np
from llvmlite import ir
from numba import carray, types
from numba.core import cgutils
from numba.extending import intrinsic
from numba.np.ufunc.parallel import _launch_threads

f32 = np.float32

# numba's OpenMP team belongs to the thread that calls the kernel, and JAX calls it from
# more than one: with libgomp's default an idle team's worker spins for a while after each
# call, on the core the working team's second thread needs (measured: two threads then
# run the kernel slower than one). Passive: idle workers sleep at once. A setting of the
# user's wins; it must be made before libgomp loads, which the next line does.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
# The threading layer's symbols must be loaded before a cached parallel function is: numba
# does that when it compiles one, not when it loads one from its cache.
_launch_threads()

# XLA's FFI C API (xla/ffi/api/c_api.h), x86-64 / aarch64 layout, read as 8-byte words:
# XLA_FFI_CallFrame {size, extension_start, api, ctx, stage (+pad), args{size, ext,
# n, types, ptrs}, rets{size, ext, n, types, ptrs}, attrs, future}; XLA_FFI_Buffer {size,
# ext, dtype (+pad), data, rank, dims}.
_FRAME_WORDS, _FRAME_EXTENSION, _FRAME_STAGE = 15, 1, 4
_ARGS_POINTERS, _RETS_POINTERS = 9, 14  # args.ptrs and rets.ptrs
_BUFFER_DATA = 3
_EXTENSION_METADATA, _STAGE_EXECUTE = 1, 3
# The FFI API version this handler is written against (c_api.h XLA_FFI_API_MAJOR/MINOR).
_API_MAJOR, _API_MINOR = 0, 3
_N_ARGS, _N_RETS = 14, 16
AHEAD = 8
"""Each loop over the ratings asks the CPU for the rows of the rating this many places
ahead: on tables larger than the caches (32M-shaped data) the loop is otherwise bound by the
latency of its random row reads (3.0 -> 4.1-4.8 M ratings/s for the kernel alone on 213k x
67k tables; neutral to +15 % on latest-small's)."""


@intrinsic
def _pointer(typingctx, address, dtype):
    pointer = types.CPointer(dtype.dtype)

    def codegen(context, builder, signature, args):
        return builder.inttoptr(args[0], context.get_value_type(pointer))

    return pointer(address, dtype), codegen


@intrinsic
def _prefetch(typingctx, address):
    """LLVM's prefetch of the cache line at ``address`` (for a write, keep in all levels)."""
    def codegen(context, builder, signature, args):
        byte_pointer = ir.IntType(8).as_pointer()
        int32 = ir.IntType(32)
        function = cgutils.get_or_insert_function(
            builder.module, ir.FunctionType(ir.VoidType(), [byte_pointer, int32, int32, int32]),
            "llvm.prefetch.p0")
        builder.call(function, [builder.inttoptr(args[0], byte_pointer), ir.Constant(int32, 1),
                                ir.Constant(int32, 3), ir.Constant(int32, 1)])
        return context.get_dummy_value()

    return types.void(address), codegen


@numba.njit(inline="always")
def _prefetch_row(table, row):
    """Prefetch row ``row`` of a C-contiguous float32 table."""
    start = table.ctypes.data + row * table.shape[1] * 4
    for offset in range(0, table.shape[1] * 4, 64):
        _prefetch(start + offset)


@numba.njit(inline="always")
def words(address, n):
    """``n`` 8-byte words from ``address``."""
    return carray(_pointer(address, np.int64), (n,))

@numba.njit(inline="always")
def data(pointers, k):
    """The data address of the ``k``-th XLA_FFI_Buffer of an argument or result list."""
    return words(pointers[k], _BUFFER_DATA + 1)[_BUFFER_DATA]


@numba.njit(inline="always")
def vector(pointers, k, size, dtype):
    return carray(_pointer(data(pointers, k), dtype), (size,))


@numba.njit(inline="always")
def matrix(pointers, k, rows, columns):
    return carray(_pointer(data(pointers, k), np.float32), (rows, columns))


@intrinsic
def _atomic_add(typingctx, address, value):
    """Add ``value`` to the int32 at ``address`` atomically (sequentially consistent);
    returns the old value."""
    def codegen(context, builder, signature, args):
        pointer = builder.inttoptr(args[0], ir.IntType(32).as_pointer())
        step = builder.trunc(args[1], ir.IntType(32)) if value.bitwidth > 32 else args[1]
        return builder.atomic_rmw("add", pointer, step, "seq_cst")

    return types.int32(address, value), codegen


@intrinsic
def _atomic_load(typingctx, address):
    """The int32 at ``address``, read atomically (sequentially consistent)."""
    def codegen(context, builder, signature, args):
        pointer = builder.inttoptr(args[0], ir.IntType(32).as_pointer())
        return builder.load_atomic(pointer, "seq_cst", 4)

    return types.int32(address), codegen


_X86 = platform.machine().lower() in ("x86_64", "amd64", "i386", "i686")
SPINS = 1024
"""A waiting thread's spins (each a ``pause``) before it yields its core at each further
look: where the scheduler has put both threads on one core, the thread being waited for
runs only when the waiting one yields."""


@intrinsic
def _pause(typingctx):
    """The CPU's spin-wait hint (x86 ``pause``; nothing elsewhere)."""
    def codegen(context, builder, signature, args):
        if _X86:
            function = cgutils.get_or_insert_function(
                builder.module, ir.FunctionType(ir.VoidType(), []), "llvm.x86.sse2.pause")
            builder.call(function, [])
        return context.get_dummy_value()

    return types.void(), codegen


@intrinsic
def _yield(typingctx):
    """``sched_yield()``: let another thread have this core."""
    def codegen(context, builder, signature, args):
        function = cgutils.get_or_insert_function(
            builder.module, ir.FunctionType(ir.IntType(32), []), "sched_yield")
        builder.call(function, [])
        return context.get_dummy_value()

    return types.void(), codegen


@numba.njit(inline="always")
def _wait_until(address, value):
    """Spin until the int32 at ``address`` is at least ``value``; after SPINS looks, yield
    the core between looks."""
    spins = 0
    while _atomic_load(address) < value:
        if spins < SPINS:
            _pause()
            spins += 1
        else:
            _yield()


@numba.njit(fastmath=True, parallel=True, cache=True)
def block(users_t, movies_t, user_b, movie_b, user_acc, movie_acc, user_bacc, movie_bacc,
          users, movies, y, w, lrs, scalars, pred, losses, user_old, movie_old, user_rows,
          movie_rows, grads, tasks, threads):
    """The step on each consecutive ``batch`` ratings of the block in turn (``batch`` is
    the scratch rows' count; the last step may be shorter), step ``s`` at ``lrs[s]``.

    A step is two phases of two tasks each: (1) rate one half of the step's ratings;
    (2) update the user rows / the movie rows (independent: each reads the other table's
    rows as phase 1 copied them). ``threads`` (1 or 2) threads take the block's tasks in
    order from a shared counter (``tasks[0]``) and count each one done (``tasks[1]``); a
    task waits until every task of the phases before its own is done. No thread waits for
    a task nobody has taken, so one thread alone (``threads`` 1, numba limited to one, or
    running both loop iterations in turn) runs them all, in order."""
    n, batch = users.shape[0], user_old.shape[0]
    total = 4 * ((n + batch - 1) // batch)
    tasks[0], tasks[1] = 0, 0
    taken, done = tasks.ctypes.data, tasks.ctypes.data + 4
    for _ in numba.prange(threads):
        task = _atomic_add(taken, 1)
        while task < total:
            group = task // 2  # the step's phase: 2 s + phase
            _wait_until(done, 2 * group)
            s, part = task // 4, task % 2
            start = s * batch
            stop = min(n, start + batch)
            if group % 2 == 0:
                middle = start + (stop - start + 1) // 2
                first, last = (start, middle) if part == 0 else (middle, stop)
                _rates(users_t, movies_t, user_b, movie_b, users, movies, y, w, scalars,
                       start, stop, first, last, pred, losses[2 * s + part], user_old,
                       movie_old, grads)
            elif part == 0:
                _update(users_t, user_b, user_acc, user_bacc, user_rows, users, movie_old,
                        grads[DZ], grads[USER_BIAS_GRAD], grads[USER_SQUARE],
                        grads[L2_GRAD], start, stop, lrs[s], scalars[4])
            else:
                _update(movies_t, movie_b, movie_acc, movie_bacc, movie_rows, movies,
                        user_old, grads[DZ], grads[MOVIE_BIAS_GRAD], grads[MOVIE_SQUARE],
                        grads[L2_GRAD], start, stop, lrs[s], scalars[4])
            _atomic_add(done, 1)
            task = _atomic_add(taken, 1)


# Rows of the per-rating scratch (``grads``, ``(SCRATCH_ROWS, batch)``) that phase 2 reads.
DZ, USER_BIAS_GRAD, MOVIE_BIAS_GRAD, USER_SQUARE, MOVIE_SQUARE, L2_GRAD = range(6)
SCRATCH_ROWS = 6


@numba.njit(fastmath=True, inline="always")
def _rates(users_t, movies_t, user_b, movie_b, users, movies, y, w, scalars, start, stop,
           first, last, pred, loss, user_old, movie_old, grads):
    """Ratings ``first:last`` of the step ``start:stop``: predictions, gradients (the rows
    of ``grads`` above), both rows as they were, and ``loss``: the ratings' summed weighted
    squared errors and their summed weights."""
    l2, bias_l2, low, high = scalars[0], scalars[1], scalars[2], scalars[3]
    factors = users_t.shape[1]
    zero, one, two = f32(0.0), f32(1.0), f32(2.0)
    per_factor = one / f32(factors)
    span = high - low
    total = zero
    for j in range(start, stop):
        total += w[j]
    scale = f32(stop - start) / total
    squares, weights = zero, zero
    for j in range(first, last):
        if j + AHEAD < last:
            _prefetch_row(users_t, users[j + AHEAD])
            _prefetch_row(movies_t, movies[j + AHEAD])
        u, m, o = users[j], movies[j], j - start
        pq, pp, qq = zero, zero, zero
        for f in range(factors):  # (reads only: vectorized; the copies on their own)
            a, b = users_t[u, f], movies_t[m, f]
            pq += a * b
            pp += a * a
            qq += b * b
        for f in range(factors):
            user_old[o, f] = users_t[u, f]
        for f in range(factors):
            movie_old[o, f] = movies_t[m, f]
        bu, bi = user_b[u], movie_b[m]
        s = one / (one + np.exp(-(pq + bu + bi)))
        value = low + span * s
        pred[j] = value
        error = value - y[j]
        squares += w[j] * error * error
        weights += w[j]
        c = w[j] * scale
        dz = c * two * error * span * s * (one - s)  # d loss / d logit
        k = c * two * l2  # d penalty / d row = k * row
        # |g|^2 for g = dz * other + k * own, from the three dot products
        cross = two * dz * k * pq
        grads[DZ, o] = dz
        grads[USER_BIAS_GRAD, o] = dz + c * two * bias_l2 * bu
        grads[MOVIE_BIAS_GRAD, o] = dz + c * two * bias_l2 * bi
        grads[USER_SQUARE, o] = max(dz * dz * qq + cross + k * k * pp, zero) * per_factor
        grads[MOVIE_SQUARE, o] = max(dz * dz * pp + cross + k * k * qq, zero) * per_factor
        grads[L2_GRAD, o] = k
    loss[0], loss[1] = squares, weights


@numba.njit(fastmath=True, inline="always")
def _update(table, bias, acc, bias_acc, row_scratch, rows, other, dz, bias_grad, square, k,
            start, stop, lr, eps):
    """One table's rows for ratings ``start:stop``: the accumulators, then each occurrence
    steps ``-s * dz * other`` (``other``: the other table's rows as they were, one per
    rating), ``s = lr / sqrt(acc + eps)``, after the row's summed L2 step as a shrink.
    (``row_scratch[0]``: the row's summed L2 factor until its first occurrence, then
    ``-s``; ``row_scratch[1]``: the bias's step size, from then on.)"""
    zero, one = f32(0.0), f32(1.0)
    l2_sum, bias_step = row_scratch[0], row_scratch[1]
    for j in range(start, stop):
        l2_sum[rows[j]] = zero
    for j in range(start, stop):
        r, o = rows[j], j - start
        acc[r] += square[o]
        bias_acc[r] += bias_grad[o] * bias_grad[o]
        l2_sum[r] += k[o]
    for j in range(start, stop):
        if j + AHEAD < stop:
            _prefetch_row(table, rows[j + AHEAD])
        r, o = rows[j], j - start
        if l2_sum[r] >= zero:  # the row's first occurrence: shrink, and the data step
            s = lr / np.sqrt(acc[r] + eps)
            shrink = one - s * l2_sum[r]
            d = s * dz[o]
            for f in range(table.shape[1]):
                table[r, f] = table[r, f] * shrink - d * other[o, f]
            l2_sum[r] = -s
            bias_step[r] = lr / np.sqrt(bias_acc[r] + eps)
        else:
            d = -l2_sum[r] * dz[o]
            for f in range(table.shape[1]):
                table[r, f] -= d * other[o, f]
        bias[r] -= bias_step[r] * bias_grad[o]


@intrinsic
def _cycles(typingctx):
    """The CPU's cycle counter (LLVM's readcyclecounter: the TSC on x86-64)."""
    def codegen(context, builder, signature, args):
        function = cgutils.get_or_insert_function(
            builder.module, ir.FunctionType(ir.IntType(64), []), "llvm.readcyclecounter")
        return builder.call(function, [])

    return types.int64(), codegen


# The thread-count tuner's state (float64 words at an address the caller passes): calls
# so far; cycles per rating with one thread and with two (estimates: each new measurement,
# or RISE times the last estimate if that is less; 0 until measured); calls made with two;
# the call of the next look at the other count; the calls between looks.
CALLS, ONE, TWO, WITH_TWO, NEXT, INTERVAL = range(6)
TUNER_WORDS = 6
TRIALS = 5  # the warm-up call, then two, one, two, one
FIRST_INTERVAL, LAST_INTERVAL = 8, 32
# (The VM's slow spells for two threads last seconds, hundreds of calls: a look every 32
# calls costs a few per cent during one and finds its end within 32 calls.)
RISE = 1.25


@numba.njit(inline="always")
def _better(tuner):
    return 1 if tuner[ONE] <= tuner[TWO] else 2


@numba.njit(inline="always")
def _threads(tuner):
    """How many threads this call runs on. Two threads share the tables' cache lines:
    where the machine puts the two cores far apart (on this VM, at times, two threads run
    Hogwild SGD at half of one thread's speed, and this kernel too) one thread is faster.
    The first call warms up on two and is not timed; the next four alternate two and one;
    then the faster count is kept, and the other is tried again after 8 calls, then after
    twice as many each time it loses (up to 32), and after 8 again when it wins."""
    calls = int(tuner[CALLS])
    if calls < TRIALS:
        return 2 if calls % 2 == 1 or calls == 0 else 1
    if calls >= tuner[NEXT]:
        return 3 - _better(tuner)
    return _better(tuner)


@numba.njit(inline="always")
def _record(tuner, threads, cycles_per_rating):
    """Count the call and, after the first, its cycles per rating on ``threads``."""
    calls = int(tuner[CALLS])
    tuner[CALLS] = calls + 1.0
    if threads == 2:
        tuner[WITH_TWO] += 1.0
    if calls == 0:
        return
    before = _better(tuner)
    slot = ONE if threads == 1 else TWO
    if tuner[slot] == 0.0:
        tuner[slot] = cycles_per_rating
    else:  # a slow call (an interruption, a cold cache) moves the estimate up 25 % at most
        tuner[slot] = min(cycles_per_rating, RISE * tuner[slot])
    if calls == TRIALS - 1:
        tuner[INTERVAL] = FIRST_INTERVAL
    elif calls >= TRIALS and calls >= tuner[NEXT]:  # a look at the other count
        if _better(tuner) != before:
            tuner[INTERVAL] = FIRST_INTERVAL
        else:
            tuner[INTERVAL] = min(2.0 * tuner[INTERVAL], LAST_INTERVAL)
    else:
        return
    tuner[NEXT] = calls + 1.0 + tuner[INTERVAL]


@numba.cfunc(types.intp(types.intp), cache=True)
def handler(frame_address):
    frame = words(frame_address, _FRAME_WORDS)
    if frame[_FRAME_EXTENSION] != 0:
        extension = words(frame[_FRAME_EXTENSION], 4)
        if (extension[1] & 0xFFFFFFFF) == _EXTENSION_METADATA:
            # XLA asks for the handler's API version and traits
            metadata = carray(_pointer(extension[3], np.int32), (10,))
            metadata[6] = _API_MAJOR
            metadata[7] = _API_MINOR
            metadata[8] = 0  # no traits
            return 0
    if (frame[_FRAME_STAGE] & 0xFFFFFFFF) != _STAGE_EXECUTE:
        return 0
    args = words(frame[_ARGS_POINTERS], _N_ARGS)
    rets = words(frame[_RETS_POINTERS], _N_RETS)
    shape = words(words(args[0], 6)[5], 2)
    n_users, factors = shape[0], shape[1]
    n_movies = words(words(args[1], 6)[5], 1)[0]
    n = words(words(args[8], 6)[5], 2)[0]
    steps = words(words(args[11], 6)[5], 1)[0]
    batch = words(words(rets[10], 6)[5], 2)[0]
    pairs = carray(_pointer(data(args, 8), np.int32), (n, 2))
    halves = carray(_pointer(data(args, 13), np.uint32), (2,))
    tuner = carray(_pointer(np.int64(halves[0]) | (np.int64(halves[1]) << 32), np.float64),
                   (TUNER_WORDS,))
    threads = _threads(tuner)
    started = _cycles()

    block(matrix(rets, 0, n_users, factors),
          matrix(rets, 1, n_movies, factors),
          vector(rets, 2, n_users, np.float32), vector(rets, 3, n_movies, np.float32),
          vector(rets, 4, n_users, np.float32), vector(rets, 5, n_movies, np.float32),
          vector(rets, 6, n_users, np.float32), vector(rets, 7, n_movies, np.float32),
          pairs[:, 0], pairs[:, 1],
          vector(args, 9, n, np.float32), vector(args, 10, n, np.float32),
          vector(args, 11, steps, np.float32), vector(args, 12, 5, np.float32),
          vector(rets, 8, n, np.float32), matrix(rets, 9, 2 * steps, 2),
          matrix(rets, 10, batch, factors), matrix(rets, 11, batch, factors),
          matrix(rets, 12, 2, n_users), matrix(rets, 13, 2, n_movies),
          matrix(rets, 14, SCRATCH_ROWS, batch), vector(rets, 15, 2, np.int32), threads)
    _record(tuner, threads, (_cycles() - started) / max(n, 1))
    return 0
