// The Parley demo page: a complete chat client on Parley's Socket.io protocol (namespace /chat)
// and REST routes (/api/chat), with no build step.
//
// How it is organised:
//   - state: what we know (sessions, messages per session, members, presence, typing, streams);
//   - the socket: every server event updates state, then re-renders the smallest part it can;
//   - REST for reads (history pages, threads, search, metrics) and a few writes (sessions, members);
//     the socket for everything live (send, edit, delete, react, typing, seen, streams).
// Server text is rendered as text (see dom.js); message bodies are Markdown, turned into a sanitized
// DOM fragment by markdown.js (raw HTML in a message stays text).

import { io } from '/socket.io/socket.io.esm.min.js';
import {
  $, h, setChildren, safeLink, avatar, colorFor, formatTime, formatDay, formatRelative, formatNumber, formatRate,
  debounce, toast, guessMimeType, fileNameFromUrl, attachmentIcon, icon,
} from '/dom.js';
import { renderMarkdown } from '/markdown.js';

const PAGE_SIZE = 30;
const QUICK_REACTIONS = ['👍', '❤️', '😂', '🎉', '👀'];
const TYPING_REFRESH_MS = 3000; // the server expires a typing indicator after 5 s without refresh
const TYPING_IDLE_MS = 4000;
const METRICS_POLL_MS = 600;
const STORAGE_KEY = 'parley.auth';
const NAMES_KEY = 'parley.names';

const state = {
  config: null, // GET /app-config.json
  me: null, // { token, userId, name }
  socket: null,
  sessions: new Map(), // id → SessionSummary (+ local unreadCount)
  sessionOrder: [], // ids, most recently active first
  activeId: null,
  views: new Map(), // sessionId → { messages: Map, order: [top-level ids by seq], loaded, hasOlder }
  seqs: new Map(), // sessionId → highest seq seen: the lastSeq we send on (re-)join
  members: new Map(), // sessionId → SessionMember[]
  presence: new Map(), // userId → { status, lastSeenAt }
  names: loadNames(), // userId → display name (from tokens, via typing and join events; cached locally)
  typing: new Map(), // sessionId → Map(userId → { name, timer })
  live: new Map(), // messageId → { streamId, content, tokens, metrics, error, mine }
  myStreams: new Set(), // streamIds this tab requested
  openDetails: new Set(), // ids of answers whose "Details" are open
  selectedMessage: null, // id of the message a tap selected: its actions show, as on hover
  panel: null, // { kind: 'thread', sessionId, parentId, order } | { kind: 'search', sessionId, query, results }
  editing: null, // { id, draft }
  confirmDelete: null, // message id awaiting a second click
  pendingAttachments: [],
  typingSent: 0,
  typingTimer: null,
  refreshTimer: null, // renews the token before it expires (demo mode)
};

// =================================================================================================
// REST
// =================================================================================================

/** Calls the REST binding as the signed-in user; throws an Error with the server's `code`. */
async function api(path, { method = 'GET', body } = {}) {
  const response = await fetch(`/api/chat${path}`, {
    method,
    headers: {
      authorization: `Bearer ${state.me.token}`,
      ...(body !== undefined && { 'content-type': 'application/json' }),
    },
    ...(body !== undefined && { body: JSON.stringify(body) }),
  });
  const data = await response.json().catch(() => ({}));
  if (!response.ok) {
    const error = new Error(data.error?.message ?? `HTTP ${response.status}`);
    error.code = data.error?.code ?? 'INTERNAL';
    if (error.code === 'UNAUTHORIZED') signOut('Your sign-in expired. Please sign in again.');
    throw error;
  }
  return data;
}

const query = (params) => new URLSearchParams(Object.entries(params).filter(([, v]) => v !== undefined)).toString();

// =================================================================================================
// Sign-in
// =================================================================================================

async function boot() {
  state.config = await fetch('/app-config.json').then((r) => r.json());
  $('signin-demo').hidden = !state.config.demo;
  $('signin-token').hidden = state.config.demo;
  $('signin-name').required = state.config.demo;
  const saved = readSavedAuth();
  if (saved) startChat(saved);
  else showSignIn();
}

function readSavedAuth() {
  try {
    const saved = JSON.parse(localStorage.getItem(STORAGE_KEY) ?? 'null');
    return saved && typeof saved.token === 'string' ? saved : null;
  } catch {
    return null;
  }
}

function showSignIn(message = '') {
  $('chat').hidden = true;
  $('signin').hidden = false;
  $('signin-error').textContent = message;
  (state.config.demo ? $('signin-name') : $('signin-jwt')).focus();
}

$('signin-form').addEventListener('submit', async (event) => {
  event.preventDefault();
  $('signin-error').textContent = '';
  try {
    const auth = state.config.demo ? await demoSignIn($('signin-name').value) : tokenSignIn($('signin-jwt').value);
    localStorage.setItem(STORAGE_KEY, JSON.stringify(auth));
    startChat(auth);
  } catch (error) {
    $('signin-error').textContent = error.message;
  }
});

async function demoSignIn(name) {
  const response = await fetch('/demo/sign-in', {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ name }),
  });
  const data = await response.json();
  if (!response.ok) throw new Error(data.error?.message ?? 'Sign-in failed');
  return data; // { token, userId, name }
}

/** Outside demo mode the host app issues tokens; we only read `sub`/`name` for display. */
function tokenSignIn(token) {
  token = token.trim();
  try {
    const payload = JSON.parse(atob(token.split('.')[1].replace(/-/g, '+').replace(/_/g, '/')));
    if (typeof payload.sub !== 'string') throw new Error();
    return { token, userId: payload.sub, name: typeof payload.name === 'string' ? payload.name : payload.sub };
  } catch {
    throw new Error('That does not look like a JWT with a `sub` claim');
  }
}

function signOut(message = '') {
  localStorage.removeItem(STORAGE_KEY);
  state.socket?.disconnect();
  state.socket = null;
  location.hash = '';
  // A fresh page is the simplest way to forget every piece of state.
  if (message) sessionStorage.setItem('parley.signout', message);
  location.reload();
}

$('signout').addEventListener('click', () => signOut());

// =================================================================================================
// Start-up and the socket
// =================================================================================================

function startChat(auth) {
  state.me = auth;
  rememberName(auth.userId, auth.name);
  $('signin').hidden = true;
  $('chat').hidden = false;
  $('me-avatar').replaceWith(Object.assign(avatar(auth.userId, auth.name, 'avatar-sm'), { id: 'me-avatar' }));
  $('me-name').textContent = auth.name;
  $('me-id').textContent = `@${auth.userId}`;
  $('room-empty-id').textContent = auth.userId;
  renderAssistantBadge();
  connect();
  refreshSessions().then(() => {
    const fromHash = decodeURIComponent(location.hash.slice(1));
    const first = state.sessions.has(fromHash) ? fromHash : null;
    if (first) selectSession(first);
  });
}

function renderAssistantBadge() {
  const { assistant } = state.config;
  const badge = $('assistant-badge');
  badge.hidden = false;
  badge.classList.toggle('assistant-badge-demo', !assistant.isModel);
  badge.textContent = assistant.isModel ? `✦ ${assistant.model ?? assistant.provider}` : '✦ Demo assistant · scripted, not a model';
  badge.title = assistant.isModel
    ? `Answers stream from ${assistant.provider}`
    : 'The server runs the ScriptedProvider: canned text at a fixed pace. Set OPENAI_BASE_URL to use a real model.';
}

/** The `exp` of a JWT in ms since the epoch, or null (we only read it, the server verifies it). */
function expiryOf(token) {
  try {
    const { exp } = JSON.parse(atob(token.split('.')[1].replace(/-/g, '+').replace(/_/g, '/')));
    return typeof exp === 'number' ? exp * 1000 : null;
  } catch {
    return null;
  }
}

/**
 * Keeps the socket's token fresh: at 80% of its lifetime (or when the server says it expired) a new
 * one is fetched and sent with `auth:refresh`, and becomes the one a reconnect presents. Demo mode
 * can mint one for the same name; a token pasted from your own app cannot be renewed here, so when
 * it runs out we sign out.
 */
function scheduleTokenRefresh() {
  clearTimeout(state.refreshTimer);
  const expiresAt = expiryOf(state.me.token);
  if (expiresAt === null || !state.config.demo) return;
  const issuedAt = Date.now();
  const due = Math.max(1000, (expiresAt - issuedAt) * 0.8);
  state.refreshTimer = setTimeout(refreshToken, Math.min(due, 2 ** 31 - 1));
}

