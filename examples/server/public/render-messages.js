// One message as an element: author, Markdown body, tool calls, attachments, reactions, the answer's
// status line, your own send's outbox status, and the actions. Every piece of server text goes in
// through `h()` as text, or through markdown.js (sanitized).

import { h, safeLink, avatar, formatTime, formatNumber, formatRate, icon, attachmentIcon } from '/dom.js';
import { renderMarkdown } from '/markdown.js';
import { ui, nameOf } from '/state.js';
import { react, startEdit, deleteMessage, stopStream, retrySend, discardSend, editForm } from '/actions.js';
import { openThread } from '/panel.js';

const QUICK_REACTIONS = ['👍', '❤️', '😂', '🎉', '👀'];
const ANSWER = new Set(['streaming', 'completed', 'stopped', 'error']);

export const isMine = (m) => m.userId !== null && m.userId === ui.me.userId;
/** A message the server has stored (not a send still in the outbox). */
export const isStored = (m) => m.seq !== null;

/**
 * The element of one message. `view`: `continued` (shares the previous message's header),
 * `inPanel` (in the thread panel), `parent` (the thread's parent there), `stream` (its running
 * answer), `replies` (the reply count to show), `canStop`.
 */
export function messageElement(m, view) {
  const { continued = false, inPanel = false, parent = false } = view;
  const mine = isMine(m);
  const answer = m.role === 'assistant';
  const el = h('article', {
    class: ['msg', ui.selectedMessage === m.id && 'msg-selected', mine && 'msg-mine', answer && 'msg-assistant', continued && 'msg-continued', m.isDeleted && 'msg-deleted', !isStored(m) && `msg-${m.status}`].filter(Boolean).join(' '),
    dataset: { id: m.id, seq: String(m.seq), inPanel: String(inPanel), parent: String(parent), status: m.status },
    // Focusable: Tab (or a tap on a touch screen) shows the message's actions, as hovering does.
    tabindex: '0',
  });

  const gutter = h('div', { class: 'msg-gutter' });
  if (!continued) gutter.append(answer ? h('span', { class: 'avatar avatar-assistant', 'aria-hidden': 'true', text: '✦' }) : avatar(m.userId ?? 'system', nameOf(m.userId)));
  else gutter.append(h('time', { class: 'msg-hover-time', datetime: m.createdAt, text: formatTime(m.createdAt) }));

  const body = h('div', { class: 'msg-body' });
  if (!continued) {
    body.append(
      h('header', { class: 'msg-head' },
        h('span', { class: 'msg-author', text: answer ? 'Assistant' : nameOf(m.userId) }),
        answer && !ui.config.assistant.isModel ? h('span', { class: 'tag', text: 'demo · not a model' }) : null,
        h('time', { class: 'msg-time', datetime: m.createdAt, title: new Date(m.createdAt).toLocaleString(), text: formatTime(m.createdAt) }),
      ),
    );
  }

  const tools = answer && !m.isDeleted ? toolLines(toolPartsOf(m)) : null;
  if (tools) body.append(tools);
  body.append(messageContent(m, inPanel));
  if (m.attachments.length > 0 && !m.isDeleted) body.append(attachmentList(m.attachments));
  if (answer && ANSWER.has(m.status)) body.append(streamFooter(m, view));
  if (!isStored(m)) body.append(outboxStatus(m));
  if (m.reactions.length > 0) body.append(reactionList(m));
  if (!inPanel && view.replies > 0) {
    body.append(h('button', { type: 'button', class: 'thread-link', onclick: () => openThread(m.id) }, icon('thread'), `${view.replies} repl${view.replies === 1 ? 'y' : 'ies'}`));
  }
  body.append(h('div', { class: 'msg-seen', 'aria-live': 'off' }));

  el.append(gutter, body);
  if (isStored(m) && !m.isDeleted && ui.editing?.id !== m.id) el.append(messageActions(m, { mine, inPanel, parent }));
  return el;
}

