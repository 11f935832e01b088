// DOM and formatting helpers for the Parley demo page.
//
// The one rule of this page: text from the server (messages, names, titles, file names) only ever
// reaches the DOM as text — through `textContent` or text nodes — never through innerHTML. `h()`
// below is the only way elements are built, and it has no way to inject markup.

/**
 * Builds an element. `props`: `class`, `text`, `dataset`, `on<event>` listeners, or attributes.
 * Children are nodes or strings; strings become text nodes.
 */
export function h(tag, props = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (value === undefined || value === null || value === false) continue;
    if (key === 'class') el.className = value;
    else if (key === 'text') el.textContent = value;
    else if (key === 'dataset') Object.assign(el.dataset, value);
    else if (key.startsWith('on') && typeof value === 'function') el.addEventListener(key.slice(2), value);
    else el.setAttribute(key, value === true ? '' : String(value));
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const child of children.flat(Infinity)) {
    if (child === undefined || child === null || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

/** Shortcut for `document.getElementById`. */
export const $ = (id) => document.getElementById(id);

/** Replaces all children of `el`. */
export function setChildren(el, ...children) {
  el.replaceChildren();
  append(el, children);
}

/** A link to a user-supplied URL, only if it is http(s); otherwise plain text. */
export function safeLink(url, text) {
  let parsed;
  try {
    parsed = new URL(url);
  } catch {
    return h('span', { text });
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') return h('span', { text });
  return h('a', { href: parsed.href, target: '_blank', rel: 'noopener noreferrer nofollow', text });
}

// ---- people ----------------------------------------------------------------------------------

// Dark enough for white initials at WCAG AA (≥ 4.5:1).
const AVATAR_COLORS = ['#4338ca', '#0e7490', '#047857', '#b45309', '#b91c1c', '#be185d', '#1d4ed8', '#c2410c', '#4d7c0f', '#a21caf', '#0f766e'];

/** A stable colour per user id, so a person keeps their colour across reloads. */
export function colorFor(id) {
  let hash = 0x811c9dc5; // FNV-1a: similar ids still spread over the palette
  for (const ch of id) hash = Math.imul(hash ^ ch.codePointAt(0), 0x01000193) >>> 0;
  hash = Math.imul(hash ^ (hash >>> 16), 0x85ebca6b) >>> 0; // final mix, so the last letters count too
  hash = Math.imul(hash ^ (hash >>> 13), 0xc2b2ae35) >>> 0;
  hash = (hash ^ (hash >>> 16)) >>> 0;
  return AVATAR_COLORS[hash % AVATAR_COLORS.length];
}

/** Up to two initials of a display name. */
export function initials(name) {
  const parts = name.split(/[\s\-_.@]+/).filter(Boolean);
  const letters = parts.length > 1 ? [parts[0], parts[1]] : [parts[0] ?? '?'];
  return letters.map((p) => [...p][0]?.toUpperCase() ?? '').join('') || '?';
}

/** A round avatar with initials (no <img>: the page never loads images from user data). */
export function avatar(id, name, size = '') {
  const el = h('span', { class: `avatar ${size}`.trim(), 'aria-hidden': 'true', text: initials(name) });
  el.style.background = colorFor(id);
  return el;
}

// ---- time and numbers ------------------------------------------------------------------------

const timeFormat = new Intl.DateTimeFormat(undefined, { hour: '2-digit', minute: '2-digit' });
const dayFormat = new Intl.DateTimeFormat(undefined, { weekday: 'long', month: 'short', day: 'numeric' });

export function formatTime(iso) {
  return timeFormat.format(new Date(iso));
}

/** "Today", "Yesterday" or the date: the label of a day divider. */
export function formatDay(iso) {
  const date = new Date(iso);
  const today = new Date();
  const yesterday = new Date(today.getTime() - 86_400_000);
  if (date.toDateString() === today.toDateString()) return 'Today';
  if (date.toDateString() === yesterday.toDateString()) return 'Yesterday';
  return dayFormat.format(date);
}

export function formatRelative(iso) {
  if (!iso) return 'never';
  const seconds = Math.round((Date.now() - new Date(iso).getTime()) / 1000);
  if (seconds < 60) return 'just now';
  if (seconds < 3600) return `${Math.floor(seconds / 60)} min ago`;
  if (seconds < 86_400) return `${Math.floor(seconds / 3600)} h ago`;
  return dayFormat.format(new Date(iso));
}

const numberFormats = new Map(); // digits → formatter: toLocaleString builds one per call

export function formatNumber(n, digits = 0) {
  if (!Number.isFinite(n)) return '–';
  let format = numberFormats.get(digits);
  if (!format) numberFormats.set(digits, (format = new Intl.NumberFormat(undefined, { maximumFractionDigits: digits })));
  return format.format(n);
}

/** Bytes per second, human-readable. */
export function formatRate(bytesPerSecond) {
  if (!Number.isFinite(bytesPerSecond)) return '–';
  return bytesPerSecond >= 1024 ? `${formatNumber(bytesPerSecond / 1024, 1)} KB/s` : `${formatNumber(bytesPerSecond)} B/s`;
}

// ---- misc ------------------------------------------------------------------------------------

/** Runs `fn` at most once per `ms`, with the latest arguments (trailing call kept). */
export function debounce(fn, ms) {
  let timer = null;
  return (...args) => {
    clearTimeout(timer);
    timer = setTimeout(() => fn(...args), ms);
  };
}

/** A short-lived message at the bottom of the screen. */
export function toast(message, kind = 'error') {
  const el = h('div', { class: `toast toast-${kind}`, role: kind === 'error' ? 'alert' : 'status', text: message });
  $('toasts').append(el);
  setTimeout(() => el.classList.add('toast-out'), 4000);
  setTimeout(() => el.remove(), 4500);
}

/** A MIME type guessed from a URL's extension (attachments by URL carry no headers we could read). */
export function guessMimeType(url) {
  const ext = /\.([a-z0-9]{1,8})(?:$|[?#])/i.exec(new URL(url).pathname)?.[1]?.toLowerCase();
  const types = {
    png: 'image/png', jpg: 'image/jpeg', jpeg: 'image/jpeg', gif: 'image/gif', webp: 'image/webp', svg: 'image/svg+xml',
    pdf: 'application/pdf', txt: 'text/plain', csv: 'text/csv', json: 'application/json', zip: 'application/zip',
    mp3: 'audio/mpeg', mp4: 'video/mp4', md: 'text/markdown', doc: 'application/msword',
    docx: 'application/vnd.openxmlformats-officedocument.wordprocessingml.document',
    xlsx: 'application/vnd.openxmlformats-officedocument.spreadsheetml.sheet',
  };
  return (ext && types[ext]) || 'application/octet-stream';
}

/** The last path segment of a URL, as a file name. */
export function fileNameFromUrl(url) {
  const parsed = new URL(url);
  let last = parsed.pathname.split('/').filter(Boolean).pop() ?? '';
  try {
    last = decodeURIComponent(last);
  } catch {
    // keep it encoded
  }
  return (last || parsed.hostname).replace(/[\u0000-\u001f\u007f]/g, '').slice(0, 255);
}

// ---- icons -----------------------------------------------------------------------------------

// Stroke icons (24×24 paths), drawn as inline SVG built with DOM calls: no icon font, no markup strings.
const ICON_PATHS = {
  thread: 'M21 15a2 2 0 0 1-2 2H7l-4 4V5a2 2 0 0 1 2-2h14a2 2 0 0 1 2 2z',
  file: 'M14 2H6a2 2 0 0 0-2 2v16a2 2 0 0 0 2 2h12a2 2 0 0 0 2-2V8zM14 2v6h6',
  image: 'M5 3h14a2 2 0 0 1 2 2v14a2 2 0 0 1-2 2H5a2 2 0 0 1-2-2V5a2 2 0 0 1 2-2zM8.5 10a1.5 1.5 0 1 0 0-3 1.5 1.5 0 0 0 0 3zM21 15l-5-5L5 21',
  media: 'M5 3l14 9-14 9V3z',
  close: 'M18 6 6 18M6 6l12 12',
};

export function icon(name, extraClass = '') {
  const NS = 'http://www.w3.org/2000/svg';
  const svg = document.createElementNS(NS, 'svg');
  svg.setAttribute('class', `i ${extraClass}`.trim());
  svg.setAttribute('viewBox', '0 0 24 24');
  svg.setAttribute('aria-hidden', 'true');
  const path = document.createElementNS(NS, 'path');
  path.setAttribute('d', ICON_PATHS[name]);
  svg.append(path);
  return svg;
}

/** An icon for an attachment, by MIME type. */
export function attachmentIcon(mimeType) {
  if (mimeType.startsWith('image/')) return icon('image');
  if (mimeType.startsWith('audio/') || mimeType.startsWith('video/')) return icon('media');
  return icon('file');
}
