// steerfeed web app: a vertical feed of clips with plain-language steering.
// Plain JS, no build step. Talks to the feed API with a bearer token kept in localStorage.
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
  };
  let slideSerial = 0;
  let flushChain = Promise.resolve();

  // -- API --------------------------------------------------------------------

  class ApiError extends Error {
    constructor(status, message) {
      super(message);
      this.status = status;
    }
  }

  class NetworkError extends Error {}

  function detailOf(body) {
    const detail = body && body.detail;
    if (typeof detail === "string") return detail;
    if (Array.isArray(detail)) return detail.map((d) => d.msg || JSON.stringify(d)).join("; ");
    return "";
  }

  async function api(path, { method = "GET", body, keepalive = false, auth = true } = {}) {
    const headers = { Accept: "application/json" };
    if (body !== undefined) headers["Content-Type"] = "application/json";
    if (auth && state.token) headers.Authorization = `Bearer ${state.token}`;
    let response;
    try {
      response = await fetch(path, {
        method,
        headers,
        keepalive,
        body: body === undefined ? undefined : JSON.stringify(body),
      });
    } catch {
      setOffline(true);
      throw new NetworkError(
        navigator.onLine ? "Can't reach the server." : "You're offline.",
      );
    }
    setOffline(false);
    if (response.status === 204) return null;
    const data = await response.json().catch(() => null);
    if (!response.ok) {
      const message = detailOf(data) || `The server answered ${response.status}.`;
      if (response.status === 401 && auth && state.token) {
        signOut("Your sign-in is no longer valid on this server. Pick a handle to continue.");
      }
      throw new ApiError(response.status, message);
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
    loadFirst().then(() => {
      const wanted = clipFromHash();
      if (wanted) openClip(wanted);
    });
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
    slide.querySelector(".creator").textContent = `@${clip.creator}`;
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

  /** The instruction read two ways: offer both readings; nothing is applied until one is picked. */
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

  // -- layout -----------------------------------------------------------------

  function measureHeader() {
    document.documentElement.style.setProperty("--header-h", `${el.topbar.offsetHeight}px`);
  }

  // -- wiring -----------------------------------------------------------------

  function onKey(event) {
    if (el.stage.hidden || event.altKey || event.ctrlKey || event.metaKey) return;
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
      const wanted = clipFromHash();
      if (wanted && state.token) openClip(wanted);
    });
    document.addEventListener("visibilitychange", () => {
      if (!state.token) return;
      if (document.visibilityState === "hidden") {
        sendBeforeHiding();
        const item = currentItem();
        if (item && !item.video.paused) item.video.pause();
      } else {
        const item = currentItem();
        if (item && !state.userPaused) play(item);
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
