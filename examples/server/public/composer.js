// The composer: send (through the client's outbox: shown at once, sent once, also after a
// reconnect), attachments by URL, "Ask the assistant", typing, ↑ to edit your last message; and
// the page's keyboard and tap handling (Esc, selecting a message on a touch screen).

import { $, h, setChildren, toast, guessMimeType, fileNameFromUrl, attachmentIcon, icon } from '/dom.js';
import { ui, fail } from '/state.js';
import { startEdit } from '/actions.js';
import { closePanel } from '/panel.js';
import { rerender } from '/room.js';
import { isMine, isStored } from '/render-messages.js';

const TYPING_IDLE_MS = 4000;
const input = $('composer-input');
let typingTimer = null;

export function autoGrow(textarea) {
  textarea.style.height = 'auto';
  textarea.style.height = `${Math.min(textarea.scrollHeight, 200)}px`;
}

// ---- typing -----------------------------------------------------------------------------------

/** The client sends typing:start at most every few seconds; typing:stop once idle. */
function noteTyping() {
  ui.room?.typing(true);
  clearTimeout(typingTimer);
  typingTimer = setTimeout(stopTyping, TYPING_IDLE_MS);
}

export function stopTyping() {
  if (typingTimer === null) return;
  clearTimeout(typingTimer);
  typingTimer = null;
  ui.room?.typing(false);
}

input.addEventListener('input', () => {
  autoGrow(input);
  if (input.value.trim()) noteTyping();
  else stopTyping();
});
input.addEventListener('blur', () => stopTyping());
input.addEventListener('keydown', (event) => {
  if (event.key === 'Enter' && !event.shiftKey && !event.isComposing) {
    event.preventDefault();
    $('composer').requestSubmit();
  } else if (event.key === 'ArrowUp' && input.value === '') {
    const mine = lastEditableMessage();
    if (mine) {
      event.preventDefault();
      startEdit(mine, false);
    }
  }
});

/** ↑ in an empty composer edits this: your newest stored message in the open conversation. */
function lastEditableMessage() {
  const messages = ui.room?.getSnapshot().messages ?? [];
  return messages.findLast((m) => m.parentMessageId === null && isMine(m) && isStored(m) && m.role === 'user' && !m.isDeleted) ?? null;
}

// ---- send -------------------------------------------------------------------------------------

$('composer').addEventListener('submit', (event) => {
  event.preventDefault();
  const content = input.value.trim();
  const attachments = ui.pendingAttachments;
  if (!content || !ui.room) return;
  clearComposer();
  stopTyping();
  // Shown at once as "sending…"; offline it waits in the outbox and goes out on reconnect; a
  // refusal shows on the message with Retry. Nothing goes back into the box.
  ui.room.send(content, attachments.length > 0 ? { attachments } : {}).catch(() => {});
});

function clearComposer() {
  input.value = '';
  autoGrow(input);
  ui.pendingAttachments = [];
  renderPendingAttachments();
  $('attach-row').hidden = true;
}

/** "Ask the assistant": the composer's text becomes the prompt; the answer streams into the session. */
$('ask').addEventListener('click', async () => {
  const prompt = input.value.trim();
  if (!ui.room) return;
  if (!prompt) {
    input.placeholder = 'Type a question for the assistant, then press ✦ Ask the assistant';
    input.focus();
    return;
  }
  clearComposer();
  stopTyping();
  try {
    ui.myStreams.add(await ui.room.ask(prompt, { agentId: ui.config.assistant.agentId }));
    rerender();
  } catch (error) {
    input.value = prompt; // an ask is not queued: it needs the connection
    autoGrow(input);
    fail(error);
  }
});

// ---- attachments ------------------------------------------------------------------------------

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
  if (ui.pendingAttachments.length >= 10) return toast('At most 10 attachments per message');
  ui.pendingAttachments.push({ fileName: fileNameFromUrl(parsed.href), fileUrl: parsed.href, mimeType: guessMimeType(parsed.href), fileSize: 0 });
  $('attach-url').value = '';
  renderPendingAttachments();
  input.focus();
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
    ui.pendingAttachments.map((a, i) =>
      h('span', { class: 'attachment attachment-pending' },
        h('span', { class: 'attachment-icon', 'aria-hidden': 'true' }, attachmentIcon(a.mimeType)),
        h('span', { text: a.fileName }),
        h('button', { type: 'button', class: 'attachment-remove', 'aria-label': `Remove ${a.fileName}`, onclick: () => { ui.pendingAttachments.splice(i, 1); renderPendingAttachments(); } }, icon('close')),
      ),
    ),
  );
}

// ---- taps and keys ----------------------------------------------------------------------------

// A tap (or click) on a message selects it, which shows its actions on screens without hover; a tap
// elsewhere lets it go; its actions keep it (Delete asks for a second tap).
document.addEventListener('click', (event) => {
  if (event.target.closest('.msg-actions')) return;
  const message = event.target.closest('.msg');
  const selected = message && !event.target.closest('a, button, input, textarea, summary') ? message.dataset.id : null;
  if (selected === ui.selectedMessage) return;
  for (const el of document.querySelectorAll('.msg-selected')) el.classList.remove('msg-selected');
  ui.selectedMessage = selected;
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
    input.focus();
  } else if (message) input.focus();
});

$('toggle-sidebar').addEventListener('click', () => document.body.classList.toggle('sidebar-open'));
// On small screens the sidebar is a drawer: a tap outside it closes it.
document.addEventListener('click', (event) => {
  if (document.body.classList.contains('sidebar-open') && !event.target.closest('#sidebar, #toggle-sidebar')) {
    document.body.classList.remove('sidebar-open');
  }
});
