"""Template of the batch kernel: an adaptive Dormand-Prince 5(4) integrator of the downstream stages.

This module is not run as it stands. :mod:`sim.engines.batch` appends the generated wiring of a model's downstream
stage functions (``downstream_rhs``, which replaces the stub below) to this source and compiles the result with
numba, as :mod:`sim.core.chain` does for the whole chain. Keeping the integrator here, as plain Python, keeps it
readable and checked by the linters; no formula of the model appears in it.

The upstream signal (what the binding stage passes to the first downstream stage, e.g. the TSPO agonism) is given
on a grid that is uniform within each segment between integration breakpoints (doses), including both ends of
every segment (the right limit at its start, the left limit at its end), and is interpolated linearly. The
integrator never steps across a breakpoint. Outputs are read from the method's quartic dense output
(Shampine 1986), so output times do not limit the step.
"""

import numpy as np
from numba import njit, prange

# Dormand & Prince (1980) 5(4) pair with the dense output of Shampine (1986), as in scipy.integrate.RK45.
_C = np.array([0.0, 1 / 5, 3 / 10, 4 / 5, 8 / 9, 1.0])
_A = np.array(
    [
        [0.0, 0.0, 0.0, 0.0, 0.0],
        [1 / 5, 0.0, 0.0, 0.0, 0.0],
        [3 / 40, 9 / 40, 0.0, 0.0, 0.0],
        [44 / 45, -56 / 15, 32 / 9, 0.0, 0.0],
        [19372 / 6561, -25360 / 2187, 64448 / 6561, -212 / 729, 0.0],
        [9017 / 3168, -355 / 33, 46732 / 5247, 49 / 176, -5103 / 18656],
    ]
)
_B = np.array([35 / 384, 0.0, 500 / 1113, 125 / 192, -2187 / 6784, 11 / 84])
_E = np.array([-71 / 57600, 0.0, 71 / 16695, -71 / 1920, 17253 / 339200, -22 / 525, 1 / 40])
_P = np.array(
    [
        [1.0, -8048581381 / 2820520608, 8663915743 / 2820520608, -12715105075 / 11282082432],
        [0.0, 0.0, 0.0, 0.0],
        [0.0, 131558114200 / 32700410799, -68118460800 / 10900136933, 87487479700 / 32700410799],
        [0.0, -1754552775 / 470086768, 14199869525 / 1410260304, -10690763975 / 1880347072],
        [0.0, 127303824393 / 49829197408, -318862633887 / 49829197408, 701980252875 / 199316789632],
        [0.0, -282668133 / 205662961, 2019193451 / 616988883, -1453857185 / 822651844],
        [0.0, 40617522 / 29380423, -110615467 / 29380423, 69997945 / 29380423],
    ]
)

#: Status codes of :func:`integrate_set`.
OK, TOO_MANY_STEPS, STEP_TOO_SMALL, NOT_FINITE = 0, 1, 2, 3


def downstream_rhs(y, upstream, theta, dy):  # noqa: D103 (stub, replaced by the generated wiring)
    raise NotImplementedError("sim.engines.batch generates this function")


@njit(cache=True)
def _upstream_at(t, k, breakpoints, first, count, signal, out):
    """Linear interpolation of the upstream signal at ``t`` [h] inside segment ``k`` into ``out``."""
    t0 = breakpoints[k]
    t1 = breakpoints[k + 1]
    n = count[k]
    x = (t - t0) / (t1 - t0) * n
    i = int(x)
    if i < 0:
        i = 0
    if i > n - 1:
        i = n - 1
    w = x - i
    row = first[k] + i
    for c in range(out.size):
        out[c] = (1.0 - w) * signal[row, c] + w * signal[row + 1, c]


@njit(cache=True)
def _derivative(t, y, k, theta, breakpoints, first, count, signal, upstream, dy):
    _upstream_at(t, k, breakpoints, first, count, signal, upstream)
    downstream_rhs(y, upstream, theta, dy)


