// The deploy timeline as a picture: time on the x-axis, one lane per instance (grouped by channel
// in promotion order). A lane is coloured by the instance's status between its decisions — waiting,
// converging, converged, failed, rolling back, rolled back — so each release shows as a bar from its
// apply to where it ended, labelled with its version. Markers: releases (▼, on every lane of the
// service), approvals (✓), rollbacks and releases marked bad (✗), pauses (Ⅱ); alerts firing and
// resolving as lines across the whole picture; each decision a tick whose tooltip is its reason.
// The entries come from `/api/v1/timeline` in pages, only those of the window shown.

import { call, serverNow } from './api.js';
import { h, s } from './dom.js';

const SPANS = [['5m', 5 * 60e3], ['15m', 15 * 60e3], ['1h', 3600e3], ['6h', 6 * 3600e3], ['1d', 86400e3], ['7d', 7 * 86400e3], ['30d', 30 * 86400e3], ['90d', 90 * 86400e3]];
const PAGE = 1000, MAX_PAGES = 20; // at most 20,000 entries drawn; a longer window asks to zoom in
const LABEL = 190, LANE = 26, TOP = 34;
const STATUS_COLOURS = {
  waiting: '#f3d27a', converging: '#7fa8e6', converged: '#5dbb7a', failed: '#d9534f', rollingBack: '#e8837f',
  rolledBack: '#c58f8c', superseded: '#b8bec6', rejected: '#a94442', idle: '#e6e8eb',
};

