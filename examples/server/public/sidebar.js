// The conversation list (the client's sessions, with unread counts), and creating a conversation
// or inviting someone into the open one (REST).

import { $, h, setChildren, colorFor, formatNumber, toast } from '/dom.js';
import { ui, fail, api, titleOf } from '/state.js';
import { selectSession } from '/room.js';

let lastSeqs = new Map(); // sessionId → lastSeq at the previous render: a rise is activity

/** Orders the list most recently active first, and joins every session (for live unread counts). */
export function syncSessions() {
  const { sessions } = ui.client.getSnapshot();
  const known = new Set(ui.order);
  const fresh = sessions.filter((s) => !known.has(s.id)).map((s) => s.id);
  ui.order = ui.order.length === 0 ? fresh : [...fresh, ...ui.order];
  const active = sessions.filter((s) => (lastSeqs.get(s.id) ?? s.lastSeq) < s.lastSeq).map((s) => s.id);
  if (active.length > 0) ui.order = [...active, ...ui.order.filter((id) => !active.includes(id))];
  lastSeqs = new Map(sessions.map((s) => [s.id, s.lastSeq]));
  for (const s of sessions) ui.client.session(s.id);
  renderSessionList();
}

export function renderSessionList() {
  const byId = new Map(ui.client.getSnapshot().sessions.map((s) => [s.id, s]));
  const items = ui.order.map((id) => byId.get(id)).filter(Boolean);
  $('session-empty').hidden = items.length > 0;
  const reading = document.visibilityState === 'visible';
  setChildren(
    $('session-list'),
    items.map((s) => {
      const open = s.id === ui.activeId;
      // The open conversation is read as it arrives.
      const unread = open && reading ? 0 : s.unreadCount;
      return h(
        'button',
        {
          type: 'button',
          class: `session${open ? ' session-active' : ''}${unread > 0 ? ' session-unread' : ''}`,
          dataset: { id: s.id },
          'aria-current': open ? 'true' : undefined,
          onclick: () => selectSession(s.id),
        },
        sessionIcon(s),
        h('span', { class: 'session-text' },
          h('span', { class: 'session-title', text: titleOf(s) }),
          h('span', { class: 'session-sub', text: `${formatNumber(s.messageCount)} message${s.messageCount === 1 ? '' : 's'}` }),
        ),
        unread > 0 ? h('span', { class: 'badge', 'aria-label': `${unread} unread`, text: unread > 99 ? '99+' : String(unread) }) : null,
      );
    }),
  );
}

function sessionIcon(session) {
  const el = h('span', { class: 'session-icon', 'aria-hidden': 'true', text: [...titleOf(session)][0]?.toUpperCase() ?? '#' });
  el.style.background = colorFor(session.id);
  return el;
}

// ---- new conversation -------------------------------------------------------------------------

$('new-session-toggle').addEventListener('click', () => {
  $('new-session-form').hidden = !$('new-session-form').hidden;
  if (!$('new-session-form').hidden) $('new-session-title').focus();
});
$('new-session-cancel').addEventListener('click', () => {
  $('new-session-form').hidden = true;
});

$('new-session-form').addEventListener('submit', async (event) => {
  event.preventDefault();
  const title = $('new-session-title').value.trim();
  const memberIds = $('new-session-members').value.split(/[\s,]+/).map((s) => s.replace(/^@/, '')).filter(Boolean);
  try {
    const session = await api('/sessions', { method: 'POST', body: { title, ...(memberIds.length > 0 && { memberIds }) } });
    ui.order = [session.id, ...ui.order.filter((id) => id !== session.id)];
    $('new-session-form').reset();
    $('new-session-form').hidden = true;
    await ui.client.refreshSessions();
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
  try {
    await api(`/sessions/${encodeURIComponent(ui.activeId)}/members`, { method: 'POST', body: { userId } });
    $('invite-form').reset();
    $('invite-form').hidden = true;
    toast(`${userId} can now see this conversation`, 'info');
  } catch (error) {
    fail(error.code === 'FORBIDDEN' ? new Error('Only the owners of a conversation can add members') : error);
  }
});
