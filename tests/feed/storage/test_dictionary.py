"""The bilingual dictionary (JMdict, JMnedict) and the English word list."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from embeddings.encoders import EncoderUnavailable
from feed.core.intent import has_japanese
from feed.evaluation.data import load_labelled_catalog
from feed.storage.dictionary import BilingualDictionary, EnglishWords, katakana, texts_read_by


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


def test_hiragana_inside_a_run_is_not_cut_into_stray_words_or_names(
    dictionary: BilingualDictionary,
) -> None:
    glossary = {"ねこ": "cats", "いぬ": "dogs"}
    assert dictionary.translate("ねこがすき", glossary) == "cats"  # not こがす, "burn"
    assert dictionary.translate("いぬとねこ", glossary) == "dogs cats"  # not a name
    assert dictionary.translate("赤いねこ", glossary) == "red cats"


def test_a_reading_says_whether_it_read_the_whole_phrase(dictionary: BilingualDictionary) -> None:
    assert dictionary.reading("ピエロ").whole
    assert dictionary.reading("赤い猫").whole
    partial = dictionary.reading("猫と妛")  # 妛: a kanji no entry holds
    assert partial.english == "cat" and not partial.whole


def test_a_long_phrase_is_looked_up_in_batches(dictionary: BilingualDictionary) -> None:
    assert dictionary.translate("猫…" * 250)  # thousands of spans, no SQL variable limit


def test_a_file_that_is_not_the_dictionary_is_refused(tmp_path) -> None:
    odd = tmp_path / "a#b.db"
    odd.write_bytes(b"")
    with pytest.raises(EncoderUnavailable):
        BilingualDictionary.load(odd)


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


class _EnglishOnly:
    model_id, dim = "english", 4


class _Multilingual(_EnglishOnly):
    multilingual = True


def test_an_english_only_tower_reads_clip_texts_with_japanese_as_their_english(
    dictionary: BilingualDictionary,
) -> None:
    texts = ["猫と犬", "a lighthouse in a storm", "夜の渋谷、pink and cyan glow"]
    english = texts_read_by(_EnglishOnly(), texts, dictionary)
    assert english[:2] == ["cat dog", "a lighthouse in a storm"]
    assert "pink and cyan glow" in english[2] and "evening" in english[2]
    assert texts_read_by(_Multilingual(), texts, dictionary) == texts
    assert texts_read_by(_EnglishOnly(), texts, None) == texts  # no dictionary: as written


def test_minilm_ranks_japanese_clips_of_test_catalog_d_by_their_english(
    text_encoder, dictionary: BilingualDictionary
) -> None:
    # Catalog D (a test catalog, never tuned on): its Japanese captions read as written
    # give MiniLM vectors that barely tell one label from another; read in English, they do.
    catalog = load_labelled_catalog("d")
    rows = [r for r in catalog.rows if has_japanese(r.prompt)]
    prompts = [r.prompt for r in rows]
    written = text_encoder.encode_texts(prompts)
    english = text_encoder.encode_texts(texts_read_by(text_encoder, prompts, dictionary))
    aucs: dict[str, list[float]] = {"written": [], "english": []}
    for label, spec in catalog.labels.items():
        members = np.array([label in (r.look, r.topic) for r in rows])
        if members.all() or not members.any():
            continue
        query = text_encoder.encode_texts([spec.en.split(",")[0]])[0]
        aucs["written"].append(roc_auc_score(members, written @ query))
        aucs["english"].append(roc_auc_score(members, english @ query))
    assert len(aucs["english"]) >= 20
    assert np.mean(aucs["english"]) >= 0.8 > np.mean(aucs["written"])
