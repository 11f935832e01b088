// The open conversation, drawn from its session store's snapshot: the timeline (day dividers, the
// "New messages" divider, seen receipts), who is typing, the members and their presence. Opening
// a conversation subscribes to its store; every snapshot redraws what changed.

import { $, h, formatDay } from '/dom.js';
import { ui, fail, api, nameOf, rememberName, titleOf, activeSummary } from '/state.js';
import { isMine, isStored } from '/render-messages.js';
import { renderMembers, renderTyping } from '/people.js';
import { pollMetrics } from '/metrics.js';
import { MessageView } from '/message-view.js';
import { renderSessionList } from '/sidebar.js';
import { renderPanel, closePanel } from '/panel.js';
import { streamIdOf } from '/actions.js';

const timeline = new MessageView($('messages'));
let unsubscribe = null;
let renderQueued = false;
let firstRender = true;
const days = new Map(); // day label → its divider element
const newDivider = h('div', { class: 'new-divider', role: 'separator', 'data-testid': 'new-messages' }, h('span', { text: 'New messages' }));
const knownReplies = new Set(); // ids of the replies seen in snapshots
const replyCounts = new Map(); // parentId → its reply count read after a reply arrived
const countTimers = new Map(); // parentId → a pending read of its count
let drawn = null; // the snapshot on screen (null: draw everything next time)

export async function selectSession(sessionId) {
  if (ui.activeId === sessionId) return;
  if (ui.activeId) ui.dividers.delete(ui.activeId); // read by now: no divider next time
  unsubscribe?.();
  ui.room?.typing(false);
  const summary = ui.client.getSnapshot().sessions.find((s) => s.id === sessionId);
  // Opened before the list arrived (a reload): the count is read once it does.
  if (!summary || summary.unreadCount > 0) ui.dividers.set(sessionId, { count: summary?.unreadCount ?? null, before: null });
  ui.activeId = sessionId;
  ui.room = ui.client.session(sessionId);
  ui.editing = null;
  history.replaceState(null, '', `#${encodeURIComponent(sessionId)}`);
  document.body.classList.remove('sidebar-open');
  if (ui.panel && ui.panel.sessionId !== sessionId) closePanel();
  $('room-empty').hidden = true;
  $('room-main').hidden = false;
  $('search-input').value = '';
  $('invite-form').hidden = true;
  renderHead();
  timeline.clear();
  firstRender = true;
  lastShown = undefined;
  drawn = null;
  unsubscribe = ui.room.subscribe(snapshotChanged);
  renderSessionList();
  renderRoom();
  $('composer-input').focus();
}

/** The open conversation is gone (you were removed): back to the welcome screen. */
export function closeRoom() {
  unsubscribe?.();
  unsubscribe = null;
  ui.activeId = null;
  ui.room = null;
  if (ui.panel) closePanel();
  history.replaceState(null, '', location.pathname);
  $('room-main').hidden = true;
  $('room-empty').hidden = false;
  renderSessionList();
}

/**
 * Redraws the open conversation once, before the next frame: the snapshots of many socket frames
 * make one redraw, and following the bottom reads the layout once per frame rather than per chunk.
 */
export function rerender() {
  drawn = null; // the page's own state changed: everything is drawn again
  snapshotChanged();
}

function snapshotChanged() {
  if (renderQueued) return;
  renderQueued = true;
  requestAnimationFrame(() => {
    renderQueued = false;
    if (ui.room) renderRoom();
  });
}

/** Redraws now (an edit box must exist before it takes the focus). */
export function renderNow() {
  drawn = null;
  if (ui.room) renderRoom();
}

function renderRoom() {
  const snap = ui.room.getSnapshot();
  if (snap.state === 'left') return closeRoom();
  if (onlyAnswersGrew(drawn, snap) && patchAnswers(drawn, snap)) {
    drawn = snap;
    return;
  }
  drawn = snap;
  for (const member of snap.members) rememberName(member.userId, member.name);
  for (const t of snap.typing) rememberName(t.userId, t.name);
  for (const p of snap.presence) rememberName(p.userId, p.name);
  for (const m of snap.messages) if (m.authorName) rememberName(m.userId, m.authorName);
  renderHead();
  renderTimeline(snap);
  renderMembers(snap);
  renderTyping(snap);
  if (ui.panel?.sessionId === ui.activeId) renderPanel(snap);
  pollMetrics(snap);
  markSeenSoon();
}

/** The title, and Invite for owners (the server's 'members' policy refuses anyone else). */
export function renderHead() {
  const summary = activeSummary();
  $('room-title').textContent = summary ? titleOf(summary) : '';
  $('invite-toggle').hidden = summary?.role !== 'owner';
}

// ---- a streamed chunk -------------------------------------------------------------------------
//
// Most snapshots while an answer streams differ from the one on screen only in that answer's text:
// those patch its element and skip the rest (which would walk every message for nothing).