async function refreshToken() {
  if (!state.config.demo) return signOut('Your sign-in expired. Please sign in again.');
  try {
    const auth = await demoSignIn(state.me.name);
    if (auth.userId !== state.me.userId) throw new Error('signed in as someone else');
    state.me = { ...state.me, token: auth.token };
    localStorage.setItem(STORAGE_KEY, JSON.stringify(state.me));
    if (state.socket) {
      state.socket.auth = { token: auth.token };
      if (state.socket.connected) await request('auth:refresh', { token: auth.token });
    }
    scheduleTokenRefresh();
  } catch {
    signOut('Your sign-in expired. Please sign in again.');
  }
}

function connect() {
  const socket = io('/chat', { auth: { token: state.me.token } });
  state.socket = socket;
  scheduleTokenRefresh();

  socket.on('connect', () => {
    setConnection('online', 'Connected');
    // A session we were added to while offline: member:added went to nobody, the list has it.
    if (state.sessions.size > 0) refreshSessions().catch(() => {});
    // Re-join every session with the highest seq we saw: the server replays what we missed
    // (messages, edits, deletions, reactions) and sends a snapshot of answers still streaming.
    for (const id of state.sessions.keys()) joinSession(id);
  });
  socket.on('disconnect', () => setConnection('offline', 'Reconnecting…'));
  // The token ran out while connected (say the laptop slept through the refresh): renew it now.
  socket.on('auth:expired', () => refreshToken());
  socket.on('connect_error', (error) => {
    if (error.data?.code === 'UNAUTHORIZED') {
      // e.g. the demo server restarted with a new random secret.
      signOut('Your sign-in is no longer valid (the server may have restarted). Please sign in again.');
      return;
    }
    setConnection('offline', 'Reconnecting…');
  });

  socket.on('message:new', onMessageNew);
  socket.on('message:edited', onMessageEdited);
  socket.on('message:deleted', onMessageDeleted);
  socket.on('message:reaction:update', ({ sessionId, messageId, seq, reactions }) => {
    noteSeq(sessionId, seq);
    patchMessage(sessionId, messageId, (m) => { m.reactions = reactions; });
  });
  socket.on('attachment:added', ({ sessionId, messageId, seq, attachments }) => {
    noteSeq(sessionId, seq);
    patchMessage(sessionId, messageId, (m) => {
      const known = new Set(m.attachments.map((a) => a.id));
      m.attachments = [...m.attachments, ...attachments.filter((a) => !known.has(a.id))];
    });
  });
  socket.on('attachment:deleted', ({ sessionId, messageId, seq, attachmentId }) => {
    noteSeq(sessionId, seq);
    patchMessage(sessionId, messageId, (m) => { m.attachments = m.attachments.filter((a) => a.id !== attachmentId); });
  });
  socket.on('message:seen:update', onSeenUpdate);
  socket.on('typing:start', (e) => setTyping(e.sessionId, e.userId, e.name, true));
  socket.on('typing:stop', (e) => setTyping(e.sessionId, e.userId, e.name, false));
  socket.on('presence:update', ({ userId, status, lastSeenAt }) => {
    state.presence.set(userId, { status, lastSeenAt });
    if (state.activeId) renderMembers();
  });
  socket.on('user:joined', ({ sessionId, userId, name }) => {
    if (name) rememberName(userId, name);
    // A member we did not know about (invited by someone else): reload the member list.
    if (!state.members.get(sessionId)?.some((m) => m.userId === userId)) refreshMembers(sessionId);
  });
  // Membership: we were added (the list gains the session and we join it) or removed (it goes).
  socket.on('member:added', ({ sessionId, userId }) => {
    if (userId === state.me.userId) refreshSessions().catch(fail);
    else if (state.members.has(sessionId)) refreshMembers(sessionId);
  });
  socket.on('member:removed', ({ sessionId, userId }) => {
    if (userId === state.me.userId) forgetSession(sessionId);
    else if (state.members.has(sessionId)) refreshMembers(sessionId);
  });
  socket.on('user:left', ({ sessionId, userId }) => {
    if (userId === state.me.userId) return;
    setTyping(sessionId, userId, undefined, false);
  });
  socket.on('session:synced', ({ sessionId, seq, gap }) => {
    noteSeq(sessionId, seq);
    // More changed than the replay holds: the page we have is stale, load it again.
    if (gap && state.views.get(sessionId)?.loaded) loadHistory(sessionId);
  });

  socket.on('stream:snapshot', onStreamSnapshot);
  socket.on('stream:chunk', onStreamChunk);
  socket.on('stream:complete', (e) => onStreamEnd(e, 'completed'));
  socket.on('stream:stopped', (e) => onStreamEnd(e, 'stopped'));
  socket.on('stream:error', (e) => onStreamEnd(e, 'error'));
}

function setConnection(kind, text) {
  $('connection').dataset.state = kind;
  $('connection').textContent = text;
}

/** Emits a client event and waits for its ack: resolves with `data`, or throws with the error's `code`. */
async function request(event, payload) {
  if (!state.socket?.connected) throw new Error('Not connected — retrying in the background');
  let response;
  try {
    response = await state.socket.timeout(10_000).emitWithAck(event, payload);
  } catch {
    throw new Error(`The server did not answer ${event}`);
  }
  if (!response.ok) {
    const error = new Error(response.error.message);
    error.code = response.error.code;
    throw error;
  }
  return response.data;
}

/** Reports a failed action without interrupting the user. */
const fail = (error) => toast(error.code === 'RATE_LIMITED' ? `Slow down: ${error.message}` : error.message);

function noteSeq(sessionId, seq) {
  if (typeof seq === 'number' && seq > (state.seqs.get(sessionId) ?? 0)) state.seqs.set(sessionId, seq);
}

// =================================================================================================
// Sessions: list, select, create, invite, members and presence
// =================================================================================================

async function refreshSessions() {
  const { sessions } = await api('/sessions');
  for (const summary of sessions) {
    const known = state.sessions.get(summary.id);
    if (!known) {
      state.sessions.set(summary.id, withCounts(summary));
      // Join from "now": the listing's unread count already covers everything before it.
      noteSeq(summary.id, summary.lastSeq);
      if (state.socket?.connected) joinSession(summary.id);
    } else {
      adoptListing(known, summary);
    }
  }
  if (state.sessionOrder.length === 0) state.sessionOrder = sessions.map((s) => s.id);
  else for (const s of sessions) if (!state.sessionOrder.includes(s.id)) state.sessionOrder.unshift(s.id);
  renderSessionList();
}

// ---- message and unread counts ----------------------------------------------------------------
//
// Two sources count the same messages: the session listing (GET /sessions, counts as of its
// `lastSeq`) and message:new events — live ones, and the replay after a reconnect, which races the
// listing the page re-reads at the same moment. A message is counted by the listing if its `seq` is
// at most the listing's `lastSeq`, otherwise once, by its event; `counted` keeps those until a
// listing covers them.

/** A session summary plus what the page counted itself since the listing. */
function withCounts(summary) {
  return { ...summary, counted: new Map() }; // messageId → { seq, topLevel, unread }
}

/** Counts a new message once, unless the listing already has it; true if it was counted now. */
function countMessage(session, m, unread) {
  if (m.seq <= session.lastSeq || session.counted.has(m.id)) return false;
  const topLevel = m.parentMessageId === null;
  session.counted.set(m.id, { seq: m.seq, topLevel, unread });
  if (topLevel) session.messageCount += 1;
  if (unread) session.unreadCount += 1;
  return true;
}

/** Takes a fresher listing's counts, plus the messages we counted that it does not cover yet. */
function adoptListing(known, summary) {
  const { counted } = known;
  if (summary.lastSeq < known.lastSeq) return; // an older picture than the one we have
  const extra = [...counted].filter(([, c]) => c.seq > summary.lastSeq);
  const reading = summary.id === state.activeId && document.visibilityState === 'visible';
  Object.assign(known, summary, {
    counted: new Map(extra),
    messageCount: summary.messageCount + extra.filter(([, c]) => c.topLevel).length,
    // The open conversation is read as it arrives.
    unreadCount: reading ? 0 : summary.unreadCount + extra.filter(([, c]) => c.unread).length,
  });
}

