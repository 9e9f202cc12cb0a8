"""The held-out corpus as simulated users' words: loading, mapping to the catalog's tags,
and a simulation that says only what the corpus holds."""

from __future__ import annotations

import polars as pl
import pytest

from feed.core.steering import Glossary
from feed.experiments.config import SimulationConfig
from feed.experiments.heldout import (
    HELDOUT_PATH,
    CorpusError,
    build_phrasebook,
    load_heldout,
    match_tag,
)
from feed.experiments.logs import read_exposure_log, read_steering_log
from feed.experiments.rankers import RandomRanker
from feed.experiments.simulator import simulate

DEMO_TAGS = ("anime", "claymation", "film noir", "photorealistic", "pixel art", "watercolor",
             "cats", "dogs", "horror", "sports", "food")  # fmt: skip


def test_labels_and_concepts_name_tags():
    assert match_tag("photoreal", DEMO_TAGS) == "photorealistic"  # a prefix
    assert match_tag("noir", DEMO_TAGS) == "film noir"  # a whole word of the tag
    assert match_tag("clay", DEMO_TAGS) == "claymation"
    assert match_tag("Pixel-Art", DEMO_TAGS) == "pixel art"
    assert match_tag("cute cats", DEMO_TAGS) == "cats"  # the tag as a word of the concept
    assert match_tag("cats and dogs", DEMO_TAGS) is None  # two tags: ambiguous
    assert match_tag("cat", DEMO_TAGS) is None  # too short to be a prefix
    assert match_tag("trains", DEMO_TAGS) is None


def test_the_corpus_loads_and_unusable_cases_are_counted(corpus):
    cases = load_heldout(corpus)
    assert len(cases) == 42 and {c.lang for c in cases} == {"en", "ja", "mixed"}
    book = build_phrasebook(cases, DEMO_TAGS, "fixture", Glossary.load().translate)
    usable = {p.case.id: p.intents for p in book.phrasings}
    # "more steam locomotives" names no tag, "haha ok then" is no instruction; the
    # fixture's other styles and topics are not in DEMO_TAGS.
    assert "t-en-15" not in usable and "t-en-16" not in usable
    assert usable["t-en-9"] == (("boost", "photorealistic"),)  # by its target label
    assert usable["t-ja-1"] == (("exclude", "horror"),)  # Japanese concept, target label
    assert usable["t-en-14"] == (("exclude", "sports"), ("boost", "cats"))  # two ops
    assert book.summary().startswith(f"{len(usable)} of 42 held-out cases fit")
    assert [p.case.id for p in book.fitting("exclude", "horror", ["mixed"])] == ["t-mx-1"]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "no [[case]] tables"),
        ('[[case]]\nid = "x"\ntext = "more cats"\nlang = "fr"\n', "lang must be one of"),
        ('[[case]]\nid = "x"\nlang = "en"\n', "case x text must be a non-empty string"),
        ('[[case]]\nid = "x"\ntext = "a"\nlang = "en"\nops = [{op = "boost", accept = 3}]\n',
         "accept must be a list"),
        ("[[case]\n", "not valid TOML"),
    ],
)  # fmt: skip
def test_a_broken_corpus_is_named_in_one_line(tmp_path, text, message):
    path = tmp_path / "heldout.toml"
    path.write_text(text)
    with pytest.raises(CorpusError) as info:
        load_heldout(path)
    assert message in str(info.value) and "\n" not in str(info.value)
    with pytest.raises(CorpusError, match="no held-out steering corpus"):
        load_heldout(tmp_path / "missing.toml")


@pytest.mark.skipif(not HELDOUT_PATH.is_file(), reason="the held-out corpus is not here yet")
def test_the_shipped_corpus_gives_the_demo_catalog_words_in_every_language():
    from feed.services.demo import read_demo_spec

    tags = sorted({str(t) for line in read_demo_spec() for t in line.raw["tags"][:2]})  # type: ignore[index]
    book = build_phrasebook(load_heldout(), tags, "shipped", Glossary.load().translate)
    langs = {p.case.lang for p in book.phrasings}
    assert len(book.phrasings) >= 100 and langs == {"en", "ja", "mixed"}
    ops = {intent[0] for p in book.phrasings for intent in p.intents}
    assert ops == {"boost", "suppress", "exclude"}


def test_simulated_users_say_only_corpus_cases(table, tmp_path, corpus):
    glossary = Glossary.load()
    cases = {c.id: c for c in load_heldout(corpus)}
    tags = sorted({t for tags in table.tags for t in tags})
    book = build_phrasebook(tuple(cases.values()), tags, "fixture", glossary.translate)
    config = SimulationConfig(users=16, sessions_per_user=2, pages_per_session=3, page_size=4,
                              averse_share=1.0, shift_share=1.0, ja_share=0.5)  # fmt: skip
    result = simulate(config, table, RandomRanker("random", table, 2), tmp_path / "run",
                      glossary, seed=2, phrasebook=book)  # fmt: skip
    steering = read_steering_log(result.steering_path)
    assert len(steering) > 5
    for row in steering.iter_rows(named=True):
        case = cases[row["case_id"]]
        assert row["text"] == case.text and row["lang"] == case.lang and row["kind"] == case.kind
        assert (row["op"], row["target"]) in next(
            p.intents for p in book.phrasings if p.case.id == case.id
        )
    # Japanese speakers use Japanese or mixed cases where the corpus has one for the intent.
    users = pl.read_parquet(result.users_path).select("user_id", "language")
    said = steering.join(users, on="user_id")
    horror = said.filter((pl.col("target") == "horror") & (pl.col("op") == "exclude"))
    assert set(horror.filter(pl.col("language") == "ja")["lang"]) <= {"ja", "mixed"}
    assert set(horror.filter(pl.col("language") == "en")["lang"]) <= {"en"}
    assert result.instructions == len(steering)
    # Every page the random policy served is in the exposure log with its propensity.
    exposures = read_exposure_log(result.exposures_path)
    assert len(exposures) == 16 * 2 * 3 * 4
    assert ((exposures["propensity"] > 0) & (exposures["propensity"] <= 1)).all()
    first = exposures.filter((pl.col("page") == 0) & pl.col("session_id").str.ends_with("-s0"))
    assert (first["propensity"] == 4 / len(table)).all()  # a fresh user: 4 of every clip
    later = exposures.filter(pl.col("page") == 2)
    assert (later["propensity"] > 4 / len(table)).all()  # fewer clips left to draw from
    # Intents the corpus cannot word are not said, and are counted.
    only_horror = build_phrasebook(
        tuple(c for c in cases.values() if "horror" in (c.target or "")), tags, "horror"
    )
    quiet = simulate(config, table, RandomRanker("random", table, 2), tmp_path / "quiet",
                     glossary, seed=2, phrasebook=only_horror)  # fmt: skip
    assert set(read_steering_log(quiet.steering_path)["target"]) == {"horror"}
    assert quiet.unsaid > 0
