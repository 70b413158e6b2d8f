"""Relaxation towards the steady state: the slowest decay rate of the excitation-diagonal sector.

Rates are in the twin's unit (the same as ``kappa``); lab time constants come from
``LabLink.seconds`` in the units layer.
"""

from __future__ import annotations

import numpy as np
import scipy.linalg
import scipy.sparse
import scipy.sparse.linalg

from .exact_solver import fock_cutoff
from .liouvillian_blocks import present_params, sector_blocks
from .link_parameters import LinkParameters


def sector_generator(p: LinkParameters, cutoff: int) -> scipy.sparse.csr_matrix:
    """The excitation-diagonal sector of the Liouvillian as a sparse real matrix.

    Unknowns are the real parameters of every block that refer to existing states, block by block.
    """
    top = cutoff + 2
    blocks = np.arange(top + 1)
    diag, up, down = sector_blocks(p, blocks, cutoff)
    keep = present_params(blocks, cutoff)
    index = np.full(keep.shape, -1)
    index[keep] = np.arange(keep.sum())
    rows, cols, vals = [], [], []
    for offset, mats in ((0, diag), (1, up), (-1, down)):
        n = np.arange(max(0, -offset), min(top + 1, top + 1 - offset))  # blocks whose partner exists
        block = mats[n]
        mask = keep[n][:, :, None] & keep[n + offset][:, None, :] & (block != 0)
        which, p, q = np.nonzero(mask)
        rows.append(index[n[which], p])
        cols.append(index[n[which] + offset, q])
        vals.append(block[which, p, q])
    size = int(keep.sum())
    return scipy.sparse.csr_matrix(
        (np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))), shape=(size, size)
    )


def relaxation_rate(p: LinkParameters, tol: float = 1e-6) -> float:
    """Slowest decay rate towards the steady state (the Liouvillian gap, same unit as ``kappa``).

    A change of the source starts from the previous steady state, which lies in the
    excitation-diagonal sector, so the gap of that sector is the one an experiment waits for.
    """
    generator = sector_generator(p, fock_cutoff(p, tol))
    size = generator.shape[0]
    if size <= 400:
        eigenvalues = scipy.linalg.eigvals(generator.toarray())
    else:
        scale = min(p.kappa, p.gamma1 + p.gamma_local, p.gamma2 + p.gamma_local)
        eigenvalues = scipy.sparse.linalg.eigs(
            generator.tocsc(), k=8, sigma=0.05 * scale, which="LM", return_eigenvectors=False
        )
    order = np.argsort(np.abs(eigenvalues))
    rest = eigenvalues[order[1:]]  # drop the steady state's zero eigenvalue
    return float(-rest.real.max())