export function timelinePage(main, query, setLive) {
  setLive(null);
  const application = query.get('application') ?? '';
  // From the address, so bounded: a window of a minute to a year, ending after 1970.
  const clamp = (value, low, high) => Math.min(Math.max(value, low), high);
  let span = clamp(Number(query.get('span')) || 6 * 3600e3, 60e3, 366 * 86400e3);
  let end = Number(query.get('end')) > 0 ? Math.max(Number(query.get('end')), span + 1000) : null; // null: now
  if (end !== null && end >= serverNow()) end = null;
  let stopped = false;
  const picture = h('div', { class: 'timeline', id: 'timeline-picture' }, h('p', { class: 'muted' }, 'Loading…'));
  const said = h('p', { class: 'summary', id: 'timeline-summary' });
  const controls = h('div', { class: 'timeline-controls', role: 'group', 'aria-label': 'Time window' },
    SPANS.map(([label, width]) => {
      const button = h('button', { type: 'button', 'data-span': label, 'aria-pressed': String(width === span) }, label);
      button.addEventListener('click', () => { span = width; go(); });
      return button;
    }),
    button('← Earlier', 'earlier', () => { end = windowEnd() - span / 2; go(); }),
    button('Later →', 'later', () => { end = windowEnd() + span / 2; if (end >= serverNow()) end = null; go(); }),
    button('Now', 'now', () => { end = null; go(); }),
    button('Fit', 'fit', () => {
      // Zoom to what the window holds: from its first entry to its last, with a margin.
      if (!drawn || drawn.last <= drawn.first) return;
      const margin = Math.max((drawn.last - drawn.first) * 0.05, 2000);
      span = drawn.last - drawn.first + 2 * margin;
      end = drawn.last + margin >= serverNow() ? null : drawn.last + margin;
      go();
    }));
  let drawn = null; // the times of the first and last entry drawn
  main.replaceChildren(
    h('p', {}, h('a', { href: '#/' }, '← Fleet')),
    h('h1', {}, `Timeline of ${application}`),
    controls, said, picture, legend());

  function button(label, name, action) {
    const element = h('button', { type: 'button', 'data-action': name }, label);
    element.addEventListener('click', action);
    return element;
  }
  // "Now" is the server's clock (to the second, from its Date header), plus that second.
  function windowEnd() { return end ?? serverNow() + 1000; }
  function go() {
    const search = new URLSearchParams({ application, span: String(span) });
    if (end) search.set('end', String(Math.round(end)));
    history.replaceState(null, '', `#/timeline?${search}`);
    for (const element of controls.querySelectorAll('button[data-span]')) {
      element.setAttribute('aria-pressed', String(SPANS.find(([label]) => label === element.dataset.span)[1] === span));
      if (!SPANS.some(([, width]) => width === span)) element.setAttribute('aria-pressed', 'false');
    }
    load();
  }

  async function load() {
    try {
      let until = windowEnd();
      const since = Math.max(until - span, 0);
      // Up to now: no upper bound, so that nothing just recorded is left out.
      const window = end ? { since: iso(since), until: iso(until) } : { since: iso(since) };
      const [status, entries, alerts, policy] = await Promise.all([
        call('GET', `/api/v1/status?scope=${encodeURIComponent(application)}`),
        pages(new URLSearchParams({ application, ...window })),
        pages(new URLSearchParams({ kind: 'alert', ...window })),
        call('GET', `/api/v1/events?${new URLSearchParams({ stream: `app:${application}`, type: 'PolicyCompiled', latest: 'true', limit: '1' })}`),
      ]);
      if (!end) until = Math.max(until, entries.entries[0]?.atMilliseconds ?? 0, alerts.entries[0]?.atMilliseconds ?? 0);
      // The state each lane entered the window in: the latest decision before it.
      const before = await call('GET', `/api/v1/timeline?${new URLSearchParams({ application, kind: 'decision', until: iso(since), limit: '1000' })}`);
      if (stopped) return;
      draw(status, entries, alerts, before.entries, since, until, policy.events[0]?.payload.policy.channels ?? []);
    } catch (error) {
      picture.replaceChildren(h('p', { class: 'error', role: 'alert' }, `Could not read the timeline: ${error.message}`));
    }
  }

  async function pages(search) {
    const all = [];
    let cursor = null;
    for (let page = 0; page < MAX_PAGES; page += 1) {
      search.set('limit', String(PAGE));
      if (cursor) search.set('before', String(cursor));
      const answer = await call('GET', `/api/v1/timeline?${search}`);
      all.push(...answer.entries);
      if (!answer.next) return { entries: all, complete: true };
      cursor = answer.next;
    }
    return { entries: all, complete: false };
  }

  function draw(status, { entries, complete }, alerts, before, since, until, policies) {
    const channels = status.channels?.[application] ?? [];
    const lanes = []; // { instance, channel, service }
    const services = [...new Set(status.instances.map((entry) => entry.instance.slice(entry.instance.indexOf('/') + 1, entry.instance.lastIndexOf('@'))))].sort();
    for (const channel of channels) {
      for (const service of services) {
        const instance = `${application}/${service}@${channel}`;
        if (status.instances.some((entry) => entry.instance === instance)) lanes.push({ instance, channel, service });
      }
    }
    const width = Math.max(720, picture.clientWidth || 1100);
    const plot = width - LABEL - 10;
    const height = TOP + lanes.length * LANE + 24;
    const x = (ms) => LABEL + ((ms - since) / (until - since)) * plot;
    const laneOf = new Map(lanes.map((lane, index) => [lane.instance, index]));
    const y = (index) => TOP + index * LANE;
    const chronological = entries.slice().reverse();

    const svg = s('svg', { width, height, viewBox: `0 0 ${width} ${height}`, role: 'img', class: 'timeline-svg',
      'aria-label': `Deploy timeline of ${application} from ${iso(since)} to ${iso(until)}: ${lanes.length} instances, ${entries.length} entries` });
    svg.append(s('title', {}, `Deploy timeline of ${application}`));
    // Colour is not the only signal: the states of a failure are hatched, and a bar wide enough
    // says its status in words.
    svg.append(s('defs', {}, s('pattern', { id: 'hatch', width: 6, height: 6, patternUnits: 'userSpaceOnUse', patternTransform: 'rotate(45)' },
      s('line', { x1: 0, y1: 0, x2: 0, y2: 6, stroke: 'rgba(0,0,0,.35)', 'stroke-width': 2 }))));
    svg.append(axis(since, until, x, height));

    // Shaded behind the bars: each channel's freezes, and the times outside its allowed windows.
    const shaded = shading(policies, since, until);
    for (const [channel, spans] of shaded) {
      const indexes = lanes.map((lane, index) => (lane.channel === channel ? index : -1)).filter((index) => index >= 0);
      if (indexes.length === 0) continue;
      const top = y(indexes[0]), bottom = y(indexes[indexes.length - 1]) + LANE;
      for (const span of spans) {
        svg.append(s('rect', { class: `shade shade-${span.kind}`, x: x(span.from), y: top, width: Math.max(x(span.until) - x(span.from), 1), height: bottom - top,
          'data-kind': span.kind, 'data-channel': channel }, s('title', {}, `${channel}: ${span.said}`)));
      }
    }

    // Lanes: labels, and the status between decisions as bars.
    let previousChannel = null;
    lanes.forEach((lane, index) => {
      if (lane.channel !== previousChannel) {
        svg.append(s('line', { class: 'group-line', x1: 0, x2: width, y1: y(index), y2: y(index) }));
        previousChannel = lane.channel;
      }
      svg.append(s('text', { class: 'lane-label', x: 8, y: y(index) + LANE / 2 }, `${lane.channel} · ${lane.service}`));
    });
    const state = new Map(); // instance → { status, version, since }
    for (const entry of before.slice().reverse()) {
      const instance = instanceOf(entry);
      if (laneOf.has(instance)) state.set(instance, { status: statusOf(entry), version: entry.version, since });
    }
    let bars = 0;
    const close = (instance, at) => {
      const open = state.get(instance);
      if (!open || !laneOf.has(instance)) return;
      // A state shorter than the picture can show still shows: at least 2 px wide.
      const x1 = x(Math.max(open.since, since)), x2 = Math.max(x(Math.min(at, until)), x1 + 2);
      const index = laneOf.get(instance);
      bars += 1;
      svg.append(s('rect', { class: `bar bar-${open.status}`, x: x1, y: y(index) + 4, width: x2 - x1, height: LANE - 8,
        fill: STATUS_COLOURS[open.status] ?? '#ccc', 'data-instance': instance, 'data-status': open.status, 'data-version': open.version ?? '' },
        s('title', {}, `${instance}: ${open.status}${open.version ? ` ${open.version}` : ''} from ${iso(open.since)}`)));
      if (['failed', 'rollingBack', 'rolledBack', 'rejected'].includes(open.status)) {
        svg.append(s('rect', { class: 'hatch', x: x1, y: y(index) + 4, width: x2 - x1, height: LANE - 8, fill: 'url(#hatch)' }));
      }
      const words = x2 - x1 > 150 ? `${open.version ?? ''} ${open.status}`.trim() : open.version;
      if (words && x2 - x1 > 44) {
        svg.append(s('text', { class: 'bar-label', x: x1 + 4, y: y(index) + LANE / 2 }, words));
      }
    };
    for (const entry of chronological) {
      const instance = instanceOf(entry);
      if (entry.kind === 'decision' && laneOf.has(instance)) {
        const next = { status: statusOf(entry), version: entry.version, since: entry.atMilliseconds };
        const open = state.get(instance);
        if (!open || open.status !== next.status || open.version !== next.version) {
          close(instance, entry.atMilliseconds);
          state.set(instance, next);
        }
        svg.append(s('line', { class: 'tick', x1: x(entry.atMilliseconds), x2: x(entry.atMilliseconds), y1: y(laneOf.get(instance)) + LANE - 5, y2: y(laneOf.get(instance)) + LANE - 1 },
          s('title', {}, `#${entry.position} ${iso(entry.atMilliseconds)} ${entry.line}`)));
      }
    }
    for (const instance of state.keys()) close(instance, until);

    // Markers.
    let markers = 0;
    for (const entry of chronological) {
      const symbol = { release: '▼', approval: '✓', rollback: '✗', bad: '✗', pause: 'Ⅱ' }[entry.kind];
      if (!symbol) continue;
      const targets = entry.channel ? [instanceOf(entry)]
        : lanes.filter((lane) => !entry.service || lane.service === entry.service).map((lane) => lane.instance);
      for (const instance of targets) {
        if (!laneOf.has(instance)) continue;
        markers += 1;
        svg.append(s('text', { class: `marker marker-${entry.kind}`, x: x(entry.atMilliseconds), y: y(laneOf.get(instance)) + 3, 'data-kind': entry.kind, 'data-instance': instance },
          symbol, s('title', {}, `#${entry.position} ${iso(entry.atMilliseconds)} ${entry.line}`)));
      }
    }
    for (const entry of alerts.entries) {
      const firing = entry.line.startsWith('alert firing');
      markers += 1;
      svg.append(s('line', { class: `alert-line ${firing ? 'firing' : 'resolved'}`, x1: x(entry.atMilliseconds), x2: x(entry.atMilliseconds), y1: TOP - 6, y2: height - 24, 'data-kind': 'alert' },
        s('title', {}, `#${entry.position} ${iso(entry.atMilliseconds)} ${entry.line}`)));
    }
    picture.replaceChildren(svg);
    picture.dataset.span = String(span); // what is drawn (tests wait for it)
    drawn = entries.length ? { first: entries[entries.length - 1].atMilliseconds, last: entries[0].atMilliseconds } : null;
    said.textContent = `${lanes.length} instance${lanes.length === 1 ? '' : 's'}, ${entries.length} entries, ${bars} bars, ${markers} markers from ${iso(since)} to ${iso(until)}`
      + (complete ? '' : ` — only the newest ${entries.length} entries of this window are drawn; zoom in for the rest`);
  }

  function legend() {
    return h('ul', { class: 'legend', 'aria-label': 'Legend' },
      Object.entries(STATUS_COLOURS).filter(([name]) => name !== 'idle').map(([name, colour]) => {
        const swatch = h('span', { class: `swatch${['failed', 'rollingBack', 'rolledBack', 'rejected'].includes(name) ? ' hatched' : ''}` });
        swatch.style.backgroundColor = colour;
        return h('li', {}, swatch, name);
      }),
      h('li', {}, '▼ release'), h('li', {}, '✓ approval'), h('li', {}, '✗ rollback or marked bad'), h('li', {}, 'Ⅱ pause'),
      h('li', {}, '┆ alert firing / resolved'), h('li', {}, '╷ decision (hover for its reason)'),
      h('li', {}, h('span', { class: 'swatch shade-closed' }), 'outside the allowed windows'),
      h('li', {}, h('span', { class: 'swatch shade-freeze' }), 'freeze'));
  }

  load();
  return () => { stopped = true; };
}

