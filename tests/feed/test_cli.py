"""The steerfeed command: ingest, search and reindex on a temp home; errors as one line."""

from __future__ import annotations

import json
import sqlite3

import pytest
from support import ANIME, write_manifest

from feed import bootstrap, cli


@pytest.fixture(autouse=True)
def shared_text_model(monkeypatch, text_encoder):
    monkeypatch.setattr(bootstrap.SentenceEncoder, "load", lambda *a, **k: text_encoder)
    monkeypatch.setenv("STEERFEED_CLIP_PRETRAINED", "off")


def test_ingest_search_reindex(tmp_path, labelled_rows, capsys):
    rows = labelled_rows + [{"id": "bad"}, {"id": "anime-1", "prompt": "dup", "creator": "x"}]
    manifest = write_manifest(tmp_path / "m.jsonl", rows)
    home = str(tmp_path / "home")
    assert cli.main(["ingest", str(manifest), "--home", home]) == 0
    out, err = capsys.readouterr()
    assert "ingested 10 new, 0 updated, 2 skipped; catalog has 10 clips" in out
    assert "line 11: skipped (missing 'prompt')" in err
    assert "line 12: skipped (repeated id 'anime-1' (first on line 1))" in err

    assert cli.main(["search", "anime style", "--limit", "3", "--json", "--home", home]) == 0
    items = json.loads(capsys.readouterr().out)["items"]
    assert {i["clip_id"] for i in items} == ANIME

    assert cli.main(["reindex", "--home", home]) == 0
    assert "text: 10 vectors" in capsys.readouterr().out


def test_common_options_before_the_command_name(tmp_path, labelled_rows, capsys, monkeypatch):
    """`steerfeed --home X search ...` reads X, as `steerfeed search ... --home X` does,
    and never falls back to ./var."""
    monkeypatch.chdir(tmp_path)
    manifest = write_manifest(tmp_path / "m.jsonl", labelled_rows)
    home = str(tmp_path / "home")
    assert cli.main(["--home", home, "ingest", str(manifest)]) == 0
    assert "catalog has 10 clips" in capsys.readouterr().out
    assert cli.main(["--home", home, "search", "anime style", "--limit", "3", "--json"]) == 0
    assert {i["clip_id"] for i in json.loads(capsys.readouterr().out)["items"]} == ANIME
    assert not (tmp_path / "var").exists()


def test_errors_are_one_line(tmp_path, capsys):
    assert cli.main(["ingest", str(tmp_path / "absent.jsonl"), "--home", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("steerfeed: error:") and "no such manifest" in err and "\n" not in err

    foreign = tmp_path / "foreign"
    foreign.mkdir()
    with sqlite3.connect(foreign / "catalog.sqlite") as db:
        db.execute("CREATE TABLE t (x)")
    assert cli.main(["search", "cats", "--home", str(foreign)]) == 2
    assert "not a steerfeed catalog" in capsys.readouterr().err


def test_eval_steering_on_a_home_without_clips_says_so(tmp_path, capsys):
    absent = tmp_path / "absent"
    assert cli.main(["eval-steering", "--home", str(absent)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("steerfeed: error:") and "has no clips" in err and "\n" not in err
    assert not absent.exists()  # a mistyped home is not made
    empty = tmp_path / "empty"
    write_manifest(tmp_path / "none.jsonl", [])
    assert cli.main(["ingest", str(tmp_path / "none.jsonl"), "--home", str(empty)]) == 0
    capsys.readouterr()
    assert cli.main(["eval-steering", "--home", str(empty)]) == 2
    assert "has no clips" in capsys.readouterr().err


def test_steer_and_feed_commands(tmp_path, labelled_rows, capsys):
    manifest = write_manifest(tmp_path / "m.jsonl", labelled_rows)
    home = str(tmp_path / "home")
    assert cli.main(["ingest", str(manifest), "--home", home]) == 0
    capsys.readouterr()
    assert cli.main(["steer", "--user", "kim", "more anime style", "--home", home]) == 0
    out = capsys.readouterr().out
    assert "applied:" in out and "more anime style" in out
    steering_id = out.split("applied: ")[1].split()[0]
    assert cli.main(["feed", "--user", "kim", "--limit", "3", "--home", home]) == 0
    out = capsys.readouterr().out
    assert sum(f"anime-{i}" in out for i in (1, 2, 3)) == 3 and "why: you asked" in out
    assert cli.main(["steer", "--user", "kim", "--retract", steering_id, "--home", home]) == 0
    assert "retracted" in capsys.readouterr().out
    assert cli.main(["steer", "--user", "kim", "!!!", "--home", home]) == 2
    assert "no words" in capsys.readouterr().err


def test_a_command_that_fails_on_its_input_makes_no_user(tmp_path, labelled_rows, capsys):
    manifest = write_manifest(tmp_path / "m.jsonl", labelled_rows)
    home = str(tmp_path / "home")
    assert cli.main(["ingest", str(manifest), "--home", home]) == 0
    capsys.readouterr()
    for argv in (
        ["steer", "--user", "nova", "!!!"],
        ["steer", "--user", "nova", ""],
        ["steer", "--user", "nova", "--retract", "st_0123456789ab"],
        ["feed", "--user", "nova", "--cursor", "abc"],
        ["feed", "--user", "nova", "--limit", "0"],
        ["search", "anime style", "--limit", "0"],
        ["generate", "--user", "nova", "   "],
    ):
        assert cli.main([*argv, "--home", home]) == 2, argv
        out, err = capsys.readouterr()
        assert err.startswith("steerfeed: error:") and "created user" not in err, argv
    assert cli.main(["steer", "--user", "nova", "more anime style", "--home", home]) == 0
    assert "created user @nova" in capsys.readouterr().err  # none was made before
