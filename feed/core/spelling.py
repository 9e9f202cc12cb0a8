"""Typos in a steering phrase, mended against the words the catalog holds.

"no more clowsn" should hide clowns. A word is mended only when an English word list does
not know it, the catalog never uses it, and a word one edit away (a letter added, dropped,
changed or two swapped) is both a known English word and used by the catalog: the most
used such word wins. Anything else stays as typed: a word the catalog lacks is a request
the gap finder should see, not a typo to guess at ("owls" never becomes "bowls").
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable

# Shorter words have too many neighbours one edit away to guess among.
MIN_LENGTH = 5
_WORD = re.compile(r"[A-Za-z]+")


def mended(
    phrase: str,
    known: Callable[[str], bool],
    neighbours: Callable[[str], Iterable[str]],
    uses: Callable[[str], int],
) -> str:
    """`phrase` with each unknown word replaced by its best neighbour the catalog uses.

    `known(word)`: the word list knows it; `neighbours(word)`: known words one edit away;
    `uses(word)`: how many catalog clips use the word (0: none).
    """

    def mend(found: re.Match[str]) -> str:
        word = found.group(0)
        lower = word.lower()
        if len(lower) < MIN_LENGTH or known(lower) or uses(lower):
            return word
        scored = [(uses(n), n) for n in sorted(set(neighbours(lower)) - {lower})]
        best = max(scored, default=(0, lower))
        return best[1] if best[0] > 0 else word

    return _WORD.sub(mend, phrase)
