// steerfeed web app: a vertical feed of clips with plain-language steering, and the creator
// side: make and remix clips, your cameo and who may use it, profiles. Plain JS, no build step. Talks to the feed API with a bearer token kept in localStorage.
"use strict";

(() => {
  const PAGE_SIZE = 10;
  const FLUSH_MS = 10_000;
  const PRELOAD_AHEAD = 2; // next clips whose video is fetched before they are shown
  const KEEP_BEHIND = 2; // clips behind the current one that keep their decoded video
  const MAX_BATCH = 500;
  const STORE = { token: "steerfeed.token", handle: "steerfeed.handle" };
  const EMPTY_STEERED = "Nothing left to show — try removing a steering chip";
  const EMPTY_PLAIN = "Nothing left to show — check back later for new clips";
  const reducedMotion = window.matchMedia("(prefers-reduced-motion: reduce)");

  const $ = (selector) => document.querySelector(selector);
  const el = {
    topbar: $("#topbar"),
    stage: $("#stage"),
    feed: $("#feed"),
    who: $("#who"),
    signOut: $("#sign-out"),
    steerForm: $("#steer-form"),
    steerInput: $("#steer-input"),
    steerSubmit: $("#steer-submit"),
    steerError: $("#steer-error"),
    steerChoices: $("#steer-choices"),
    chips: $("#chips"),
    sound: $("#sound"),
    soundLabel: $("#sound-label"),
    banner: $("#banner"),
    bannerText: $("#banner-text"),
    bannerAction: $("#banner-action"),
    bannerClose: $("#banner-close"),
    toast: $("#toast"),
    live: $("#live"),
    signin: $("#signin"),
    signinForm: $("#signin-form"),
    handle: $("#handle"),
    signinSubmit: $("#signin-submit"),
    signinError: $("#signin-error"),
    template: $("#slide-template"),
  };

  const state = {
    token: null,
    handle: null,
    items: [], // {clip, slide, video, watchMs, playingSince, done, liked}
    index: 0, // current slide; equals items.length when the notice slide is current
    tail: null, // the notice slide after the last clip (loading / end / error), if any
    sessionId: null,
    cursor: null,
    exhausted: false,
    loadingMore: false,
    feedGen: 0, // bumped whenever the upcoming clips are replaced; stale answers are dropped
    impressed: new Set(),
    hidden: new Set(),
    followed: new Set(),
    steering: [],
    muted: true,
    userPaused: false,
    queue: [],
    offline: false,
    flushTimer: null,
    bannerKind: null,
    view: "feed",
  };
  let slideSerial = 0;
  let flushChain = Promise.resolve();

  // -- API --------------------------------------------------------------------

  class ApiError extends Error {
    constructor(status, message, retryAfterS = null) {
      super(message);
      this.status = status;
      this.retryAfterS = retryAfterS; // from Retry-After on 429 and 503
    }
  }

  class NetworkError extends Error {}

  function detailOf(body) {
    const detail = body && body.detail;
    if (typeof detail === "string") return detail;
    if (Array.isArray(detail)) return detail.map((d) => d.msg || JSON.stringify(d)).join("; ");
    return "";
  }

  async function api(path, { method = "GET", body, form, keepalive = false, auth = true, raw = false } = {}) {
    const headers = { Accept: "application/json" };
    if (body !== undefined) headers["Content-Type"] = "application/json";
    if (auth && state.token) headers.Authorization = `Bearer ${state.token}`;
    let response;
    try {
      response = await fetch(path, {
        method,
        headers,
        keepalive,
        body: form !== undefined ? form : body === undefined ? undefined : JSON.stringify(body),
      });
    } catch {
      setOffline(true);
      throw new NetworkError(
        navigator.onLine ? "Can't reach the server." : "You're offline.",
      );
    }
    setOffline(false);
    if (response.status === 204) return null;
    if (raw && response.ok) return response;
    const data = await response.json().catch(() => null);
    if (!response.ok) {
      const message = detailOf(data) || `The server answered ${response.status}.`;
      if (response.status === 401 && auth && state.token) {
        signOut("Your sign-in is no longer valid on this server. Pick a handle to continue.");
      }
      const retry = Number(response.headers.get("Retry-After"));
      throw new ApiError(response.status, message, Number.isFinite(retry) && retry > 0 ? retry : null);
    }
    return data;
  }

  function messageOf(err) {
    if (err instanceof NetworkError) return `${err.message} Check your connection and try again.`;
    return err && err.message ? err.message : String(err);
  }

  // -- storage ----------------------------------------------------------------

  function readStore(key) {
    try {
      return localStorage.getItem(key);
    } catch {
      return null;
    }
  }

  function writeStore(key, value) {
    try {
      if (value === null) localStorage.removeItem(key);
      else localStorage.setItem(key, value);
    } catch {
      // Private mode or storage full: the session still works until reload.
    }
  }

  // -- messages ---------------------------------------------------------------

  let toastTimer = null;
  function toast(text, ms = 2500) {
    el.toast.textContent = text;
    el.toast.classList.add("show");
    clearTimeout(toastTimer);
    toastTimer = setTimeout(() => el.toast.classList.remove("show"), ms);
  }

  function showBanner(text, { kind = "error", action = null } = {}) {
    state.bannerKind = kind;
    el.banner.dataset.kind = kind;
    el.banner.setAttribute("role", kind === "error" ? "alert" : "status");
    el.bannerText.textContent = text;
    el.bannerAction.hidden = !action;
    el.bannerAction.onclick = action
      ? () => {
          hideBanner();
          action.run();
        }
      : null;
    if (action) el.bannerAction.textContent = action.label;
    el.banner.hidden = false;
  }

  function hideBanner() {
    el.banner.hidden = true;
    state.bannerKind = null;
  }

  function setOffline(offline) {
    if (offline === state.offline) return;
    state.offline = offline;
    document.body.classList.toggle("offline", offline);
    if (offline) {
      const text = navigator.onLine
        ? "Can't reach the server. What's loaded still plays; your likes and watch time are kept and sent when it answers again."
        : "You're offline. What's loaded still plays; your likes and watch time are kept and sent when you're back online.";
      showBanner(text, { kind: "offline", action: { label: "Retry", run: recover } });
    } else {
      if (state.bannerKind === "offline") hideBanner();
      if (state.token) flush();
    }
  }

  function recover() {
    if (!state.token) return;
    if (!state.items.length) loadFirst();
    else if (state.tail && state.tail.dataset.kind === "error") loadMore();
    flush();
  }

  function setSteerError(text) {
    el.steerError.textContent = text || "";
    el.steerError.hidden = !text;
    el.steerInput.setAttribute("aria-invalid", text ? "true" : "false");
  }

  function setSigninError(text) {
    el.signinError.textContent = text || "";
    el.signinError.hidden = !text;
  }

  // -- sign-in ----------------------------------------------------------------

  async function signIn(event) {
    event.preventDefault();
    const handle = el.handle.value.trim().replace(/^@/, "");
    if (!handle) {
      setSigninError("Pick a handle first.");
      el.handle.focus();
      return;
    }
    setSigninError(null);
    el.signinSubmit.disabled = true;
    el.signinSubmit.textContent = "Signing in…";
    try {
      const user = await api("/v1/users", { method: "POST", body: { handle }, auth: false });
      writeStore(STORE.token, user.token);
      writeStore(STORE.handle, user.handle);
      start(user.token, user.handle);
    } catch (err) {
      if (err.status === 409) {
        setSigninError(`@${handle} is already taken on this server — pick another handle.`);
      } else {
        setSigninError(messageOf(err));
      }
      el.handle.focus();
    } finally {
      el.signinSubmit.disabled = false;
      el.signinSubmit.textContent = "Start watching";
    }
  }

  function start(token, handle) {
    state.token = token;
    state.handle = handle;
    el.who.textContent = `@${handle}`;
    el.signin.hidden = true;
    el.topbar.hidden = false;
    el.stage.hidden = false;
    document.body.classList.add("signed-in");
    measureHeader();
    setMuted(true);
    clearInterval(state.flushTimer);
    state.flushTimer = setInterval(flush, FLUSH_MS);
    if (!navigator.onLine) setOffline(true);
    loadChips().catch((err) => setSteerError(`Couldn't load your steering: ${messageOf(err)}`));
    route();
    loadFirst().then(() => {
      const wanted = clipFromHash();
      if (wanted) openClip(wanted);
    });
    loadOptions();
  }

  function signOut(message) {
    const current = currentItem();
    if (current && state.token) {
      stopWatch(current);
      queueView(current);
      sendQueued({ keepalive: true });
    }
    writeStore(STORE.token, null);
    writeStore(STORE.handle, null);
    clearInterval(state.flushTimer);
    resetFeed();
    Object.assign(state, {
      token: null,
      handle: null,
      steering: [],
      queue: [],
      impressed: new Set(),
      hidden: new Set(),
      followed: new Set(),
    });
    el.chips.replaceChildren();
    setSteerError(null);
    hideBanner();
    resetCreator();
    document.body.classList.remove("signed-in");
    el.topbar.hidden = true;
    el.stage.hidden = true;
    el.signin.hidden = false;
    setSigninError(typeof message === "string" ? message : null);
    el.handle.value = "";
    el.handle.focus();
  }

  // -- feed pages -------------------------------------------------------------

  function resetFeed() {
    state.feedGen += 1;
    for (const item of state.items) detachVideo(item);
    state.items = [];
    state.tail = null;
    state.index = 0;
    state.sessionId = null;
    state.cursor = null;
    state.exhausted = false;
    el.feed.replaceChildren();
    el.feed.scrollTop = 0;
  }

  async function loadFirst() {
    resetFeed();
    const gen = state.feedGen;
    setTail("loading");
    el.feed.setAttribute("aria-busy", "true");
    try {
      const page = await api(`/v1/feed?limit=${PAGE_SIZE}`);
      if (gen !== state.feedGen) return;
      state.sessionId = page.session_id;
      state.cursor = page.next_cursor;
      setTail(null);
      appendItems(page.items);
      if (!page.items.length) {
        state.exhausted = true;
        setTail("end");
      }
      setCurrent(0, { force: true });
    } catch (err) {
      if (gen !== state.feedGen || !state.token) return;
      setTail("error", `Couldn't load your feed. ${messageOf(err)}`);
      setCurrent(0, { force: true });
    } finally {
      if (gen === state.feedGen) el.feed.setAttribute("aria-busy", "false");
    }
  }

  async function loadMore() {
    if (state.loadingMore || state.exhausted || !state.cursor || !state.token) return;
    state.loadingMore = true;
    const gen = state.feedGen;
    setTail("loading");
    try {
      const url = `/v1/feed?limit=${PAGE_SIZE}&cursor=${encodeURIComponent(state.cursor)}`;
      const page = await api(url);
      if (gen !== state.feedGen) return;
      state.sessionId = page.session_id;
      state.cursor = page.next_cursor;
      const known = new Set(state.items.map((i) => i.clip.clip_id));
      const fresh = page.items.filter((c) => !known.has(c.clip_id) && !state.hidden.has(c.clip_id));
      const wasOnTail = state.index >= state.items.length;
      setTail(page.items.length ? null : "end");
      if (!page.items.length) state.exhausted = true;
      appendItems(fresh);
      if (wasOnTail) setCurrent(state.index, { force: true });
      else updateSources();
    } catch (err) {
      if (gen === state.feedGen && state.token) {
        setTail("error", `Couldn't load more clips. ${messageOf(err)}`);
      }
      return;
    } finally {
      state.loadingMore = false;
    }
    // Every clip of the page may have been shown already: keep going until something is new.
    if (gen === state.feedGen && state.index >= state.items.length - 3) loadMore();
  }

  /** After steering changes: keep the current clip, replace the upcoming ones with a fresh page. */
  async function refreshUpcoming() {
    state.feedGen += 1;
    const gen = state.feedGen;
    el.feed.setAttribute("aria-busy", "true");
    try {
      // No cursor: a new session, ranked with the steering now in force.
      const page = await api(`/v1/feed?limit=${PAGE_SIZE}`);
      if (gen !== state.feedGen) return;
      const before = currentItem();
      const keep = state.items.slice(0, Math.min(state.index + 1, state.items.length));
      for (const item of state.items.slice(keep.length)) {
        detachVideo(item);
        item.slide.remove();
      }
      state.items = keep;
      state.sessionId = page.session_id;
      state.cursor = page.next_cursor;
      state.exhausted = false;
      state.loadingMore = false;
      const kept = new Set(keep.map((i) => i.clip.clip_id));
      const fresh = page.items.filter(
        (c) => !kept.has(c.clip_id) && !state.impressed.has(c.clip_id) && !state.hidden.has(c.clip_id),
      );
      setTail(page.items.length ? null : "end");
      if (!page.items.length) state.exhausted = true;
      appendItems(fresh);
      if (currentItem() !== before || !before) setCurrent(state.index, { force: true });
      else updateSources();
      if (!state.exhausted && state.index >= state.items.length - 3) loadMore();
    } catch (err) {
      if (gen === state.feedGen) showBanner(`Couldn't refresh the feed. ${messageOf(err)}`, {
        action: { label: "Retry", run: refreshUpcoming },
      });
    } finally {
      if (gen === state.feedGen) el.feed.setAttribute("aria-busy", "false");
    }
  }

  function clipFromHash() {
    const match = /^#clip=(.+)$/.exec(location.hash);
    return match ? decodeURIComponent(match[1]) : null;
  }

  /** Show one clip (a shared link or the original of a remix) next, then go to it. */
  async function openClip(clipId) {
    history.replaceState(null, "", location.pathname + location.search);
    const at = state.items.findIndex((i) => i.clip.clip_id === clipId);
    if (at >= 0) {
      goTo(at);
      return;
    }
    try {
      const clip = await api(`/v1/clips/${encodeURIComponent(clipId)}`);
      const item = makeItem({ ...clip, reasons: ["you opened a link to this clip"] });
      const after = state.items[state.index];
      const position = after ? state.index + 1 : state.items.length;
      const next = state.items[position] ? state.items[position].slide : state.tail;
      el.feed.insertBefore(item.slide, next);
      state.items.splice(position, 0, item);
      goTo(position);
    } catch (err) {
      toast(`Can't open clip ${clipId}: ${messageOf(err)}`, 4000);
    }
  }

  // -- slides -----------------------------------------------------------------

  function appendItems(clips) {
    for (const clip of clips) {
      const item = makeItem(clip);
      el.feed.insertBefore(item.slide, state.tail);
      state.items.push(item);
    }
    markInert();
  }

  function makeItem(clip) {
    const slide = el.template.content.firstElementChild.cloneNode(true);
    const serial = ++slideSerial;
    const item = {
      clip,
      slide,
      video: slide.querySelector("video"),
      watchMs: 0,
      playingSince: null,
      done: false,
      liked: false,
    };
    slide.dataset.clipId = clip.clip_id;
    slide.tabIndex = -1;
    slide.setAttribute("aria-label", `${clip.prompt} — by @${clip.creator}`);
    const creator = slide.querySelector(".creator");
    creator.textContent = `@${clip.creator}`;
    creator.href = `#user=${encodeURIComponent(clip.creator)}`;
    creator.setAttribute("aria-label", `@${clip.creator}: open their profile`);
    if (clip.may_remix) slide.querySelector("[data-action=remix]").hidden = false;
    slide.querySelector(".prompt").textContent = clip.prompt;
    const follow = slide.querySelector(".follow");
    follow.setAttribute("aria-label", `Follow @${clip.creator}`);
    if (state.followed.has(clip.creator)) markFollowing(follow, clip.creator);
    if (clip.cameos && clip.cameos.length) {
      const cameos = slide.querySelector(".cameos");
      cameos.textContent = `with ${clip.cameos.map((c) => `@${c}`).join(", ")}`;
      cameos.hidden = false;
    }
    if (clip.remix_of) {
      const remix = slide.querySelector(".remix");
      const link = remix.querySelector("a");
      link.href = `#clip=${encodeURIComponent(clip.remix_of)}`;
      link.textContent = clip.remix_of;
      link.setAttribute("aria-label", `remix of ${clip.remix_of}: open the original`);
      remix.hidden = false;
    }
    const why = slide.querySelector(".why");
    why.id = `why-${serial}`;
    const reasons = clip.reasons && clip.reasons.length ? clip.reasons : ["no reason given"];
    why.replaceChildren(
      ...reasons.map((r) => {
        const li = document.createElement("li");
        li.textContent = r;
        return li;
      }),
    );
    slide.querySelector(".why-toggle").setAttribute("aria-controls", why.id);
    const video = item.video;
    if (clip.video_url) {
      video.setAttribute("aria-label", `Clip: ${clip.prompt}`);
      video.muted = state.muted;
      video.addEventListener("playing", () => {
        if (item === currentItem()) {
          startWatch(item);
          slide.classList.remove("paused");
        }
      });
      video.addEventListener("pause", () => {
        stopWatch(item);
        if (item === currentItem() && video.getAttribute("src")) slide.classList.add("paused");
      });
      video.addEventListener("waiting", () => stopWatch(item));
      video.addEventListener("error", () => {
        if (!video.getAttribute("src")) return;
        stopWatch(item);
        showNoVideo(item, "This clip can't play in this browser.");
      });
    } else {
      showNoVideo(item, "No video for this clip yet.");
    }
    return item;
  }

  function showNoVideo(item, text) {
    item.video.hidden = true;
    item.slide.classList.add("no-media");
    const box = item.slide.querySelector(".no-video");
    box.textContent = text;
    box.hidden = false;
  }

  /** The notice slide after the clips: loading, the end of the feed, or an error. */
  function setTail(kind, text) {
    if (!kind) {
      if (state.tail) state.tail.remove();
      state.tail = null;
      return;
    }
    if (!state.tail) {
      state.tail = document.createElement("article");
      state.tail.className = "slide notice";
      state.tail.tabIndex = -1;
      el.feed.appendChild(state.tail);
    }
    const tail = state.tail;
    tail.dataset.kind = kind;
    const message = document.createElement("p");
    message.className = "notice-text";
    const parts = [message];
    if (kind === "loading") {
      message.textContent = "Loading clips…";
      const spinner = document.createElement("span");
      spinner.className = "spinner";
      spinner.setAttribute("aria-hidden", "true");
      parts.unshift(spinner);
    } else if (kind === "end") {
      message.textContent = state.steering.length ? EMPTY_STEERED : EMPTY_PLAIN;
      parts.push(noticeButton("Check again", refreshUpcoming));
    } else {
      message.textContent = text;
      parts.push(noticeButton("Retry", state.items.length ? loadMore : loadFirst));
    }
    tail.setAttribute("aria-label", message.textContent);
    tail.replaceChildren(...parts);
    markInert();
  }

  function noticeButton(label, run) {
    const button = document.createElement("button");
    button.type = "button";
    button.textContent = label;
    button.addEventListener("click", () => run());
    return button;
  }

  function slideCount() {
    return state.items.length + (state.tail ? 1 : 0);
  }

  function currentItem() {
    return state.items[state.index] || null;
  }

  function slideAt(i) {
    return i < state.items.length ? state.items[i].slide : state.tail;
  }

  function markInert() {
    const current = slideAt(state.index);
    for (const slide of el.feed.children) {
      const isCurrent = slide === current;
      slide.inert = !isCurrent;
      slide.classList.toggle("is-current", isCurrent);
    }
  }

  // -- moving through the feed ------------------------------------------------

  function setCurrent(i, { force = false } = {}) {
    const count = slideCount();
    if (!count) return;
    const target = Math.max(0, Math.min(i, count - 1));
    if (target === state.index && !force) return;
    const previous = currentItem();
    const previousSlide = slideAt(state.index);
    const focusWasInSlide = previousSlide && previousSlide.contains(document.activeElement);
    const next = state.items[target] || null;
    if (previous && previous !== next) leave(previous);
    state.index = target;
    el.feed.dataset.index = String(target);
    markInert();
    updateSources();
    const slide = slideAt(target);
    if (focusWasInSlide && slide) slide.focus({ preventScroll: true });
    if (next) {
      if (previous !== next || force) enter(next);
      el.live.textContent = `Clip ${target + 1}: ${next.clip.prompt}, by @${next.clip.creator}`;
    } else if (state.tail) {
      el.live.textContent = state.tail.getAttribute("aria-label") || "";
    }
    if (target >= state.items.length - 3) loadMore();
  }

  function enter(item) {
    item.done = false;
    state.userPaused = false;
    item.slide.classList.remove("paused");
    if (!state.impressed.has(item.clip.clip_id)) {
      state.impressed.add(item.clip.clip_id);
      queueEvent(item, "impression");
    }
    loadRemixes(item);
    play(item);
  }

  function leave(item) {
    stopWatch(item);
    queueView(item);
    item.slide.classList.remove("paused");
    if (item.video && !item.video.paused) item.video.pause();
  }

  function goTo(i) {
    const target = Math.max(0, Math.min(i, slideCount() - 1));
    if (target === state.index) {
      if (i > state.index) loadMore();
      return;
    }
    setCurrent(target);
    scrollToIndex(target, true);
  }

  // While our own smooth scroll travels, the scroll position says nothing about the user's
  // choice: `settle` ignores it until the target is reached or the user takes over.
  let scrollTarget = null;

  function scrollToIndex(i, smooth) {
    const animate = smooth && !reducedMotion.matches;
    scrollTarget = animate ? i : null;
    el.feed.scrollTo({ top: i * el.feed.clientHeight, behavior: animate ? "smooth" : "instant" });
  }

  function settle() {
    const height = el.feed.clientHeight;
    if (!height || !slideCount()) return;
    const i = Math.round(el.feed.scrollTop / height);
    if (scrollTarget !== null) {
      if (Math.abs(el.feed.scrollTop - scrollTarget * height) <= 2) scrollTarget = null;
      return;
    }
    if (i !== state.index) setCurrent(i);
  }

  function updateSources() {
    state.items.forEach((item, n) => {
      const ahead = n - state.index;
      if (ahead >= -KEEP_BEHIND && ahead <= PRELOAD_AHEAD) attachVideo(item);
      else detachVideo(item);
    });
  }

  function attachVideo(item) {
    const video = item.video;
    if (!item.clip.video_url || video.getAttribute("src")) return;
    video.preload = "auto";
    video.muted = state.muted;
    video.src = item.clip.video_url;
  }

  function detachVideo(item) {
    const video = item.video;
    if (!video.getAttribute("src")) return;
    stopWatch(item);
    video.pause();
    video.removeAttribute("src");
    video.load(); // frees the decoder; browsers cap how many media players a page may hold
  }

  // -- playback and watch time --------------------------------------------------

  function play(item) {
    if (!item.clip.video_url || item.video.hidden || document.hidden) return;
    attachVideo(item);
    if (state.view !== "feed") return; // preloaded; plays when the feed is shown again
    item.video.muted = state.muted;
    const started = item.video.play();
    if (!started) return;
    started.catch((err) => {
      if (err.name === "AbortError" || item !== currentItem()) return;
      if (err.name === "NotAllowedError" && !item.video.muted) {
        // Sound needs a user gesture: fall back to muted playback and say so.
        setMuted(true);
        item.video.play().catch(() => item.slide.classList.add("paused"));
        return;
      }
      item.slide.classList.add("paused");
    });
  }

  function togglePlay() {
    const item = currentItem();
    if (!item || !item.clip.video_url || item.video.hidden) return;
    if (item.video.paused) {
      state.userPaused = false;
      play(item);
    } else {
      state.userPaused = true;
      item.video.pause();
    }
  }

  function setMuted(muted) {
    state.muted = muted;
    for (const item of state.items) item.video.muted = muted;
    el.soundLabel.textContent = muted ? "Tap for sound" : "Mute";
    el.sound.setAttribute("aria-label", muted ? "Sound is off. Tap for sound" : "Sound is on. Mute");
    el.sound.classList.toggle("muted", muted);
    el.sound.querySelector("use").setAttribute("href", muted ? "#i-muted" : "#i-sound");
    const item = currentItem();
    if (!muted && item && item.video.paused && !state.userPaused) play(item);
  }

  function startWatch(item) {
    if (item.playingSince === null) item.playingSince = performance.now();
  }

  function stopWatch(item) {
    if (item.playingSince !== null) {
      item.watchMs += performance.now() - item.playingSince;
      item.playingSince = null;
    }
  }

  /** Queue the time the clip actually played as a `view` (unless a skip already carried it). */
  function queueView(item) {
    const watchMs = Math.round(item.watchMs);
    item.watchMs = 0;
    if (item.done || watchMs < 1) return;
    queueEvent(item, "view", { watch_ms: watchMs });
  }

  // -- events -----------------------------------------------------------------

  function queueEvent(item, type, extra = {}) {
    state.queue.push({ clip_id: item.clip.clip_id, type, ts: Date.now() / 1000, ...extra });
  }

  /** Send queued events after any send in flight, so events arrive in order. */
  function flush() {
    flushChain = flushChain
      .then(() => sendQueued({ keepalive: false }))
      .catch((err) => console.warn("steerfeed: sending events failed:", err));
    return flushChain;
  }

  async function sendQueued({ keepalive }) {
    while (state.queue.length && state.token) {
      const batch = state.queue.splice(0, MAX_BATCH);
      const body = { events: batch };
      if (state.sessionId) body.session_id = state.sessionId;
      try {
        await api("/v1/events", { method: "POST", body, keepalive });
      } catch (err) {
        const retry = err instanceof NetworkError || (err.status >= 500 && err.status < 600);
        if (retry) {
          state.queue.unshift(...batch);
        } else {
          console.warn("steerfeed: events dropped:", err.message);
        }
        return;
      }
    }
  }

  /** The page is going away or into the background: count the watch so far and send now. */
  function sendBeforeHiding() {
    const item = currentItem();
    if (item) {
      stopWatch(item);
      queueView(item);
    }
    // Not chained: the page may be frozen before a queued promise runs. keepalive lets
    // the request outlive the page (sendBeacon cannot carry the bearer header).
    sendQueued({ keepalive: true });
  }

  // -- actions ----------------------------------------------------------------

  function act(action, item, button) {
    switch (action) {
      case "like":
        if (item.liked) {
          toast("Already liked");
          return;
        }
        item.liked = true;
        button.setAttribute("aria-pressed", "true");
        button.querySelector(".label").textContent = "Liked";
        queueEvent(item, "like");
        flush();
        toast("Liked — more like this");
        return;
      case "skip":
        stopWatch(item);
        queueEvent(item, "skip", { watch_ms: Math.round(item.watchMs) });
        item.watchMs = 0;
        item.done = true;
        flush();
        goTo(state.items.indexOf(item) + 1);
        return;
      case "hide":
        queueEvent(item, "hide");
        item.done = true;
        state.hidden.add(item.clip.clip_id);
        flush();
        removeItem(item);
        toast("Hidden — you won't see this clip again");
        return;
      case "share":
        share(item);
        return;
      case "follow":
        follow(item);
        return;
      case "remix":
        queueEvent(item, "remix");
        flush();
        location.hash = `#remix=${encodeURIComponent(item.clip.clip_id)}`;
        return;
      default:
        return;
    }
  }

  function removeItem(item) {
    const at = state.items.indexOf(item);
    if (at < 0) return;
    stopWatch(item);
    detachVideo(item);
    item.slide.remove();
    state.items.splice(at, 1);
    if (at < state.index) state.index -= 1;
    if (at === state.index) {
      setCurrent(state.index, { force: true });
      const slide = slideAt(state.index);
      if (slide) slide.focus({ preventScroll: true });
    }
    scrollToIndex(state.index, false);
  }

  async function share(item) {
    const url = new URL(location.pathname, location.origin);
    url.hash = `clip=${encodeURIComponent(item.clip.clip_id)}`;
    queueEvent(item, "share");
    flush();
    if (navigator.clipboard && navigator.clipboard.writeText) {
      try {
        await navigator.clipboard.writeText(url.href);
        toast("Link copied");
        return;
      } catch {
        // Clipboard refused (no permission or no focus): show the link instead.
      }
    }
    toast(`Share this link: ${url.href}`, 8000);
  }

  function markFollowing(button, creator) {
    button.setAttribute("aria-pressed", "true");
    button.setAttribute("aria-label", `Following @${creator}`);
    button.textContent = "Following";
  }

  function follow(item) {
    const creator = item.clip.creator;
    if (state.followed.has(creator)) {
      toast(`You already follow @${creator}`);
      return;
    }
    state.followed.add(creator);
    queueEvent(item, "follow");
    flush();
    for (const other of state.items) {
      if (other.clip.creator === creator) markFollowing(other.slide.querySelector(".follow"), creator);
    }
    toast(`Following @${creator}`);
  }

  function toggleWhy(button) {
    const list = document.getElementById(button.getAttribute("aria-controls"));
    const open = button.getAttribute("aria-expanded") !== "true";
    button.setAttribute("aria-expanded", String(open));
    list.hidden = !open;
  }

  // -- steering ---------------------------------------------------------------

  async function loadChips() {
    const body = await api("/v1/steer");
    renderChips(body.items);
  }

  function renderChips(records) {
    state.steering = records;
    el.chips.replaceChildren(
      ...records.map((record) => {
        const chip = document.createElement("li");
        chip.className = "chip";
        chip.dataset.steeringId = record.id;
        if (record.expires_at) {
          chip.title = `until ${new Date(record.expires_at * 1000).toLocaleString()}`;
        }
        const text = document.createElement("span");
        text.className = "chip-text";
        text.textContent = record.description;
        chip.appendChild(text);
        if (!record.is_global) {
          const remove = document.createElement("button");
          remove.type = "button";
          remove.className = "chip-remove";
          remove.setAttribute("aria-label", `Remove “${record.description}”`);
          remove.textContent = "✕";
          remove.addEventListener("click", () => removeChip(record, remove));
          chip.appendChild(remove);
        }
        return chip;
      }),
    );
    if (state.tail && state.tail.dataset.kind === "end") setTail("end");
  }

  async function removeChip(record, button) {
    button.disabled = true;
    const chips = [...el.chips.querySelectorAll(".chip-remove")];
    const at = chips.indexOf(button);
    try {
      await api(`/v1/steer/${encodeURIComponent(record.id)}`, { method: "DELETE" });
      toast(`Removed: ${record.description}`);
    } catch (err) {
      if (err.status !== 404) {
        button.disabled = false;
        setSteerError(`Couldn't remove “${record.description}”: ${messageOf(err)}`);
        return;
      }
    }
    try {
      await loadChips();
    } catch (err) {
      setSteerError(messageOf(err));
    }
    const left = [...el.chips.querySelectorAll(".chip-remove")];
    (left[Math.min(at, left.length - 1)] || el.steerInput).focus();
    await refreshUpcoming();
  }

  const JAPANESE = /[\u3040-\u30ff\u3400-\u9fff]/;

  /** The instruction read more than one way: offer the readings; nothing is applied until one is picked. */
  function offerReadings(text, readings) {
    const japanese = JAPANESE.test(text);
    const title = el.steerChoices.querySelector("p");
    title.textContent = japanese ? "どちらの意味ですか？" : "Did you mean…";
    const buttons = el.steerChoices.querySelector(".steer-choice-buttons");
    buttons.replaceChildren();
    for (const reading of readings) {
      const button = document.createElement("button");
      button.type = "button";
      button.className = "ghost small";
      button.textContent = reading.description;
      button.addEventListener("click", () => sendSteer(text, reading.ops));
      buttons.append(button);
    }
    el.steerChoices.hidden = false;
    buttons.querySelector("button")?.focus();
  }

  function hideReadings() {
    el.steerChoices.hidden = true;
    el.steerChoices.querySelector(".steer-choice-buttons").replaceChildren();
  }

  async function steer(event) {
    event.preventDefault();
    const text = el.steerInput.value.trim();
    if (!text) {
      setSteerError("Say what you want to see, e.g. “more anime style” or “no horror”.");
      el.steerInput.focus();
      return;
    }
    await sendSteer(text, null);
  }

  async function sendSteer(text, reading) {
    setSteerError(null);
    hideReadings();
    el.steerSubmit.disabled = true;
    el.steerSubmit.textContent = "Steering…";
    try {
      const payload = { text, scope: "persistent" };
      if (reading) payload.reading = reading;
      // "more like this" / 「こういうのは無理」 ask about the clip being watched.
      const watching = currentItem();
      if (watching && !reading) payload.clip_id = watching.clip.clip_id;
      const body = await api("/v1/steer", { method: "POST", body: payload });
      if (body.status === "needs_confirmation") {
        offerReadings(text, body.needs_confirmation);
        return;
      }
      el.steerInput.value = "";
      const understood = body.applied.map((r) => r.description).join(JAPANESE.test(text) ? "、" : ", ");
      const said = JAPANESE.test(text) ? `了解：${understood}` : `Understood: ${understood}`;
      toast(understood ? said : "Nothing to change");
      await loadChips();
      await refreshUpcoming();
    } catch (err) {
      setSteerError(
        err instanceof ApiError ? `Not applied: ${err.message}` : `Not applied. ${messageOf(err)}`,
      );
    } finally {
      el.steerSubmit.disabled = false;
      el.steerSubmit.textContent = "Steer";
    }
  }

  // -- views ------------------------------------------------------------------
  //
  // The hash names the view: #feed (or nothing), #clip=ID (a clip in the feed), #create,
  // #remix=ID (Create, remixing a clip), #me, #cameo, #user=HANDLE.

  const VIEWS = ["feed", "create", "me", "cameo", "user"];
  const POLL_MS = 700;
  const creator = {
    options: null,
    remix: null, // the clip being remixed, or null
    jobs: new Map(), // job id → job, newest first by created_at
    pollTimer: null,
    mention: null, // {start, end, choices, active} while the @mention list is open
    mentionSeq: 0,
    cameo: null, // {policy, approved: [], blocked: []} as edited
    profile: null,
    objectUrl: null,
  };
  const view$ = (id) => document.getElementById(id);

  function viewFromHash() {
    const hash = location.hash.replace(/^#/, "");
    const [name, value] = hash.split("=", 2);
    if (name === "remix" && value) return { view: "create", remix: decodeURIComponent(value) };
    if (name === "user" && value) {
      const handle = decodeURIComponent(value);
      return handle === state.handle ? { view: "me" } : { view: "user", handle };
    }
    if (VIEWS.includes(name)) return { view: name };
    return { view: "feed" };
  }

  function route() {
    const wanted = viewFromHash();
    showView(wanted.view);
    if (wanted.view === "create") openCreate(wanted.remix || null);
    else if (wanted.view === "me") loadMe();
    else if (wanted.view === "cameo") loadCameo();
    else if (wanted.view === "user") loadProfile(wanted.handle);
  }

  function showView(name) {
    const leaving = state.view;
    state.view = name;
    document.body.dataset.view = name;
    el.stage.hidden = name !== "feed";
    for (const v of VIEWS.slice(1)) view$(`view-${v}`).hidden = v !== name;
    for (const link of document.querySelectorAll(".tabs a")) {
      if (link.dataset.view === name) link.setAttribute("aria-current", "page");
      else link.removeAttribute("aria-current");
    }
    const item = currentItem();
    if (name !== "feed" && item) {
      stopWatch(item);
      if (!item.video.paused) item.video.pause();
    }
    if (name === "feed" && leaving !== "feed") {
      measureHeader();
      scrollToIndex(state.index, false); // a hidden feed forgets where it was scrolled to
      if (item && !state.userPaused) play(item);
    }
    if (name !== leaving && name !== "feed") {
      const heading = view$(`view-${name}`).querySelector("h2");
      heading.tabIndex = -1;
      heading.focus({ preventScroll: true });
    }
    measureHeader();
    pollJobs();
  }

  function resetCreator() {
    clearTimeout(creator.pollTimer);
    creator.jobs.clear();
    creator.remix = null;
    creator.cameo = null;
    for (const id of ["create-jobs", "me-jobs", "me-clips", "me-made", "user-clips", "appearances"]) {
      view$(id).replaceChildren();
    }
    view$("prompt").value = "";
    state.view = "feed";
    document.body.dataset.view = "feed";
    for (const v of VIEWS.slice(1)) view$(`view-${v}`).hidden = true;
    if (location.hash) history.replaceState(null, "", location.pathname + location.search);
  }

  function when(seconds) {
    const at = new Date(Date.now() + seconds * 1000);
    const clock = at.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
    if (seconds < 90) return `in ${Math.ceil(seconds)} s`;
    const minutes = Math.ceil(seconds / 60);
    const span = minutes < 60 ? `${minutes} min` : `${Math.floor(minutes / 60)} h ${minutes % 60} min`;
    return `at ${clock} (in ${span})`;
  }

  function card(clip, { meta = "", actions = [] } = {}) {
    const li = view$("card-template").content.firstElementChild.cloneNode(true);
    li.dataset.clipId = clip.clip_id;
    const open = li.querySelector(".card-open");
    open.href = `#clip=${encodeURIComponent(clip.clip_id)}`;
    open.setAttribute("aria-label", `Watch “${clip.prompt}” by @${clip.creator}`);
    li.querySelector(".card-prompt").textContent = clip.prompt;
    const thumb = li.querySelector(".card-thumb");
    if (clip.video_url) thumb.src = `${clip.video_url}#t=0.4`; // a frame, not the black start
    else thumb.hidden = true;
    const line = li.querySelector(".card-meta");
    const by = document.createElement("a");
    by.href = `#user=${encodeURIComponent(clip.creator)}`;
    by.textContent = `@${clip.creator}`;
    line.append("by ", by);
    if (clip.cameos.length) line.append(` · with ${clip.cameos.map((c) => `@${c}`).join(", ")}`);
    if (clip.remix_of) {
      const original = document.createElement("a");
      original.href = `#clip=${encodeURIComponent(clip.remix_of)}`;
      original.textContent = clip.remix_of;
      line.append(" · remix of ", original);
    }
    if (meta) {
      const extra = document.createElement("span");
      extra.className = "card-extra";
      extra.textContent = meta;
      line.append(document.createElement("br"), extra);
    }
    li.querySelector(".card-actions").append(...actions);
    return li;
  }

  function button(label, run, { className = "small", ariaLabel = null } = {}) {
    const b = document.createElement("button");
    b.type = "button";
    b.className = className;
    b.textContent = label;
    if (ariaLabel) b.setAttribute("aria-label", ariaLabel);
    b.addEventListener("click", () => run(b));
    return b;
  }

  function emptyNote(list, text) {
    const li = document.createElement("li");
    li.className = "empty";
    li.textContent = text;
    list.replaceChildren(li);
  }

  // -- remixes on a clip's slide ----------------------------------------------

  /** List the clip's remixes on its slide (asked each time it is shown: new ones appear). */
  async function loadRemixes(item) {
    try {
      const body = await api(`/v1/clips/${encodeURIComponent(item.clip.clip_id)}/remixes?limit=5`);
      const line = item.slide.querySelector(".remixes");
      line.hidden = !body.items.length;
      if (!body.items.length) return;
      line.replaceChildren(`${body.items.length === 1 ? "1 remix" : `${body.items.length} remixes`}: `);
      body.items.forEach((clip, i) => {
        const link = document.createElement("a");
        link.href = `#clip=${encodeURIComponent(clip.clip_id)}`;
        link.textContent = `@${clip.creator}: ${clip.prompt}`;
        if (i) line.append(", ");
        line.append(link);
      });
    } catch {
      // Left as it was; the next time the clip is shown asks again.
    }
  }

  // -- create -----------------------------------------------------------------

  async function loadOptions() {
    try {
      creator.options = await api("/v1/generate/options", { auth: false });
    } catch {
      return;
    }
    const o = creator.options;
    const seconds = view$("gen-seconds");
    seconds.replaceChildren(...o.durations_s.map((s) => new Option(`${s} s`, String(s))));
    const names = { "9:16": "Tall 9:16", "16:9": "Wide 16:9", "1:1": "Square 1:1" };
    view$("gen-aspect").replaceChildren(...o.aspects.map((a) => new Option(names[a] || a, a)));
    view$("provider-note").textContent = o.provider === "procedural"
      ? "This server draws clips with a procedural renderer, not a generative model: a look per " +
        "style (anime, watercolor, pixel art, film noir…), a subject that moves, sound at the " +
        "impacts, your prompt as the caption. It cannot draw people's faces or follow a story."
      : `Clips are made by the ${o.provider} provider.`;
  }

  async function openCreate(remixId) {
    loadJobs();
    if (!remixId) return;
    try {
      const clip = await api(`/v1/clips/${encodeURIComponent(remixId)}`);
      creator.remix = clip;
      view$("prompt").value = clip.prompt;
      const people = clip.cameos.length ? ` It keeps ${clip.cameos.map((c) => `@${c}`).join(", ")} in it.` : "";
      view$("remix-text").textContent = `Remixing @${clip.creator}'s “${clip.prompt}”: edit the prompt.${people}`;
      view$("remix-note").hidden = false;
      view$("prompt").focus();
    } catch (err) {
      setCreateError(`Can't remix ${remixId}: ${messageOf(err)}`);
    }
  }

  function cancelRemix() {
    creator.remix = null;
    view$("remix-note").hidden = true;
    if (location.hash.startsWith("#remix=")) history.replaceState(null, "", "#create");
    view$("prompt").focus();
  }

  function setCreateError(text) {
    const box = view$("create-error");
    box.textContent = text || "";
    box.hidden = !text;
    view$("prompt").setAttribute("aria-invalid", text ? "true" : "false");
  }

  async function submitCreate(event) {
    event.preventDefault();
    closeMentions();
    const prompt = view$("prompt").value.trim();
    if (!prompt) {
      setCreateError("Describe the clip you want first.");
      view$("prompt").focus();
      return;
    }
    setCreateError(null);
    const submit = view$("create-submit");
    submit.disabled = true;
    const body = { prompt };
    if (creator.remix) body.remix_of = creator.remix.clip_id;
    if (view$("gen-seconds").value) body.seconds = Number(view$("gen-seconds").value);
    if (view$("gen-aspect").value) body.aspect = view$("gen-aspect").value;
    try {
      const job = await api("/v1/generate", { method: "POST", body });
      creator.jobs.set(job.id, job);
      renderJobs();
      view$("prompt").value = "";
      if (creator.remix) cancelRemix();
      toast("Queued — your clip is on its way");
      pollJobs();
    } catch (err) {
      let text = `Not queued: ${messageOf(err)}`;
      if (err instanceof ApiError && err.status === 429 && err.retryAfterS) {
        text = `Not queued: ${err.message.replace(/;? ?try again in [^;]*$/, "")}. Try again ${when(err.retryAfterS)}.`;
      }
      setCreateError(text);
    } finally {
      submit.disabled = false;
    }
  }

  // -- jobs -------------------------------------------------------------------

  async function loadJobs() {
    try {
      const body = await api("/v1/me/jobs");
      for (const job of body.jobs) creator.jobs.set(job.id, job);
      renderJobs();
      pollJobs();
    } catch (err) {
      emptyNote(view$("create-jobs"), `Couldn't load your jobs: ${messageOf(err)}`);
    }
  }

  const STATUS = {
    queued: "Queued",
    in_progress: "Making it",
    completed: "Done",
    failed: "Failed",
  };

  function jobCard(job) {
    const li = document.createElement("li");
    li.className = "job";
    li.dataset.jobId = job.id;
    li.dataset.status = job.status;
    const prompt = document.createElement("p");
    prompt.className = "job-prompt";
    prompt.textContent = job.prompt;
    const status = document.createElement("p");
    status.className = "job-status";
    const pct = Math.round(job.progress * 100);
    let text = STATUS[job.status] || job.status;
    if (job.status === "in_progress") text += ` — ${pct}%`;
    if (job.status === "queued" && job.error) text += ` (retrying after: ${job.error})`;
    if (job.status === "failed") text += `: ${job.error || "no reason given"}`;
    const details = [job.seconds ? `${job.seconds} s` : "", job.aspect || "",
      job.remix_of ? `remix of ${job.remix_of}` : ""].filter(Boolean).join(" · ");
    status.textContent = details ? `${text} · ${details}` : text;
    const bar = document.createElement("progress");
    bar.max = 1;
    bar.value = job.progress;
    bar.setAttribute("aria-label", `Progress of “${job.prompt}”`);
    li.append(prompt, status, bar);
    if (job.status === "completed" && job.clip_id) {
      const watch = document.createElement("a");
      watch.className = "button-like small";
      watch.href = `#clip=${encodeURIComponent(job.clip_id)}`;
      watch.textContent = "Watch";
      watch.setAttribute("aria-label", `Watch “${job.prompt}”`);
      li.append(watch);
    }
    return li;
  }

  function renderJobs() {
    const jobs = [...creator.jobs.values()].sort((a, b) => b.created_at - a.created_at);
    for (const id of ["create-jobs", "me-jobs"]) {
      const list = view$(id);
      if (!jobs.length) {
        emptyNote(list, "No jobs yet: describe a clip in Create and it is made here.");
        continue;
      }
      // Keep focus where it was when a card is redrawn.
      const focused = list.contains(document.activeElement)
        ? document.activeElement.closest(".job")?.dataset.jobId : null;
      list.replaceChildren(...jobs.map(jobCard));
      if (focused) list.querySelector(`[data-job-id="${focused}"] a`)?.focus();
    }
  }

  /** Poll unfinished jobs while a view that shows them is open. */
  function pollJobs() {
    clearTimeout(creator.pollTimer);
    const active = [...creator.jobs.values()].filter((j) => j.status === "queued" || j.status === "in_progress");
    if (!active.length || !state.token || !["create", "me"].includes(state.view)) return;
    creator.pollTimer = setTimeout(async () => {
      await Promise.all(active.map(async (job) => {
        try {
          const fresh = await api(`/v1/jobs/${encodeURIComponent(job.id)}`);
          if (fresh.status === "completed" && job.status !== "completed") {
            toast(`Ready: “${fresh.prompt}” — press Watch`, 4000);
          }
          creator.jobs.set(fresh.id, fresh);
        } catch {
          // Kept as it was; the next poll tries again.
        }
      }));
      renderJobs();
      pollJobs();
    }, POLL_MS);
  }

  // -- @mentions --------------------------------------------------------------

  function mentionAtCaret() {
    const box = view$("prompt");
    const upto = box.value.slice(0, box.selectionStart);
    const match = /(^|[^\w@])@([\w.-]{0,64})$/.exec(upto);
    if (!match) return null;
    return { start: upto.length - match[2].length - 1, end: box.selectionStart, prefix: match[2] };
  }

  async function updateMentions() {
    const at = mentionAtCaret();
    if (!at) {
      closeMentions();
      return;
    }
    const seq = ++creator.mentionSeq;
    let body;
    try {
      body = await api(`/v1/cameos?limit=8&q=${encodeURIComponent(at.prefix)}`);
    } catch {
      return;
    }
    if (seq !== creator.mentionSeq) return;
    creator.mention = { ...at, choices: body.items, active: body.items.findIndex((c) => c.allowed) };
    renderMentions();
  }

  function renderMentions() {
    const list = view$("mentions");
    const m = creator.mention;
    if (!m || !m.choices.length) {
      closeMentions();
      return;
    }
    list.replaceChildren(...m.choices.map((choice, i) => {
      const li = document.createElement("li");
      li.id = `mention-${i}`;
      li.setAttribute("role", "option");
      li.className = choice.allowed ? "mention" : "mention refused";
      li.setAttribute("aria-selected", String(i === m.active));
      if (!choice.allowed) li.setAttribute("aria-disabled", "true");
      const name = document.createElement("strong");
      name.textContent = `@${choice.handle}`;
      const why = document.createElement("span");
      why.textContent = choice.allowed ? (choice.reason === "your own cameo" ? " — you" : "") : ` — ${choice.reason}`;
      li.append(name, why);
      li.addEventListener("mousedown", (event) => {
        event.preventDefault(); // keep focus in the prompt
        pickMention(i);
      });
      return li;
    }));
    list.hidden = false;
    const box = view$("prompt");
    box.setAttribute("aria-expanded", "true");
    if (m.active >= 0) box.setAttribute("aria-activedescendant", `mention-${m.active}`);
    else box.removeAttribute("aria-activedescendant");
  }

  function closeMentions() {
    creator.mention = null;
    creator.mentionSeq += 1;
    view$("mentions").hidden = true;
    view$("prompt").setAttribute("aria-expanded", "false");
    view$("prompt").removeAttribute("aria-activedescendant");
  }

  function pickMention(i) {
    const m = creator.mention;
    const choice = m && m.choices[i];
    if (!choice) return;
    if (!choice.allowed) {
      setCreateError(`You can't put @${choice.handle} in a clip: they ${choice.reason}.`);
      return;
    }
    setCreateError(null);
    const box = view$("prompt");
    const insert = `@${choice.handle} `;
    // The list may be a keystroke behind the box: replace the mention as it is now.
    const at = mentionAtCaret() || m;
    box.value = box.value.slice(0, at.start) + insert + box.value.slice(at.end);
    const caret = at.start + insert.length;
    box.setSelectionRange(caret, caret);
    closeMentions();
    box.focus();
  }

  function onPromptKey(event) {
    const m = creator.mention;
    if (!m) return;
    const moves = { ArrowDown: 1, ArrowUp: -1 };
    if (event.key in moves) {
      m.active = (Math.max(m.active, -1) + moves[event.key] + m.choices.length) % m.choices.length;
      renderMentions();
      event.preventDefault();
    } else if ((event.key === "Enter" || event.key === "Tab") && m.active >= 0) {
      pickMention(m.active);
      event.preventDefault();
    } else if (event.key === "Escape") {
      closeMentions();
      event.preventDefault();
      event.stopPropagation();
    }
  }

  // -- me and profiles --------------------------------------------------------

  async function deleteClip(clip, b, after) {
    if (!window.confirm(`Delete “${clip.prompt}” for everyone? This can't be undone.`)) return;
    b.disabled = true;
    try {
      await api(`/v1/clips/${encodeURIComponent(clip.clip_id)}`, { method: "DELETE" });
      toast("Deleted");
      after();
    } catch (err) {
      b.disabled = false;
      toast(`Couldn't delete: ${messageOf(err)}`, 4000);
    }
  }

  async function loadMe() {
    view$("me-title").textContent = `@${state.handle}`;
    loadJobs();
    try {
      const [profile, made] = await Promise.all([
        api(`/v1/users/${encodeURIComponent(state.handle)}`),
        api("/v1/me/made-for-you"),
      ]);
      const clips = view$("me-clips");
      if (profile.clips.length) {
        clips.replaceChildren(...profile.clips.map((clip) => card(clip, {
          actions: [button("Delete", (b) => deleteClip(clip, b, loadMe),
            { className: "small ghost", ariaLabel: `Delete “${clip.prompt}”` })],
        })));
      } else emptyNote(clips, "No clips yet. Make one in Create.");
      const list = view$("me-made");
      if (made.items.length) {
        list.replaceChildren(...made.items.map((m) => card(m.clip, { meta: `for your request: ${m.request}` })));
      } else emptyNote(list, "Nothing yet. Steer the feed towards something it lacks, and clips are made for it.");
    } catch (err) {
      emptyNote(view$("me-clips"), `Couldn't load your clips: ${messageOf(err)}`);
    }
  }

  async function loadProfile(handle) {
    view$("user-title").textContent = `@${handle}`;
    const follow = view$("user-follow");
    follow.hidden = true;
    view$("user-note").textContent = "";
    try {
      const profile = await api(`/v1/users/${encodeURIComponent(handle)}`);
      creator.profile = profile;
      renderFollow();
      follow.hidden = false;
      const list = view$("user-clips");
      if (profile.clips.length) list.replaceChildren(...profile.clips.map((clip) => card(clip)));
      else emptyNote(list, "No clips you can see.");
    } catch (err) {
      emptyNote(view$("user-clips"), err.status === 404 ? `There is no @${handle} here.` : messageOf(err));
    }
  }

  function renderFollow() {
    const p = creator.profile;
    const follow = view$("user-follow");
    follow.textContent = p.following ? "Following" : "Follow";
    follow.setAttribute("aria-pressed", String(p.following));
    follow.setAttribute("aria-label", `${p.following ? "Following" : "Follow"} @${p.handle}`);
    view$("user-note").textContent = p.follows_you
      ? p.following ? "You follow each other." : `@${p.handle} follows you.` : "";
  }

  async function toggleFollow() {
    const p = creator.profile;
    if (!p) return;
    const on = !p.following;
    try {
      await api(`/v1/me/follows/${encodeURIComponent(p.handle)}`, { method: on ? "PUT" : "DELETE" });
      p.following = on;
      if (on) state.followed.add(p.handle);
      else state.followed.delete(p.handle);
      renderFollow();
      toast(on ? `Following @${p.handle}` : `Stopped following @${p.handle}`);
    } catch (err) {
      toast(`Couldn't change that: ${messageOf(err)}`, 4000);
    }
  }

  // -- my cameo ---------------------------------------------------------------

  async function loadCameo() {
    // The choices wait for the saved one: a choice made before it arrived would be set
    // back by it, and Save would store the old policy.
    const choices = view$("policy-form").querySelectorAll("fieldset, #policy-save");
    for (const part of choices) part.disabled = true;
    try {
      const me = await api("/v1/me/cameo");
      creator.cameo = { policy: me.policy || "only_me", approved: me.approved, blocked: me.blocked };
      for (const radio of document.querySelectorAll("#policy-form input[name=policy]")) {
        radio.checked = radio.value === creator.cameo.policy;
      }
      renderPeople();
      view$("policy-status").textContent = me.policy
        ? "" : "Nobody else may use your cameo until you save a choice.";
      showReference(me.reference);
    } catch (err) {
      view$("policy-status").textContent = `Couldn't load your cameo: ${messageOf(err)}`;
    } finally {
      for (const part of choices) part.disabled = false;
    }
    loadAppearances();
  }

  async function showReference(reference) {
    const box = view$("ref-preview");
    if (creator.objectUrl) URL.revokeObjectURL(creator.objectUrl);
    creator.objectUrl = null;
    if (!reference) {
      box.replaceChildren(Object.assign(document.createElement("p"), { textContent: "No cameo recorded yet." }));
      return;
    }
    try {
      const response = await api("/v1/me/cameo/reference", { raw: true });
      creator.objectUrl = URL.createObjectURL(await response.blob());
    } catch {
      return;
    }
    const media = document.createElement(reference.kind === "image" ? "img" : "video");
    media.src = creator.objectUrl;
    media.className = "ref-media";
    if (reference.kind === "image") media.alt = "Your cameo";
    else Object.assign(media, { muted: true, loop: true, autoplay: true, playsInline: true });
    media.setAttribute("aria-label", "Your cameo");
    const recorded = new Date(reference.updated_at * 1000).toLocaleString();
    const note = Object.assign(document.createElement("p"), { className: "hint", textContent: `Recorded ${recorded}` });
    box.replaceChildren(media, note);
  }

  async function uploadReference() {
    const input = view$("ref-file");
    const file = input.files && input.files[0];
    if (!file) return;
    const status = view$("ref-status");
    status.textContent = "Uploading…";
    const form = new FormData();
    form.append("file", file);
    try {
      const reference = await api("/v1/me/cameo/reference", { method: "PUT", form });
      status.textContent = "Your cameo is recorded.";
      showReference(reference);
    } catch (err) {
      status.textContent = `Not recorded: ${messageOf(err)}`;
    } finally {
      input.value = "";
    }
  }

  function renderPeople() {
    for (const kind of ["approved", "blocked"]) {
      const box = document.querySelector(`.people[data-list=${kind}]`);
      box.hidden = kind === "approved" && creator.cameo.policy !== "approved";
      box.querySelector(".chips").replaceChildren(...creator.cameo[kind].map((handle) => {
        const chip = document.createElement("li");
        chip.className = "chip";
        const text = Object.assign(document.createElement("span"), { className: "chip-text", textContent: `@${handle}` });
        const remove = button("✕", () => {
          creator.cameo[kind] = creator.cameo[kind].filter((h) => h !== handle);
          renderPeople();
          view$(`${kind}-input`).focus();
        }, { className: "chip-remove", ariaLabel: `Remove @${handle} from ${kind}` });
        chip.append(text, remove);
        return chip;
      }));
    }
  }

  async function suggestPeople(input) {
    const q = input.value.trim().replace(/^@/, "");
    try {
      const body = await api(`/v1/users?limit=10&q=${encodeURIComponent(q)}`);
      view$("people-options").replaceChildren(
        ...body.items.filter((h) => h !== state.handle).map((h) => new Option(`@${h}`, h)),
      );
    } catch {
      // Suggestions are a convenience; typing a full handle still works.
    }
  }

  // The last "Add" still looking its handle up: Save waits for it, so a quick Add then Save
  // saves the person added (and a late lookup cannot undo what Save stored).
  let adding = Promise.resolve();

  function addPerson(kind) {
    adding = adding.then(() => lookUpAndAdd(kind));
    return adding;
  }

  async function lookUpAndAdd(kind) {
    const input = view$(`${kind}-input`);
    const handle = input.value.trim().replace(/^@/, "").toLowerCase();
    const status = view$("policy-status");
    if (!handle) return;
    try {
      const body = await api(`/v1/users?limit=1&q=${encodeURIComponent(handle)}`);
      if (body.items[0] !== handle) {
        status.textContent = `There is no @${handle} here: pick someone from the list.`;
        return;
      }
    } catch (err) {
      status.textContent = messageOf(err);
      return;
    }
    if (handle === state.handle) {
      status.textContent = "That's you.";
      return;
    }
    const other = kind === "approved" ? "blocked" : "approved";
    creator.cameo[other] = creator.cameo[other].filter((h) => h !== handle);
    if (!creator.cameo[kind].includes(handle)) creator.cameo[kind].push(handle);
    input.value = "";
    status.textContent = `@${handle} added — save to apply.`;
    renderPeople();
  }

  async function savePolicy(event) {
    event.preventDefault();
    const c = creator.cameo;
    const status = view$("policy-status");
    const save = view$("policy-save");
    save.disabled = true;
    try {
      await adding;
      const body = { policy: c.policy, approved: c.policy === "approved" ? c.approved : [], blocked: c.blocked };
      const saved = await api(`/v1/cameos/${encodeURIComponent(state.handle)}`, { method: "PUT", body });
      Object.assign(c, { approved: saved.approved, blocked: saved.blocked });
      renderPeople();
      const words = { only_me: "only you", approved: "people you approve", mutuals: "mutuals", everyone: "everyone" };
      status.textContent = `Saved: ${words[saved.policy]} may use your cameo${saved.blocked.length ? `, never ${saved.blocked.map((h) => `@${h}`).join(", ")}` : ""}.`;
      loadAppearances();
    } catch (err) {
      status.textContent = `Not saved: ${messageOf(err)}`;
    } finally {
      save.disabled = false;
    }
  }

  async function loadAppearances() {
    const list = view$("appearances");
    try {
      const body = await api("/v1/me/cameo-appearances");
      if (!body.items.length) {
        emptyNote(list, "You are in no clips yet.");
        return;
      }
      list.replaceChildren(...body.items.map((clip) => card(clip, {
        meta: clip.creator === state.handle ? "made by you" : `made by @${clip.creator}`,
        actions: [button("Delete", (b) => deleteClip(clip, b, loadAppearances),
          { className: "small ghost", ariaLabel: `Delete “${clip.prompt}” (you co-own it)` })],
      })));
    } catch (err) {
      emptyNote(list, `Couldn't load them: ${messageOf(err)}`);
    }
  }

  function initCreator() {
    view$("create-form").addEventListener("submit", submitCreate);
    view$("remix-cancel").addEventListener("click", cancelRemix);
    const prompt = view$("prompt");
    prompt.addEventListener("input", () => {
      setCreateError(null);
      updateMentions();
    });
    prompt.addEventListener("keydown", onPromptKey);
    prompt.addEventListener("blur", () => setTimeout(closeMentions, 150));
    prompt.addEventListener("keydown", (event) => {
      // Ctrl/Cmd+Enter sends, as in most compose boxes.
      if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) view$("create-form").requestSubmit();
    });
    view$("user-follow").addEventListener("click", toggleFollow);
    view$("ref-file").addEventListener("change", uploadReference);
    view$("policy-form").addEventListener("submit", savePolicy);
    view$("policy-form").addEventListener("change", (event) => {
      if (event.target.name === "policy") {
        creator.cameo.policy = event.target.value;
        renderPeople();
      }
    });
    for (const kind of ["approved", "blocked"]) {
      const input = view$(`${kind}-input`);
      input.addEventListener("input", () => suggestPeople(input));
      input.addEventListener("focus", () => suggestPeople(input));
      input.addEventListener("keydown", (event) => {
        if (event.key === "Enter") {
          event.preventDefault();
          addPerson(kind);
        }
      });
    }
    for (const add of document.querySelectorAll("[data-add]")) {
      add.addEventListener("click", () => addPerson(add.dataset.add));
    }
  }

  // -- layout -----------------------------------------------------------------

  function measureHeader() {
    document.documentElement.style.setProperty("--header-h", `${el.topbar.offsetHeight}px`);
  }

  // -- wiring -----------------------------------------------------------------

  function onKey(event) {
    if (event.altKey || event.ctrlKey || event.metaKey) return;
    if (el.stage.hidden) {
      const typing = event.target instanceof HTMLInputElement ||
        event.target instanceof HTMLTextAreaElement || event.target instanceof HTMLSelectElement;
      if (event.key === "Escape" && state.token && !typing && state.view !== "feed") {
        location.hash = "#feed";
        event.preventDefault();
      }
      return;
    }
    const target = event.target;
    const typing =
      target instanceof HTMLInputElement ||
      target instanceof HTMLTextAreaElement ||
      (target instanceof HTMLElement && target.isContentEditable);
    if (typing) {
      if (event.key === "Escape") target.blur();
      return;
    }
    const onControl = target instanceof HTMLButtonElement || target instanceof HTMLAnchorElement;
    switch (event.key) {
      case "ArrowDown":
      case "PageDown":
      case "j":
        goTo(state.index + 1);
        break;
      case "ArrowUp":
      case "PageUp":
      case "k":
        goTo(state.index - 1);
        break;
      case " ":
        if (onControl) return; // Space presses the focused button
        togglePlay();
        break;
      case "m":
        setMuted(!state.muted);
        break;
      case "/":
        el.steerInput.focus();
        break;
      default:
        return;
    }
    event.preventDefault();
  }

  function onFeedClick(event) {
    const target = event.target;
    const slide = target.closest(".slide");
    const item = slide && state.items.find((i) => i.slide === slide);
    if (!item) return;
    const action = target.closest("button[data-action]");
    if (action) {
      act(action.dataset.action, item, action);
      return;
    }
    const why = target.closest(".why-toggle");
    if (why) {
      toggleWhy(why);
      return;
    }
    if (target.closest(".play-toggle") || target === item.video) togglePlay();
  }

  function init() {
    el.signinForm.addEventListener("submit", signIn);
    el.signOut.addEventListener("click", () => signOut());
    el.steerForm.addEventListener("submit", steer);
    el.steerInput.addEventListener("input", () => setSteerError(null));
    el.sound.addEventListener("click", () => setMuted(!state.muted));
    el.bannerClose.addEventListener("click", hideBanner);
    el.feed.addEventListener("click", onFeedClick);
    let settleTimer = null;
    el.feed.addEventListener(
      "scroll",
      () => {
        clearTimeout(settleTimer);
        settleTimer = setTimeout(settle, 120);
      },
      { passive: true },
    );
    el.feed.addEventListener("scrollend", settle);
    for (const type of ["wheel", "touchstart", "pointerdown"]) {
      el.feed.addEventListener(type, () => (scrollTarget = null), { passive: true });
    }
    document.addEventListener("keydown", onKey);
    window.addEventListener("resize", () => {
      measureHeader();
      scrollToIndex(state.index, false);
    });
    if (window.ResizeObserver) new ResizeObserver(measureHeader).observe(el.topbar);
    window.addEventListener("online", () => setOffline(false));
    window.addEventListener("offline", () => setOffline(true));
    window.addEventListener("hashchange", () => {
      if (!state.token) return;
      route();
      const wanted = clipFromHash();
      if (wanted) openClip(wanted);
    });
    initCreator();
    document.addEventListener("visibilitychange", () => {
      if (!state.token) return;
      if (document.visibilityState === "hidden") {
        sendBeforeHiding();
        const item = currentItem();
        if (item && !item.video.paused) item.video.pause();
      } else {
        const item = currentItem();
        if (item && !state.userPaused && state.view === "feed") play(item);
      }
    });
    window.addEventListener("pagehide", () => {
      if (state.token) sendBeforeHiding();
    });

    const token = readStore(STORE.token);
    const handle = readStore(STORE.handle);
    if (token && handle) {
      start(token, handle);
    } else {
      el.signin.hidden = false;
      el.handle.focus();
    }
  }

  init();
})();