function onlyAnswersGrew(prev, snap) {
  if (!prev || prev.state !== snap.state || prev.hasOlder !== snap.hasOlder || prev.gap !== snap.gap || ui.panel?.kind === 'thread') return false;
  if (!sameItems(prev.typing, snap.typing) || !sameItems(prev.presence, snap.presence)) return false;
  if (prev.members.length !== snap.members.length) return false;
  for (let i = 0; i < snap.members.length; i++) {
    const [a, b] = [prev.members[i], snap.members[i]];
    if (a.userId !== b.userId || a.name !== b.name || a.role !== b.role || a.lastReadSeq !== b.lastReadSeq) return false;
  }
  const [was, now] = [Object.keys(prev.streams), Object.keys(snap.streams)];
  if (was.length !== now.length || now.some((id) => !(id in prev.streams))) return false;
  if (prev.messages.length !== snap.messages.length) return false;
  for (let i = 0; i < snap.messages.length; i++) {
    const [a, b] = [prev.messages[i], snap.messages[i]];
    if (a !== b && (a.id !== b.id || a.status !== 'streaming' || b.status !== 'streaming' || b.parentMessageId !== null)) return false;
  }
  return true;
}

const sameItems = (a, b) => a.length === b.length && a.every((x, i) => x === b[i]);

function patchAnswers(prev, snap) {
  const box = $('timeline');
  const atBottom = box.scrollHeight - box.scrollTop - box.clientHeight < 80;
  const streams = streamsByMessage(snap);
  for (let i = 0; i < snap.messages.length; i++) {
    const m = snap.messages[i];
    if (m === prev.messages[i]) continue;
    // The same view as a full render gives an answer (an answer never continues a header).
    const view = { continued: false, stream: streams.get(m.id), replies: replyCountOf(m), canStop: canStop(m, snap) };
    if (!timeline.patch(m, view)) return false;
  }
  if (atBottom) box.scrollTop = box.scrollHeight;
  return true;
}

// ---- the timeline -----------------------------------------------------------------------------

let lastShown; // the id of the newest message shown: a new one of yours is a send to follow

function renderTimeline(snap) {
  const box = $('timeline');
  const atBottom = firstRender || box.scrollHeight - box.scrollTop - box.clientHeight < 80;
  const fromBottom = box.scrollHeight - box.scrollTop;
  const shown = snap.messages.filter((m) => m.parentMessageId === null);
  const streams = streamsByMessage(snap);
  countReplies(snap.messages);
  const firstUnread = firstUnreadOf(shown);
  const oldestBefore = $('messages').querySelector('.msg')?.dataset.id;

  const items = [];
  let previous = null;
  for (const m of shown) {
    if (!previous || dayOf(previous.createdAt) !== dayOf(m.createdAt)) items.push(dayDivider(m.createdAt));
    if (m.id === firstUnread) items.push(newDivider);
    const stream = streams.get(m.id);
    items.push({ m, view: { continued: continues(previous, m) && m.id !== firstUnread, stream, replies: replyCountOf(m), canStop: m.status === 'streaming' && canStop(m, snap) } });
    previous = m;
  }
  if (shown.length === 0) items.push(h('p', { class: 'muted center empty-timeline', text: snap.state === 'joining' ? 'Loading…' : snap.state === 'error' ? snap.error.message : 'No messages yet. Say hello!' }));
  timeline.render(items);
  $('load-older').hidden = !snap.hasOlder;
  $('timeline-start').hidden = snap.hasOlder || shown.length === 0;
  placeSeenMarkers(snap, shown);

  // Follow the conversation, unless the reader scrolled up to read something older; older
  // messages that went on top leave the reader where they were.
  const last = shown.at(-1);
  const sentNow = last !== undefined && last.id !== lastShown && isMine(last); // not older pages of yours
  lastShown = last?.id;
  if (atBottom || sentNow) box.scrollTop = box.scrollHeight;
  else if (oldestBefore !== $('messages').querySelector('.msg')?.dataset.id) box.scrollTop = box.scrollHeight - fromBottom;
  firstRender = false;
}

/** Running answers by message id. */
const streamsByMessage = (snap) => new Map(Object.values(snap.streams).map((s) => [s.messageId, s]));

/** A redraw (one per streamed chunk) needs two day labels per message: each date is formatted once. */
const dayLabels = new Map();
function dayOf(iso) {
  let label = dayLabels.get(iso);
  if (label === undefined) {
    if (dayLabels.size > 5000) dayLabels.clear(); // and "Today" becomes "Yesterday" at some point
    dayLabels.set(iso, (label = formatDay(iso)));
  }
  return label;
}

function dayDivider(iso) {
  const label = dayOf(iso);
  let el = days.get(label);
  if (!el) days.set(label, (el = h('div', { class: 'day-divider', role: 'separator' }, h('span', { text: label }))));
  return el;
}

/** A message directly after one from the same author, within 5 minutes, shares its header. */
function continues(previous, m) {
  return Boolean(
    previous && !previous.isDeleted && previous.role === m.role && previous.userId === m.userId && m.role !== 'assistant' &&
      Date.parse(m.createdAt) - Date.parse(previous.createdAt) < 5 * 60_000 && dayOf(previous.createdAt) === dayOf(m.createdAt),
  );
}

