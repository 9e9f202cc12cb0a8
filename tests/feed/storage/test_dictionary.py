"""The bilingual dictionary (JMdict, JMnedict) and the English word list."""

from __future__ import annotations

import pytest

from feed.storage.dictionary import BilingualDictionary, EnglishWords, katakana


@pytest.fixture(scope="module")
def dictionary() -> BilingualDictionary:
    return BilingualDictionary.load()


@pytest.mark.parametrize(
    ("japanese", "english"),
    [
        ("サメ", "shark"),
        ("バレエ", "ballet"),
        ("怪談", "ghost story"),
        ("モノクロ", "monochrome"),
        ("ドット絵", "pixel art"),
        ("猫", "cat"),  # "(esp. the domestic cat, Felis catus)" dropped
        ("ピクサー", "Pixar"),  # a name: JMnedict
        ("ぴえろ", "clown"),  # written in hiragana, found in katakana
    ],
)
def test_words_read_as_their_first_gloss(
    dictionary: BilingualDictionary, japanese: str, english: str
) -> None:
    assert dictionary.translate(japanese) == english


def test_a_phrase_is_cut_into_its_longest_words_and_particles_are_left_out(
    dictionary: BilingualDictionary,
) -> None:
    assert dictionary.translate("猫と犬") == "cat dog"
    assert dictionary.translate("バレエを踊る動画") == "ballet dance video"
    assert dictionary.translate("ジブリっぽいの") == "Ghibli"
    assert dictionary.translate("3Dアニメ") == "3D animation"  # Latin text kept


def test_overrides_come_before_the_dictionary(dictionary: BilingualDictionary) -> None:
    assert dictionary.translate("クレイアニメ") == "clay animation"
    assert dictionary.translate("クレイアニメ", {"クレイアニメ": "claymation"}) == "claymation"


def test_nothing_known_reads_as_none(dictionary: BilingualDictionary) -> None:
    assert dictionary.translate("ぬぬぬぬぬ") is None
    assert dictionary.translate("") is None


@pytest.mark.parametrize(
    ("typed", "usual"),
    [
        ("りょうり", "料理"),
        ("ゆうれい", "幽霊"),
        ("ぴえろ", "ピエロ"),  # a loanword: katakana
        ("きのこ", None),  # JMdict: usually written in kana alone
        ("もう", None),  # the commonest もう has no kanji
        ("料理", None),  # not hiragana
        ("ぬぬぬ", None),  # unknown
    ],
)
def test_hiragana_is_read_as_usually_written(
    dictionary: BilingualDictionary, typed: str, usual: str | None
) -> None:
    assert dictionary.written(typed) == usual


def test_katakana_of_hiragana() -> None:
    assert katakana("ぴえろ and 猫") == "ピエロ and 猫"


def test_english_words_know_words_and_offer_neighbours_of_typos() -> None:
    words = EnglishWords()
    assert words.knows("owls")
    assert not words.knows("clowsn")
    assert "clowns" in words.neighbours("clowsn")
    assert words.neighbours("owls") == set()
