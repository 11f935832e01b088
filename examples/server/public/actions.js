// What a person does to a message: react, edit, delete (two clicks), stop an answer, and retry or
// discard a send the server refused. Each goes through the client's session store; the change
// comes back as a snapshot, so nothing here patches the screen by hand.

import { $, h } from '/dom.js';
import { ui, fail } from '/state.js';
import { rerender, renderNow } from '/room.js';

export async function react(m, emoji) {
  try {
    await ui.room.react(m.id, emoji);
  } catch (error) {
    fail(error);
  }
}

export function startEdit(m, inPanel) {
  ui.editing = { id: m.id, inPanel, draft: m.content };
  renderNow();
  const input = document.querySelector(`.msg[data-id="${CSS.escape(m.id)}"][data-in-panel="${inPanel}"] .edit-input`);
  input?.focus();
  input?.setSelectionRange(input.value.length, input.value.length);
}

export function editForm(m) {
  const input = h('textarea', { class: 'edit-input', rows: '2', maxlength: '10000', 'aria-label': 'Edit message' });
  input.value = ui.editing.draft;
  input.addEventListener('input', () => {
    ui.editing.draft = input.value;
  });
  const cancel = () => {
    ui.editing = null;
    rerender();
  };
  const save = async () => {
    const content = input.value.trim();
    if (!content || content === m.content) return cancel();
    try {
      await ui.room.edit(m.id, content);
      ui.editing = null;
      rerender();
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
      $('composer-input').focus();
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
export async function deleteMessage(m) {
  if (ui.confirmDelete !== m.id) {
    ui.confirmDelete = m.id;
    rerender();
    setTimeout(() => {
      if (ui.confirmDelete !== m.id) return;
      ui.confirmDelete = null;
      rerender();
    }, 3000);
    return;
  }
  ui.confirmDelete = null;
  rerender();
  try {
    await ui.room.delete(m.id);
  } catch (error) {
    fail(error);
  }
}

/** The stream id of a running answer: from the client's running streams, else the message. */
export function streamIdOf(m) {
  const running = Object.values(ui.room?.getSnapshot().streams ?? {}).find((s) => s.messageId === m.id);
  return running?.streamId ?? m.metadata?.streamId;
}

export async function stopStream(m) {
  ui.stopping.add(m.id);
  rerender();
  try {
    await ui.room.stop(streamIdOf(m));
  } catch (error) {
    fail(error);
    ui.stopping.delete(m.id);
    rerender();
  }
}

/** A refused send, sent again as it was (same client id: it is stored once whatever happens). */
export function retrySend(m) {
  ui.room.retry(m.clientMessageId).catch(() => {}); // a refusal shows on the message again
}

export function discardSend(m) {
  ui.room.discard(m.clientMessageId).catch(fail);
}
