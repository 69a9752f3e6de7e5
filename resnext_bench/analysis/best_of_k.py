"""Expected best-of-k error in words, for a sample of models (a design space) or of seeds (a baseline):
what reporting the best of k draws would show, with its bootstrap band and the selection bias it carries."""
from __future__ import annotations

from .robust import BEST_OF_K_METHOD, expected_best_of_k

SELECTION_NOTE = ("the best of a sample is biased low: the lowest error of n models (or seeds) is an optimistic "
                  "estimate of what one more draw gives, and it falls as n grows, so a best model is read beside "
                  "the expected best-of-k curve, not alone")


def k_points(n: int) -> list[int]:
    """1, 2, 4, ... up to n, and n itself: the k the words show."""
    ks, k = [], 1
    while k < n:
        ks.append(k)
        k *= 2
    return ks + [n]


def best_of_k_words(name: str, values, what: str = "models") -> str:
    """'S (32 models): expected minimum error over k draws ... k=1 21.40 [21.10, 21.90], ...' (BEST_OF_K_METHOD)."""
    values = [float(v) for v in values]
    curve = expected_best_of_k(values, k_points(len(values)))
    if not curve:
        return f"{name}: no completed {what}, no expected minimum over k draws"
    parts = []
    for k, e in curve.items():
        band = f" [{e.ci_low:.2f}, {e.ci_high:.2f}]" if e.ci_low == e.ci_low else ""
        parts.append(f"k={k} {e.value:.2f}{band}")
    return (f"{name} ({len(values)} {what}): expected minimum error over k draws (descriptive, bootstrap band) "
            f"{', '.join(parts)}")


def best_of_k_method() -> str:
    """The method sentence the sections quote once."""
    return f"{BEST_OF_K_METHOD}; bands are bootstrap 95% (descriptive); {SELECTION_NOTE}"