/** We were removed from a session: it leaves the list (and the screen, if open). */
function forgetSession(sessionId) {
  if (!state.sessions.delete(sessionId)) return;
  state.sessionOrder = state.sessionOrder.filter((id) => id !== sessionId);
  for (const map of [state.views, state.seqs, state.members]) map.delete(sessionId);
  if (state.panel?.sessionId === sessionId) closePanel();
  if (state.activeId === sessionId) {
    state.activeId = null;
    history.replaceState(null, '', location.pathname);
    $('room-main').hidden = true;
    $('room-empty').hidden = false;
  }
  renderSessionList();
}

async function joinSession(sessionId) {
  try {
    const data = await request('session:join', { sessionId, lastSeq: state.seqs.get(sessionId) });
    state.members.set(sessionId, data.members);
    for (const p of data.presence) state.presence.set(p.userId, { status: p.status, lastSeenAt: p.lastSeenAt });
    if (sessionId === state.activeId) {
      renderMembers();
      renderSeen();
    }
  } catch (error) {
    if (error.code !== 'RATE_LIMITED') fail(error);
  }
}

async function refreshMembers(sessionId) {
  try {
    const [{ members }, { presence }] = await Promise.all([
      api(`/sessions/${encodeURIComponent(sessionId)}/members`),
      api(`/sessions/${encodeURIComponent(sessionId)}/presence`),
    ]);
    state.members.set(sessionId, members);
    for (const p of presence) state.presence.set(p.userId, { status: p.status, lastSeenAt: p.lastSeenAt });
    if (sessionId === state.activeId) {
      renderMembers();
      renderSeen();
    }
  } catch (error) {
    fail(error);
  }
}

function renderSessionList() {
  const list = $('session-list');
  const items = state.sessionOrder.map((id) => state.sessions.get(id)).filter(Boolean);
  $('session-empty').hidden = items.length > 0;
  setChildren(
    list,
    items.map((s) =>
      h(
        'button',
        {
          type: 'button',
          class: `session${s.id === state.activeId ? ' session-active' : ''}${s.unreadCount > 0 ? ' session-unread' : ''}`,
          dataset: { id: s.id },
          'aria-current': s.id === state.activeId ? 'true' : undefined,
          onclick: () => selectSession(s.id),
        },
        sessionIcon(s),
        h('span', { class: 'session-text' },
          h('span', { class: 'session-title', text: titleOf(s) }),
          h('span', { class: 'session-sub', text: `${formatNumber(s.messageCount)} message${s.messageCount === 1 ? '' : 's'}` }),
        ),
        s.unreadCount > 0 ? h('span', { class: 'badge', 'aria-label': `${s.unreadCount} unread`, text: s.unreadCount > 99 ? '99+' : String(s.unreadCount) }) : null,
      ),
    ),
  );
}

function sessionIcon(session) {
  const el = h('span', { class: 'session-icon', 'aria-hidden': 'true', text: [...titleOf(session)][0]?.toUpperCase() ?? '#' });
  el.style.background = colorFor(session.id);
  return el;
}

const titleOf = (session) => session.title?.trim() || `Conversation ${session.id.slice(0, 8)}`;

/** Moves a session to the top of the list (it just had activity). */
function bumpSession(sessionId) {
  state.sessionOrder = [sessionId, ...state.sessionOrder.filter((id) => id !== sessionId)];
}

async function selectSession(sessionId) {
  if (state.activeId === sessionId) return;
  stopTyping();
  if (state.activeId) viewOf(state.activeId).unreadDivider = null; // read by now: no divider next time
  const unread = state.sessions.get(sessionId)?.unreadCount ?? 0;
  if (unread > 0) viewOf(sessionId).unreadDivider = { count: unread, before: null };
  state.activeId = sessionId;
  state.editing = null;
  history.replaceState(null, '', `#${encodeURIComponent(sessionId)}`);
  document.body.classList.remove('sidebar-open');
  if (state.panel && state.panel.sessionId !== sessionId) closePanel();
  const session = state.sessions.get(sessionId);
  $('room-empty').hidden = true;
  $('room-main').hidden = false;
  $('room-title').textContent = titleOf(session);
  $('search-input').value = '';
  $('invite-form').hidden = true;
  // The server's 'members' policy lets owners manage members; others would only get FORBIDDEN.
  $('invite-toggle').hidden = session.role !== 'owner';
  renderSessionList();
  renderMembers();
  renderTyping();
  const view = viewOf(sessionId);
  if (view.loaded) renderTimeline({ scroll: 'bottom' });
  else {
    setChildren($('messages'), h('p', { class: 'muted center small', text: 'Loading…' }));
    await loadHistory(sessionId);
  }
  markSeenSoon();
  $('composer-input').focus();
}

function viewOf(sessionId) {
  let view = state.views.get(sessionId);
  if (!view) {
    view = { messages: new Map(), order: [], loaded: false, hasOlder: false };
    state.views.set(sessionId, view);
  }
  return view;
}

// ---- new session ------------------------------------------------------------------------------

$('new-session-toggle').addEventListener('click', () => {
  $('new-session-form').hidden = !$('new-session-form').hidden;
  if (!$('new-session-form').hidden) $('new-session-title').focus();
});
$('new-session-cancel').addEventListener('click', () => { $('new-session-form').hidden = true; });

$('new-session-form').addEventListener('submit', async (event) => {
  event.preventDefault();
  const title = $('new-session-title').value.trim();
  const memberIds = $('new-session-members').value.split(/[\s,]+/).map((s) => s.replace(/^@/, '')).filter(Boolean);
  try {
    const session = await api('/sessions', { method: 'POST', body: { title, ...(memberIds.length > 0 && { memberIds }) } });
    state.sessions.set(session.id, withCounts({ ...session, role: 'owner', lastReadSeq: 0, unreadCount: 0 }));
    bumpSession(session.id);
    noteSeq(session.id, session.lastSeq);
    $('new-session-form').reset();
    $('new-session-form').hidden = true;
    await joinSession(session.id);
    await selectSession(session.id);
  } catch (error) {
    fail(error);
  }
});

// ---- invite -----------------------------------------------------------------------------------

$('invite-toggle').addEventListener('click', () => {
  $('invite-form').hidden = !$('invite-form').hidden;
  if (!$('invite-form').hidden) $('invite-user').focus();
});

$('invite-form').addEventListener('submit', async (event) => {
  event.preventDefault();
  const userId = $('invite-user').value.trim().replace(/^@/, '');
  const sessionId = state.activeId;
  try {
    await api(`/sessions/${encodeURIComponent(sessionId)}/members`, { method: 'POST', body: { userId } });
    $('invite-form').reset();
    $('invite-form').hidden = true;
    toast(`${userId} can now see this conversation`, 'info');
    await refreshMembers(sessionId);
  } catch (error) {
    fail(error.code === 'FORBIDDEN' ? new Error('Only the owners of a conversation can add members') : error);
  }
});

// ---- members and presence ---------------------------------------------------------------------

// Members come as user ids; a display name reaches us only in `user:joined` and `typing:start` (from
// the other person's token). Keep the names we learn, so a reload still shows them.
function loadNames() {
  try {
    return new Map(Object.entries(JSON.parse(localStorage.getItem(NAMES_KEY) ?? '{}')));
  } catch {
    return new Map();
  }
}

const saveNames = debounce(() => {
  const recent = [...state.names].slice(-500);
  localStorage.setItem(NAMES_KEY, JSON.stringify(Object.fromEntries(recent)));
}, 500);

function rememberName(userId, name) {
  if (state.names.get(userId) === name) return;
  state.names.delete(userId); // re-insert: most recent last
  state.names.set(userId, name);
  saveNames();
}

const nameOf = (userId) => (userId === null ? 'Assistant' : state.names.get(userId) ?? userId);
const isOnline = (userId) => state.presence.get(userId)?.status === 'online';

