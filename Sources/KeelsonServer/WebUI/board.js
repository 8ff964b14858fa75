// The fleet board: per application, its release channels in promotion order as columns (the
// `after:` graph drawn above them), each service a row, each cell an instance — its current and
// target release, its status and what it waits for. Live: every event on the stream refreshes the
// board (at most twice a second), and only the cells that changed are redrawn. The "as of" slider
// shows the board as it stood at any earlier position of the log (`/api/v1/status?position=N`).

import { call, instancePath, session } from './api.js';
import { announce, confirmAction, h, s, toast } from './dom.js';
import { follow } from './stream.js';

const STATUSES = ['waiting', 'converging', 'converged', 'failed', 'rollingBack', 'rolledBack', 'superseded', 'rejected', 'idle'];
const LABEL = 180; // the service column, px
const COLUMN = 230; // a channel column, px

/** Draws the board into `main`; returns the function that stops it (closes the stream). */
export function board(main, query, setLive) {
  const filters = {
    application: query.get('application') ?? '',
    service: query.get('service') ?? '',
    status: query.get('status') ?? '',
    position: /^[1-9][0-9]{0,15}$/.test(query.get('position') ?? '') ? query.get('position') : '',
  };
  let latest = 0; // the log's last position, as the stream tells
  let streamState = 'reconnecting';
  function showLive() { setLive(filters.position ? 'past' : streamState); }
  let answer = null;
  let shape = null; // what the drawn tables are made of; redrawn whole when it changes
  const cells = new Map(); // instance → { td, key }
  const rows = new Map(); // APP/SERVICE → tr
  const sections = new Map(); // application → section
  let stream = null;
  let stopped = false;
  let loading = false;
  let again = false;

  const summary = h('p', { class: 'summary', id: 'board-summary', 'aria-live': 'off' });
  const problem = h('p', { class: 'error', role: 'alert', hidden: true });
  const boards = h('div', { id: 'boards' });
  const empty = h('p', { class: 'notice', hidden: true });
  const applicationChoice = h('select', { id: 'filter-application' }, h('option', { value: '' }, 'all'));
  const serviceText = h('input', { id: 'filter-service', type: 'search', value: filters.service, placeholder: 'name contains…' });
  const statusChoice = h('select', { id: 'filter-status' }, h('option', { value: '' }, 'any'),
    STATUSES.map((status) => h('option', { value: status, selected: status === filters.status }, status)));
  const form = h('form', { class: 'filters', role: 'search', 'aria-label': 'Filter the board' },
    h('label', {}, 'Application', applicationChoice),
    h('label', {}, 'Service', serviceText),
    h('label', {}, 'Status', statusChoice));
  form.addEventListener('submit', (event) => event.preventDefault());
  const slider = h('input', { id: 'as-of', type: 'range', min: 1, max: 1, step: 1, 'aria-describedby': 'as-of-said' });
  const said = h('output', { id: 'as-of-said', for: 'as-of' });
  const now = h('button', { type: 'button', id: 'as-of-now' }, 'Back to now');
  const travel = h('div', { class: 'as-of', role: 'group', 'aria-label': 'Point in time' },
    h('label', { for: 'as-of' }, 'As of'), slider, said, now);
  slider.addEventListener('input', () => { said.textContent = `position ${slider.value}${Number(slider.value) >= latest ? ' (now)' : ''}`; });
  slider.addEventListener('change', () => travelTo(Number(slider.value) >= latest ? '' : slider.value));
  now.addEventListener('click', () => travelTo(''));
  function travelTo(position) {
    filters.position = position;
    changed.everything = true;
    remember();
    shape = null;
    load();
  }
  function remember() {
    const search = new URLSearchParams(Object.entries(filters).filter(([, value]) => value !== ''));
    history.replaceState(null, '', `#/${search.size ? `?${search}` : ''}`);
  }
  for (const [control, key] of [[applicationChoice, 'application'], [serviceText, 'service'], [statusChoice, 'status']]) {
    const apply = () => {
      if (filters[key] === control.value) return;
      filters[key] = control.value;
      remember();
      draw();
    };
    control.addEventListener('input', apply);
    control.addEventListener('change', apply);
  }
  const past = h('p', { class: 'past', id: 'as-of-banner', role: 'status', hidden: true });
  main.replaceChildren(h('h1', {}, 'Fleet'), form, travel, past, summary, problem, empty, boards);
  summary.textContent = 'Loading…';

  // What the stream said changed since the last read: the services whose instances to read again,
  // or (`everything`) the whole fleet — after anything else (config, pauses, alerts), after many
  // services, and every 30 s, so that a wait's countdown stays current.
  const changed = { services: new Set(), everything: true, at: 0 };

  async function load() {
    if (stopped) return;
    if (loading) { again = true; return; }
    loading = true;
    try {
      const asked = filters.position;
      const whole = asked || !answer || changed.everything || changed.services.size > 20 || Date.now() - changed.at > 30000;
      const services = [...changed.services];
      changed.services.clear();
      changed.everything = false;
      let fresh;
      if (whole) {
        fresh = await call('GET', asked ? `/api/v1/status?position=${asked}` : '/api/v1/status');
        changed.at = Date.now();
      } else {
        // Only the services that changed: one indexed range read each, merged into the answer.
        const parts = await Promise.all(services.map((scope) => call('GET', `/api/v1/status?scope=${encodeURIComponent(scope)}`)));
        const replaced = new Set(services);
        fresh = { ...answer, position: Math.max(answer.position, ...parts.map((part) => part.position)) };
        fresh.instances = answer.instances.filter((entry) => !replaced.has(entry.instance.slice(0, entry.instance.lastIndexOf('@'))))
          .concat(...parts.map((part) => part.instances))
          .sort((a, b) => (a.instance < b.instance ? -1 : a.instance > b.instance ? 1 : 0));
      }
      if (asked !== filters.position) return; // moved again meanwhile; that load draws
      answer = fresh;
      if (!asked) latest = Math.max(latest, answer.position);
      problem.hidden = true;
      draw();
      await showWhen(asked);
      if (!stream) {
        if (asked) latest = (await call('GET', '/api/v1/status?limit=1')).position;
        stream = follow({ after: latest, onEvents: heard, onState: (state) => { streamState = state; showLive(); } });
      }
    } catch (error) {
      changed.everything = true; // read it all next time (a service may be gone)
      problem.hidden = false;
      problem.textContent = `Could not read the fleet's status: ${error.message}`;
    } finally {
      loading = false;
      if (again && !stopped) { again = false; setTimeout(load, 500); }
    }
  }

  /** Says which moment the board shows; in the past, when that was. */
  async function showWhen(asked) {
    slider.max = String(Math.max(latest, 1));
    slider.value = asked || String(latest);
    said.textContent = asked ? `position ${asked}` : `position ${latest} (now)`;
    now.hidden = !asked;
    past.hidden = !asked;
    if (stream) showLive();
    if (!asked) return;
    past.textContent = `The board as it stood just after the event at position ${asked}; not live. `;
    try {
      const events = (await call('GET', `/api/v1/events?after=${Number(asked) - 1}&limit=1`)).events;
      if (events.length && filters.position === asked) {
        past.textContent = `The board as it stood at ${events[0].recordedAt} (position ${asked}); not live.`;
      }
    } catch {
      // the position alone says enough
    }
  }

  /** Events from the stream: the slider grows; a live board refreshes. */
  function heard(events) {
    latest = Math.max(latest, events[events.length - 1].position);
    slider.max = String(latest);
    let relevant = false;
    for (const event of events) {
      const about = /^(instance|service|worker):([^@]*)/.exec(event.stream);
      if (about?.[1] === 'worker') continue; // a worker's start changes no instance
      relevant = true;
      if (about) changed.services.add(about[2]);
      else changed.everything = true;
    }
    if (relevant && !filters.position) soon();
  }

  let timer = null;
  function soon() {
    if (timer || stopped) return;
    timer = setTimeout(() => { timer = null; load(); }, 500);
  }

  // The tables are made of the whole fleet and rebuilt only when its shape changes (an instance,
  // service, channel or application comes or goes); filters only hide rows and cells, so that a
  // filter change on 10,000 instances costs no rebuild.
  function draw() {
    if (!answer) return;
    const applications = new Map(); // application → { channels, promotions, services: Map(service → Map(channel → entry)) }
    for (const name of Object.keys(answer.channels ?? {}).sort()) {
      applications.set(name, { channels: answer.channels[name], promotions: answer.promotions?.[name] ?? {}, services: new Map() });
    }
    for (const entry of answer.instances) {
      const { application, service, channel } = parts(entry.instance);
      let app = applications.get(application);
      if (!app) { app = { channels: [], promotions: {}, services: new Map() }; applications.set(application, app); }
      if (!app.channels.includes(channel)) app.channels.push(channel);
      if (!app.services.has(service)) app.services.set(service, new Map());
      app.services.get(service).set(channel, entry);
    }
    for (const [name, app] of applications) if (app.services.size === 0) applications.delete(name);
    const known = [...applications.keys()];
    if (applicationChoice.options.length !== known.length + 1 || known.some((name, i) => applicationChoice.options[i + 1].value !== name)) {
      applicationChoice.replaceChildren(h('option', { value: '' }, 'all'),
        known.map((name) => h('option', { value: name, selected: name === filters.application }, name)));
    }

    const nextShape = JSON.stringify([...applications].map(([name, app]) =>
      [name, app.channels, app.promotions, [...app.services].map(([service, row]) => [service, [...row.keys()]])]));
    if (nextShape !== shape) {
      shape = nextShape;
      cells.clear();
      rows.clear();
      sections.clear();
      boards.replaceChildren(...[...applications].map(([name, app], index) => applicationBoard(name, app, index)));
    }
    const serviceFilter = filters.service.toLowerCase();
    let shown = 0;
    for (const [name, app] of applications) {
      const appShown = !filters.application || filters.application === name;
      let rowsShown = 0;
      for (const [service, row] of app.services) {
        const serviceShown = appShown && (!serviceFilter || service.toLowerCase().includes(serviceFilter));
        let cellsShown = 0;
        for (const entry of row.values()) {
          update(entry);
          const match = serviceShown && (!filters.status || entry.status === filters.status);
          cells.get(entry.instance).td.classList.toggle('filtered-out', !match);
          if (match) cellsShown += 1;
        }
        rows.get(`${name}/${service}`).hidden = cellsShown === 0;
        if (cellsShown > 0) rowsShown += 1;
        shown += cellsShown;
      }
      sections.get(name).hidden = rowsShown === 0;
    }
    const total = answer.instances.length;
    summary.textContent = `${shown === total ? `${total}` : `${shown} of ${total}`} instance${total === 1 ? '' : 's'} · as of log position ${answer.position}`;
    boards.classList.toggle('in-the-past', Boolean(filters.position));
    empty.hidden = shown > 0;
    empty.textContent = total === 0
      ? 'Nothing released yet: apply a config and release a version (keelson release APP/SERVICE --version V).'
      : 'No instance matches these filters.';
  }

  function applicationBoard(name, app, index) {
    const titleID = `app-${index}`;
    const table = h('table', { class: 'board', 'aria-labelledby': titleID },
      h('thead', {}, h('tr', {},
        h('th', { scope: 'col', class: 'service-col' }, 'Service'),
        app.channels.map((channel) => h('th', { scope: 'col', class: 'channel-col', 'data-channel': channel }, channel)))),
      h('tbody', {}, [...app.services.keys()].sort().map((service) => row(`${name}/${service}`, h('tr', { 'data-service': service },
        h('th', { scope: 'row' }, service),
        app.channels.map((channel) => {
          const entry = app.services.get(service).get(channel);
          if (!entry) return h('td', { class: 'empty' }, '—');
          const td = h('td', { class: 'cell', 'data-instance': entry.instance });
          cells.set(entry.instance, { td, key: null });
          return td;
        }))))));
    table.style.width = `${LABEL + COLUMN * app.channels.length}px`;
    for (const col of table.querySelectorAll('th.service-col')) col.style.width = `${LABEL}px`;
    for (const col of table.querySelectorAll('th.channel-col')) col.style.width = `${COLUMN}px`;
    const section = h('section', { class: 'app', 'data-application': name },
      h('h2', { id: titleID }, name,
        h('a', { class: 'app-links', href: `#/timeline?${new URLSearchParams({ application: name })}`, 'aria-label': `Deploy timeline of ${name}` }, 'Timeline →')),
      stageGraph(app.channels, app.promotions, index),
      table);
    sections.set(name, section);
    return section;
  }

  function row(key, tr) {
    rows.set(key, tr);
    return tr;
  }

  function update(entry) {
    const cell = cells.get(entry.instance);
    if (!cell) return;
    const key = JSON.stringify(entry);
    if (cell.key === key) return;
    cell.key = key;
    cell.td.dataset.status = entry.status;
    cell.td.replaceChildren(...cellContent(entry));
  }

  function cellContent(entry) {
    const current = entry.current.length ? entry.current.join(', ') : 'nothing running';
    const moving = entry.target && !entry.current.includes(entry.target);
    const label = entry.waitingFor ? `${entry.status}: ${entry.waitingFor}` : entry.status;
    const content = [
      h('a', { class: `status status-${entry.status}`, href: `#/instance/${instancePath(entry.instance)}${filters.position ? `?position=${filters.position}` : ''}`,
        'aria-label': `${entry.instance}: ${label}. Details` }, label),
      h('div', { class: 'versions' }, current,
        moving ? ` → ${entry.target}${entry.targetIsRollback ? ' (rollback)' : ''}` : ''),
      h('div', { class: 'reason', title: entry.reason }, entry.reason),
    ];
    if (session.canDeploy && !filters.position && entry.status === 'waiting' && entry.waitingFor === 'approval') {
      const button = h('button', { type: 'button', class: 'approve', 'data-instance': entry.instance }, 'Approve');
      button.addEventListener('click', () => approve(entry, button));
      content.push(h('div', { class: 'actions' }, button));
    }
    return content;
  }

  async function approve(entry, button) {
    const version = entry.target ?? entry.desired;
    const answer = await confirmAction({
      title: `Approve ${version} for ${entry.instance}?`,
      text: `Records an approval of ${version} for ${entry.channel}. Once its other gates pass, Keelson applies it there.`,
      action: 'Approve',
      comment: true,
    });
    if (!answer) return;
    button.disabled = true;
    try {
      const body = { release: version };
      if (answer.comment) body.comment = answer.comment;
      const result = await call('POST', `/api/v1/instances/${instancePath(entry.instance)}/approve`, body);
      toast(`${result.message} (event #${result.position})`);
      announce(`${result.message}`);
      soon();
    } catch (error) {
      button.disabled = false;
      toast(`Not approved: ${error.message}`);
      announce(`Not approved: ${error.message}`);
    }
  }

  load();
  return () => {
    stopped = true;
    stream?.close();
    clearTimeout(timer);
  };
}

