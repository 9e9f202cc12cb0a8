import pytest

from feed.core.looks import LOOKS_PATH, Looks, shipped_looks
from feed.core.ranking import ClipTexts, lexical_matches
from feed.core.steering import Glossary
from feed.services.relevance import PhraseRelevance


def test_a_look_is_found_by_any_of_its_names():
    looks = shipped_looks()
    clay = looks.marks("claymation")
    assert "plasticine" in clay and "粘土" in clay
    assert looks.marks("クレイアニメ") == clay
    assert looks.marks("Claymation style") == clay  # a trailing word that adds nothing
    assert looks.marks("水彩風") == looks.marks("watercolor")
    assert looks.marks(None, "ねんど") == clay  # the first reading that names a look


def test_a_topic_names_no_look():
    looks = shipped_looks()
    assert looks.marks("horror") == ()
    assert looks.marks("cats", "猫", None) == ()


def test_every_shipped_mark_is_matchable():
    """Each mark names something a clip's text can hold (no mark made only of short or
    generic words, which would match nothing or everything)."""
    for marks in set(shipped_looks().marks_of.values()):
        for mark in marks:
            assert mark.strip() == mark and mark
            texts = ClipTexts.of([f"a clip, {mark}, at dusk", "a cat at dusk"])
            assert lexical_matches(texts, mark).tolist() == [True, False], mark


def test_a_clip_marked_with_a_look_names_it():
    texts = ClipTexts.of([
        "a plasticine fox waving, thumbprints on its ears",
        "粘土で作った猫がピアノを弾く",
        "a clay tennis court at noon",  # clay, but no claymation
        "a fox in the snow",
    ])  # fmt: skip
    phrases = PhraseRelevance(None, None, Glossary({}))  # type: ignore[arg-type]
    try:
        assert phrases.naming(texts, "claymation").tolist() == [True, True, False, False]
        assert phrases.naming(texts, "fox").tolist() == [True, False, False, True]
    finally:
        phrases.close()


def test_a_name_of_two_looks_is_refused(tmp_path):
    path = tmp_path / "looks.toml"
    path.write_text(
        '[looks.a]\nnames = ["x"]\nmarks = ["y"]\n[looks.b]\nnames = ["x"]\nmarks = ["z"]\n'
    )
    with pytest.raises(ValueError, match="names two looks"):
        Looks.load(path)
    path.write_text('[looks.a]\nnames = ["x"]\n')
    with pytest.raises(ValueError, match="needs names and marks"):
        Looks.load(path)


def test_the_shipped_file_loads():
    assert LOOKS_PATH.is_file()
    assert len(Looks.load().marks_of) >= 40