function renderMembers() {
  const members = state.members.get(state.activeId) ?? [];
  const online = members.filter((m) => isOnline(m.userId)).length;
  const shown = [...members].sort((a, b) => Number(isOnline(b.userId)) - Number(isOnline(a.userId))).slice(0, 8);
  setChildren(
    $('room-members'),
    h('span', { class: 'member-stack' },
      shown.map((m) => {
        const p = state.presence.get(m.userId);
        const status = p?.status === 'online' ? 'online' : `offline · last seen ${formatRelative(p?.lastSeenAt ?? m.lastSeenAt)}`;
        return h('span', { class: `member ${isOnline(m.userId) ? 'member-online' : ''}`, title: `${nameOf(m.userId)} (@${m.userId}) — ${status}${m.role === 'owner' ? ' · owner' : ''}`, dataset: { userId: m.userId, presence: isOnline(m.userId) ? 'online' : 'offline' } },
          avatar(m.userId, nameOf(m.userId), 'avatar-xs'),
          h('span', { class: 'presence-dot', 'aria-hidden': 'true' }),
        );
      }),
    ),
    h('span', { class: 'member-count', text: `${members.length} member${members.length === 1 ? '' : 's'} · ${online} online` }),
  );
}

// =================================================================================================
// History and the timeline
// =================================================================================================

async function loadHistory(sessionId) {
  const view = viewOf(sessionId);
  try {
    const page = await api(`/sessions/${encodeURIComponent(sessionId)}/messages?${query({ limit: PAGE_SIZE })}`);
    view.messages.clear();
    for (const m of page.messages) addToView(view, m);
    view.order = page.messages.map((m) => m.id);
    view.hasOlder = page.total > page.messages.length;
    view.loaded = true;
    for (const m of page.messages) noteSeq(sessionId, m.changeSeq);
    if (sessionId === state.activeId) renderTimeline({ scroll: 'bottom' });
  } catch (error) {
    fail(error);
  }
}

async function loadOlder() {
  const sessionId = state.activeId;
  const view = viewOf(sessionId);
  const oldest = view.messages.get(view.order[0]);
  if (!oldest) return;
  $('load-older').disabled = true;
  try {
    const page = await api(`/sessions/${encodeURIComponent(sessionId)}/messages?${query({ limit: PAGE_SIZE, before: oldest.seq })}`);
    const fresh = page.messages.filter((m) => !view.messages.has(m.id));
    for (const m of fresh) addToView(view, m);
    view.order = [...fresh.map((m) => m.id), ...view.order];
    view.hasOlder = page.messages.length === PAGE_SIZE;
    if (sessionId === state.activeId) renderTimeline({ scroll: 'keep' });
  } catch (error) {
    fail(error);
  } finally {
    $('load-older').disabled = false;
  }
}
$('load-older').addEventListener('click', loadOlder);

/** Stores a message, keeping the text of an answer that is streaming right now (ours is newer). */
function addToView(view, message) {
  const live = state.live.get(message.id);
  if (live && statusOf(message) === 'streaming' && live.content.length > message.content.length) message.content = live.content;
  view.messages.set(message.id, message);
}

/** Rebuilds the whole timeline: on session switch and when older messages are prepended. */
function renderTimeline({ scroll }) {
  const view = viewOf(state.activeId);
  const timeline = $('timeline');
  const before = timeline.scrollHeight - timeline.scrollTop;
  const nodes = [];
  let previous = null;
  const firstUnread = firstUnreadOf(view);
  for (const id of view.order) {
    const m = view.messages.get(id);
    if (!previous || formatDay(previous.createdAt) !== formatDay(m.createdAt)) nodes.push(dayDivider(m.createdAt));
    if (id === firstUnread) nodes.push(h('div', { class: 'new-divider', role: 'separator', 'data-testid': 'new-messages' }, h('span', { text: 'New messages' })));
    nodes.push(messageElement(m, { continued: continues(previous, m) && id !== firstUnread }));
    previous = m;
  }
  if (nodes.length === 0) nodes.push(h('p', { class: 'muted center empty-timeline', text: 'No messages yet. Say hello!' }));
  setChildren($('messages'), nodes);
  $('load-older').hidden = !view.hasOlder;
  $('timeline-start').hidden = view.hasOlder || view.order.length === 0;
  renderSeen();
  if (scroll === 'bottom') timeline.scrollTop = timeline.scrollHeight;
  else timeline.scrollTop = timeline.scrollHeight - before; // older messages went on top: stay put
  pollMetrics();
}

/**
 * Where the "New messages" divider goes: before the oldest of the messages that were unread when the
 * conversation was opened (the last `count` messages of other people), fixed once found so that the
 * divider stays put while the conversation goes on.
 */
function firstUnreadOf(view) {
  const divider = view.unreadDivider;
  if (!divider) return null;
  if (divider.before === null) {
    let left = divider.count;
    for (let i = view.order.length - 1; i >= 0 && left > 0; i--) {
      const m = view.messages.get(view.order[i]);
      if (m.userId === state.me.userId || m.isDeleted) continue;
      divider.before = m.id;
      left--;
    }
  }
  return divider.before;
}

function dayDivider(iso) {
  return h('div', { class: 'day-divider', role: 'separator' }, h('span', { text: formatDay(iso) }));
}

/** A message directly after one from the same author, within 5 minutes, shares its header. */
function continues(previous, m) {
  return Boolean(
    previous && !previous.isDeleted && previous.role === m.role && previous.userId === m.userId && m.role !== 'assistant' &&
      new Date(m.createdAt) - new Date(previous.createdAt) < 5 * 60_000 && formatDay(previous.createdAt) === formatDay(m.createdAt),
  );
}

/** Adds a new top-level message at its place (usually the end) without rebuilding the rest. */
function insertIntoTimeline(view, m) {
  const last = view.messages.get(view.order.at(-1));
  if (last && last.seq > m.seq) {
    view.order.push(m.id);
    view.order.sort((a, b) => view.messages.get(a).seq - view.messages.get(b).seq);
    if (view.messages === viewOf(state.activeId).messages) renderTimeline({ scroll: 'keep' });
    return;
  }
  view.order.push(m.id);
  if (m.sessionId !== state.activeId) return;
  const timeline = $('timeline');
  const atBottom = timeline.scrollHeight - timeline.scrollTop - timeline.clientHeight < 80;
  $('messages').querySelector('.empty-timeline')?.remove();
  if (!last || formatDay(last.createdAt) !== formatDay(m.createdAt)) $('messages').append(dayDivider(m.createdAt));
  $('messages').append(messageElement(m, { continued: continues(last, m) }));
  $('timeline-start').hidden = view.hasOlder;
  renderSeen();
  // Follow the conversation, unless the reader scrolled up to read something older.
  if (atBottom || m.userId === state.me.userId) timeline.scrollTop = timeline.scrollHeight;
}

/** Runs `change` and, if the reader was at the bottom of the timeline, keeps them there. */
function keepingBottom(change) {
  const timeline = $('timeline');
  const atBottom = timeline.scrollHeight - timeline.scrollTop - timeline.clientHeight < 60;
  change();
  if (atBottom) timeline.scrollTop = timeline.scrollHeight;
}

/** Re-renders every element showing message `id` (timeline and thread panel). */
function refreshMessage(m) {
  keepingBottom(() => refreshElements(m));
}

function refreshElements(m) {
  for (const el of document.querySelectorAll(`.msg[data-id="${CSS.escape(m.id)}"]`)) {
    const fresh = messageElement(m, { continued: el.classList.contains('msg-continued'), inPanel: el.dataset.inPanel === 'true', parent: el.dataset.parent === 'true' });
    el.replaceWith(fresh);
  }
  if (m.sessionId === state.activeId) renderSeen();
}

function findMessage(sessionId, messageId) {
  return state.views.get(sessionId)?.messages.get(messageId);
}

/** Applies a change to a message we hold, then re-renders it. */
function patchMessage(sessionId, messageId, change) {
  const m = findMessage(sessionId, messageId);
  if (!m) return;
  change(m);
  refreshMessage(m);
}

// ---- one message ------------------------------------------------------------------------------

const statusOf = (m) => (m.role === 'assistant' ? m.metadata?.status ?? 'completed' : null);

/**
 * The element of one message. Every piece of server text goes in through `h()` as text.
 * `continued`: shares the previous message's header; `inPanel`: shown in the thread panel.
 */