/**
 * Where the "New messages" divider goes: before the oldest of the messages that were unread when the
 * conversation was opened (the last `count` messages of other people), fixed once found so that the
 * divider stays put while the conversation goes on.
 */
function firstUnreadOf(shown) {
  const divider = ui.dividers.get(ui.activeId);
  if (!divider) return null;
  if (divider.count === null) {
    const summary = activeSummary();
    if (!summary) return null;
    divider.count = summary.unreadCount;
  }
  if (divider.before === null) {
    let left = divider.count;
    for (let i = shown.length - 1; i >= 0 && left > 0; i--) {
      const m = shown[i];
      if (isMine(m) || m.isDeleted || !isStored(m)) continue;
      divider.before = m.id;
      left--;
    }
  }
  return divider.before;
}

/**
 * Reply counts. A parent's `replyCount` is as of when it was loaded, and a reply that arrives later
 * may or may not be in it (a replay after a reload repeats replies the page already counts), so a
 * new reply has the parent's count read again from the server, once per burst.
 */
function countReplies(messages) {
  const held = new Set(messages.map((m) => m.id));
  for (const m of messages) {
    if (m.parentMessageId === null || !isStored(m) || knownReplies.has(m.id)) continue;
    knownReplies.add(m.id);
    if (held.has(m.parentMessageId)) refreshReplyCount(m.parentMessageId);
  }
}

function refreshReplyCount(parentId) {
  if (countTimers.has(parentId)) return;
  countTimers.set(parentId, setTimeout(async () => {
    countTimers.delete(parentId);
    try {
      const parent = await api(`/messages/${encodeURIComponent(parentId)}`);
      replyCounts.set(parentId, parent.replyCount);
      rerender();
    } catch {
      // The count shown stays as loaded; the next reply reads it again.
    }
  }, 200));
}

const replyCountOf = (m) => Math.max(m.replyCount, replyCounts.get(m.id) ?? 0);

/** The requester or a session owner may stop; the requester is the author of the prompt just before. */
function canStop(m, snap) {
  if (ui.myStreams.has(streamIdOf(m))) return true;
  if (activeSummary()?.role === 'owner') return true;
  const prompt = snap.messages.find((x) => x.seq !== null && x.seq === m.seq - 1);
  return prompt !== undefined && isMine(prompt);
}

/**
 * "Seen by …" under the last message each other member has read (their read cursor), like most
 * messengers: one marker per reader, at the newest message at or below their cursor.
 */
let seenSlots = new Map(); // slot element → the names shown in it

function placeSeenMarkers(snap, shown) {
  const readers = new Map(); // messageId → [userId]
  for (const member of snap.members) {
    if (member.userId === ui.me.userId || member.lastReadSeq === 0) continue;
    let at = null;
    for (let i = shown.length - 1; i >= 0 && at === null; i--) {
      const m = shown[i];
      if (isStored(m) && m.seq <= member.lastReadSeq && !m.isDeleted) at = m.id;
    }
    if (at) readers.set(at, [...(readers.get(at) ?? []), member.userId]);
  }
  // Only the slots whose readers changed are touched (a redraw per streamed chunk must stay cheap).
  const next = new Map();
  for (const [messageId, userIds] of readers) {
    const slot = timeline.elementOf(messageId)?.querySelector('.msg-seen');
    if (slot) next.set(slot, userIds.map(nameOf).join(', '));
  }
  for (const [slot, names] of seenSlots) if (!next.has(slot) && slot.isConnected) slot.replaceChildren();
  for (const [slot, names] of next) {
    if (seenSlots.get(slot) === names) continue;
    slot.replaceChildren(h('span', { class: 'seen', title: `Seen by ${names}` }, '✓ Seen by ', names));
  }
  seenSlots = next;
}

$('load-older').addEventListener('click', async () => {
  $('load-older').disabled = true;
  try {
    await ui.room.loadOlder();
  } catch (error) {
    fail(error);
  } finally {
    $('load-older').disabled = false;
  }
});

// ---- seen receipts ----------------------------------------------------------------------------

let seenTimer = null;

/** Tells the server we read up to the latest message of the open conversation (soon, once). */
export function markSeenSoon() {
  if (seenTimer !== null) return;
  seenTimer = setTimeout(async () => {
    seenTimer = null;
    if (!ui.room || document.visibilityState !== 'visible') return;
    const snap = ui.room.getSnapshot();
    const latest = snap.messages.findLast((m) => m.parentMessageId === null && isStored(m));
    const me = snap.members.find((m) => m.userId === ui.me.userId);
    if (!latest || (me && me.lastReadSeq >= latest.seq) || snap.state !== 'joined') return;
    try {
      await ui.room.markSeen(latest.id);
    } catch (error) {
      if (error.code !== 'RATE_LIMITED' && error.code !== 'UNAVAILABLE') fail(error);
    }
  }, 300);
}

document.addEventListener('visibilitychange', () => {
  if (document.visibilityState === 'visible') markSeenSoon();
});
