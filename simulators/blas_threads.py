"""Hold BLAS/LAPACK to one thread around hot loops of small matrices.

The twin's cyclic reduction (batched 10x10 or 16x16 blocks) and the batched MLE ((B, 32) x (32, K) products) make
many calls far too small to share between threads; on the 2-core machine the idle BLAS threads
spinning made both two to three times slower. The controller is built once (it inspects the
loaded libraries) and reused.
"""

from __future__ import annotations

from functools import lru_cache

from threadpoolctl import ThreadpoolController


@lru_cache(maxsize=1)
def _controller() -> ThreadpoolController:
    return ThreadpoolController()


def single_threaded_blas():
    """Context manager: BLAS limited to one thread inside, restored on exit."""
    return _controller().limit(limits=1, user_api="blas")
