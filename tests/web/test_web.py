"""The web app in a real browser (Debian's chromium through Playwright) against a live server.

The catalog is tiny and labelled: exactly the ANIME clips are anime, so steering must
bring them to the front and removing the steering must bring the old order back.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import threading
import time
import urllib.request
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import uvicorn
from playwright.sync_api import Browser, Page, expect, sync_playwright

from feed.core.manifest import parse_entry
from feed.core.steering import AmbiguousInstruction, ParsedOp
from feed.http.app import create_app
from feed.services.clips import ClipStore
from feed.services.feed import FeedService
from feed.settings import Settings
from feed.storage.events import EventLog
from generation.renderer import ProceduralRenderer, RenderSpec

CHROMIUM = Path("/usr/bin/chromium")
if not CHROMIUM.exists() and not os.environ.get("CI"):
    # In CI `.ci/run` installs the browser, so a missing one fails there instead.
    pytest.skip("Debian's chromium is missing (run `make browser`)", allow_module_level=True)

DOCS = Path(__file__).resolve().parents[2] / "docs"
PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 800}
# (id, prompt, creator, cameos, remix_of)
CLIPS = [
    ("anime-cat", "A cat leaping across rooftops, anime style", "mika", [], None),
    ("anime-station", "Cel-shaded anime girl running through a train station", "mika", ["eve"],
     None),
    ("anime-robot", "90s anime aesthetic: a robot flying over the city", "hiro", [], None),
    ("anime-kitten", "Hand-drawn anime of a kitten chasing a laser dot", "hiro", [], "anime-cat"),
    ("real-dog", "Photorealistic dog catching a frisbee, shot on a DSLR", "lena", ["max"], None),
    ("real-waves", "Realistic 35mm footage of waves crashing on rocks", "lena", [], None),
    ("clay-chef", "Claymation chef flipping pancakes", "otto", [], None),
    ("pixel-knight", "8-bit pixel art knight jumping over lava", "otto", [], None),
    ("noir-detective", "Black-and-white film noir detective in the rain", "rita", [], "real-waves"),
    ("water-fox", "Soft watercolor painting of a fox in the snow", "rita", [], None),
    ("doc-volcano", "Documentary footage of a volcano erupting at night", "juno", [], None),
    ("stop-garden", "Stop-motion paper flowers growing in a garden", "juno", ["eve"], None),
]  # fmt: skip
ANIME = {cid for cid, *_ in CLIPS if cid.startswith("anime-")}
LAUNCH_ARGS = ["--no-sandbox", "--disable-background-networking", "--disable-component-update",
               "--disable-gpu"]  # fmt: skip
PLAYING = """() => {
  const v = document.querySelector('.slide.is-current video');
  return !!v && !v.paused && v.currentTime > 0;
}"""
SETTLED = """() => {
  const feed = document.getElementById('feed');
  const slide = feed.querySelector('.slide.is-current');
  return !!slide && Math.abs(slide.offsetTop - feed.scrollTop) < 2;
}"""
UPCOMING = """() => {
  const slides = [...document.querySelectorAll('#feed .slide[data-clip-id]')];
  const at = slides.findIndex((s) => s.classList.contains('is-current'));
  return slides.slice(at + 1).map((s) => s.dataset.clipId);
}"""


@dataclass(frozen=True)
class LiveServer:
    """A running app: its base URL and home directory."""

    url: str
    home: Path
    service: FeedService

    def events(self, user_id: str, clip_id: str, kind: str) -> list[dict]:
        """The user's events of one kind on one clip, as logged so far."""
        rows = EventLog(self.home / "events").scan().collect().to_dicts()
        wanted = (user_id, clip_id, kind)
        return [e for e in rows if (e["user_id"], e["clip_id"], e["type"]) == wanted]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _post(url: str, body: dict, token: str | None = None) -> dict:
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    request = urllib.request.Request(url, json.dumps(body).encode(), headers, method="POST")
    with urllib.request.urlopen(request) as response:
        return json.loads(response.read())


def _allow_cameo(service, handle: str) -> None:
    """Let everyone see clips the cameo's person appears in (their account is reserved by
    the ingest, as the demo's people are, and the catalog's operator decides for it)."""
    user = service.users.user_by_handle(handle)
    assert user is not None and user.reserved
    service.consent.set_cameo(user, "everyone", (), (), time.time())


