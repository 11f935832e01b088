// Message text as Markdown, safely: marked turns it into HTML, DOMPurify keeps only the tags and
// attributes on the allow-list below, and the result arrives as a DOM fragment (never as a string
// assigned to innerHTML). Raw HTML in a message is shown as the text it is, images become links
// (a chat message must not make every reader's browser fetch a stranger's URL), and links open in a
// new tab without handing it this page (`rel="noopener noreferrer"`).
import { Marked } from '/vendor/marked.js';
import DOMPurify from '/vendor/purify.js';
import { h } from './dom.js';

const escapeHtml = (text) => text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

const marked = new Marked({
  gfm: true,
  breaks: true, // a chat line break is a line break
  renderer: {
    html: ({ text }) => escapeHtml(text),
    image: ({ href, text }) => `<a href="${escapeHtml(href)}">${escapeHtml(text || href)}</a>`,
  },
});

const ALLOWED_TAGS = ['p', 'br', 'strong', 'em', 'del', 'code', 'pre', 'blockquote', 'ul', 'ol', 'li', 'a', 'h1', 'h2', 'h3', 'h4', 'h5', 'h6', 'hr', 'table', 'thead', 'tbody', 'tr', 'th', 'td'];
const purifier = DOMPurify(window);
purifier.addHook('afterSanitizeAttributes', (node) => {
  if (node.tagName === 'A') {
    node.setAttribute('target', '_blank');
    node.setAttribute('rel', 'noopener noreferrer');
  }
  // Only a code block's language survives as a class: our own class names must not be forgeable.
  const cls = node.getAttribute('class');
  if (cls !== null && !(node.tagName === 'CODE' && /^language-[\w-]+$/.test(cls))) node.removeAttribute('class');
});

/** Markdown text → a sanitized fragment, code blocks with a copy button. */
export function renderMarkdown(text) {
  const fragment = purifier.sanitize(marked.parse(text), {
    ALLOWED_TAGS,
    ALLOWED_ATTR: ['href', 'title', 'class', 'start', 'align', 'target', 'rel'],
    ALLOWED_URI_REGEXP: /^(?:https?:|mailto:)/i,
    RETURN_DOM_FRAGMENT: true,
  });
  dropLayoutWhitespace(fragment);
  for (const pre of fragment.querySelectorAll('pre')) wrapCodeBlock(pre);
  return fragment;
}

function wrapCodeBlock(pre) {
  const copy = h('button', { type: 'button', class: 'code-copy', 'aria-label': 'Copy code' }, 'Copy');
  copy.addEventListener('click', async () => {
    try {
      await navigator.clipboard.writeText(pre.textContent);
      copy.textContent = 'Copied';
    } catch {
      copy.textContent = 'Copy failed';
    }
    setTimeout(() => (copy.textContent = 'Copy'), 1500);
  });
  const block = h('div', { class: 'code-block' }, copy);
  pre.replaceWith(block);
  block.append(pre);
}

/** The newlines marked puts between blocks would show under `white-space: pre-wrap`. */
function dropLayoutWhitespace(root) {
  const walker = document.createTreeWalker(root, NodeFilter.SHOW_TEXT);
  const blank = [];
  for (let node = walker.nextNode(); node; node = walker.nextNode()) {
    if (/^\n+$/.test(node.data) && !node.parentElement?.closest('pre')) blank.push(node);
  }
  for (const node of blank) node.remove();
  // A paragraph's last line ends in a newline too.
  for (const p of root.querySelectorAll('p, li, td, th')) {
    const last = p.lastChild;
    if (last?.nodeType === Node.TEXT_NODE) last.data = last.data.replace(/\n+$/, '');
  }
}
