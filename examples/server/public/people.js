// Who is in the open conversation: the members with their presence, and who is typing.

import { $, h, setChildren, avatar, formatRelative } from '/dom.js';
import { nameOf } from '/state.js';

let membersShown = '';

export function renderMembers(snap) {
  // Redrawn only when someone or their presence changed, not on every chunk of an answer.
  const key = JSON.stringify([snap.members.map((m) => [m.userId, m.role, nameOf(m.userId)]), snap.presence]);
  if (key === membersShown) return;
  membersShown = key;
  const presence = new Map(snap.presence.map((p) => [p.userId, p]));
  const isOnline = (userId) => presence.get(userId)?.status === 'online';
  const online = snap.members.filter((m) => isOnline(m.userId)).length;
  const shown = [...snap.members].sort((a, b) => Number(isOnline(b.userId)) - Number(isOnline(a.userId))).slice(0, 8);
  setChildren(
    $('room-members'),
    h('span', { class: 'member-stack' },
      shown.map((m) => {
        const p = presence.get(m.userId);
        const status = isOnline(m.userId) ? 'online' : `offline · last seen ${formatRelative(p?.lastSeenAt ?? m.lastSeenAt)}`;
        return h('span', { class: `member ${isOnline(m.userId) ? 'member-online' : ''}`, title: `${nameOf(m.userId)} (@${m.userId}) — ${status}${m.role === 'owner' ? ' · owner' : ''}`, dataset: { userId: m.userId, presence: isOnline(m.userId) ? 'online' : 'offline' } },
          avatar(m.userId, nameOf(m.userId), 'avatar-xs'),
          h('span', { class: 'presence-dot', 'aria-hidden': 'true' }),
        );
      }),
    ),
    h('span', { class: 'member-count', text: `${snap.members.length} member${snap.members.length === 1 ? '' : 's'} · ${online} online` }),
  );
}

let typingShown = '';

export function renderTyping(snap) {
  const names = snap.typing.map((t) => t.name ?? nameOf(t.userId));
  const who = names.length === 0 ? '' : names.length === 1 ? `${names[0]} is` : names.length === 2 ? `${names[0]} and ${names[1]} are` : `${names.length} people are`;
  if (who === typingShown) return; // the live region speaks only when it changes
  typingShown = who;
  const el = $('typing');
  el.classList.toggle('typing-on', who !== '');
  if (who === '') el.replaceChildren();
  else setChildren(el, h('span', { class: 'typing-dots', 'aria-hidden': 'true' }, h('i'), h('i'), h('i')), ` ${who} typing…`);
}
