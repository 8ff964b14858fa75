// Building the page safely: elements from data, text only through textContent (never innerHTML),
// so that names and reasons from the log can hold anything without becoming markup.

const SVG = 'http://www.w3.org/2000/svg';

function build(element, attributes, children) {
  for (const [name, value] of Object.entries(attributes ?? {})) {
    if (value === undefined || value === null || value === false) continue;
    if (name.startsWith('on') && typeof value === 'function') element.addEventListener(name.slice(2), value);
    else element.setAttribute(name, value === true ? '' : String(value));
  }
  for (const child of children.flat(Infinity)) {
    if (child === undefined || child === null || child === false) continue;
    element.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return element;
}

/** An HTML element: `h('a', { href: '#/' }, 'text', otherElement)`. */
export function h(tag, attributes, ...children) {
  return build(document.createElement(tag), attributes, children);
}

/** An SVG element. */
export function s(tag, attributes, ...children) {
  return build(document.createElementNS(SVG, tag), attributes, children);
}

/** Tells screen readers (and the tests) what just happened, in words. */
export function announce(text) {
  const region = document.getElementById('announce');
  region.textContent = '';
  region.textContent = text;
}

/** A short message in the corner for a few seconds. */
export function toast(text) {
  const element = h('div', { class: 'toast', role: 'status' }, text);
  document.body.append(element);
  setTimeout(() => element.remove(), 6000);
}

/**
 * Asks before doing something: resolves to `{ comment, value }` when confirmed, `null` when
 * cancelled. `what` is `{ title, text, action, comment, value }`: `comment` whether to ask for an
 * optional comment; `value`, when given, `{ label, initial }` of a required text field.
 */
export function confirmAction(what) {
  const dialog = document.getElementById('confirm');
  document.getElementById('confirm-title').textContent = what.title;
  document.getElementById('confirm-text').textContent = what.text;
  document.getElementById('confirm-ok').textContent = what.action;
  const comment = document.getElementById('confirm-comment');
  comment.value = '';
  document.getElementById('confirm-comment-label').hidden = !what.comment;
  const value = document.getElementById('confirm-value');
  value.value = what.value?.initial ?? '';
  value.required = Boolean(what.value);
  document.getElementById('confirm-value-name').textContent = what.value?.label ?? '';
  document.getElementById('confirm-value-label').hidden = !what.value;
  dialog.returnValue = '';
  return new Promise((resolve) => {
    dialog.addEventListener('close', () => {
      resolve(dialog.returnValue === 'ok' ? { comment: comment.value.trim(), value: value.value.trim() } : null);
    }, { once: true });
    dialog.showModal();
    (what.value ? value : document.getElementById('confirm-ok')).focus();
  });
}

/** "1m12s", "2h", "3d4h": a duration in seconds as the CLI writes it. */
export function duration(seconds) {
  if (!Number.isFinite(seconds)) return '';
  const s = Math.max(0, Math.round(seconds));
  const units = [['d', 86400], ['h', 3600], ['m', 60], ['s', 1]];
  const parts = [];
  let rest = s;
  for (const [name, size] of units) {
    if (rest >= size || (name === 's' && parts.length === 0)) {
      parts.push(Math.floor(rest / size) + name);
      rest %= size;
    }
    if (parts.length === 2) break;
  }
  return parts.join('');
}
