import pytest

from feed.core.looks import LOOKS_PATH, Looks, shipped_looks
from feed.core.naming import as_mask
from feed.core.ranking import ClipTexts, lexical_matches
from feed.core.steering import Glossary
from feed.evaluation.data import load_labelled_catalog
from feed.evaluation.pages import marked_look_clips
from feed.services.relevance import PhraseRelevance


def test_a_look_is_found_by_any_of_its_names():
    looks = shipped_looks()
    clay = looks.marks("claymation")
    assert "plasticine" in clay and "粘土" in clay
    assert looks.marks("クレイアニメ") == clay
    assert looks.marks("Claymation style") == clay  # a trailing word that adds nothing
    assert looks.marks("水彩風") == looks.marks("watercolor")
    assert looks.marks(None, "ねんど") == clay  # the first reading that names a look


def test_ukiyoe_and_line_art_are_looks_by_any_of_their_names():
    looks = shipped_looks()
    ukiyoe = looks.marks("ukiyo-e")
    assert "錦絵" in ukiyoe and "woodblock print" in ukiyoe
    assert looks.marks("浮世絵") == looks.marks("woodblock prints") == ukiyoe
    line_art = looks.marks("line art")
    assert "screentone" in line_art and "ペン画" in line_art
    assert looks.marks("線画") == looks.marks("pen and ink") == line_art


def _marked(catalog_name: str) -> tuple[int, int, int]:
    """(clips, found, wrong) of `marked_look_clips` over a catalog's prompts."""
    catalog = load_labelled_catalog(catalog_name)
    texts = ClipTexts.of([r.prompt for r in catalog.rows])
    phrases = PhraseRelevance(None, None, Glossary({}))  # type: ignore[arg-type]
    try:
        found, clips, wrong = marked_look_clips(
            catalog, texts, [r.look for r in catalog.rows], phrases
        )
    finally:
        phrases.close()
    return clips, found, wrong


@pytest.mark.parametrize("catalog_name", ["a", "b", "d"])
def test_marks_mark_no_clip_of_another_look_on_the_test_catalogs(catalog_name):
    # The marks were chosen on the tuning catalogs C and E; the test catalogs A, B and D
    # had no part in it.
    clips, found, wrong = _marked(catalog_name)
    assert clips >= 100 and found > 0
    assert wrong == 0


def test_marks_find_most_look_clips_of_test_catalog_d():
    # D (mostly Japanese creators' captions) names all eight of its looks the lexicon's
    # way; the marks find 165 of their 240 clips.
    clips, found, _ = _marked("d")
    assert clips == 240
    assert found >= 0.65 * clips


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


def named(phrases: PhraseRelevance, texts: ClipTexts, phrase: str) -> list[bool]:
    """Whether each row of `texts` names `phrase` (`PhraseRelevance.naming`)."""
    return as_mask(phrases.naming(texts, phrase), len(texts)).tolist()


def test_a_clip_marked_with_a_look_names_it():
    texts = ClipTexts.of([
        "a plasticine fox waving, thumbprints on its ears",
        "粘土で作った猫がピアノを弾く",
        "a clay tennis court at noon",  # clay, but no claymation
        "a fox in the snow",
    ])  # fmt: skip
    phrases = PhraseRelevance(None, None, Glossary({}))  # type: ignore[arg-type]
    try:
        assert named(phrases, texts, "claymation") == [
            True,
            True,
            False,
            False,
        ]
        assert named(phrases, texts, "fox") == [
            True,
            False,
            False,
            True,
        ]
    finally:
        phrases.close()


def test_a_mark_inside_a_longer_word_of_another_meaning_marks_nothing():
    texts = ClipTexts.of([
        "ピクセル画の猫が走る",  # pixel art: its セル画 is not cel art
        "セル画の猫が走る",
        "ピクセル画とセル画を並べた猫",  # cel art too, outside the longer word
    ])  # fmt: skip
    phrases = PhraseRelevance(None, None, Glossary({}))  # type: ignore[arg-type]
    try:
        assert named(phrases, texts, "anime") == [False, True, True]
        assert named(phrases, texts, "ピクセル画") == [
            True,
            False,
            True,
        ]
    finally:
        phrases.close()


def test_every_name_of_a_look_shares_its_marked_rows(monkeypatch):
    from feed.services import relevance

    texts = ClipTexts.of(["a plasticine fox waving", "粘土で作った猫", "a fox in the snow"])
    looked_up: list[str] = []
    real = relevance.lexical_matches

    def counted(texts, phrase):
        looked_up.append(phrase)
        return real(texts, phrase)

    monkeypatch.setattr(relevance, "lexical_matches", counted)
    phrases = PhraseRelevance(None, None, Glossary({}))  # type: ignore[arg-type]
    try:
        first = named(phrases, texts, "claymation")
        marks = len(looked_up)  # each mark
        assert marks == len(shipped_looks().marks("claymation"))
        again = named(phrases, texts, "クレイアニメ")
        assert again == first == [True, True, False]
        assert len(looked_up) == marks  # the marks' rows were kept
        other = ClipTexts.of(["a fox in the snow"])
        assert named(phrases, other, "claymation") == [False]
        assert len(looked_up) == 2 * marks  # other texts: looked up again
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
    path.write_text('[looks.a]\nnames = ["x"]\nmarks = ["セル画"]\nunless_in = ["ドット絵"]\n')
    with pytest.raises(ValueError, match="holds no mark"):
        Looks.load(path)


def test_the_shipped_file_loads():
    assert LOOKS_PATH.is_file()
    assert len(Looks.load().marks_of) >= 40
