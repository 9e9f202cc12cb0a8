"""Prompt composition: a gap's phrase plus what the waiting users like. Pure and seeded.

"more anime style" for a user who likes skateboarding clips becomes "a
skateboarder landing a kickflip, anime style": the phrase supplies what was
asked for, the users' liked clips supply subjects they enjoy, and the prompts
vary rather than repeating one line n times.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import numpy as np

# Where a prompt turns from its subject to its look, e.g. "A cat napping, watercolor"
# or "Watercolor: a cat napping" or "a cat napping rendered as watercolor".
_SPLIT = re.compile(
    r"\s*(?:[,;:]|\brendered as\b|\bin the style of\b|\bnow as\b|\bremix:)\s*", re.IGNORECASE
)
_ARTICLE = re.compile(r"^(?:a|an|the|two|three|some)\b", re.IGNORECASE)
FALLBACK_SUBJECTS = (
    "a cat leaping between rooftops",
    "a dancer spinning on a stage",
    "a dog chasing a ball on the beach",
    "a skateboarder landing a kickflip",
    "a rocket lifting off at dawn",
    "a chef flipping pancakes",
    "waves crashing on a rocky shore",
    "a street musician playing guitar",
)
TEMPLATES = ("{subject}, {phrase}", "{Phrase}: {subject}", "{subject} rendered as {phrase}")


def subject_of(prompt: str) -> str | None:
    """The subject part of a prompt: the clause that reads like a noun phrase."""
    prompt = re.sub(r"@\w[\w.-]*", "", prompt)  # never carry someone's cameo into a new clip
    parts = [p.strip(" .") for p in _SPLIT.split(prompt) if p and p.strip(" .")]
    nouny = [p for p in parts if _ARTICLE.match(p) and len(p.split()) >= 3]
    if nouny:
        return nouny[0][0].lower() + nouny[0][1:]
    longest = max(parts, key=lambda p: len(p.split()), default="")
    return longest.lower() if len(longest.split()) >= 3 else None


def compose_prompts(phrase: str, liked_prompts: Sequence[str], n: int, seed: int) -> list[str]:
    """n distinct prompts that satisfy `phrase`, on subjects drawn from liked prompts."""
    phrase = phrase.strip()
    if not phrase:
        raise ValueError("phrase is empty")
    if n <= 0:
        raise ValueError("n must be positive")
    rng = np.random.default_rng(seed)
    subjects = list(dict.fromkeys(s for s in map(subject_of, liked_prompts) if s))
    subjects = [s for s in subjects if phrase.lower() not in s.lower()]
    order = rng.permutation(len(subjects)).tolist()
    picked = [subjects[i] for i in order]
    fallback = [FALLBACK_SUBJECTS[i] for i in rng.permutation(len(FALLBACK_SUBJECTS)).tolist()]
    pool = picked + [s for s in fallback if s not in picked]
    prompts: list[str] = []
    for i in range(n):
        subject = pool[i % len(pool)]
        template = TEMPLATES[(i + int(rng.integers(len(TEMPLATES)))) % len(TEMPLATES)]
        text = template.format(
            subject=subject, phrase=phrase, Phrase=phrase[0].upper() + phrase[1:]
        )
        if i >= len(pool):
            text = f"{text}, take {i // len(pool) + 1}"
        prompts.append(text[0].upper() + text[1:])
    return prompts