function messageElement(m, { continued = false, inPanel = false, parent = false } = {}) {
  const mine = m.userId !== null && m.userId === state.me.userId;
  const status = statusOf(m);
  const el = h('article', {
    class: ['msg', state.selectedMessage === m.id && 'msg-selected', mine && 'msg-mine', m.role === 'assistant' && 'msg-assistant', continued && 'msg-continued', m.isDeleted && 'msg-deleted'].filter(Boolean).join(' '),
    dataset: { id: m.id, seq: String(m.seq), inPanel: String(inPanel), parent: String(parent), ...(status && { status }) },
    // Focusable: Tab (or a tap on a touch screen) shows the message's actions, as hovering does.
    tabindex: '0',
  });

  const gutter = h('div', { class: 'msg-gutter' });
  if (!continued) gutter.append(m.role === 'assistant' ? h('span', { class: 'avatar avatar-assistant', 'aria-hidden': 'true', text: '✦' }) : avatar(m.userId ?? 'system', nameOf(m.userId)));
  else gutter.append(h('time', { class: 'msg-hover-time', datetime: m.createdAt, text: formatTime(m.createdAt) }));

  const body = h('div', { class: 'msg-body' });
  if (!continued) {
    body.append(
      h('header', { class: 'msg-head' },
        h('span', { class: 'msg-author', text: m.role === 'assistant' ? 'Assistant' : nameOf(m.userId) }),
        m.role === 'assistant' && !state.config.assistant.isModel ? h('span', { class: 'tag', text: 'demo · not a model' }) : null,
        h('time', { class: 'msg-time', datetime: m.createdAt, title: new Date(m.createdAt).toLocaleString(), text: formatTime(m.createdAt) }),
      ),
    );
  }

  body.append(messageContent(m, inPanel));
  if (m.attachments.length > 0 && !m.isDeleted) body.append(attachmentList(m.attachments));
  if (m.role === 'assistant') body.append(streamFooter(m, status));
  if (m.reactions.length > 0) body.append(reactionList(m));
  if (!inPanel && m.replyCount > 0) {
    body.append(h('button', { type: 'button', class: 'thread-link', onclick: () => openThread(m.id) }, icon('thread'), `${m.replyCount} repl${m.replyCount === 1 ? 'y' : 'ies'}`));
  }
  body.append(h('div', { class: 'msg-seen', 'aria-live': 'off' }));

  el.append(gutter, body);
  if (!m.isDeleted && !(state.editing?.id === m.id)) el.append(messageActions(m, { mine, inPanel, parent }));
  return el;
}

function messageContent(m, inPanel) {
  if (m.isDeleted) return h('p', { class: 'msg-text msg-text-deleted', text: 'This message was deleted.' });
  if (state.editing?.id === m.id && state.editing.inPanel === inPanel) return editForm(m);
  const text = h('div', { class: 'msg-text' });
  if (m.role === 'assistant' && statusOf(m) === 'streaming' && m.content === '') {
    text.classList.add('msg-text-thinking');
    text.textContent = 'Thinking';
    return text;
  }
  text.append(renderMarkdown(m.content));
  if (m.isEdited) {
    const edited = h('span', { class: 'edited', title: m.editedAt ? `Edited ${new Date(m.editedAt).toLocaleString()}` : undefined, text: ' (edited)' });
    const last = text.lastElementChild;
    (last?.tagName === 'P' ? last : text).append(edited);
  }
  return text;
}

function attachmentList(attachments) {
  return h('div', { class: 'attachments' },
    attachments.map((a) =>
      h('span', { class: 'attachment', title: a.fileUrl },
        h('span', { class: 'attachment-icon', 'aria-hidden': 'true' }, attachmentIcon(a.mimeType)),
        safeLink(a.fileUrl, a.fileName),
        h('span', { class: 'attachment-host', text: hostOf(a.fileUrl) }),
      ),
    ),
  );
}

function hostOf(url) {
  try {
    return new URL(url).hostname;
  } catch {
    return '';
  }
}

function reactionList(m) {
  return h('div', { class: 'reactions' },
    m.reactions.map((r) => {
      const mine = r.userIds.includes(state.me.userId);
      return h('button', {
        type: 'button',
        class: `reaction${mine ? ' reaction-mine' : ''}`,
        title: r.userIds.map(nameOf).join(', '),
        'aria-pressed': String(mine),
        dataset: { emoji: r.emoji },
        disabled: m.isDeleted,
        onclick: () => react(m, r.emoji),
      }, h('span', { class: 'reaction-emoji', text: r.emoji }), h('span', { class: 'reaction-count', text: String(r.count) }));
    }),
  );
}

/** Hover toolbar: quick reactions, reply in thread, edit and delete (the last two for the author). */
function messageActions(m, { mine, inPanel, parent }) {
  const bar = h('div', { class: 'msg-actions', role: 'toolbar', 'aria-label': 'Message actions' });
  for (const emoji of QUICK_REACTIONS) {
    bar.append(h('button', { type: 'button', class: 'action action-emoji', title: `React ${emoji}`, 'aria-label': `React ${emoji}`, dataset: { emoji }, onclick: () => react(m, emoji) }, emoji));
  }
  if (!inPanel && statusOf(m) !== 'streaming') {
    bar.append(h('button', { type: 'button', class: 'action action-reply', title: 'Reply in thread', onclick: () => openThread(m.id) }, 'Reply'));
  }
  if (mine && !parent) bar.append(h('button', { type: 'button', class: 'action action-edit', onclick: () => startEdit(m, inPanel) }, 'Edit'));
  if (mine && !parent) {
    const armed = state.confirmDelete === m.id;
    bar.append(h('button', { type: 'button', class: `action action-delete${armed ? ' action-armed' : ''}`, onclick: () => deleteMessage(m) }, armed ? 'Delete?' : 'Delete'));
  }
  return bar;
}

// ---- live events ------------------------------------------------------------------------------

function onMessageNew(m) {
  noteSeq(m.sessionId, m.changeSeq);
  const session = state.sessions.get(m.sessionId);
  const view = state.views.get(m.sessionId);
  const isNew = !view?.messages.has(m.id);
  const unread = m.userId !== state.me.userId && !(m.sessionId === state.activeId && document.visibilityState === 'visible');
  if (session && countMessage(session, m, unread)) {
    bumpSession(m.sessionId);
    renderSessionList();
  }
  if (m.userId) setTyping(m.sessionId, m.userId, undefined, false); // sending ends typing
  if (!view?.loaded) return;
  addToView(view, m);
  if (m.parentMessageId === null) {
    if (isNew) insertIntoTimeline(view, m);
    else refreshMessage(m);
  } else {
    const parent = view.messages.get(m.parentMessageId);
    if (parent && isNew) {
      parent.replyCount += 1;
      refreshMessage(parent);
    }
    if (state.panel?.kind === 'thread' && state.panel.parentId === m.parentMessageId && isNew) appendToThread(m);
  }
  markSeenSoon();
}

function onMessageEdited(m) {
  noteSeq(m.sessionId, m.changeSeq);
  const view = state.views.get(m.sessionId);
  if (!view?.messages.has(m.id)) return;
  // A committed answer's text is final: drop what we were accumulating for it.
  if (m.role === 'assistant' && statusOf(m) !== 'streaming') endLive(m.id);
  addToView(view, m);
  refreshMessage(m);
}

function onMessageDeleted({ sessionId, messageId, seq, deletedAt }) {
  noteSeq(sessionId, seq);
  if (state.editing?.id === messageId) state.editing = null;
  patchMessage(sessionId, messageId, (m) => {
    m.isDeleted = true;
    m.deletedAt = deletedAt;
    m.content = '';
  });
}

// ---- seen receipts and unread counts ----------------------------------------------------------

/** Tells the server we read up to the latest message of the open conversation (debounced). */
const markSeenSoon = debounce(async () => {
  const sessionId = state.activeId;
  if (!sessionId || document.visibilityState !== 'visible') return;
  const view = viewOf(sessionId);
  const latest = view.messages.get(view.order.at(-1));
  const session = state.sessions.get(sessionId);
  if (session) {
    session.unreadCount = 0;
    renderSessionList();
  }
  const me = state.members.get(sessionId)?.find((m) => m.userId === state.me.userId);
  if (!latest || (me && me.lastReadSeq >= latest.seq)) return;
  try {
    const receipt = await request('message:seen', { sessionId, messageId: latest.id });
    if (me) me.lastReadSeq = Math.max(me.lastReadSeq, receipt.seq);
  } catch (error) {
    if (error.code !== 'RATE_LIMITED') fail(error);
  }
}, 300);

document.addEventListener('visibilitychange', () => {
  if (document.visibilityState === 'visible') markSeenSoon();
});

function onSeenUpdate({ sessionId, userId, seq }) {
  const member = state.members.get(sessionId)?.find((m) => m.userId === userId);
  if (member) member.lastReadSeq = Math.max(member.lastReadSeq, seq);
  if (sessionId === state.activeId) renderSeen();
}

