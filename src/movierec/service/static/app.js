// The movierec page: plain JavaScript over the JSON API, no build step.
// Everything shown from the API goes through textContent, never innerHTML.
"use strict";

const state = {
  health: null,
  users: [],
  ratings: new Map(), // movie_id (as a string key) -> {movie, rating}
  stars: [1, 2, 3, 4, 5], // rating values for 1..5 stars, set from the run's scale
  searchTimer: null,
  searchSeq: 0,
  recsSeq: 0,
};

const $ = (id) => document.getElementById(id);

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === null || value === undefined || value === false) continue;
    if (key === "class") node.className = value;
    else if (key === "text") node.textContent = value;
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, value === true ? "" : value);
  }
  for (const child of children.flat()) {
    if (child !== null && child !== undefined) {
      node.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
  }
  return node;
}

async function api(path, options = {}) {
  const response = await fetch(path, {
    ...options,
    headers: { "Content-Type": "application/json", Accept: "application/json", ...(options.headers || {}) },
  });
  let body = null;
  try {
    body = await response.json();
  } catch {
    body = null;
  }
  if (!response.ok) {
    const detail = body && body.detail;
    const message = Array.isArray(detail)
      ? detail.map((d) => d.msg).join("; ")
      : detail || `${response.status} ${response.statusText}`;
    const error = new Error(message);
    error.status = response.status;
    throw error;
  }
  return body;
}

function showStatus(message, kind = "error") {
  const box = $("status");
  if (!message) {
    box.hidden = true;
    box.textContent = "";
    return;
  }
  box.hidden = false;
  box.className = `status ${kind}`;
  box.textContent = message;
}

// -- Movies -------------------------------------------------------------------------------

