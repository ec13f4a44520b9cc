"""numba code of :mod:`movierec.models.fused`: the fused dot-bias step and its XLA FFI
handler. Imported only when the fast path is about to use it (importing compiles, or loads
numba's on-disk cache)."""

from __future__ import annotations

import numba
import numpy as np
from llvmlite import ir
from numba import carray, types
from numba.core import cgutils
from numba.extending import intrinsic

f32 = np.float32

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
_N_ARGS, _N_RETS = 13, 14
AHEAD = 8
"""Each pass asks the CPU for the rows of the rating this many places ahead: on tables
larger than the caches (32M-shaped data) the loop is otherwise bound by the latency of its
random row reads (3.0 -> 4.1-4.8 M ratings/s for the kernel alone on 213k x 67k tables;
neutral to +15 % on latest-small's)."""


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


@numba.njit(fastmath=True, cache=True)
def step(users_t, movies_t, user_b, movie_b, user_acc, movie_acc, user_bacc, movie_bacc,
         users, movies, y, w, scalars, pred, user_old, user_k, movie_k, grads):
    lr, l2, bias_l2, low, high, eps = (scalars[0], scalars[1], scalars[2], scalars[3],
                                       scalars[4], scalars[5])
    n, factors = users.shape[0], users_t.shape[1]
    zero, one, two = f32(0.0), f32(1.0), f32(2.0)
    per_factor = one / f32(factors)
    span = high - low
    total = zero
    for j in range(n):
        total += w[j]
        user_k[users[j]] = zero
        movie_k[movies[j]] = zero
    scale = f32(n) / total
    # 1: losses, gradient norms, accumulators; the user rows as they were
    for j in range(n):
        if j + AHEAD < n:
            _prefetch_row(users_t, users[j + AHEAD])
            _prefetch_row(movies_t, movies[j + AHEAD])
        u, m = users[j], movies[j]
        pq, pp, qq = zero, zero, zero
        for f in range(factors):
            a, b = users_t[u, f], movies_t[m, f]
            pq += a * b
            pp += a * a
            qq += b * b
        for f in range(factors):
            user_old[j, f] = users_t[u, f]
        bu, bi = user_b[u], movie_b[m]
        s = one / (one + np.exp(-(pq + bu + bi)))
        value = low + span * s
        pred[j] = value
        c = w[j] * scale
        dz = c * two * (value - y[j]) * span * s * (one - s)  # d loss / d logit
        k = c * two * l2  # d penalty / d row = k * row
        # |g|^2 for g = dz * other + k * own, from the three dot products
        cross = two * dz * k * pq
        user_acc[u] += max(dz * dz * qq + cross + k * k * pp, zero) * per_factor
        movie_acc[m] += max(dz * dz * pp + cross + k * k * qq, zero) * per_factor
        user_k[u] += k
        movie_k[m] += k
        gu = dz + c * two * bias_l2 * bu
        gm = dz + c * two * bias_l2 * bi
        user_bacc[u] += gu * gu
        movie_bacc[m] += gm * gm
        grads[0, j] = dz
        grads[1, j] = gu
        grads[2, j] = gm
    # 2: user rows (the movie rows are untouched so far); 3: movie rows, from the user rows
    # as they were
    _update_rows(users_t, user_b, user_acc, user_bacc, user_k, users, movies_t, movies,
                 grads[0], grads[1], lr, eps)
    _update_rows(movies_t, movie_b, movie_acc, movie_bacc, movie_k, movies, user_old,
                 np.arange(n), grads[0], grads[2], lr, eps)


@numba.njit(fastmath=True, inline="always")
def _update_rows(table, bias, acc, bias_acc, l2_sum, rows, other, other_rows, dz, bias_grad,
                 lr, eps):
    """Each occurrence ``j`` of row ``rows[j]`` steps ``-s * dz[j] * other[other_rows[j]]``,
    ``s = lr / sqrt(acc + eps)``; before a row's first, its summed L2 step as a shrink."""
    zero, one = f32(0.0), f32(1.0)
    n = rows.shape[0]
    for j in range(n):
        if j + AHEAD < n:
            _prefetch_row(table, rows[j + AHEAD])
            _prefetch_row(other, other_rows[j + AHEAD])
        r = rows[j]
        s = lr / np.sqrt(acc[r] + eps)
        if l2_sum[r] >= zero:
            shrink = one - s * l2_sum[r]
            for f in range(table.shape[1]):
                table[r, f] *= shrink
            l2_sum[r] = -one  # done
        d = s * dz[j]
        o = other_rows[j]
        for f in range(table.shape[1]):
            table[r, f] -= d * other[o, f]
        bias[r] -= lr * bias_grad[j] / np.sqrt(bias_acc[r] + eps)


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
    n = words(words(args[8], 6)[5], 1)[0]

    step(matrix(rets, 0, n_users, factors),
         matrix(rets, 1, n_movies, factors),
         vector(rets, 2, n_users, np.float32), vector(rets, 3, n_movies, np.float32),
         vector(rets, 4, n_users, np.float32), vector(rets, 5, n_movies, np.float32),
         vector(rets, 6, n_users, np.float32), vector(rets, 7, n_movies, np.float32),
         vector(args, 8, n, np.int32), vector(args, 9, n, np.int32),
         vector(args, 10, n, np.float32), vector(args, 11, n, np.float32),
         vector(args, 12, 6, np.float32), vector(rets, 8, n, np.float32),
         matrix(rets, 9, n, factors),
         vector(rets, 10, n_users, np.float32), vector(rets, 11, n_movies, np.float32),
         matrix(rets, 12, 3, n))
    return 0