/**
 * "Seen by …" under the last message each other member has read (their read cursor), like most
 * messengers: one marker per reader, at the newest message at or below their cursor.
 */
function renderSeen() {
  keepingBottom(placeSeenMarkers);
}

function placeSeenMarkers() {
  const sessionId = state.activeId;
  const view = viewOf(sessionId);
  for (const slot of $('messages').querySelectorAll('.msg-seen')) slot.replaceChildren();
  const readers = new Map(); // messageId → [userId]
  for (const member of state.members.get(sessionId) ?? []) {
    if (member.userId === state.me.userId || member.lastReadSeq === 0) continue;
    let at = null;
    for (const id of view.order) {
      const m = view.messages.get(id);
      if (m.seq <= member.lastReadSeq && !m.isDeleted) at = id;
    }
    if (at) readers.set(at, [...(readers.get(at) ?? []), member.userId]);
  }
  for (const [messageId, userIds] of readers) {
    const slot = $('messages').querySelector(`.msg[data-id="${CSS.escape(messageId)}"] .msg-seen`);
    if (!slot) continue;
    slot.append(h('span', { class: 'seen', title: `Seen by ${userIds.map(nameOf).join(', ')}` }, '✓ Seen by ', userIds.map(nameOf).join(', ')));
  }
}

// ---- typing -----------------------------------------------------------------------------------

function setTyping(sessionId, userId, name, typing) {
  if (name) rememberName(userId, name);
  let typists = state.typing.get(sessionId);
  if (!typists) state.typing.set(sessionId, (typists = new Map()));
  clearTimeout(typists.get(userId)?.timer);
  if (typing) {
    // Safety net: the server sends typing:stop on expiry, but a lost packet must not leave it forever.
    typists.set(userId, { timer: setTimeout(() => setTyping(sessionId, userId, undefined, false), 7000) });
  } else {
    typists.delete(userId);
  }
  if (sessionId === state.activeId) renderTyping();
}

function renderTyping() {
  const names = [...(state.typing.get(state.activeId)?.keys() ?? [])].map(nameOf);
  const el = $('typing');
  if (names.length === 0) {
    el.replaceChildren();
    el.classList.remove('typing-on');
    return;
  }
  const who = names.length === 1 ? `${names[0]} is` : names.length === 2 ? `${names[0]} and ${names[1]} are` : `${names.length} people are`;
  setChildren(el, h('span', { class: 'typing-dots', 'aria-hidden': 'true' }, h('i'), h('i'), h('i')), ` ${who} typing…`);
  el.classList.add('typing-on');
}

/** Sends typing:start at most every few seconds while keys are pressed, and typing:stop when idle. */
function noteTyping() {
  const sessionId = state.activeId;
  if (!sessionId || !state.socket?.connected) return;
  if (Date.now() - state.typingSent > TYPING_REFRESH_MS) {
    state.typingSent = Date.now();
    state.socket.emit('typing:start', { sessionId }, () => {});
  }
  clearTimeout(state.typingTimer);
  state.typingTimer = setTimeout(stopTyping, TYPING_IDLE_MS);
}

function stopTyping() {
  clearTimeout(state.typingTimer);
  if (state.typingSent !== 0 && state.activeId && state.socket?.connected) state.socket.emit('typing:stop', { sessionId: state.activeId }, () => {});
  state.typingSent = 0;
}

// =================================================================================================
// Actions on messages
// =================================================================================================

async function react(m, emoji) {
  try {
    const { reactions } = await request('message:reaction', { messageId: m.id, emoji, action: 'toggle' });
    patchMessage(m.sessionId, m.id, (x) => { x.reactions = reactions; });
  } catch (error) {
    fail(error);
  }
}

function startEdit(m, inPanel) {
  state.editing = { id: m.id, inPanel, draft: m.content };
  refreshMessage(m);
  const input = document.querySelector(`.msg[data-id="${CSS.escape(m.id)}"] .edit-input`);
  input?.focus();
  input?.setSelectionRange(input.value.length, input.value.length);
}

function editForm(m) {
  const input = h('textarea', { class: 'edit-input', rows: '2', maxlength: '10000', 'aria-label': 'Edit message' });
  input.value = state.editing.draft;
  input.addEventListener('input', () => { state.editing.draft = input.value; });
  const cancel = () => {
    state.editing = null;
    refreshMessage(m);
  };
  const save = async () => {
    const content = input.value.trim();
    if (!content || content === m.content) return cancel();
    try {
      const updated = await request('message:edit', { messageId: m.id, content });
      state.editing = null;
      Object.assign(m, updated);
      refreshMessage(m);
    } catch (error) {
      fail(error);
    }
  };
  input.addEventListener('keydown', (event) => {
    if (event.key === 'Enter' && !event.shiftKey) {
      event.preventDefault();
      save();
    } else if (event.key === 'Escape') {
      event.preventDefault(); // this Esc is the edit's, not the page's
      cancel();
      composerInput.focus();
    }
  });
  return h('div', { class: 'edit' },
    input,
    h('div', { class: 'edit-buttons' },
      h('span', { class: 'muted small', text: 'Enter to save · Esc to cancel' }),
      h('button', { type: 'button', class: 'btn btn-ghost btn-sm', onclick: cancel }, 'Cancel'),
      h('button', { type: 'button', class: 'btn btn-primary btn-sm edit-save', onclick: save }, 'Save'),
    ),
  );
}

/** Two clicks to delete (no modal dialog): the first arms the button for a few seconds. */
async function deleteMessage(m) {
  if (state.confirmDelete !== m.id) {
    state.confirmDelete = m.id;
    refreshMessage(m);
    setTimeout(() => {
      if (state.confirmDelete === m.id) {
        state.confirmDelete = null;
        refreshMessage(m);
      }
    }, 3000);
    return;
  }
  state.confirmDelete = null;
  try {
    await request('message:delete', { messageId: m.id });
  } catch (error) {
    fail(error);
    refreshMessage(m);
  }
}

// =================================================================================================
// Composer: send, attachments, ask the assistant
// =================================================================================================

const composerInput = $('composer-input');

composerInput.addEventListener('input', () => {
  autoGrow(composerInput);
  if (composerInput.value.trim()) noteTyping();
  else stopTyping();
});
composerInput.addEventListener('keydown', (event) => {
  if (event.key === 'Enter' && !event.shiftKey && !event.isComposing) {
    event.preventDefault();
    $('composer').requestSubmit();
  } else if (event.key === 'ArrowUp' && composerInput.value === '') {
    const mine = lastEditableMessage();
    if (mine) {
      event.preventDefault();
      startEdit(mine, false);
    }
  }
});

/** ↑ in an empty composer edits this: your newest message in the open conversation. */
function lastEditableMessage() {
  const view = state.activeId && state.views.get(state.activeId);
  if (!view) return null;
  for (let i = view.order.length - 1; i >= 0; i--) {
    const m = view.messages.get(view.order[i]);
    if (m.userId === state.me.userId && m.role === 'user' && !m.isDeleted) return m;
  }
  return null;
}

// A tap (or click) on a message selects it, which shows its actions on screens without hover; a tap
// elsewhere lets it go; its actions keep it (Delete asks for a second tap).
document.addEventListener('click', (event) => {
  if (event.target.closest('.msg-actions')) return;
  const message = event.target.closest('.msg');
  const selected = message && !event.target.closest('a, button, input, textarea, summary') ? message.dataset.id : null;
  if (selected === state.selectedMessage) return;
  for (const el of document.querySelectorAll('.msg-selected')) el.classList.remove('msg-selected');
  state.selectedMessage = selected;
  if (selected) for (const el of document.querySelectorAll(`.msg[data-id="${CSS.escape(selected)}"]`)) el.classList.add('msg-selected');
});

// Esc closes what is open: an edit (its own handler), the conversation list on a phone, the side
// panel, a focused message's actions.
document.addEventListener('keydown', (event) => {
  if (event.key !== 'Escape' || event.defaultPrevented) return;
  const message = document.activeElement?.closest?.('.msg');
  if (document.body.classList.contains('sidebar-open')) document.body.classList.remove('sidebar-open');
  else if (!$('panel').hidden) {
    closePanel();
    composerInput.focus();
  } else if (message) composerInput.focus();
});
composerInput.addEventListener('blur', () => stopTyping());