function messageContent(m, inPanel) {
  if (m.isDeleted) return h('p', { class: 'msg-text msg-text-deleted', text: 'This message was deleted.' });
  if (ui.editing?.id === m.id && ui.editing.inPanel === inPanel) return editForm(m);
  const text = h('div', { class: 'msg-text' });
  if (m.status === 'streaming' && m.content === '') {
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

// ---- tool calls -------------------------------------------------------------------------------

/** An answer's tool calls and results (the message keeps its parts up to date while it streams). */
export function toolPartsOf(m) {
  return (m.parts ?? []).filter((p) => p.type === 'tool-call' || p.type === 'tool-result');
}

/** What a message's tool lines depend on, to tell whether they need drawing again. */
export const toolKey = (parts) => parts.map((p) => `${p.type}:${p.toolCallId}:${p.isError ? 1 : 0}`).join('|');

/** One compact line per call ("🔧 rollDice — done"), which expands to its input and output. */
function toolLines(parts) {
  const calls = new Map();
  for (const part of parts) {
    const call = calls.get(part.toolCallId) ?? { toolName: part.toolName };
    if (part.type === 'tool-call') call.input = part.input;
    else Object.assign(call, { output: part.output, isError: part.isError === true, done: true });
    calls.set(part.toolCallId, call);
  }
  if (calls.size === 0) return null;
  return h('div', { class: 'tool-calls' },
    [...calls.entries()].map(([id, call]) => {
      const state = !call.done ? 'running…' : call.isError ? 'failed' : 'done';
      const details = h('details', { class: `tool-call tool-${call.done ? (call.isError ? 'error' : 'done') : 'running'}`, dataset: { toolCallId: id, tool: call.toolName }, open: ui.openDetails.has(`tool:${id}`) },
        h('summary', {}, h('span', { 'aria-hidden': 'true', text: '🔧 ' }), h('code', { text: call.toolName }), ` — ${state}`),
        h('div', { class: 'tool-io' },
          h('span', { class: 'tool-label', text: 'Input' }), h('pre', { class: 'tool-input', text: json(call.input) }),
          call.done && h('span', { class: 'tool-label', text: 'Output' }), call.done && h('pre', { class: 'tool-output', text: json(call.output) }),
        ),
      );
      details.addEventListener('toggle', () => (details.open ? ui.openDetails.add(`tool:${id}`) : ui.openDetails.delete(`tool:${id}`)));
      return details;
    }),
  );
}

const json = (value) => (value === undefined ? '—' : JSON.stringify(value, null, 2));

// ---- the rest of a message ------------------------------------------------------------------

/** Your own send that the server has not stored: on its way, or refused (with Retry). */
function outboxStatus(m) {
  if (m.status === 'failed') {
    return h('div', { class: 'msg-outbox msg-outbox-failed', role: 'status' },
      h('span', { text: `failed${m.error?.message ? ` (${m.error.message.replace(/\.$/, '')})` : ''} — ` }),
      h('button', { type: 'button', class: 'btn btn-ghost btn-sm outbox-retry', 'data-testid': 'retry', onclick: () => retrySend(m) }, 'retry'),
      h('button', { type: 'button', class: 'btn btn-ghost btn-sm outbox-discard', onclick: () => discardSend(m) }, 'discard'),
    );
  }
  return h('div', { class: 'msg-outbox', 'data-testid': 'sending', text: 'sending…' });
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
      const mine = r.userIds.includes(ui.me.userId);
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
  if (!inPanel && m.status !== 'streaming') {
    bar.append(h('button', { type: 'button', class: 'action action-reply', title: 'Reply in thread', onclick: () => openThread(m.id) }, 'Reply'));
  }
  if (mine && !parent) bar.append(h('button', { type: 'button', class: 'action action-edit', onclick: () => startEdit(m, inPanel) }, 'Edit'));
  if (mine && !parent) {
    const armed = ui.confirmDelete === m.id;
    bar.append(h('button', { type: 'button', class: `action action-delete${armed ? ' action-armed' : ''}`, onclick: () => deleteMessage(m) }, armed ? 'Delete?' : 'Delete'));
  }
  return bar;
}

// ---- an answer's status line ----------------------------------------------------------------

/**
 * Under an answer: its state (and Stop while it streams); the figures — tokens, rate, first-token
 * latency, bandwidth — behind a "Details" toggle, which stays open across re-renders.
 */
function streamFooter(m, view) {
  const status = m.status;
  const footer = h('div', { class: `stream-footer stream-${status}` });
  const streaming = status === 'streaming';
  const label = { streaming: 'Streaming', completed: '✓ Complete', stopped: '■ Stopped — partial answer kept', error: '⚠ Failed — partial answer kept' }[status];
  footer.append(h('span', { class: 'stream-state' }, streaming && h('span', { class: 'pulse', 'aria-hidden': 'true' }), label));
  const error = m.error?.message ?? m.metadata?.error;
  if (status === 'error' && typeof error === 'string') footer.append(h('span', { class: 'stream-error', text: error }));

  const tokens = streaming ? view.stream?.tokens ?? m.tokens ?? 0 : m.tokens;
  const metrics = streaming ? ui.liveMetrics.get(m.id) : ui.finalMetrics.get(m.id);
  const details = h('details', { class: 'stream-details', open: ui.openDetails.has(m.id) },
    h('summary', { text: 'Details' }),
    typeof tokens === 'number' && h('span', { class: 'stream-tokens', text: `${formatNumber(tokens)} tokens` }),
    h('span', { class: 'stream-metrics', text: metrics ? metricsText(metrics) : '' }),
  );
  details.addEventListener('toggle', () => (details.open ? ui.openDetails.add(m.id) : ui.openDetails.delete(m.id)));
  footer.append(details);
  if (streaming && view.canStop) {
    const stopping = ui.stopping.has(m.id);
    footer.append(h('button', { type: 'button', class: 'btn btn-stop btn-sm', 'data-testid': 'stop', disabled: stopping, onclick: () => stopStream(m) }, stopping ? 'Stopping…' : '■ Stop'));
  }
  return footer;
}

/** Rate, latency and bandwidth; the token count has its own place (`.stream-tokens`). */
export function metricsText(metrics) {
  const parts = [
    `${formatNumber(metrics.tokensPerSecond, 1)} tok/s`,
    metrics.latency !== null && metrics.latency !== undefined ? `first token ${formatNumber(metrics.latency)} ms` : null,
    formatRate(metrics.bandwidth),
  ];
  return parts.filter(Boolean).join(' · ');
}

/** A streaming answer's element brought up to date in place: only its text and token count change. */
export function patchStreaming(el, m, stream) {
  const text = el.querySelector('.msg-text');
  if (!text || text.classList.contains('msg-text-thinking')) return false;
  text.replaceChildren(renderMarkdown(m.content));
  const tokens = el.querySelector('.stream-tokens');
  if (tokens) tokens.textContent = `${formatNumber(stream?.tokens ?? m.tokens ?? 0)} tokens`;
  return true;
}