/** `APP/SERVICE@CHANNEL` split. */
function parts(instance) {
  const slash = instance.indexOf('/');
  const at = instance.lastIndexOf('@');
  return { application: instance.slice(0, slash), service: instance.slice(slash + 1, at), channel: instance.slice(at + 1) };
}

/**
 * The promotion graph: a box per channel above its column, an arrow from each channel to every
 * channel that comes after it; arrows that skip columns arc above the boxes.
 */
function stageGraph(channels, promotions, index) {
  const width = LABEL + COLUMN * channels.length;
  const boxWidth = COLUMN - 56;
  const top = 34, boxHeight = 28, height = top + boxHeight + 6;
  const center = (i) => LABEL + COLUMN * i + COLUMN / 2;
  const marker = `arrow-${index}`;
  const edges = [];
  const described = [];
  channels.forEach((channel, to) => {
    for (const upstream of promotions[channel] ?? []) {
      const from = channels.indexOf(upstream);
      if (from < 0) continue;
      described.push(`${upstream} → ${channel}`);
      const x1 = center(from) + (from < to ? boxWidth / 2 : -boxWidth / 2);
      const x2 = center(to) + (from < to ? -boxWidth / 2 - 2 : boxWidth / 2 + 2);
      const y = top + boxHeight / 2;
      const path = Math.abs(to - from) === 1
        ? `M ${x1} ${y} L ${x2} ${y}`
        : `M ${center(from)} ${top} C ${center(from)} ${top - 30}, ${center(to)} ${top - 30}, ${center(to)} ${top - 2}`;
      edges.push(s('path', { class: 'edge', d: path, 'marker-end': `url(#${marker})`, 'data-from': upstream, 'data-to': channel }));
    }
  });
  const title = described.length ? `Promotion order: ${described.join(', ')}` : `Channels: ${channels.join(', ')}`;
  return s('svg', { class: 'stages', width, height, viewBox: `0 0 ${width} ${height}`, role: 'img', 'aria-label': title },
    s('title', {}, title),
    s('defs', {}, s('marker', { id: marker, viewBox: '0 0 10 10', refX: 9, refY: 5, markerWidth: 7, markerHeight: 7, orient: 'auto-start-reverse' },
      s('path', { class: 'arrowhead', d: 'M 0 0 L 10 5 L 0 10 z' }))),
    edges,
    channels.map((channel, i) => s('g', { class: 'node', 'data-channel': channel },
      s('rect', { x: center(i) - boxWidth / 2, y: top, width: boxWidth, height: boxHeight, rx: 5 }),
      s('text', { x: center(i), y: top + boxHeight / 2 }, channel))));
}