/** The axis: about eight labelled ticks, at round times. */
function axis(since, until, x, height) {
  const group = s('g', { class: 'axis' });
  const steps = [1e3, 5e3, 15e3, 60e3, 5 * 60e3, 15 * 60e3, 3600e3, 3 * 3600e3, 6 * 3600e3, 86400e3, 7 * 86400e3];
  const step = steps.find((size) => (until - since) / size <= 10) ?? 30 * 86400e3;
  for (let t = Math.ceil(since / step) * step; t <= until; t += step) {
    const date = new Date(t);
    const label = step >= 86400e3 ? date.toISOString().slice(5, 10) : date.toISOString().slice(11, step < 60e3 ? 19 : 16);
    group.append(s('line', { class: 'grid', x1: x(t), x2: x(t), y1: TOP - 8, y2: height - 22 }),
      s('text', { class: 'axis-label', x: x(t), y: height - 8 }, label));
  }
  group.append(s('text', { class: 'axis-label', x: LABEL, y: 14 }, `${new Date(since).toISOString().slice(0, 16).replace('T', ' ')} UTC`));
  return group;
}

/**
 * Per channel, the spans of the window to shade: its freezes, and the times outside its allowed
 * windows (`days`, minutes of the day in a time zone), sampled at a step of 1/600 of the window
 * (at least a minute). From the policy in force now.
 */
