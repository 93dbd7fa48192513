"""How alike two names are (edit distance), with no third-party dependency."""

from __future__ import annotations


def levenshtein(a: str, b: str) -> int:
    """Edits (insert, delete, substitute one character) that turn ``a`` into ``b``.

    Examples
    --------
    >>> levenshtein("中山东一路", "中山冬一路"), levenshtein("", "abc")
    (1, 3)
    """
    if a == b:
        return 0
    if len(a) < len(b):
        a, b = b, a
    previous = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        current = [i]
        for j, cb in enumerate(b, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (ca != cb)))
        previous = current
    return previous[-1]


def name_similarity(a: str, b: str) -> float:
    """1 − edit distance ÷ the longer length: 1.0 for the same name, 0.0 for nothing shared.

    Examples
    --------
    >>> name_similarity("和平小区", "和平小区"), name_similarity("中山东一路", "中山冬一路")
    (1.0, 0.8)
    """
    if not a or not b:
        return 0.0
    return 1.0 - levenshtein(a, b) / max(len(a), len(b))


def trigrams(name: str) -> list[str]:
    """The padded character trigrams of a name (as pg_trgm pads a word: two before, one after).

    Examples
    --------
    >>> trigrams("外滩")
    ['^^外', '^外滩', '外滩$']
    """
    padded = f"^^{name}$"
    return [padded[i : i + 3] for i in range(len(padded) - 2)]