@njit(cache=True)
def integrate_set(y0, theta, breakpoints, first, count, signal, times, rtol, atol, max_step, max_steps, out):
    """Integrate one parameter set from ``breakpoints[0]``; states at ``times`` [h] into ``out`` (state x time).

    Steps are at most ``max_step`` [h] long: without a cap, the step would grow past the explicit method's
    stability limit on a steady state and let round-off grow up to the tolerance.

    Returns a status code (:data:`OK` on success) and the number of accepted steps.
    """
    n = y0.size
    y = y0.copy()
    y_new = np.empty(n)
    stage = np.empty(n)
    k_stages = np.empty((7, n))
    upstream = np.empty(signal.shape[1])
    j = 0
    while j < times.size and times[j] <= breakpoints[0]:
        out[:, j] = y
        j += 1
    h = 0.0
    steps = 0
    for k in range(breakpoints.size - 1):
        t = breakpoints[k]
        t_end = breakpoints[k + 1]
        if t_end <= t:
            continue
        _derivative(t, y, k, theta, breakpoints, first, count, signal, upstream, k_stages[0])
        if h <= 0.0:
            h = min(0.01, t_end - t)
        while t < t_end:
            if steps >= max_steps:
                return TOO_MANY_STEPS, steps
            last = False
            if h > max_step:
                h = max_step
            if h >= t_end - t:
                h = t_end - t
                last = True
            if h <= 1e-12 * max(1.0, abs(t)):
                return STEP_TOO_SMALL, steps
            for s in range(1, 6):
                for i in range(n):
                    acc = 0.0
                    for m in range(s):
                        acc += _A[s, m] * k_stages[m, i]
                    stage[i] = y[i] + h * acc
                _derivative(t + _C[s] * h, stage, k, theta, breakpoints, first, count, signal, upstream, k_stages[s])
            for i in range(n):
                acc = 0.0
                for m in range(6):
                    acc += _B[m] * k_stages[m, i]
                y_new[i] = y[i] + h * acc
            _derivative(t + h, y_new, k, theta, breakpoints, first, count, signal, upstream, k_stages[6])
            error = 0.0
            for i in range(n):
                acc = 0.0
                for m in range(7):
                    acc += _E[m] * k_stages[m, i]
                scale = atol + rtol * max(abs(y[i]), abs(y_new[i]))
                error += (h * acc / scale) ** 2
            error = np.sqrt(error / n)
            if not np.isfinite(error):
                if h < 1e-9:
                    return NOT_FINITE, steps
                h *= 0.1
                continue
            if error > 1.0:
                h *= max(0.2, 0.9 * error**-0.2)
                continue
            t_new = t_end if last else t + h
            while j < times.size and times[j] <= t_new:
                x = (times[j] - t) / h
                for i in range(n):
                    acc = 0.0
                    for m in range(7):
                        acc += k_stages[m, i] * x * (_P[m, 0] + x * (_P[m, 1] + x * (_P[m, 2] + x * _P[m, 3])))
                    out[i, j] = y[i] + h * acc
                j += 1
            y[:] = y_new
            k_stages[0, :] = k_stages[6, :]
            t = t_new
            steps += 1
            factor = 10.0 if error == 0.0 else min(10.0, 0.9 * error**-0.2)
            if not last:
                h *= factor
    return OK, steps


@njit(cache=True, parallel=True)
def integrate_batch(y0, theta, breakpoints, first, count, signal, times, rtol, atol, max_step, max_steps, out, status):
    """:func:`integrate_set` for every row of ``y0`` and ``theta`` (in parallel); ``out`` is set x state x time."""
    for s in prange(y0.shape[0]):
        code, _ = integrate_set(
            y0[s], theta[s], breakpoints, first, count, signal, times, rtol, atol, max_step, max_steps, out[s]
        )
        status[s] = code