function shading(policies, since, until) {
  const shaded = new Map();
  const step = Math.max(60e3, (until - since) / 600);
  for (const channel of policies) {
    const spans = [];
    for (const freeze of channel.freezes ?? []) {
      const from = Math.max(freeze.from * 1000, since), to = Math.min(freeze.until * 1000, until);
      if (from < to) spans.push({ kind: 'freeze', from, until: to, said: `frozen${freeze.reason ? `: ${freeze.reason}` : ''} until ${iso(freeze.until * 1000)}` });
    }
    if ((channel.windows ?? []).length > 0) {
      const open = (ms) => channel.windows.some((window) => {
        const { day, minute } = local(ms, window.timeZone);
        return (window.days.length === 0 || window.days.includes(day)) && minute >= window.startMinute && minute < window.endMinute;
      });
      let start = null;
      for (let t = since; t <= until; t += step) {
        const closed = !open(t);
        if (closed && start === null) start = t;
        if (!closed && start !== null) { spans.push({ kind: 'closed', from: start, until: t, said: 'outside the allowed windows' }); start = null; }
      }
      if (start !== null) spans.push({ kind: 'closed', from: start, until, said: 'outside the allowed windows' });
    }
    if (spans.length) shaded.set(channel.name, spans);
  }
  return shaded;
}

const formats = new Map();
/** The day (`mon`…`sun`) and minute of the day at `ms` in a time zone. */
function local(ms, timeZone) {
  if (!formats.has(timeZone)) {
    let format;
    try {
      format = new Intl.DateTimeFormat('en-GB', { timeZone, weekday: 'short', hour: '2-digit', minute: '2-digit', hourCycle: 'h23' });
    } catch {
      format = new Intl.DateTimeFormat('en-GB', { timeZone: 'UTC', weekday: 'short', hour: '2-digit', minute: '2-digit', hourCycle: 'h23' });
    }
    formats.set(timeZone, format);
  }
  const parts = Object.fromEntries(formats.get(timeZone).formatToParts(new Date(ms)).map((part) => [part.type, part.value]));
  return { day: parts.weekday.slice(0, 3).toLowerCase(), minute: Number(parts.hour) * 60 + Number(parts.minute) };
}

/** `APP/SERVICE@CHANNEL` of an entry about an instance. */
function instanceOf(entry) {
  return `${entry.application}/${entry.service}@${entry.channel}`;
}

/** A decision's status: its line starts with it (`converged: …`). */
function statusOf(entry) {
  return entry.line.slice(0, entry.line.indexOf(':'));
}

function iso(ms) {
  return new Date(ms).toISOString();
}
