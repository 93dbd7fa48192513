"""Array helpers that numpy lacks, written once here for every module that needs them."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt


def ranges(starts: npt.ArrayLike, counts: npt.ArrayLike) -> npt.NDArray[np.int64]:
    """The indices ``starts[i], ..., starts[i] + counts[i] - 1`` for every ``i``, one after another.

    Examples
    --------
    >>> ranges([10, 3, 7], [2, 0, 3]).tolist()
    [10, 11, 7, 8, 9]
    """
    s = np.asarray(starts, dtype=np.int64)
    n = np.asarray(counts, dtype=np.int64)
    begin = np.cumsum(n) - n  # where each run starts in the output
    return np.repeat(s - begin, n) + np.arange(int(n.sum()), dtype=np.int64)