const YEAR_SUFFIX = /\s*\(\d{4}[^()]*\)\s*$/;
// MovieLens moves articles to the end: "Matrix, The (1999)", "Celebration, The (Festen) (1998)".
const ARTICLE = /^(.+?), (The|A|An|L'|Le|La|Les|Il|El|Die|Der|Das)(\s+\(.*\))?$/;

function displayTitle(movie) {
  let title = (movie.title || `Movie ${movie.movie_id}`).replace(YEAR_SUFFIX, "");
  const match = title.match(ARTICLE);
  if (match) {
    const joiner = match[2].endsWith("'") ? "" : " ";
    title = `${match[2]}${joiner}${match[1]}${match[3] || ""}`;
  }
  return title;
}

function hue(text) {
  let h = 0;
  for (const ch of String(text)) h = (h * 31 + ch.codePointAt(0)) % 360;
  return h;
}

function poster(movie, size = "") {
  const title = displayTitle(movie);
  const initials = title
    .split(/\s+/)
    .filter((w) => /^[\p{L}\p{N}]/u.test(w))
    .slice(0, 2)
    .map((w) => w[0].toUpperCase())
    .join("");
  const h = hue(title);
  const node = el("div", { class: `poster ${size}`, "aria-hidden": "true" }, initials || "?");
  node.style.background = `linear-gradient(135deg, hsl(${h} 65% 55%), hsl(${(h + 40) % 360} 70% 38%))`;
  return node;
}

function meta(movie) {
  const parts = [];
  if (movie.year) parts.push(String(movie.year));
  return el(
    "div",
    { class: "meta" },
    parts.join(" "),
    (movie.genres || []).slice(0, 3).map((g) => el("span", { class: "tag", text: g })),
  );
}

function starsText(value) {
  // Five-star scales (1-5, 0.5-5) show the rating itself; other scales are mapped onto 5.
  const [low, high] = state.health ? state.health.rating_scale : [0.5, 5];
  const stars = low <= 1 && high === 5 ? value : ((value - low) / (high - low || 1)) * 5;
  const full = Math.max(0, Math.min(5, Math.round(stars)));
  return "★".repeat(full) + "☆".repeat(5 - full);
}

function movieCard(movie, { badge, badgeTitle } = {}) {
  const card = el(
    "li",
    { class: "movie-card", "data-movie-id": String(movie.movie_id) },
    el(
      "button",
      {
        type: "button",
        class: "movie-button",
        title: "Show similar movies",
        onclick: () => openSimilar(movie),
      },
      poster(movie),
      el(
        "div",
        { class: "movie-body" },
        el("div", { class: "title", text: displayTitle(movie) }),
        meta(movie),
      ),
      badge ? el("span", { class: "badge", title: badgeTitle || "", text: badge }) : null,
    ),
  );
  return card;
}

function movieRow(movie, right) {
  return el(
    "li",
    { class: "movie-row", "data-movie-id": String(movie.movie_id) },
    el(
      "button",
      { type: "button", class: "movie-button", title: "Show similar movies", onclick: () => openSimilar(movie) },
      poster(movie, "small"),
      el("div", { class: "movie-body" }, el("div", { class: "title", text: displayTitle(movie) }), meta(movie)),
      right,
    ),
  );
}

function fill(list, nodes, emptyText) {
  list.replaceChildren(...nodes);
  if (!nodes.length && emptyText) list.append(el("li", { class: "empty", text: emptyText }));
}

// A rating model's run predicts ratings (shown as stars); a ranking model's run (score_kind
// "relative") gives scores that only order the list, so they are labelled as such.
function scoreBadge(score, kind) {
  if (kind === "relative") {
    return { badge: `score ${score.toFixed(2)}`, badgeTitle: "relative score, not a rating: it only orders this list" };
  }
  return { badge: `${score.toFixed(1)}★`, badgeTitle: "predicted rating" };
}

function rankedHint(kind) {
  return kind === "relative" ? "by relative score (this model ranks, it predicts no ratings)" : "best predicted first";
}

// -- Known users --------------------------------------------------------------------------

async function showUser(userId, { keepStatus = false } = {}) {
  const id = String(userId).trim();
  if (!id) return;
  $("user-id").value = id;
  if (!keepStatus) showStatus(null);
  try {
    const data = await api(`/users/${encodeURIComponent(id)}/recommendations?k=12&top=8`);
    $("user-results").hidden = false;
    fill(
      $("top-rated"),
      data.top_rated.map((m) =>
        movieRow(m, el("span", { class: "stars", title: `rated ${m.rating}`, text: starsText(m.rating) })),
      ),
      "No ratings.",
    );
    const writable = Boolean(state.health && state.health.store);
    fill(
      $("user-recs"),
      data.recommendations.map((m) => {
        const card = movieCard(m, scoreBadge(m.score, data.score_kind));
        if (writable) {
          card.classList.add("rateable");
          card.append(starPicker(m, null, (value) => rateKnown(id, m, value)));
        }
        return card;
      }),
      "Nothing left to recommend.",
    );
    $("top-hint").textContent = writable ? "Highest-rated, in the training data and here." : "Highest-rated in the training data.";
    if (writable) await showStored(id);
    $("user-hint").textContent = `Movies they have not rated, ${rankedHint(data.score_kind)}.`;
    history.replaceState(null, "", `#user=${encodeURIComponent(id)}`);
  } catch (error) {
    $("user-results").hidden = true;
    showStatus(error.message);
  }
}

// -- Ratings kept by the service (serve --store) -----------------------------------------

const TOKEN_KEY = "movierec-write-token";

function authHeaders() {
  const token = localStorage.getItem(TOKEN_KEY);
  return token ? { Authorization: `Bearer ${token}` } : {};
}

async function showStored(userId) {
  const data = await api(`/users/${encodeURIComponent(userId)}/ratings`);
  $("stored-box").hidden = false;
  fill(
    $("stored"),
    data.ratings.map((r) =>
      el(
        "li",
        { class: "chip", "data-movie-id": String(r.movie_id) },
        el("span", { class: "chip-title", text: displayTitle(r) }),
        el("span", { class: "chip-stars", text: starsText(r.rating) }),
        el("button", {
          type: "button",
          class: "chip-remove",
          "aria-label": `Remove ${displayTitle(r)}`,
          onclick: () => unrateKnown(userId, r),
          text: "×",
        }),
      ),
    ),
    "None yet: click the stars under a recommendation.",
  );
}

async function writeRatings(path, options, done) {
  try {
    await api(path, { ...options, headers: authHeaders() });
    showStatus(done, "info");
    return true;
  } catch (error) {
    if (error.status === 401) {
      $("token-form").hidden = false;
      $("token").focus();
      showStatus("Saving ratings needs the service's write token: enter it above, then rate again.");
    } else {
      showStatus(error.message);
    }
    return false;
  }
}

async function rateKnown(userId, movie, value) {
  const body = JSON.stringify({ ratings: [{ movie_id: movie.movie_id, rating: value }] });
  const saved = await writeRatings(`/users/${encodeURIComponent(userId)}/ratings`, { method: "POST", body },
    `Saved ${starsText(value)} for ${displayTitle(movie)}.`);
  if (saved) await showUser(userId, { keepStatus: true });
}

async function unrateKnown(userId, movie) {
  const path = `/users/${encodeURIComponent(userId)}/ratings/${encodeURIComponent(movie.movie_id)}`;
  const removed = await writeRatings(path, { method: "DELETE" }, `Removed your rating of ${displayTitle(movie)}.`);
  if (removed) await showUser(userId, { keepStatus: true });
}

function randomUser() {
  if (!state.users.length) return;
  showUser(state.users[Math.floor(Math.random() * state.users.length)]);
}

// -- New users ----------------------------------------------------------------------------

function starValues(scale) {
  const [low, high] = scale;
  if (low <= 1 && high >= 5) return [1, 2, 3, 4, 5];
  return [0, 1, 2, 3, 4].map((i) => Math.round((low + (i * (high - low)) / 4) * 100) / 100);
}

function starPicker(movie, current = undefined, onRate = undefined) {
  const key = String(movie.movie_id);
  if (current === undefined) current = state.ratings.has(key) ? state.ratings.get(key).rating : null;
  const choose = onRate || ((value) => rate(movie, value));
  const group = el("div", { class: "star-picker", role: "group", "aria-label": `Rate ${displayTitle(movie)}` });
  state.stars.forEach((value, i) => {
    group.append(
      el("button", {
        type: "button",
        class: `star${current !== null && value <= current ? " on" : ""}`,
        "aria-label": `${i + 1} star${i ? "s" : ""}`,
        "aria-pressed": current === value ? "true" : "false",
        "data-rating": String(value),
        onclick: () => choose(value),
        text: "★",
      }),
    );
  });
  return group;
}

function renderSearchResults(movies) {
  fill(
    $("search-results"),
    movies.map((movie) =>
      el(
        "li",
        { class: "rate-row", "data-movie-id": String(movie.movie_id) },
        poster(movie, "small"),
        el(
          "div",
          { class: "movie-body" },
          el("button", { type: "button", class: "title link", onclick: () => openSimilar(movie), text: displayTitle(movie) }),
          meta(movie),
        ),
        starPicker(movie),
      ),
    ),
    "No titles match.",
  );
  state.lastResults = movies;
}

async function search(query) {
  const seq = ++state.searchSeq;
  const q = query.trim();
  const path = q ? `/movies?search=${encodeURIComponent(q)}&limit=12` : "/movies?limit=12";
  try {
    const data = await api(path);
    if (seq !== state.searchSeq) return; // a newer search answered first
    $("search-hint").textContent = q ? `Titles matching “${q}”.` : "Popular movies to start with.";
    renderSearchResults(data.movies);
  } catch (error) {
    showStatus(error.message);
  }
}

function rate(movie, value) {
  const key = String(movie.movie_id);
  if (state.ratings.has(key) && state.ratings.get(key).rating === value) state.ratings.delete(key);
  else state.ratings.set(key, { movie, rating: value });
  renderRated();
  if (state.lastResults) renderSearchResults(state.lastResults);
  updateRecommendations();
}

function renderRated() {
  const items = [...state.ratings.values()];
  $("rated-count").textContent = String(items.length);
  $("clear-ratings").hidden = items.length === 0;
  fill(
    $("rated"),
    items.map(({ movie, rating }) =>
      el(
        "li",
        { class: "chip", "data-movie-id": String(movie.movie_id) },
        el("span", { class: "chip-title", text: displayTitle(movie) }),
        el("span", { class: "chip-stars", text: starsText(rating) }),
        el("button", {
          type: "button",
          class: "chip-remove",
          "aria-label": `Remove ${displayTitle(movie)}`,
          onclick: () => {
            state.ratings.delete(String(movie.movie_id));
            renderRated();
            if (state.lastResults) renderSearchResults(state.lastResults);
            updateRecommendations();
          },
          text: "×",
        }),
      ),
    ),
    "None yet: click the stars next to a title.",
  );
}

async function updateRecommendations() {
  const seq = ++state.recsSeq;
  const list = $("new-recs");
  if (!state.ratings.size) {
    list.replaceChildren();
    $("new-hint").textContent = "Rate a movie and recommendations appear here.";
    return;
  }
  const ratings = [...state.ratings.values()].map(({ movie, rating }) => ({ movie_id: movie.movie_id, rating }));
  list.classList.add("loading");
  try {
    const data = await api("/recommendations", { method: "POST", body: JSON.stringify({ ratings, k: 12 }) });
    if (seq !== state.recsSeq) return;
    showStatus(null);
    const n = data.n_ratings;
    $("new-hint").textContent = `From your ${n} rating${n === 1 ? "" : "s"}, ${rankedHint(data.score_kind)}.`;
    fill(
      list,
      data.recommendations.map((m) => movieCard(m, scoreBadge(m.score, data.score_kind))),
      "Nothing to recommend yet.",
    );
  } catch (error) {
    showStatus(error.message);
  } finally {
    if (seq === state.recsSeq) list.classList.remove("loading");
  }
}

// -- Similar movies -----------------------------------------------------------------------

async function openSimilar(movie) {
  $("drawer-title").textContent = displayTitle(movie);
  const parts = [movie.year, ...(movie.genres || [])].filter(Boolean);
  $("drawer-meta").textContent = parts.join(" · ");
  $("similar").replaceChildren(el("li", { class: "empty", text: "Loading…" }));
  $("drawer").classList.add("open");
  $("drawer").setAttribute("aria-hidden", "false");
  $("drawer-backdrop").hidden = false;
  try {
    const data = await api(`/movies/${encodeURIComponent(movie.movie_id)}/similar?k=10&min_ratings=5`);
    fill(
      $("similar"),
      data.similar.map((m) =>
        movieRow(m, el("span", { class: "similarity", title: "cosine similarity", text: `${Math.round(m.score * 100)}%` })),
      ),
      "No similar movies.",
    );
  } catch (error) {
    fill($("similar"), [], error.message);
  }
}

function closeSimilar() {
  $("drawer").classList.remove("open");
  $("drawer").setAttribute("aria-hidden", "true");
  $("drawer-backdrop").hidden = true;
}

// -- Tabs and start-up --------------------------------------------------------------------

function selectTab(name) {
  for (const tab of ["known", "new"]) {
    const active = tab === name;
    $(`tab-${tab}`).classList.toggle("is-active", active);
    $(`tab-${tab}`).setAttribute("aria-selected", active ? "true" : "false");
    $(`panel-${tab}`).hidden = !active;
  }
  showStatus(null);
  if (name === "new" && !state.lastResults) search("");
  if (name === "new") history.replaceState(null, "", "#new");
}

async function start() {
  $("tab-known").addEventListener("click", () => selectTab("known"));
  $("tab-new").addEventListener("click", () => selectTab("new"));
  $("user-form").addEventListener("submit", (event) => {
    event.preventDefault();
    showUser($("user-id").value);
  });
  $("random-user").addEventListener("click", randomUser);
  $("token-form").addEventListener("submit", (event) => {
    event.preventDefault();
    localStorage.setItem(TOKEN_KEY, $("token").value.trim());
    $("token").value = "";
    $("token-form").hidden = true;
    showStatus("Token saved: rate a movie.", "info");
  });
  $("search").addEventListener("input", (event) => {
    clearTimeout(state.searchTimer);
    state.searchTimer = setTimeout(() => search(event.target.value), 180);
  });
  $("clear-ratings").addEventListener("click", () => {
    state.ratings.clear();
    renderRated();
    if (state.lastResults) renderSearchResults(state.lastResults);
    updateRecommendations();
  });
  $("drawer-close").addEventListener("click", closeSimilar);
  $("drawer-backdrop").addEventListener("click", closeSimilar);
  document.addEventListener("keydown", (event) => {
    if (event.key === "Escape") closeSimilar();
  });
  renderRated();

  try {
    const health = await api("/health");
    state.health = health;
    state.stars = starValues(health.rating_scale);
    $("model-info").replaceChildren(
      el("span", { class: "pill", text: health.model }),
      el("span", { class: "pill", text: health.dataset }),
      el(
        "span",
        { class: "muted" },
        `${health.n_users.toLocaleString()} users · ${health.n_movies.toLocaleString()} movies · ${health.n_ratings.toLocaleString()} ratings`,
      ),
      health.store ? el("span", { class: "pill", title: "ratings are kept", text: `${health.store} store` }) : null,
    );
    $("footer-version").textContent = `movierec ${health.version}`;
    const users = await api("/users?limit=1000");
    state.users = users.users;
    $("user-ids").replaceChildren(...state.users.slice(0, 200).map((u) => el("option", { value: String(u) })));
    if (!$("user-id").value && state.users.length) $("user-id").placeholder = `e.g. ${state.users[0]}`;
  } catch (error) {
    $("model-info").textContent = "The service is not answering.";
    showStatus(error.message);
    return;
  }

  const hash = new URLSearchParams(location.hash.slice(1));
  if (location.hash === "#new") selectTab("new");
  else if (hash.get("user")) showUser(hash.get("user"));
}

document.addEventListener("DOMContentLoaded", start);
