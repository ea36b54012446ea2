"""Compiled kernels of the exact path-dependent TreeSHAP (see :mod:`precisionpain.explain.treeshap`).

Method. For a leaf with value ``v`` whose path splits on features ``j`` (a feature split on twice counts
once), let ``z_j`` be the product of the cover ratios of its edges and ``o_j`` be 1 when the row satisfies
all of its conditions, else 0. Path-dependent TreeSHAP is the Shapley value of the game
``f(S) = v * prod_{j in S} o_j * prod_{j not in S} z_j``. Writing the Shapley weights as the Beta integral
``|S|! (d-|S|-1)! / d! = int_0^1 t^|S| (1-t)^(d-|S|-1) dt`` gives

    phi_i = v * (o_i - z_i) * int_0^1 prod_{j != i} (t * o_j + (1 - t) * z_j) dt,

a polynomial of degree < depth in ``t``, so Gauss-Legendre quadrature with ``ceil(depth/2)`` nodes is exact.
Features off the path contribute the factor 1, so the product runs over the edges of the whole path and
factorises: one pass down the tree gives each node's prefix product (at the quadrature nodes), one pass up
gives each node's sum over the leaves below of value times the product of the edge factors below, and the
feature of a split at node ``u`` with children ``a``, ``c`` receives
``sum_q w_q prefix_q(u) [(o_a - z_a) down_q(a) + (o_c - z_c) down_q(c)]``. A split on a feature already split
on by an earlier edge ``P`` of its path merges with ``P``: its edge factor is the ratio of the merged factor
to ``P``'s, its prefix leaves ``P``'s factor out, and the leaves below it are removed from ``P``'s sum by a
correction term computed at the split itself.

The two bottom levels of a tree hold three quarters of its splits. When such a pair of levels repeats no
feature from above, it is done in closed form: a bottom split ``b`` contributes
``(v_reached - mean_b) * integral(prefix_b)``, and everything the pair needs from the prefix of its top node
is two moments, ``sum_q w_q prefix_q t_q`` and ``sum_q w_q prefix_q (1 - t_q)``.

Trees are padded to complete heaps (no child pointers, no leaf tests) and processed one after the other;
the quadrature size is a compile-time constant (3 for depth <= 6, else 6). The kernels are compiled by
numba on first use (:func:`load_kernels`); nothing is compiled or written to disk at import time. They
release the GIL, allocate their own scratch arrays and only read the model arrays, so concurrent calls are
safe.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any, NamedTuple

_compile_lock = threading.Lock()
_compiled: dict[int, Kernels] = {}


class Kernels(NamedTuple):
    """The compiled entry points (see :func:`load_kernels`)."""

    explain_group: Callable[..., None]
    margins_group: Callable[..., None]


def quadrature_size(max_depth: int) -> int:
    """Gauss-Legendre nodes used for trees up to ``max_depth``: exact for polynomials of degree < depth."""
    return 3 if max_depth <= 6 else 6


def _compile(n_quad: int) -> Kernels:
    import numba
    import numpy as np

    nodes, weights = np.polynomial.legendre.leggauss(n_quad)
    quad_t = (nodes + 1.0) / 2.0
    quad_u = 1.0 - quad_t
    quad_w = weights / 2.0
    quad_tt = quad_t * quad_t
    quad_tu = quad_t * quad_u
    quad_uu = quad_u * quad_u
    nq = n_quad
    jit = numba.njit(nogil=True, cache=False, boundscheck=False, error_model="numpy")

    @jit
    def explain_group(
        xx: Any, phi: Any, marg: Any, feature: Any, split_index: Any, threshold: Any, prev_edge: Any,
        has_prev: Any, pair_has_prev: Any, merged_z: Any, leaf_value: Any, bottom_mean: Any, option: Any,
        depth: int,
    ) -> None:  # fmt: skip
        tq = quad_t
        uq = quad_u
        wq = quad_w
        tt = quad_tt
        tu = quad_tu
        uu = quad_uu
        n_rows = xx.shape[0]
        n_trees = feature.shape[0]
        ni = feature.shape[1]
        bottom = (ni - 1) // 2  # first split of the bottom level (its children are leaves)
        pair = (ni - 3) // 4  # first split of the level above the bottom
        gi = np.empty(ni, dtype=np.int64)  # 1 = the row goes left
        om = np.empty(ni)  # merged condition of the edge into each internal node
        pre = np.empty((ni, nq))
        down = np.empty((ni, nq))
        contrib = np.empty(ni)
        for t in range(n_trees):
            opt = option[t]
            for r in range(n_rows):
                for j in range(ni):
                    gi[j] = np.int64(xx[r, split_index[t, j]] < threshold[t, j])
                if depth == 1:
                    contrib[0] = leaf_value[t, 1 - gi[0]] - bottom_mean[t, 0]
                else:
                    for q in range(nq):
                        pre[0, q] = wq[q]
                    om[0] = 1.0
                    # Down the upper levels: merged conditions and prefix products of the children.
                    for j in range(pair):
                        a = 2 * j + 1
                        c = a + 1
                        g = np.float64(gi[j])
                        za = merged_z[t, a]
                        zc = merged_z[t, c]
                        if has_prev[t, j]:
                            pv = prev_edge[t, j]
                            omp = om[pv]
                            zp = merged_z[t, pv]
                            oa = g * omp
                            oc = (1.0 - g) * omp
                            om[a] = oa
                            om[c] = oc
                            for q in range(nq):
                                p = pre[j, q] / (tq[q] * omp + uq[q] * zp)
                                pre[a, q] = p * (tq[q] * oa + uq[q] * za)
                                pre[c, q] = p * (tq[q] * oc + uq[q] * zc)
                        else:
                            om[a] = g
                            om[c] = 1.0 - g
                            for q in range(nq):
                                p = pre[j, q]
                                pre[a, q] = p * (tq[q] * g + uq[q] * za)
                                pre[c, q] = p * (tq[q] * (1.0 - g) + uq[q] * zc)
                    # The two bottom levels, one split P of the level above the bottom at a time.
                    for P in range(pair, bottom):
                        a = 2 * P + 1
                        c = a + 1
                        g = np.float64(gi[P])
                        h = 1.0 - g
                        za = merged_z[t, a]
                        zc = merged_z[t, c]
                        if not pair_has_prev[t, P - pair]:
                            m1 = 0.0
                            m0 = 0.0
                            for q in range(nq):
                                p = pre[P, q]
                                m1 += p * tq[q]
                                m0 += p
                            m0 -= m1  # m1 = sum w prefix t, m0 = sum w prefix (1 - t)
                            sa = bottom_mean[t, a - bottom]
                            sc = bottom_mean[t, c - bottom]
                            va = leaf_value[t, 2 * a + 2 - ni - gi[a]]
                            vc = leaf_value[t, 2 * c + 2 - ni - gi[c]]
                            contrib[a] = (va - sa) * (g * m1 + za * m0)
                            contrib[c] = (vc - sc) * (h * m1 + zc * m0)
                            ca = g - za
                            cc = h - zc
                            contrib[P] = (ca * sa + cc * sc) * m0 + (ca * va + cc * vc) * m1
                            # down(P) = F_a down(a) + F_c down(c), a quadratic in t.
                            k2 = g * va + h * vc
                            k1 = g * sa + za * va + h * sc + zc * vc
                            k0 = za * sa + zc * sc
                            for q in range(nq):
                                down[P, q] = k2 * tt[q] + k1 * tu[q] + k0 * uu[q]
                            continue
                        # General: P's children, then the bottom splits a and c, then P.
                        if has_prev[t, P]:
                            pv = prev_edge[t, P]
                            omp = om[pv]
                            zp = merged_z[t, pv]
                            oa = g * omp
                            oc = h * omp
                            om[a] = oa
                            om[c] = oc
                            for q in range(nq):
                                p = pre[P, q] / (tq[q] * omp + uq[q] * zp)
                                pre[a, q] = p * (tq[q] * oa + uq[q] * za)
                                pre[c, q] = p * (tq[q] * oc + uq[q] * zc)
                        else:
                            om[a] = g
                            om[c] = h
                            for q in range(nq):
                                p = pre[P, q]
                                pre[a, q] = p * (tq[q] * g + uq[q] * za)
                                pre[c, q] = p * (tq[q] * h + uq[q] * zc)
                        for j in range(a, c + 1):
                            la = 2 * j + 1
                            lc = la + 1
                            gj = np.float64(gi[j])
                            zla = merged_z[t, la]
                            zlc = merged_z[t, lc]
                            if has_prev[t, j]:
                                va = leaf_value[t, la - ni]
                                vc = leaf_value[t, lc - ni]
                                pv = prev_edge[t, j]
                                omp = om[pv]
                                zp = merged_z[t, pv]
                                oa = gj * omp
                                oc = (1.0 - gj) * omp
                                cp = omp - zp
                                kj = (oa - zla) * va + (oc - zlc) * vc
                                s = 0.0
                                for q in range(nq):
                                    inv = 1.0 / (tq[q] * omp + uq[q] * zp)
                                    d = (
                                        (tq[q] * oa + uq[q] * zla) * va + (tq[q] * oc + uq[q] * zlc) * vc
                                    ) * inv
                                    down[j, q] = d
                                    s += pre[j, q] * inv * (kj - cp * d)
                                contrib[j] = s
                            else:
                                sj = bottom_mean[t, j - bottom]
                                vj = leaf_value[t, lc - ni - gi[j]]
                                s = 0.0
                                for q in range(nq):
                                    down[j, q] = uq[q] * sj + tq[q] * vj
                                    s += pre[j, q]
                                contrib[j] = (vj - sj) * s
                        ca = om[a] - za
                        cc = om[c] - zc
                        if has_prev[t, P]:
                            pv = prev_edge[t, P]
                            omp = om[pv]
                            zp = merged_z[t, pv]
                            cp = omp - zp
                            s = 0.0
                            for q in range(nq):
                                inv = 1.0 / (tq[q] * omp + uq[q] * zp)
                                da = down[a, q]
                                dc = down[c, q]
                                d = (
                                    (tq[q] * om[a] + uq[q] * za) * da + (tq[q] * om[c] + uq[q] * zc) * dc
                                ) * inv
                                down[P, q] = d
                                s += pre[P, q] * inv * (ca * da + cc * dc - cp * d)
                            contrib[P] = s
                        else:
                            s = 0.0
                            for q in range(nq):
                                da = down[a, q]
                                dc = down[c, q]
                                down[P, q] = (tq[q] * g + uq[q] * za) * da + (tq[q] * h + uq[q] * zc) * dc
                                s += pre[P, q] * (ca * da + cc * dc)
                            contrib[P] = s
                    # Up the upper levels: sums below each split and its contribution.
                    for j in range(pair - 1, -1, -1):
                        a = 2 * j + 1
                        c = a + 1
                        za = merged_z[t, a]
                        zc = merged_z[t, c]
                        oa = om[a]
                        oc = om[c]
                        ca = oa - za
                        cc = oc - zc
                        if has_prev[t, j]:
                            pv = prev_edge[t, j]
                            omp = om[pv]
                            zp = merged_z[t, pv]
                            cp = omp - zp
                            s = 0.0
                            for q in range(nq):
                                inv = 1.0 / (tq[q] * omp + uq[q] * zp)
                                da = down[a, q]
                                dc = down[c, q]
                                d = ((tq[q] * oa + uq[q] * za) * da + (tq[q] * oc + uq[q] * zc) * dc) * inv
                                down[j, q] = d
                                s += pre[j, q] * inv * (ca * da + cc * dc - cp * d)
                            contrib[j] = s
                        else:
                            s = 0.0
                            for q in range(nq):
                                da = down[a, q]
                                dc = down[c, q]
                                down[j, q] = (tq[q] * oa + uq[q] * za) * da + (tq[q] * oc + uq[q] * zc) * dc
                                s += pre[j, q] * (ca * da + cc * dc)
                            contrib[j] = s
                for j in range(ni):
                    phi[r, opt, feature[t, j]] += contrib[j]
                leaf = 0
                for _ in range(depth):
                    leaf = 2 * leaf + 2 - gi[leaf]
                marg[r, opt] += leaf_value[t, leaf - ni]

    @jit
    def margins_group(
        xx: Any, marg: Any, split_index: Any, threshold: Any, leaf_value: Any, option: Any, depth: int
    ) -> None:
        n_rows = xx.shape[0]
        ni = split_index.shape[1]
        for t in range(split_index.shape[0]):
            opt = option[t]
            for r in range(n_rows):
                node = 0
                for _ in range(depth):
                    node = 2 * node + 2 - int(xx[r, split_index[t, node]] < threshold[t, node])
                marg[r, opt] += leaf_value[t, node - ni]

    return Kernels(explain_group, margins_group)


def load_kernels(n_quad: int) -> Kernels:
    """The kernels for ``n_quad`` quadrature nodes (numba is imported and they are defined on first use).

    ``explain_group(xx, phi, marg, feature, split_index, threshold, prev_edge, has_prev, pair_has_prev,
    merged_z, leaf_value, bottom_mean, option, depth)`` adds one depth group's contributions to ``phi``
    (n, k, row_width) and its leaf values to ``marg`` (n, k); ``margins_group(xx, marg, split_index,
    threshold, leaf_value, option, depth)`` adds only the leaf values. ``xx`` is the doubled float32 row
    (n, 2 * row_width) described in :mod:`precisionpain.explain.tree_layout`. Machine code is generated on
    the first call for the argument types.
    """
    with _compile_lock:
        kernels = _compiled.get(n_quad)
        if kernels is None:
            kernels = _compiled[n_quad] = _compile(n_quad)
        return kernels
