// A list of messages kept on screen from snapshots: an element is built again only when what it
// shows changed (snapshots replace a changed message, so identity says it), a streaming answer's
// text is patched in place, and the list is reconciled without moving the elements that stay (an
// edit box keeps its focus, a hovered message its toolbar).

import { ui, nameOf } from '/state.js';
import { messageElement, patchStreaming, toolKey, toolPartsOf } from '/render-messages.js';

export class MessageView {
  constructor(container) {
    this.container = container;
    this.cache = new Map(); // id → { key, el }
  }

  /** `items`: DOM nodes (dividers…) and `{ m, view }` for messages (see `messageElement`). */
  render(items) {
    const nodes = [];
    const next = new Map();
    for (const item of items) {
      if (item instanceof Node) {
        nodes.push(item);
        continue;
      }
      const { m, view } = item;
      const key = keyOf(m, view);
      const held = this.cache.get(m.id);
      let el;
      if (held && sameAfter(held.key, key, 0)) el = held.el;
      else if (held && streamingOnly(held.key, key) && patchStreaming(held.el, m, view.stream)) el = held.el;
      else el = messageElement(m, view);
      next.set(m.id, { key, el });
      nodes.push(el);
    }
    this.cache = next;
    reconcile(this.container, nodes);
  }

  /** The element shown for a message id, if any. */
  elementOf(id) {
    return this.cache.get(id)?.el;
  }

  /** Forgets every element: the next render builds them all (another conversation opened). */
  clear() {
    this.cache.clear();
  }
}

/** Everything a message's element depends on; the message itself first. */
function keyOf(m, view) {
  return [
    m,
    Boolean(view.continued),
    Boolean(view.inPanel),
    Boolean(view.parent),
    view.replies ?? 0,
    Boolean(view.canStop),
    ui.editing?.id === m.id && ui.editing.inPanel === Boolean(view.inPanel),
    ui.confirmDelete === m.id,
    ui.stopping.has(m.id),
    toolKey(toolPartsOf(m)),
    nameOf(m.userId),
  ];
}

const sameAfter = (a, b, from) => a.length === b.length && a.every((x, i) => i < from || x === b[i]);

/** Only the text of an answer that was and still is streaming (and had text) changed. */
const streamingOnly = (held, key) => held[0].status === 'streaming' && key[0].status === 'streaming' && held[0].content !== '' && !held[0].isDeleted && sameAfter(held, key, 1);

/** Puts `nodes` in `container` in order, touching only what moved, came or went. */
export function reconcile(container, nodes) {
  let cursor = container.firstChild;
  for (const node of nodes) {
    if (node === cursor) {
      cursor = cursor.nextSibling;
      continue;
    }
    container.insertBefore(node, cursor);
  }
  while (cursor) {
    const next = cursor.nextSibling;
    cursor.remove();
    cursor = next;
  }
}