function autoGrow(textarea) {
  textarea.style.height = 'auto';
  textarea.style.height = `${Math.min(textarea.scrollHeight, 200)}px`;
}

$('composer').addEventListener('submit', async (event) => {
  event.preventDefault();
  const content = composerInput.value.trim();
  const attachments = state.pendingAttachments;
  if (!content || !state.activeId) return;
  clearComposer();
  stopTyping();
  try {
    await request('message:send', {
      sessionId: state.activeId,
      content,
      // Makes a retry after a lost ack safe: the server answers with the first message.
      clientMessageId: crypto.randomUUID(),
      ...(attachments.length > 0 && { attachments }),
    });
  } catch (error) {
    restoreComposer(content, attachments);
    fail(error);
  }
});

function clearComposer() {
  composerInput.value = '';
  autoGrow(composerInput);
  state.pendingAttachments = [];
  renderPendingAttachments();
  $('attach-row').hidden = true;
}

function restoreComposer(content, attachments) {
  composerInput.value = content;
  autoGrow(composerInput);
  state.pendingAttachments = attachments;
  renderPendingAttachments();
}

$('attach-toggle').addEventListener('click', () => {
  $('attach-row').hidden = !$('attach-row').hidden;
  if (!$('attach-row').hidden) $('attach-url').focus();
});

function addPendingAttachment() {
  const url = $('attach-url').value.trim();
  let parsed;
  try {
    parsed = new URL(url);
  } catch {
    return toast('Enter a full link, starting with https://');
  }
  if (parsed.protocol !== 'https:' && parsed.protocol !== 'http:') return toast('Only http(s) links can be attached');
  if (state.pendingAttachments.length >= 10) return toast('At most 10 attachments per message');
  state.pendingAttachments.push({ fileName: fileNameFromUrl(parsed.href), fileUrl: parsed.href, mimeType: guessMimeType(parsed.href), fileSize: 0 });
  $('attach-url').value = '';
  renderPendingAttachments();
  composerInput.focus();
}
$('attach-add').addEventListener('click', addPendingAttachment);
$('attach-url').addEventListener('keydown', (event) => {
  if (event.key === 'Enter') {
    event.preventDefault();
    addPendingAttachment();
  }
});

function renderPendingAttachments() {
  setChildren(
    $('pending-attachments'),
    state.pendingAttachments.map((a, i) =>
      h('span', { class: 'attachment attachment-pending' },
        h('span', { class: 'attachment-icon', 'aria-hidden': 'true' }, attachmentIcon(a.mimeType)),
        h('span', { text: a.fileName }),
        h('button', { type: 'button', class: 'attachment-remove', 'aria-label': `Remove ${a.fileName}`, onclick: () => { state.pendingAttachments.splice(i, 1); renderPendingAttachments(); } }, icon('close')),
      ),
    ),
  );
}

/** "Ask the assistant": the composer's text becomes the prompt; the answer streams into the session. */
$('ask').addEventListener('click', async () => {
  const prompt = composerInput.value.trim();
  if (!state.activeId) return;
  if (!prompt) {
    composerInput.placeholder = 'Type a question for the assistant, then press ✦ Ask the assistant';
    composerInput.focus();
    return;
  }
  clearComposer();
  stopTyping();
  try {
    const { streamId, messageId } = await request('stream:request', { sessionId: state.activeId, prompt, agentId: state.config.assistant.agentId });
    state.myStreams.add(streamId);
    liveOf(messageId, streamId).mine = true;
    const m = findMessage(state.activeId, messageId);
    if (m) refreshMessage(m);
  } catch (error) {
    restoreComposer(prompt, []);
    fail(error);
  }
});

// =================================================================================================
// Streaming answers
// =================================================================================================

/** What we accumulate for an answer streaming right now (also for sessions not on screen). */
function liveOf(messageId, streamId) {
  let live = state.live.get(messageId);
  if (!live) state.live.set(messageId, (live = { streamId, content: '', tokens: 0, metrics: null, error: null, mine: state.myStreams.has(streamId) }));
  return live;
}

function endLive(messageId) {
  const live = state.live.get(messageId);
  if (live) clearInterval(live.poll);
  state.live.delete(messageId);
}

function onStreamSnapshot({ streamId, sessionId, messageId, content, tokens }) {
  const live = liveOf(messageId, streamId);
  live.content = content;
  live.tokens = tokens;
  patchMessage(sessionId, messageId, (m) => {
    m.content = content;
    m.metadata = { ...m.metadata, status: 'streaming', streamId };
  });
  pollMetrics();
}

/** A chunk carries only its delta (and the whole text on the final one): append, touch one text node. */
function onStreamChunk(chunk) {
  const live = liveOf(chunk.messageId, chunk.id);
  live.content = chunk.isComplete && chunk.content ? chunk.content : live.content + chunk.delta;
  live.tokens = chunk.tokens;
  const m = findMessage(chunk.sessionId, chunk.messageId);
  if (!m) return;
  m.content = live.content;
  if (statusOf(m) !== 'streaming') m.metadata = { ...m.metadata, status: 'streaming', streamId: chunk.id };
  const elements = document.querySelectorAll(`.msg[data-id="${CSS.escape(m.id)}"]`);
  for (const el of elements) {
    const text = el.querySelector('.msg-text');
    if (!text || text.classList.contains('msg-text-thinking') || el.dataset.status !== 'streaming') {
      refreshMessage(m);
      break;
    }
    text.replaceChildren(renderMarkdown(m.content));
    const tokens = el.querySelector('.stream-tokens');
    if (tokens) tokens.textContent = `${formatNumber(live.tokens)} tokens`;
  }
  if (m.sessionId === state.activeId) followBottom();
  if (!live.poll) pollMetrics();
}

function onStreamEnd(event, status) {
  const { sessionId, messageId } = event;
  noteSeq(sessionId, event.seq);
  const live = state.live.get(messageId);
  const metrics = event.metrics ?? live?.metrics ?? null;
  endLive(messageId);
  if (status === 'error') toast(`${event.message.replace(/\.$/, '')}. The partial answer is kept.`);
  patchMessage(sessionId, messageId, (m) => {
    if (typeof event.content === 'string') m.content = event.content;
    // The stored count, the same for every member; the chunks' running count (and the last metrics we
    // polled) can be behind it, or differ when the upstream reports its own count at the end.
    if (typeof event.tokens === 'number') m.tokens = event.tokens;
    m.metadata = { ...m.metadata, status, ...(status === 'error' && { error: event.message }) };
    m.finalMetrics = metrics;
  });
  if (sessionId === state.activeId) followBottom();
}

function followBottom() {
  const timeline = $('timeline');
  if (timeline.scrollHeight - timeline.scrollTop - timeline.clientHeight < 160) timeline.scrollTop = timeline.scrollHeight;
}

/**
 * Status line under an answer: its state (and Stop while it streams); the figures — tokens, rate,
 * first-token latency, bandwidth — behind a "Details" toggle, which stays open across re-renders.
 */
function streamFooter(m, status) {
  const live = state.live.get(m.id);
  const footer = h('div', { class: `stream-footer stream-${status}` });
  const streaming = status === 'streaming';
  const label = { streaming: 'Streaming', completed: '✓ Complete', stopped: '■ Stopped — partial answer kept', error: '⚠ Failed — partial answer kept' }[status] ?? status;
  footer.append(h('span', { class: 'stream-state' }, streaming && h('span', { class: 'pulse', 'aria-hidden': 'true' }), label));
  if (status === 'error' && m.metadata?.error) footer.append(h('span', { class: 'stream-error', text: m.metadata.error }));

  const tokens = streaming ? live?.tokens ?? 0 : m.tokens;
  const metrics = streaming ? live?.metrics : m.finalMetrics;
  const details = h('details', { class: 'stream-details', open: state.openDetails.has(m.id) },
    h('summary', { text: 'Details' }),
    typeof tokens === 'number' && h('span', { class: 'stream-tokens', text: `${formatNumber(tokens)} tokens` }),
    h('span', { class: 'stream-metrics', text: metrics ? metricsText(metrics) : '' }),
  );
  details.addEventListener('toggle', () => (details.open ? state.openDetails.add(m.id) : state.openDetails.delete(m.id)));
  footer.append(details);
  if (streaming && canStop(m)) {
    footer.append(h('button', { type: 'button', class: 'btn btn-stop btn-sm', 'data-testid': 'stop', onclick: (e) => stopStream(m, e.currentTarget) }, '■ Stop'));
  }
  return footer;
}

