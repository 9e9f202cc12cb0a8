"""Manifest reading: every bad line is reported with its number and skipped."""

from __future__ import annotations

import json

import pytest

from feed.core.manifest import ManifestError, parse_entry, parse_time, read_manifest


def write(path, lines):
    path.write_text("\n".join(x if isinstance(x, str) else json.dumps(x) for x in lines) + "\n")
    return path


def test_good_and_bad_lines(tmp_path):
    path = write(
        tmp_path / "m.jsonl",
        [
            {"id": "a1", "prompt": "a cat", "creator": "@ann", "tags": ["Cats"], "video": "v/a.mp4",
             "cameos": ["@bo", "bo"], "created_at": "2026-01-02T03:04:05Z"},
            {"id": "a2", "creator": "ann"},
            "{not json",
            {"id": "a1", "prompt": "again", "creator": "ann"},
            {"id": "bad id!", "prompt": "x", "creator": "ann"},
            {"id": "a3", "prompt": "   ", "creator": "ann"},
            {"id": "a4", "prompt": "x", "creator": "ann", "colour": "red"},
            [1, 2],
            "",
            {"id": "a5", "prompt": "ok", "creator": "cy", "remix_of": "a1"},
        ],
    )  # fmt: skip
    manifest = read_manifest(path)
    assert [e.id for e in manifest.entries] == ["a1", "a5"]
    first = manifest.entries[0]
    assert first.creator == "ann" and first.cameos == ("bo",) and first.tags == ("cats",)
    assert first.video == tmp_path / "v" / "a.mp4"
    assert first.created_at == pytest.approx(1767323045.0)
    reasons = {e.line: e.reason for e in manifest.errors}
    assert set(reasons) == {2, 3, 4, 5, 6, 7, 8}
    assert "missing 'prompt'" in reasons[2]
    assert "not valid JSON" in reasons[3]
    assert "repeated id 'a1' (first on line 1)" in reasons[4]
    assert "unknown keys" in reasons[7]


def test_missing_manifest_and_oversize_prompt(tmp_path):
    with pytest.raises(ManifestError, match="no such manifest"):
        read_manifest(tmp_path / "absent.jsonl")
    path = write(tmp_path / "m.jsonl", [{"id": "x", "prompt": "p" * 50, "creator": "ann"}])
    assert "longer than 10" in read_manifest(path, max_prompt_chars=10).errors[0].reason


def test_parse_time():
    assert parse_time(12.5) == 12.5
    assert parse_time("1970-01-01T00:01:00") == 60.0
    with pytest.raises(ManifestError):
        parse_time("yesterday")
    with pytest.raises(ManifestError):
        parse_time(True)


def test_people_named_with_at_in_the_prompt_are_cameos_of_the_clip():
    raw = {"id": "c1", "prompt": "@alice and @bob. at the beach, mail a@b.c",
           "creator": "carl", "cameos": ["@dee", "alice"]}  # fmt: skip
    entry = parse_entry(raw, 1, None, 2000)
    # Any @handle names someone, whatever precedes it ("x@alice" reads as alice to a video
    # model), so the address's "b.c" is a cameo too: over-asking for consent is the safe side.
    assert entry.cameos == ("dee", "alice", "bob", "b.c")
