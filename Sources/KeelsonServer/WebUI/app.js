// The page: sign in with a token, then the fleet board (`#/`) or one instance (`#/instance/…`).
// Every view is drawn from the JSON API with the signed-in token; what a role may not do is not
// offered (and the API refuses it anyway).

import { APIError, resume, session, signIn, signOut } from './api.js';
import { board } from './board.js';
import { h } from './dom.js';
import { instancePage } from './instance.js';
import { timelinePage } from './timeline.js';

const main = document.getElementById('main');
let leave = null;
let signInMessage = null;

function setLive(state) {
  const badge = document.getElementById('live');
  badge.hidden = state === null;
  badge.className = `live ${state === 'live' ? 'on' : 'off'}`;
  badge.textContent = { live: 'live', reconnecting: 'reconnecting…', past: 'in the past' }[state] ?? 'not live';
}

function showIdentity() {
  const who = document.getElementById('who');
  const button = document.getElementById('sign-out');
  who.textContent = session.identity ? `${session.identity.name} (${session.identity.role})` : '';
  button.hidden = !session.identity;
}

function showSignIn() {
  showIdentity();
  setLive(null);
  const token = h('input', { id: 'token', name: 'token', type: 'password', autocomplete: 'off', required: true, 'aria-describedby': 'token-help' });
  const problem = h('p', { id: 'sign-in-error', class: 'error', role: 'alert', hidden: !signInMessage }, signInMessage ?? '');
  const form = h('form', { class: 'sign-in', 'aria-labelledby': 'sign-in-title' },
    h('h1', { id: 'sign-in-title' }, 'Sign in to Keelson'),
    problem,
    h('label', { for: 'token' }, 'API token'),
    token,
    h('p', { id: 'token-help', class: 'muted' },
      'A token made by ', h('code', {}, 'keelson token create'), ', or the admin token ',
      h('code', {}, 'keelson serve'), ' wrote next to its database. It is kept for this tab only.'),
    h('div', { class: 'buttons' }, h('button', { type: 'submit', class: 'primary' }, 'Sign in')));
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    const value = token.value.trim();
    if (!value) return;
    try {
      await signIn(value);
      signInMessage = null;
      route();
    } catch (error) {
      problem.hidden = false;
      problem.textContent = error.status === 401
        ? `The server refused this token: ${error.message}`
        : `Could not sign in: ${error.message}`;
      token.select();
    }
  });
  main.replaceChildren(form);
  token.focus();
}

async function route() {
  leave?.();
  leave = null;
  if (!session.identity && session.token) {
    try {
      await resume();
    } catch (error) {
      if (!(error instanceof APIError) || error.status !== 401) {
        main.replaceChildren(h('p', { class: 'error', role: 'alert' }, `Could not reach the server: ${error.message}`));
        return;
      }
    }
  }
  if (!session.identity) {
    showSignIn();
    return;
  }
  signInMessage = null;
  showIdentity();
  const [path, search] = (location.hash.slice(1) || '/').split('?');
  const query = new URLSearchParams(search ?? '');
  document.getElementById('nav-board').setAttribute('aria-current', path === '/' ? 'page' : 'false');
  const parts = path.split('/').filter((part) => part !== '').map(decodeURIComponent);
  if (path === '/' || path === '') {
    leave = board(main, query, setLive);
  } else if (parts[0] === 'timeline' && parts.length === 1 && query.get('application')) {
    leave = timelinePage(main, query, setLive);
  } else if (parts[0] === 'instance' && parts.length === 4) {
    leave = instancePage(main, { application: parts[1], service: parts[2], channel: parts[3] }, query, setLive);
  } else {
    setLive(null);
    main.replaceChildren(h('p', { class: 'error', role: 'alert' }, 'There is no such page. '), h('a', { href: '#/' }, 'Go to the fleet board'));
  }
}

document.getElementById('sign-out').addEventListener('click', () => {
  signOut();
  location.hash = '#/';
  route();
});
window.addEventListener('keelson:unauthorized', (event) => {
  signOut();
  signInMessage = `Signed out: the server no longer accepts the token${event.detail ? ` (${event.detail})` : ''}.`;
  route();
});
window.addEventListener('hashchange', () => {
  route();
  main.focus({ preventScroll: true });
});
route();
