"""The demo spec and the demo build: rendered clips go through the real ingest path."""

from __future__ import annotations

import json
from collections import Counter

import pytest
from support import assert_catalog_and_index_agree

from feed.core.manifest import parse_entry
from feed.services.demo import DEMO_SPEC, build_demo, read_demo_spec
from generation.renderer import ProceduralRenderer, RenderSpec

STYLES = {"anime", "photorealistic", "claymation", "pixel art", "watercolor", "film noir"}
TOPICS = {"sports", "cats", "dogs", "food", "dance", "nature", "space", "horror", "music"}


def test_spec_covers_styles_topics_creators_and_remixes():
    spec = read_demo_spec()
    assert len(spec) >= 300
    tags = Counter(t for line in spec for t in line.raw["tags"])
    assert STYLES.issubset(tags) and TOPICS.issubset(tags)
    ids = {line.raw["id"] for line in spec}
    remixes = [line.raw["remix_of"] for line in spec if "remix_of" in line.raw]
    assert len(remixes) >= 10 and set(remixes) <= ids
    assert len({line.raw["creator"] for line in spec}) >= 10


def test_demo_catalog_search_puts_anime_first(tmp_path, make_engine):
    """The shipped spec, text channel only: 'anime style' finds anime clips first."""
    engine = make_engine(tmp_path / "home")
    entries = [parse_entry(line.raw, n, None, 2000) for n, line in enumerate(read_demo_spec(), 1)]
    engine.ingest(entries, now=0.0)
    top = engine.search("anime style", 10)
    assert all("anime" in hit.clip.tags for hit in top)


@pytest.mark.slow
def test_build_demo_renders_ingests_and_resumes(tmp_path, make_engine):
    spec = read_demo_spec()
    picked = [line for line in spec if "anime" in line.raw["tags"]][:3]
    picked += [line for line in spec if "anime" not in line.raw["tags"]][:5]
    small_spec = tmp_path / "spec.jsonl"
    small_spec.write_text(
        "".join(json.dumps(dict(line.raw, age_hours=line.age_hours)) + "\n" for line in picked)
    )
    engine = make_engine(tmp_path / "home")
    renderer = ProceduralRenderer(RenderSpec(seconds=1.0))
    report = build_demo(engine, renderer, now=10_000.0, spec_path=small_spec)
    assert len(report.added) == 8 and report.errors == ()
    clip = engine.catalog.get(str(picked[0].raw["id"]))
    assert clip.provider == "procedural" and clip.has_audio and clip.height > clip.width
    assert clip.created_at == pytest.approx(10_000.0 - picked[0].age_hours * 3600)
    top = engine.search("anime style", 3)
    assert {h.clip.id for h in top} == {line.raw["id"] for line in picked[:3]}
    assert_catalog_and_index_agree(engine)
    again = build_demo(engine, renderer, now=20_000.0, spec_path=small_spec)
    assert again.added == () and engine.catalog.count() == 8


def test_demo_spec_path_is_shipped():
    assert DEMO_SPEC.is_file()


def test_every_demo_cameo_has_consent_on_record_and_it_is_enforced(tmp_path, make_engine, reader):
    from feed.services.demo import read_demo_cameos, record_demo_consent
    from feed.services.feed import FeedError, FeedService

    spec = read_demo_spec()
    cameo_lines = [line for line in spec if line.raw.get("cameos")]
    handles = {h for line in cameo_lines for h in line.raw["cameos"]}
    assert handles == {c.handle for c in read_demo_cameos()}
    engine = make_engine(tmp_path / "home")
    service = FeedService.open(engine, tmp_path / "home", reader)
    try:
        mika, _ = service.accounts.create_user("mika", 0.0)  # a real person who signed up first
        entries = [parse_entry(line.raw, n, None, 2000) for n, line in enumerate(cameo_lines, 1)]
        engine.ingest(entries)
        with pytest.raises(FeedError, match="taken"):  # the catalog's people are reserved
            service.accounts.create_user("priya", 0.0)
        assert record_demo_consent(service, 0.0) == len(handles) - 1
        assert record_demo_consent(service, 1.0) == 0  # once only: owners' changes stand
        assert service.users.cameo("mika") is None  # mika's likeness is hers to decide
        stranger, _ = service.accounts.create_user("stranger", 0.0)
        emma = service.users.user_by_handle("emma_v")  # reserved: on priya's list by id
        policy = {c.handle: c.policy for c in read_demo_cameos()}
        for line in cameo_lines:
            clip = engine.catalog.get(str(line.raw["id"]))
            assert clip.cameos == parse_entry(line.raw, 1, None, 2000).cameos
            (cameo,) = clip.cameos
            everyone = policy[cameo] == "everyone" and cameo != "mika"
            assert service.consent.visible(stranger, clip.cameos, clip.creator) == (
                everyone or clip.creator == "stranger"
            )
            if cameo == "priya":  # approved: emma_v is on her list
                assert service.consent.visible(emma, clip.cameos, clip.creator)
    finally:
        service.close()


def test_a_bad_demo_consent_file_is_refused(tmp_path):
    from feed.services.demo import read_demo_cameos

    bad = tmp_path / "cameos.toml"
    bad.write_text('[[cameo]]\nhandle = "mika"\npolicy = "anyone"\n')
    with pytest.raises(ValueError, match="cameo 1 needs a handle and a policy"):
        read_demo_cameos(bad)
