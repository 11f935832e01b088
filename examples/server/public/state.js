// What the page itself knows, beside what the client's stores hold: who is signed in, which
// conversation is open, and the view's own state (an edit in progress, open details, a selection…).
// Messages, members, presence, typing, unread counts and streams live in `parley-chat/client`.

import { debounce, toast } from '/dom.js';

const NAMES_KEY = 'parley.names';

export const ui = {
  config: null, // GET /app-config.json
  me: null, // { token, userId, name }
  client: null, // the ChatClient
  activeId: null,
  room: null, // the ChatSession of the open conversation
  names: loadNames(), // userId → display name, remembered across reloads
  order: [], // session ids, most recently active first
  openDetails: new Set(), // ids of answers whose "Details" are open
  selectedMessage: null, // id of the message a tap selected: its actions show, as on hover
  editing: null, // { id, inPanel, draft }
  confirmDelete: null, // message id awaiting a second click
  stopping: new Set(), // ids of answers whose Stop was pressed
  myStreams: new Set(), // stream ids this tab asked for
  liveMetrics: new Map(), // messageId → metrics polled while the answer streams
  finalMetrics: new Map(), // messageId → metrics its end event carried
  dividers: new Map(), // sessionId → { count, before }: where "New messages" goes
  panel: null, // { kind: 'thread', sessionId, parentId, fetched } | { kind: 'search', sessionId }
  pendingAttachments: [],
};

/** Reports a failed action without interrupting the user. */
export const fail = (error) => toast(error.code === 'RATE_LIMITED' ? `Slow down: ${error.message}` : error.message);

/** A display name: the one the server sent (else remembered), else the user id. */
export const nameOf = (userId) => (userId === null ? 'Assistant' : ui.names.get(userId) ?? userId);

export function rememberName(userId, name) {
  if (!name || name === userId || ui.names.get(userId) === name) return;
  ui.names.delete(userId); // re-insert: most recent last
  ui.names.set(userId, name);
  saveNames();
}

function loadNames() {
  try {
    return new Map(Object.entries(JSON.parse(localStorage.getItem(NAMES_KEY) ?? '{}')));
  } catch {
    return new Map();
  }
}

const saveNames = debounce(() => {
  const recent = [...ui.names].slice(-500);
  localStorage.setItem(NAMES_KEY, JSON.stringify(Object.fromEntries(recent)));
}, 500);

/** Calls the REST binding as the signed-in user; throws an Error with the server's `code`. */
export async function api(path, { method = 'GET', body } = {}) {
  const response = await fetch(`/api/chat${path}`, {
    method,
    headers: {
      authorization: `Bearer ${ui.me.token}`,
      ...(body !== undefined && { 'content-type': 'application/json' }),
    },
    ...(body !== undefined && { body: JSON.stringify(body) }),
  });
  const data = await response.json().catch(() => ({}));
  if (!response.ok) {
    const error = new Error(data.error?.message ?? `HTTP ${response.status}`);
    error.code = data.error?.code ?? 'INTERNAL';
    throw error;
  }
  return data;
}

export const query = (params) => new URLSearchParams(Object.entries(params).filter(([, v]) => v !== undefined)).toString();

export const titleOf = (session) => session.title?.trim() || `Conversation ${session.id.slice(0, 8)}`;

/** The open conversation's summary from the client's session list. */
export const activeSummary = () => ui.client?.getSnapshot().sessions.find((s) => s.id === ui.activeId);