/** Rate, latency and bandwidth; the token count has its own place (`.stream-tokens`). */
function metricsText(metrics) {
  const parts = [
    `${formatNumber(metrics.tokensPerSecond, 1)} tok/s`,
    metrics.latency !== null && metrics.latency !== undefined ? `first token ${formatNumber(metrics.latency)} ms` : null,
    formatRate(metrics.bandwidth),
  ];
  return parts.filter(Boolean).join(' · ');
}

/** The requester or a session owner may stop; the requester is the author of the prompt just before. */
function canStop(m) {
  const live = state.live.get(m.id);
  if (live?.mine || state.myStreams.has(m.metadata?.streamId)) return true;
  if (state.sessions.get(m.sessionId)?.role === 'owner') return true;
  const view = state.views.get(m.sessionId);
  const prompt = view && [...view.messages.values()].find((x) => x.seq === m.seq - 1);
  return prompt?.userId === state.me.userId;
}

async function stopStream(m, button) {
  button.disabled = true;
  button.textContent = 'Stopping…';
  try {
    await request('stream:stop', { streamId: m.metadata.streamId });
  } catch (error) {
    fail(error);
    button.disabled = false;
    button.textContent = '■ Stop';
  }
}

/** Live metrics of the answers streaming in the open conversation (REST, while they run). */
function pollMetrics() {
  for (const [messageId, live] of state.live) {
    if (live.poll) continue;
    const m = findMessage(state.activeId, messageId);
    if (!m || !live.streamId) continue;
    live.poll = setInterval(async () => {
      if (!state.live.has(messageId) || m.sessionId !== state.activeId) {
        clearInterval(live.poll);
        live.poll = null;
        return;
      }
      try {
        live.metrics = await api(`/streams/${encodeURIComponent(live.streamId)}/metrics`);
        for (const el of document.querySelectorAll(`.msg[data-id="${CSS.escape(messageId)}"] .stream-metrics`)) {
          if (state.live.has(messageId)) el.textContent = metricsText(live.metrics);
        }
      } catch {
        // Transient: the next tick tries again, and the stream's end stops the polling.
      }
    }, METRICS_POLL_MS);
  }
}

// =================================================================================================
// Side panel: threads and search
// =================================================================================================

$('panel-close').addEventListener('click', closePanel);

function openPanel(title, kind) {
  $('panel').hidden = false;
  $('panel').dataset.kind = kind;
  $('panel-title').textContent = title;
  document.body.classList.add('panel-open');
}

function closePanel() {
  state.panel = null;
  $('panel').hidden = true;
  document.body.classList.remove('panel-open');
  $('thread-composer').hidden = true;
}

async function openThread(parentId) {
  const sessionId = state.activeId;
  const parent = findMessage(sessionId, parentId);
  if (!parent) return;
  state.panel = { kind: 'thread', sessionId, parentId, order: [] };
  openPanel('Thread', 'thread');
  $('thread-composer').hidden = false;
  renderThread();
  try {
    const { messages } = await api(`/messages/${encodeURIComponent(parentId)}/thread`);
    if (state.panel?.parentId !== parentId) return;
    const view = viewOf(sessionId);
    for (const m of messages) addToView(view, m);
    state.panel.order = messages.map((m) => m.id);
    renderThread();
  } catch (error) {
    fail(error);
  }
  $('thread-input').focus();
}

function renderThread() {
  const { sessionId, parentId, order } = state.panel;
  const view = viewOf(sessionId);
  const parent = view.messages.get(parentId);
  let previous = null;
  const replies = order.map((id) => {
    const m = view.messages.get(id);
    const el = messageElement(m, { inPanel: true, continued: continues(previous, m) });
    previous = m;
    return el;
  });
  setChildren(
    $('panel-body'),
    h('div', { class: 'thread-parent' }, messageElement(parent, { inPanel: true, parent: true })),
    h('div', { class: 'thread-count', text: `${order.length} repl${order.length === 1 ? 'y' : 'ies'}` }),
    h('div', { class: 'thread-replies', 'data-testid': 'thread-replies' }, replies),
  );
  $('panel-body').scrollTop = $('panel-body').scrollHeight;
}

function appendToThread(m) {
  if (state.panel.order.includes(m.id)) return;
  state.panel.order.push(m.id);
  renderThread();
}

$('thread-input').addEventListener('input', () => autoGrow($('thread-input')));
$('thread-input').addEventListener('keydown', (event) => {
  if (event.key === 'Enter' && !event.shiftKey && !event.isComposing) {
    event.preventDefault();
    $('thread-composer').requestSubmit();
  }
});

$('thread-composer').addEventListener('submit', async (event) => {
  event.preventDefault();
  const content = $('thread-input').value.trim();
  if (!content || state.panel?.kind !== 'thread') return;
  $('thread-input').value = '';
  autoGrow($('thread-input'));
  try {
    await request('message:send', { sessionId: state.panel.sessionId, content, parentMessageId: state.panel.parentId, clientMessageId: crypto.randomUUID() });
  } catch (error) {
    $('thread-input').value = content;
    fail(error);
  }
});

$('search-form').addEventListener('submit', async (event) => {
  event.preventDefault();
  const text = $('search-input').value.trim();
  if (!text || !state.activeId) return;
  const sessionId = state.activeId;
  try {
    const page = await api(`/sessions/${encodeURIComponent(sessionId)}/search?${query({ query: text, limit: 25 })}`);
    state.panel = { kind: 'search', sessionId };
    openPanel(`Search: “${text}”`, 'search');
    $('thread-composer').hidden = true;
    renderSearch(text, page);
  } catch (error) {
    fail(error);
  }
});

function renderSearch(text, { messages, total }) {
  const terms = text.toLowerCase().split(/\s+/).filter(Boolean);
  setChildren(
    $('panel-body'),
    h('p', { class: 'muted small search-total', text: total === 0 ? 'No messages match.' : `${total} match${total === 1 ? '' : 'es'} (whole words)` }),
    messages.map((m) =>
      h('button', { type: 'button', class: 'search-hit', onclick: () => jumpTo(m) },
        h('span', { class: 'search-hit-head' },
          h('strong', { text: m.role === 'assistant' ? 'Assistant' : nameOf(m.userId) }),
          h('time', { text: `${formatDay(m.createdAt)} ${formatTime(m.createdAt)}` }),
        ),
        h('span', { class: 'search-hit-text' }, highlight(m.content, terms)),
      ),
    ),
  );
}

/** Splits text into plain strings and <mark>s around whole-word matches: still text only. */
function highlight(text, terms) {
  if (terms.length === 0) return [text];
  const escaped = terms.map((t) => t.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'));
  const pattern = new RegExp(`(?<![\\p{L}\\p{N}])(${escaped.join('|')})(?![\\p{L}\\p{N}])`, 'giu');
  const parts = [];
  let last = 0;
  for (const match of text.matchAll(pattern)) {
    parts.push(text.slice(last, match.index), h('mark', { text: match[0] }));
    last = match.index + match[0].length;
  }
  parts.push(text.slice(last));
  return parts;
}

/** Scrolls to a search hit if it is loaded; a reply opens its thread. */
function jumpTo(m) {
  if (m.parentMessageId) return openThread(m.parentMessageId);
  const el = $('messages').querySelector(`.msg[data-id="${CSS.escape(m.id)}"]`);
  if (!el) return toast('That message is further back: use “Load older messages”', 'info');
  el.scrollIntoView({ block: 'center', behavior: 'smooth' });
  el.classList.add('msg-flash');
  setTimeout(() => el.classList.remove('msg-flash'), 1600);
}

// =================================================================================================
// Layout bits
// =================================================================================================

$('toggle-sidebar').addEventListener('click', () => document.body.classList.toggle('sidebar-open'));
// On small screens the sidebar is a drawer: a tap outside it closes it.
document.addEventListener('click', (event) => {
  if (document.body.classList.contains('sidebar-open') && !event.target.closest('#sidebar, #toggle-sidebar')) {
    document.body.classList.remove('sidebar-open');
  }
});
window.addEventListener('focus', () => state.me && refreshSessions().catch(() => {}));

const leftMessage = sessionStorage.getItem('parley.signout');
sessionStorage.removeItem('parley.signout');
boot().then(() => {
  if (leftMessage && !state.me) $('signin-error').textContent = leftMessage;
});
