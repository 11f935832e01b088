// The Parley demo page, built on `parley-chat/client` (served as one ES module at
// /vendor/parley-client.js, bundled by the app at start-up). The client does the hard part —
// replay from a persisted cursor, the outbox, unread counts, assembling streamed answers, token
// renewal — and hands the page snapshots; the page draws them.
//
//   app.js             sign-in, the client, the connection indicator
//   sidebar.js         the conversation list, new conversation, invite
//   room.js            the open conversation: timeline, receipts; people.js members, presence,
//                      typing; metrics.js the figures of running answers
//   render-messages.js one message; message-view.js keeps a list of them on screen
//   actions.js         react, edit, delete, stop, retry; composer.js the composer and keys
//   panel.js           threads and search
// Server text is rendered as text (see dom.js); message bodies are Markdown, turned into a sanitized
// DOM fragment by markdown.js (raw HTML in a message stays text).

import { createChatClient } from '/vendor/parley-client.js';
import { $, avatar, toast } from '/dom.js';
import { ui, rememberName } from '/state.js';
import { syncSessions, renderSessionList } from '/sidebar.js';
import { selectSession, rerender, renderHead } from '/room.js';
import { replyChanged } from '/panel.js';
import '/composer.js';

const STORAGE_KEY = 'parley.auth';
const EXPIRED = 'Your sign-in is no longer valid (it expired, or the server restarted). Please sign in again.';

// =================================================================================================
// Sign-in
// =================================================================================================

async function boot() {
  ui.config = await fetch('/app-config.json').then((r) => r.json());
  $('signin-demo').hidden = !ui.config.demo;
  $('signin-token').hidden = ui.config.demo;
  $('signin-name').required = ui.config.demo;
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
  (ui.config.demo ? $('signin-name') : $('signin-jwt')).focus();
}

$('signin-form').addEventListener('submit', async (event) => {
  event.preventDefault();
  $('signin-error').textContent = '';
  try {
    const auth = ui.config.demo ? await demoSignIn($('signin-name').value) : tokenSignIn($('signin-jwt').value);
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
  const payload = claimsOf(token);
  if (typeof payload?.sub !== 'string') throw new Error('That does not look like a JWT with a `sub` claim');
  return { token, userId: payload.sub, name: typeof payload.name === 'string' ? payload.name : payload.sub };
}

/** A JWT's claims, read without verifying (the server verifies): null if it is not one. */
function claimsOf(token) {
  try {
    return JSON.parse(atob(token.split('.')[1].replace(/-/g, '+').replace(/_/g, '/')));
  } catch {
    return null;
  }
}

let signingOut = false;

function signOut(message = '') {
  if (signingOut) return;
  signingOut = true;
  localStorage.removeItem(STORAGE_KEY);
  ui.client?.close();
  location.hash = '';
  // A fresh page is the simplest way to forget every piece of state.
  if (message) sessionStorage.setItem('parley.signout', message);
  location.reload();
}

$('signout').addEventListener('click', () => signOut());

// =================================================================================================
// The client
// =================================================================================================

/**
 * The token the client presents: the saved one while less than half its life is used, else (demo
 * mode) a new one minted for the same name. The client asks on every connection and ahead of
 * expiry, and renews on the live socket. A token pasted from your own app cannot be renewed here:
 * when it runs out the server refuses it and we sign out.
 */
async function currentToken() {
  const { exp, iat } = claimsOf(ui.me.token) ?? {};
  const fresh = typeof exp !== 'number' || exp * 1000 - Date.now() > ((exp - (iat ?? exp - 120)) * 1000) / 2;
  if (fresh || !ui.config.demo) return ui.me.token;
  const auth = await demoSignIn(ui.me.name);
  if (auth.userId !== ui.me.userId) throw new Error('signed in as someone else');
  ui.me = { ...ui.me, token: auth.token };
  localStorage.setItem(STORAGE_KEY, JSON.stringify(ui.me));
  return auth.token;
}

function startChat(auth) {
  ui.me = auth;
  rememberName(auth.userId, auth.name);
  $('signin').hidden = true;
  $('chat').hidden = false;
  $('me-avatar').replaceWith(Object.assign(avatar(auth.userId, auth.name, 'avatar-sm'), { id: 'me-avatar' }));
  $('me-name').textContent = auth.name;
  $('me-id').textContent = `@${auth.userId}`;
  $('room-empty-id').textContent = auth.userId;
  renderAssistantBadge();

  const client = createChatClient({ url: location.origin, token: currentToken, persistence: 'local' });
  ui.client = client;
  client.subscribe(() => {
    const { status, userId } = client.getSnapshot();
    if (status === 'unauthorized' || (userId !== null && userId !== ui.me.userId)) return signOut(EXPIRED);
    setConnection(status);
    syncSessions();
    if (ui.room) renderHead();
  });
  // The conversation in the address opens at once, also offline: its unsent messages show.
  openFromAddress();
  window.addEventListener('hashchange', openFromAddress); // a link to another conversation
  // The end of an answer carries its final figures; the client keeps only its text and tokens.
  const ended = ({ messageId, metrics }) => {
    ui.finalMetrics.set(messageId, metrics ?? ui.liveMetrics.get(messageId) ?? null);
    ui.stopping.delete(messageId);
    rerender();
  };
  client.socket.on('stream:complete', ended);
  client.socket.on('stream:stopped', ended);
  client.socket.on('stream:error', (event) => {
    ended(event);
    toast(`${event.message.replace(/\.$/, '')}. The partial answer is kept.`);
  });
  client.socket.on('message:deleted', ({ messageId, seq, deletedAt }) => replyChanged(messageId, seq, { content: '', isDeleted: true, deletedAt, attachments: [], reactions: [] }));
  client.socket.on('message:reaction:update', ({ messageId, seq, reactions }) => replyChanged(messageId, seq, { reactions }));
}

function openFromAddress() {
  const id = decodeURIComponent(location.hash.slice(1));
  if (id) selectSession(id);
}

function renderAssistantBadge() {
  const { assistant } = ui.config;
  const badge = $('assistant-badge');
  badge.hidden = false;
  badge.classList.toggle('assistant-badge-demo', !assistant.isModel);
  badge.textContent = assistant.isModel ? `✦ ${assistant.model ?? assistant.provider}` : '✦ Demo assistant · scripted, not a model';
  badge.title = assistant.isModel
    ? `Answers stream from ${assistant.provider}`
    : 'The server runs the ScriptedProvider: canned text at a fixed pace. Set OPENAI_BASE_URL to use a real model.';
}

const CONNECTION_TEXT = { connecting: 'Connecting…', online: 'Connected', offline: 'Offline · reconnecting…' };

function setConnection(status) {
  if ($('connection').dataset.state === status) return;
  $('connection').dataset.state = status;
  $('connection').textContent = CONNECTION_TEXT[status] ?? status;
}

document.addEventListener('visibilitychange', () => ui.client && renderSessionList());
window.addEventListener('focus', () => ui.client?.refreshSessions().catch(() => {}));

const leftMessage = sessionStorage.getItem('parley.signout');
sessionStorage.removeItem('parley.signout');
boot().then(() => {
  if (leftMessage && !ui.me) $('signin-error').textContent = leftMessage;
});