@pytest.fixture(scope="module")
def server(tmp_path_factory, text_encoder, reader) -> Iterator[LiveServer]:
    """Render the catalog as real MP4s, ingest it, and serve the app from a thread.

    `reader` loads the readers from the run's model cache first; the app then finds them
    loaded rather than training them into its own home."""
    home = tmp_path_factory.mktemp("web") / "home"
    engine = ClipStore(home, text_encoder, None)
    engine.media_dir.mkdir(parents=True)
    renderer = ProceduralRenderer(RenderSpec(seconds=1.0))
    now = time.time()
    entries = []
    for n, (clip_id, prompt, creator, cameos, remix_of) in enumerate(CLIPS, start=1):
        video = engine.media_dir / f"{clip_id}.mp4"
        renderer.render(prompt, video, seed=zlib.crc32(clip_id.encode()))
        raw = {"id": clip_id, "prompt": prompt, "creator": creator, "cameos": cameos,
               "video": str(video), "created_at": now - 3600 * n}  # fmt: skip
        if remix_of:
            raw["remix_of"] = remix_of
        entries.append(parse_entry(raw, n, None, 2000))
    report = engine.ingest(entries, now=now)
    assert report.errors == () and len(report.added) == len(CLIPS)
    port = _free_port()
    app = create_app(Settings(home=home), engine)
    for handle in sorted({c for *_, cameos, _ in CLIPS for c in cameos}):
        _allow_cameo(app.state.context.service, handle)
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning")
    uv = uvicorn.Server(config)
    thread = threading.Thread(target=uv.run, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 20
        while not uv.started:
            assert thread.is_alive() and time.monotonic() < deadline, "server did not start"
            time.sleep(0.05)
        url = f"http://127.0.0.1:{port}"
        yield LiveServer(url, home, app.state.context.service)
    finally:
        uv.should_exit = True
        thread.join(timeout=10)
        engine.close()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as p:
        launched = p.chromium.launch(executable_path=str(CHROMIUM), args=LAUNCH_ARGS)
        yield launched
        launched.close()


@pytest.fixture
def open_page(browser, server) -> Iterator[Callable[..., Page]]:
    """Open the app in a fresh browser context; fails the test on any uncaught script error."""
    contexts = []
    errors: list[str] = []

    def open_(viewport: dict = PHONE) -> Page:
        context = browser.new_context(viewport=viewport, base_url=server.url)
        context.grant_permissions(["clipboard-read", "clipboard-write"], origin=server.url)
        contexts.append(context)
        page = context.new_page()
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.goto("/")
        return page

    yield open_
    for context in contexts:
        context.close()
    assert errors == []


def sign_in(page: Page, handle: str) -> str:
    """Sign up through the form and wait for the first clip to play; returns the user id."""
    page.get_by_label("Pick a handle").fill(handle)
    with page.expect_response("**/v1/users") as answer:
        page.get_by_label("Pick a handle").press("Enter")
    expect(page.locator("#who")).to_have_text(f"@{handle}")
    page.wait_for_function(PLAYING)
    return answer.value.json()["user_id"]


def current(page: Page) -> str:
    return page.locator(".slide.is-current").get_attribute("data-clip-id")


def upcoming(page: Page) -> list[str]:
    return page.evaluate(UPCOMING)


def wait_until(check: Callable[[], object], timeout_s: float = 10.0) -> object:
    """Poll until `check()` is truthy; returns its value."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = check()
        if value or time.monotonic() > deadline:
            assert value, "condition not met in time"
            return value
        time.sleep(0.1)


def steer(page: Page, text: str) -> None:
    page.get_by_label("Steer your feed in plain words").fill(text)
    page.get_by_label("Steer your feed in plain words").press("Enter")


def test_sign_in_play_steer_revert_and_like(open_page, server):
    page = open_page()
    user = sign_in(page, "mika_fan")
    video = page.locator(".slide.is-current video")
    assert video.evaluate("v => v.muted") is True
    expect(page.get_by_role("button", name="Sound is off. Tap for sound")).to_be_visible()
    # Real decoding, not a fake: the rendered H.264 has frames of its own size.
    assert video.evaluate("v => [v.videoWidth, v.videoHeight]") == [288, 512]
    page.keyboard.press("Space")
    page.wait_for_function("() => document.querySelector('.slide.is-current video').paused")
    paused_at = video.evaluate("v => v.currentTime")
    page.get_by_role("button", name="Play").click()
    page.wait_for_function(
        "t => document.querySelector('.slide.is-current video').currentTime > t", arg=paused_at
    )

    page.get_by_role("button", name="Sound is off. Tap for sound").click()
    expect(page.locator("#sound")).to_have_text("Mute")
    assert video.evaluate("v => !v.muted && !v.paused")

    first = current(page)
    before = upcoming(page)
    assert len(before) >= 5 and not set(before[:5]) <= ANIME  # only 4 anime clips exist

    steer(page, "more anime style")
    chip = page.locator(".chip")
    expect(chip).to_have_count(1)
    expect(chip.locator(".chip-text")).to_have_text("more anime style")
    anime_left = len(ANIME - {first})
    wait_until(lambda: set(upcoming(page)[:anime_left]) <= ANIME)
    assert current(page) == first  # the clip being watched stays
    station = page.locator('.slide[data-clip-id="anime-station"]')
    expect(station.locator(".creator")).to_have_text("@mika")
    expect(station.locator(".cameos")).to_have_text("with @eve")
    expect(page.locator('.slide[data-clip-id="anime-kitten"] .remix')).to_have_text(
        "remix of anime-cat"
    )

    page.get_by_role("button", name="Remove “more anime style”").click()
    expect(chip).to_have_count(0)
    wait_until(lambda: upcoming(page) == before)

    steer(page, "もっとアニメ風に")
    expect(chip.locator(".chip-text")).to_have_text("アニメを多めに")  # in the user's language
    expect(page.locator("#toast")).to_contain_text("了解：アニメを多めに")
    wait_until(lambda: set(upcoming(page)[:anime_left]) <= ANIME)

    steer(page, "!!!")
    expect(page.locator("#steer-error")).to_contain_text("no words to understand")
    expect(chip).to_have_count(1)

    like = page.locator(".slide.is-current").get_by_role("button", name="Like")
    like.click()
    expect(like).to_have_attribute("aria-pressed", "true")
    wait_until(lambda: server.events(user, first, "like"))
    assert server.events(user, first, "impression")

    page.reload()  # chips come back from GET /v1/steer
    expect(chip.locator(".chip-text")).to_have_text("アニメを多めに")


def test_more_like_this_asks_about_the_clip_being_watched(open_page, server):
    page = open_page()
    sign_in(page, "this_fan")
    watched = current(page)
    with page.expect_response("**/v1/steer") as answer:
        steer(page, "more like this")
    assert answer.value.request.post_data_json["clip_id"] == watched
    applied = answer.value.json()["applied"]
    prompt = server.service.clips.catalog.get(watched).prompt
    assert [a["op"] for a in applied] == ["boost"] and applied[0]["phrase"].startswith(prompt)
    expect(page.locator(".chip .chip-text")).to_have_text(applied[0]["description"])
    assert current(page) == watched  # the clip being watched stays


def test_unclear_instruction_offers_readings_and_applies_the_one_picked(
    open_page, server, monkeypatch
):
    """When the reader cannot tell more from less, the page asks; nothing applies until then."""
    reader = server.service.reader

    class Unsure:
        def __getattr__(self, name):
            return getattr(reader, name)

        def read(self, text):
            if text != "ホラーかぁ…":
                return reader.read(text)
            readings = ((ParsedOp("boost", "ホラー", 1.0, text),),
                        (ParsedOp("exclude", "ホラー", 1.0, text),))  # fmt: skip
            raise AmbiguousInstruction("not sure", readings)

    monkeypatch.setattr(server.service.steering, "reader", Unsure())
    page = open_page()
    sign_in(page, "unsure_fan")
    steer(page, "ホラーかぁ…")
    choices = page.locator("#steer-choices")
    expect(choices).to_be_visible()
    expect(choices).to_contain_text("どちらの意味ですか？")
    expect(page.locator(".chip")).to_have_count(0)  # nothing applied yet
    expect(choices.get_by_role("button", name="ホラーを多めに")).to_be_visible()
    choices.get_by_role("button", name="ホラーはなし").click()
    expect(page.locator(".chip .chip-text")).to_have_text("ホラーはなし")
    expect(choices).to_be_hidden()


def test_keyboard_moves_through_feed_and_sends_watch_time(open_page, server):
    page = open_page(DESKTOP)
    user = sign_in(page, "kbd_user")
    first, second = current(page), upcoming(page)[0]
    preload = page.locator(f'.slide[data-clip-id="{second}"] video')
    src, preload_mode = preload.evaluate("v => [v.getAttribute('src'), v.preload]")
    assert src.startswith(f"/media/{second}") and preload_mode == "auto"
    page.wait_for_timeout(600)  # watch a while: the view must carry real playing time
    page.keyboard.press("ArrowDown")
    expect(page.locator(".slide.is-current")).to_have_attribute("data-clip-id", second)
    page.wait_for_function(PLAYING)
    page.keyboard.press("k")
    expect(page.locator(".slide.is-current")).to_have_attribute("data-clip-id", first)
    page.keyboard.press("j")
    expect(page.locator(".slide.is-current")).to_have_attribute("data-clip-id", second)

    # Tab from the steering box reaches the current clip's controls; Enter presses them.
    page.get_by_label("Steer your feed in plain words").focus()
    why = page.locator(".slide.is-current .why-toggle")
    for _ in range(20):
        page.keyboard.press("Tab")
        if why.evaluate("b => b === document.activeElement"):
            break
    page.keyboard.press("Enter")
    expect(why).to_have_attribute("aria-expanded", "true")
    expect(page.locator(".slide.is-current .why li").first).to_be_visible()
    page.keyboard.press("Tab")
    page.keyboard.press("Enter")  # the next control is Like
    expect(page.locator(".slide.is-current [data-action=like]")).to_have_attribute(
        "aria-pressed", "true"
    )

    wait_until(lambda: server.events(user, second, "like"))
    views = server.events(user, first, "view")
    assert views and max(v["watch_ms"] for v in views) >= 500

    third = upcoming(page)[0]
    page.mouse.move(700, 400)  # over the clip
    page.mouse.wheel(0, 800)
    expect(page.locator(".slide.is-current")).to_have_attribute("data-clip-id", third)
    page.wait_for_function(PLAYING)
    page.wait_for_timeout(400)
    page.goto("about:blank")  # pagehide: the watch so far leaves with a keepalive request
    wait_until(lambda: server.events(user, third, "view"))


def test_skip_hide_share_follow_and_end_of_feed(open_page, server):
    page = open_page()
    user = sign_in(page, "end_user")
    slide = page.locator(".slide.is-current")
    first = current(page)
    slide.get_by_role("button", name="Skip").click()
    expect(slide).not_to_have_attribute("data-clip-id", first)
    page.wait_for_function(SETTLED)  # a click during the smooth scroll would scroll it away
    second = current(page)
    creator = slide.locator(".creator").inner_text()
    slide.get_by_role("button", name=f"Follow {creator}").click()
    expect(slide.get_by_role("button", name=f"Following {creator}")).to_be_visible()
    slide.get_by_role("button", name="Share").click()
    expect(page.locator("#toast")).to_have_text("Link copied")
    link = page.evaluate("navigator.clipboard.readText()")
    assert link == f"{server.url}/#clip={second}"
    slide.get_by_role("button", name="Hide").click()
    expect(page.locator(f'.slide[data-clip-id="{second}"]')).to_have_count(0)
    wait_until(lambda: all(server.events(user, second, k) for k in ("follow", "share", "hide")))
    skips = server.events(user, first, "skip")
    assert len(skips) == 1 and skips[0]["watch_ms"] > 0

    steer(page, "more anime style")
    expect(page.locator(".chip")).to_have_count(1)
    page.keyboard.press("Escape")  # leave the steering box: arrow keys move the feed again
    end = page.locator(".notice[data-kind=end]")
    for _ in range(2 * len(CLIPS)):
        if end.count() and "is-current" in end.get_attribute("class"):
            break
        page.keyboard.press("ArrowDown")
        page.wait_for_timeout(150)
    expect(end).to_have_class(re.compile(r"\bis-current\b"))
    expect(end).to_contain_text("Nothing left to show — try removing a steering chip")
    shown = page.eval_on_selector_all(".slide[data-clip-id]", "s => s.map(e => e.dataset.clipId)")
    assert len(shown) == len(set(shown)) == len(CLIPS) - 1  # everything once, minus the hidden


def test_taken_handle_offline_and_sign_out(open_page, server):
    _post(f"{server.url}/v1/users", {"handle": "taken"})
    page = open_page()
    page.get_by_label("Pick a handle").fill("taken")
    page.get_by_role("button", name="Start watching").click()
    expect(page.locator("#signin-error")).to_have_text(
        "@taken is already taken on this server — pick another handle."
    )
    sign_in(page, "offline_user")
    assert page.evaluate("localStorage.getItem('steerfeed.token')")

    page.context.set_offline(True)
    banner = page.locator("#banner")
    expect(banner).to_contain_text("You're offline")
    steer(page, "more anime style")
    expect(page.locator("#steer-error")).to_contain_text("Not applied")
    page.context.set_offline(False)
    expect(banner).to_be_hidden()

    page.goto("/#clip=water-fox")  # a shared link: the token survives, the clip is shown
    expect(page.locator("#who")).to_have_text("@offline_user")
    expect(page.locator(".slide.is-current")).to_have_attribute("data-clip-id", "water-fox")
    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_label("Pick a handle")).to_be_visible()
    assert page.evaluate("localStorage.getItem('steerfeed.token')") is None


@pytest.mark.parametrize(
    ("name", "viewport", "instruction"),
    [("phone", PHONE, "more anime style"), ("desktop", DESKTOP, "more anime style"),
     ("japanese", PHONE, "もっとアニメ風に")],
)  # fmt: skip
def test_screenshots(open_page, tmp_path, name, viewport, instruction):
    page = open_page(viewport)
    sign_in(page, f"shot_{name}")
    steer(page, instruction)
    expect(page.locator(".chip")).to_have_count(1)
    page.wait_for_function(  # the upcoming clips were replaced by steered ones
        "() => /asked/.test(document.querySelector('.slide.is-current + .slide .why').textContent)"
    )
    page.keyboard.press("Escape")
    page.keyboard.press("ArrowDown")
    page.wait_for_function(SETTLED)  # the smooth scroll to the next clip has arrived
    page.locator(".slide.is-current .why-toggle").click()
    expect(page.locator(".slide.is-current .why")).to_contain_text("asked")
    page.wait_for_function(PLAYING)
    expect(page.locator("#toast")).not_to_have_class(re.compile(r"\bshow\b"))
    page.wait_for_timeout(300)  # the toast's fade-out
    shot = tmp_path / f"screenshot-{name}.png"
    page.screenshot(path=str(shot))
    assert shot.stat().st_size > 10_000
    if os.environ.get("STEERFEED_UPDATE_SCREENSHOTS"):  # refresh the copies README shows
        DOCS.mkdir(exist_ok=True)
        shutil.copyfile(shot, DOCS / shot.name)


# -- the creator side: make, remix, cameo, profiles ------------------------------------

JOB_DONE_S = 60.0  # a 2 s procedural clip renders in about a second; the worker polls each 1 s


def png_bytes() -> bytes:
    """A small real PNG (a face-coloured disc), as a phone photo would be."""
    import io

    from PIL import Image, ImageDraw

    image = Image.new("RGB", (120, 160), (40, 40, 60))
    ImageDraw.Draw(image).ellipse((20, 30, 100, 130), fill=(230, 190, 160))
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()


def open_view(page: Page, name: str) -> None:
    page.locator(".tabs").get_by_role("link", name=name, exact=True).click()


def make_clip(page: Page, prompt: str, *, seconds: str = "2 s", shape: str | None = None) -> str:
    """Describe a clip in Create, send it, wait for its job card to say Done; its clip id."""
    box = page.get_by_label("Describe your clip")
    box.fill(prompt)
    page.get_by_label("Length").select_option(label=seconds)
    if shape:
        page.get_by_label("Shape").select_option(label=shape)
    with page.expect_response("**/v1/generate") as answer:
        page.get_by_role("button", name="Make it").click()
    job = answer.value.json()
    assert answer.value.status == 202, job
    card = page.locator(f'#create-jobs .job[data-job-id="{job["id"]}"]')
    expect(card).to_have_attribute("data-status", "completed", timeout=JOB_DONE_S * 1000)
    return f"gen-{job['id']}"


def test_make_a_clip_watch_it_survive_reload_and_remix_it(open_page, server):
    page = open_page(DESKTOP)
    sign_in(page, "maker")
    open_view(page, "Create")
    expect(page.locator("#provider-note")).to_contain_text("not a generative model")
    page.get_by_label("Describe your clip").fill("A fox running through snow, watercolor style")
    page.get_by_label("Length").select_option(label="2 s")
    page.get_by_label("Shape").select_option(label="Square 1:1")
    seen: list[dict] = []
    page.on("response", lambda r: "/v1/jobs/" in r.url and seen.append(r.json()))
    with page.expect_response("**/v1/generate") as answer:
        page.get_by_role("button", name="Make it").click()
    job = answer.value.json()
    card = page.locator(f'.job[data-job-id="{job["id"]}"]').first
    expect(card).to_contain_text("A fox running through snow")
    page.reload()  # the job card comes back from GET /v1/me/jobs and keeps going
    expect(page.get_by_role("heading", name="Create")).to_be_visible()
    expect(card).to_have_attribute("data-status", "completed", timeout=JOB_DONE_S * 1000)
    expect(card).to_contain_text("Done")
    progress = [j["progress"] for j in seen if j["id"] == job["id"]]
    assert progress and progress == sorted(progress) and progress[-1] == 1.0

    clip_id = f"gen-{job['id']}"
    card.get_by_role("link", name="Watch “A fox running through snow, watercolor style”").click()
    expect(page.locator(".slide.is-current")).to_have_attribute("data-clip-id", clip_id)
    page.wait_for_function(PLAYING)
    video = page.locator(".slide.is-current video")
    assert video.evaluate("v => [v.videoWidth, v.videoHeight]") == [384, 384]  # square, as asked

    page.wait_for_function(SETTLED)
    page.locator(".slide.is-current").get_by_role("button", name="Remix").click()
    expect(page.locator("#remix-text")).to_contain_text("Remixing @maker's")
    box = page.get_by_label("Describe your clip")
    expect(box).to_have_value("A fox running through snow, watercolor style")
    remix_id = make_clip(page, "A fox running through snow, pixel art style")
    page.locator(f'.job[data-job-id="{remix_id[4:]}"]').first.get_by_role("link").click()
    slide = page.locator(".slide.is-current")
    expect(slide).to_have_attribute("data-clip-id", remix_id)
    expect(slide.locator(".remix")).to_have_text(f"remix of {clip_id}")
    page.wait_for_function(SETTLED)
    slide.locator(".remix-link").click()  # back to the original, which lists its remixes
    expect(page.locator(".slide.is-current")).to_have_attribute("data-clip-id", clip_id)
    expect(page.locator(".slide.is-current .remixes")).to_contain_text(
        "1 remix: @maker: A fox running through snow, pixel art style"
    )
    user = server.service.users.user_by_handle("maker")
    assert server.events(user.id, clip_id, "remix")


def test_cameo_policy_changes_a_second_users_view_and_co_owner_deletes(open_page, server):
    owner = open_page(DESKTOP)
    sign_in(owner, "cam_owner")
    friend = open_page(PHONE)
    sign_in(friend, "cam_friend")

    open_view(owner, "My cameo")
    expect(owner.locator("#policy-status")).to_contain_text("Nobody else may use your cameo")
    owner.get_by_label("Record or replace it").set_input_files(
        {"name": "me.png", "mimeType": "image/png", "buffer": png_bytes()}
    )
    expect(owner.get_by_role("img", name="Your cameo")).to_be_visible()
    owner.get_by_label("Everyone").check()
    owner.get_by_role("button", name="Save").click()
    expect(owner.locator("#policy-status")).to_have_text("Saved: everyone may use your cameo.")
    open_view(owner, "Create")
    own = make_clip(owner, "@cam_owner juggling on a rooftop, anime style")

    # the friend may now mention the owner: the completion offers them, Enter picks them
    open_view(friend, "Create")
    box = friend.get_by_label("Describe your clip")
    box.press_sequentially("@cam_o")
    option = friend.get_by_role("option", name="@cam_owner")
    expect(option).to_have_attribute("aria-selected", "true")
    box.press("Enter")
    expect(box).to_have_value("@cam_owner ")
    theirs = make_clip(friend, "@cam_owner surfing at dawn, realistic")
    friend.goto("/#user=cam_owner")
    expect(friend.locator(f'#user-clips [data-clip-id="{own}"]')).to_be_visible()

    # the owner allows only people they approve (nobody yet): on the next request the
    # friend cannot name them, and no longer sees the owner's clip with their likeness
    open_view(owner, "My cameo")
    owner.get_by_label("People I approve").check()
    owner.get_by_role("button", name="Save").click()
    expect(owner.locator("#policy-status")).to_have_text(
        "Saved: people you approve may use your cameo."
    )
    friend.reload()
    expect(friend.get_by_role("heading", name="@cam_owner")).to_be_visible()
    expect(friend.locator("#user-clips")).to_contain_text("No clips you can see.")
    friend.goto("/#create")
    box.press_sequentially("@cam_o")
    refused = friend.get_by_role("option", name=re.compile("@cam_owner"))
    expect(refused).to_have_attribute("aria-disabled", "true")
    expect(refused).to_contain_text("lets only people they approve use their cameo")
    box.fill("@cam_owner dancing in the rain")
    friend.get_by_role("button", name="Make it").click()
    expect(friend.locator("#create-error")).to_contain_text("cameo @cam_owner does not allow you")

    # approving the friend (picked from real accounts) lets them in again
    owner.get_by_label("Approved people").fill("nobody_here")
    owner.get_by_role("button", name="Add").first.click()
    expect(owner.locator("#policy-status")).to_contain_text("There is no @nobody_here here")
    owner.get_by_label("Approved people").fill("cam_friend")
    owner.get_by_role("button", name="Add").first.click()
    owner.get_by_role("button", name="Save").click()
    expect(owner.locator(".people[data-list=approved] .chip")).to_have_text(["@cam_friend✕"])
    # the chip shows before the save returns; the status says when the server has it
    expect(owner.locator("#policy-status")).to_have_text(
        "Saved: people you approve may use your cameo."
    )
    friend.goto("/#user=cam_owner")
    expect(friend.locator(f'#user-clips [data-clip-id="{own}"]')).to_be_visible()

    # every clip with the owner's likeness, with its maker; the owner deletes the friend's
    appearances = owner.locator("#appearances")
    expect(appearances.locator(f'[data-clip-id="{theirs}"]')).to_contain_text("made by @cam_friend")
    expect(appearances.locator(f'[data-clip-id="{own}"]')).to_contain_text("made by you")
    owner.once("dialog", lambda dialog: dialog.accept())
    appearances.get_by_role("button", name="Delete “@cam_owner surfing at dawn, realistic”").click()
    expect(appearances.locator(f'[data-clip-id="{theirs}"]')).to_have_count(0)
    friend.goto("/#me")
    expect(friend.locator("#me-clips")).to_contain_text("No clips yet")
    assert server.service.clips.catalog.get(theirs) is None


def test_profiles_follow_and_made_for_you(open_page, server):
    page = open_page()
    user_id = sign_in(page, "follower")
    server.service.users.add_made_for(
        [(user_id, "doc-volcano", "volcanoes at night", "job_seeded")], time.time()
    )
    page.goto("/#user=juno")
    expect(page.get_by_role("heading", name="@juno")).to_be_visible()
    clips = page.locator("#user-clips .card")
    expect(clips).to_have_count(2)  # doc-volcano and stop-garden (eve allows everyone)
    follow = page.get_by_role("button", name="Follow @juno")
    follow.click()
    expect(page.get_by_role("button", name="Following @juno")).to_have_attribute(
        "aria-pressed", "true"
    )
    assert "juno" in server.service.users.follows(user_id)
    clips.first.get_by_role("link").first.click()  # a card opens its clip in the player
    expect(page.locator(".slide.is-current .creator")).to_have_text("@juno")
    page.wait_for_function(PLAYING)
    open_view(page, "Me")
    expect(page.get_by_role("heading", name="@follower")).to_be_visible()
    made = page.locator('#me-made [data-clip-id="doc-volcano"]')
    expect(made).to_contain_text("for your request: volcanoes at night")
    expect(page.locator("#me-clips")).to_contain_text("No clips yet")


def test_create_by_keyboard_only(open_page, server):
    page = open_page(DESKTOP)
    sign_in(page, "kbd_maker")
    create = page.locator(".tabs").get_by_role("link", name="Create")
    page.keyboard.press("Tab")
    for _ in range(10):
        if create.evaluate("a => a === document.activeElement"):
            break
        page.keyboard.press("Tab")
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", name="Create")).to_be_focused()
    page.keyboard.press("Tab")  # the prompt box
    box = page.get_by_label("Describe your clip")
    expect(box).to_be_focused()
    page.keyboard.type("A paper boat on a river with @ev")
    expect(page.get_by_role("option", name="@eve")).to_be_visible()
    page.keyboard.press("Enter")
    page.keyboard.type("waving, stop-motion")
    expect(box).to_have_value("A paper boat on a river with @eve waving, stop-motion")
    page.keyboard.press("Tab")  # Length
    page.keyboard.press("ArrowDown")  # 3 s → 2 s
    expect(page.get_by_label("Length")).to_have_value("2")
    page.keyboard.press("Tab")  # Shape
    page.keyboard.press("Tab")  # Make it
    page.keyboard.press("Enter")
    card = page.locator("#create-jobs .job").first
    expect(card).to_have_attribute("data-status", "completed", timeout=JOB_DONE_S * 1000)
    watch = card.get_by_role("link", name=re.compile("^Watch"))
    watch.focus()  # Tab order reaches it too; focus directly to keep the test short
    page.keyboard.press("Enter")
    slide = page.locator(".slide.is-current")
    expect(slide).to_contain_text("@eve")
    page.wait_for_function(PLAYING)
    page.keyboard.press("Escape")
    open_view(page, "Me")
    # The view changes on the hash change after the click: wait for it before pressing Esc.
    expect(page.locator(".tabs [aria-current=page]")).to_have_text("Me")
    page.keyboard.press("Escape")  # Esc goes back to the feed from any view
    expect(page.locator("#stage")).to_be_visible()
    expect(page.locator(".tabs [aria-current=page]")).to_have_text("Feed")


@pytest.mark.parametrize(("name", "viewport"), [("phone", PHONE), ("desktop", DESKTOP)])
def test_creator_screenshots(open_page, tmp_path, server, name, viewport):
    """Every creator view on a phone and a desktop, with Japanese in real glyphs."""
    page = open_page(viewport)
    user_id = sign_in(page, f"shot_maker_{name}")
    server.service.users.add_made_for(
        [(user_id, "water-fox", "水彩画をもっと", "job_shot")], time.time()
    )
    open_view(page, "Create")
    make_clip(page, "雪の中を走るキツネ、水彩画風")
    page.get_by_label("Describe your clip").fill("")
    page.get_by_label("Describe your clip").press_sequentially("夕暮れの海辺で踊る @m")
    expect(page.get_by_role("option", name="@max", exact=True)).to_be_visible()  # everyone
    refused = page.get_by_role("option", name=re.compile(r"^@mika —"))
    expect(refused).to_contain_text("has not recorded a cameo")
    _shoot(page, tmp_path, f"create-{name}")
    page.goto("/#me")
    expect(page.locator("#me-made .card")).to_have_count(1)
    _wait_thumbs(page)
    _shoot(page, tmp_path, f"me-{name}")
    page.goto("/#cameo")
    page.get_by_label("Record or replace it").set_input_files(
        {"name": "me.png", "mimeType": "image/png", "buffer": png_bytes()}
    )
    expect(page.get_by_role("img", name="Your cameo")).to_be_visible()
    page.get_by_label("People I approve").check()
    page.get_by_label("Approved people").fill("mika")
    page.get_by_role("button", name="Add").first.click()
    expect(page.locator(".people[data-list=approved] .chip")).to_have_count(1)
    _shoot(page, tmp_path, f"cameo-{name}")
    page.goto("/#user=mika")
    expect(page.locator("#user-clips .card")).to_have_count(2)
    _wait_thumbs(page)
    _shoot(page, tmp_path, f"profile-{name}")


def _wait_thumbs(page: Page) -> None:
    page.wait_for_function(
        "() => [...document.querySelectorAll('.card-thumb')].every(v => v.readyState >= 2)"
    )


def _shoot(page: Page, tmp_path: Path, stem: str) -> None:
    expect(page.locator("#toast")).not_to_have_class(re.compile(r"\bshow\b"), timeout=6000)
    shot = tmp_path / f"screenshot-{stem}.png"
    page.screenshot(path=str(shot))
    assert shot.stat().st_size > 10_000
    if os.environ.get("STEERFEED_UPDATE_SCREENSHOTS"):
        DOCS.mkdir(exist_ok=True)
        shutil.copyfile(shot, DOCS / shot.name)
