// The side panel: a thread (its replies over REST, then live from the session store, with its own
// composer) or search results (REST).

import { $, h, setChildren, formatDay, formatTime, toast } from '/dom.js';
import { ui, fail, api, query, nameOf } from '/state.js';
import { isStored } from '/render-messages.js';
import { MessageView } from '/message-view.js';
import { autoGrow } from '/composer.js';

const parentView = new MessageView(null);
const repliesView = new MessageView(null);

$('panel-close').addEventListener('click', closePanel);

function openPanel(title, kind) {
  $('panel').hidden = false;
  $('panel').dataset.kind = kind;
  $('panel-title').textContent = title;
  document.body.classList.add('panel-open');
}

export function closePanel() {
  ui.panel = null;
  $('panel').hidden = true;
  document.body.classList.remove('panel-open');
  $('thread-composer').hidden = true;
}

// ---- threads ----------------------------------------------------------------------------------

export async function openThread(parentId) {
  if (!ui.room?.getSnapshot().messages.some((m) => m.id === parentId)) return toast('That thread is further back: use “Load older messages”', 'info');
  const sessionId = ui.activeId;
  ui.panel = { kind: 'thread', sessionId, parentId, fetched: new Map() };
  openPanel('Thread', 'thread');
  $('thread-composer').hidden = false;
  $('panel-body').replaceChildren();
  renderPanel(ui.room.getSnapshot());
  $('thread-input').focus();
  try {
    const { messages } = await api(`/messages/${encodeURIComponent(parentId)}/thread`);
    if (ui.panel?.parentId !== parentId) return;
    for (const m of messages) ui.panel.fetched.set(m.id, { ...m, status: 'sent' });
    renderPanel(ui.room.getSnapshot());
  } catch (error) {
    fail(error);
  }
}

/** The newer of two copies of a message (REST read vs live event). */
const newer = (a, b) => (!a ? b : !b ? a : (b.changeSeq ?? 0) > (a.changeSeq ?? 0) ? b : a);

/** Draws the open thread from the session's snapshot plus what REST returned. */
export function renderPanel(snap) {
  if (ui.panel?.kind !== 'thread') return;
  const { parentId, fetched } = ui.panel;
  const held = new Map(snap.messages.map((m) => [m.id, m]));
  const parent = held.get(parentId);
  if (!parent) return closePanel(); // no longer loaded (a gap dropped it): nothing to anchor on
  const byId = new Map([...fetched].filter(([id]) => id !== parentId));
  for (const m of snap.messages) if (m.parentMessageId === parentId) byId.set(m.id, newer(byId.get(m.id), m));
  const list = [...byId.values()].sort((a, b) => (a.seq ?? Infinity) - (b.seq ?? Infinity));
  const stored = list.filter(isStored).length;

  let replies = $('panel-body').querySelector('[data-testid="thread-replies"]');
  if (!replies) {
    const parentBox = h('div', { class: 'thread-parent' });
    replies = h('div', { class: 'thread-replies', 'data-testid': 'thread-replies' });
    setChildren($('panel-body'), parentBox, h('div', { class: 'thread-count' }), replies);
    parentView.container = parentBox;
    repliesView.container = replies;
    parentView.clear();
    repliesView.clear();
  }
  const atBottom = $('panel-body').scrollHeight - $('panel-body').scrollTop - $('panel-body').clientHeight < 60;
  parentView.render([{ m: parent, view: { inPanel: true, parent: true } }]);
  repliesView.render(list.map((m, i) => ({ m, view: { inPanel: true, continued: continues(list[i - 1], m) } })));
  $('panel-body').querySelector('.thread-count').textContent = `${stored} repl${stored === 1 ? 'y' : 'ies'}`;
  if (atBottom) $('panel-body').scrollTop = $('panel-body').scrollHeight;
}

const continues = (previous, m) => Boolean(previous && !previous.isDeleted && previous.userId === m.userId && previous.role === m.role && m.role !== 'assistant');

$('thread-input').addEventListener('input', () => autoGrow($('thread-input')));
$('thread-input').addEventListener('keydown', (event) => {
  if (event.key === 'Enter' && !event.shiftKey && !event.isComposing) {
    event.preventDefault();
    $('thread-composer').requestSubmit();
  }
});

$('thread-composer').addEventListener('submit', (event) => {
  event.preventDefault();
  const content = $('thread-input').value.trim();
  if (!content || ui.panel?.kind !== 'thread' || !ui.room) return;
  $('thread-input').value = '';
  autoGrow($('thread-input'));
  // Shown at once as "sending…"; a refusal shows on the reply with Retry.
  ui.room.send(content, { parentMessageId: ui.panel.parentId }).catch(() => {});
});

/**
 * A reply only REST gave us changed (the store holds replies that arrived live, not these): the
 * panel's copy follows deletions and reactions, each applied only if newer.
 */
export function replyChanged(messageId, seq, change) {
  const held = ui.panel?.fetched?.get(messageId);
  if (!held || (held.changeSeq ?? 0) >= seq) return;
  ui.panel.fetched.set(messageId, { ...held, ...change, changeSeq: seq });
  if (ui.room) renderPanel(ui.room.getSnapshot());
}

// ---- search -----------------------------------------------------------------------------------

$('search-form').addEventListener('submit', async (event) => {
  event.preventDefault();
  const text = $('search-input').value.trim();
  if (!text || !ui.activeId) return;
  const sessionId = ui.activeId;
  try {
    const page = await api(`/sessions/${encodeURIComponent(sessionId)}/search?${query({ query: text, limit: 25 })}`);
    ui.panel = { kind: 'search', sessionId };
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
