"""Experiment files: the shipped example reads, mistakes are named in one line."""

from __future__ import annotations

from pathlib import Path

import pytest

from feed.core.ranking import RankWeights
from feed.experiments.config import ConfigError, load_config, parse_config
from feed.services.pages import PER_SOURCE

EXAMPLE = Path(__file__).resolve().parents[3] / "data" / "experiments" / "example.toml"


def test_example_reads():
    config = load_config(EXAMPLE)
    assert config.catalog.source == "demo" and config.logs.source == "simulate"
    names = [v.name for v in config.variants]
    assert config.baseline == "popularity" and names[0] == "popularity"
    assert config.variants[0].ranker == "popularity"
    engines = [v for v in config.variants if v.ranker == "engine"]
    assert len(engines) >= 2
    assert any(v.weights != RankWeights() for v in engines)
    assert any(v.sources != frozenset(PER_SOURCE) for v in engines)
    assert {"als", "bpr", "item-knn"} <= {v.ranker for v in config.variants}
    assert config.simulation.logging == "random" and config.simulation.instructions == "heldout"
    assert "dr_like" in config.report.headline and config.report.rewards == ("like", "view")


def _parse(text: str, tmp_path: Path):
    path = tmp_path / "exp.toml"
    path.write_text(text)
    return load_config(path)


BASE = '[[variant]]\nname = "a"\n'


def test_defaults_and_relative_paths(tmp_path):
    config = _parse('[catalog]\nsource = "home"\npath = "var"\n[logs]\nsource = "eventlog"\n'
                    + BASE, tmp_path)  # fmt: skip
    assert config.catalog.path == (tmp_path / "var").resolve()
    assert config.baseline == "a" and config.replay.ks == (5, 10)
    assert config.variants[0].weights == RankWeights()


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("nonsense = 1\n" + BASE, "unknown top-level keys"),
        ("", "at least one [[variant]]"),
        ('[[variant]]\nname = "a"\nweights = { tast = 1.0 }\n', "unknown keys ['tast']"),
        ('[[variant]]\nname = "a"\nweights = { taste = "high" }\n', "taste must be a number"),
        ('[[variant]]\nname = "a"\nsources = { psychic = false }\n', "unknown candidate source"),
        ('[[variant]]\nname = "a"\nranker = "oracle"\n', "ranker must be one of"),
        (
            '[[variant]]\nname = "a"\nranker = "popularity"\nweights = { taste = 2.0 }\n',
            "engine ranker only",
        ),
        (BASE + BASE, "unique"),
        ('[report]\nbaseline = "b"\n' + BASE, "is not a variant"),
        ('[simulation]\nlogging = "oracle"\n' + BASE, "simulation.logging must be one of"),
        ("[replay]\nks = [20]\n" + BASE, "replay.ks"),
        ('[replay]\npositives = ["purchase"]\n' + BASE, "replay.positives"),
        ('[logs]\nsource = "kuairec"\n' + BASE, "KuaiRec logs go with a KuaiRec catalog"),
        ('[catalog]\nsource = "home"\n' + BASE, "catalog.path is needed"),
        ("seed = -1\n" + BASE, "seed"),
        ("name = 'a b'\n" + BASE, "name must be"),
        ("[simulation\n", "not valid TOML"),
        ('[[variant]]\nname = "a"\nranker = "als"\nmodel = { factor = 8 }\n', "['factor']"),
        ('[[variant]]\nname = "a"\nranker = "bpr"\nmodel = { factors = 0 }\n', "must be >= 1"),
        ('[[variant]]\nname = "a"\nmodel = { factors = 8 }\n', "model applies to als"),
        ("[replay]\nwindow_s = 0\n" + BASE, "replay.window_s"),
        ('[report]\nrewards = ["click"]\n' + BASE, "report.rewards"),
    ],
)
def test_mistakes_are_named(tmp_path, text, message):
    with pytest.raises(ConfigError, match=None) as info:
        _parse(text, tmp_path)
    assert message in str(info.value)
    assert "\n" not in str(info.value)


def test_missing_file_is_one_line(tmp_path):
    with pytest.raises(ConfigError, match="no such file"):
        load_config(tmp_path / "nope.toml")


def test_a_corpus_path_resolves_against_the_file(tmp_path):
    config = _parse('[simulation]\ninstructions = "corpus/heldout.toml"\n' + BASE, tmp_path)
    assert config.simulation.instructions == str((tmp_path / "corpus/heldout.toml").resolve())
    assert _parse(BASE, tmp_path).simulation.instructions == "heldout"


def test_a_logging_policy_may_be_a_variant(tmp_path):
    config = parse_config({"simulation": {"logging": "a"}, "variant": [{"name": "a"}]}, tmp_path)
    assert config.simulation.logging == "a"


def test_the_kuairec_template_reads_and_asks_for_no_off_policy_estimates():
    config = load_config(EXAMPLE.parent / "kuairec.toml")
    assert config.catalog.source == config.logs.source == "kuairec"
    assert config.catalog.path is not None and config.catalog.path.name == "data"
    assert config.report.off_policy is None and config.replay.window_s == 86400
    assert {"als", "bpr", "item-knn"} <= {v.ranker for v in config.variants}
