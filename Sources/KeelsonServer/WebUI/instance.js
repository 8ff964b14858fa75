// One instance: where it is and why (`explain` in words: the decision, its reason, the view it
// was made over), its timeline, and the events that decision saw. Live like the board; with
// `?position=N`, as it stood just after the event at N (not live).

import { call, instancePath, session } from './api.js';
import { announce, confirmAction, h, toast } from './dom.js';
import { follow } from './stream.js';

export function instancePage(main, id, query, setLive) {
  const instance = `${id.application}/${id.service}@${id.channel}`;
  const position = /^[1-9][0-9]{0,15}$/.test(query.get('position') ?? '') ? query.get('position') : null;
  const path = `/api/v1/instances/${instancePath(instance)}`;
  let stream = null;
  let stopped = false;
  let timer = null;
  const body = h('div', { id: 'instance-body' }, h('p', { class: 'muted' }, 'Loading…'));
  main.replaceChildren(
    h('p', {}, h('a', { href: position ? `#/?position=${position}` : '#/' }, '← Fleet')),
    h('h1', {}, instance),
    position ? h('p', { class: 'past', role: 'status' }, `As it stood just after the event at position ${position}; not live. `,
      h('a', { href: `#/instance/${instancePath(instance)}` }, 'Now')) : null,
    body);
  if (position) setLive(null);

  async function load() {
    if (stopped) return;
    try {
      const timelineQuery = new URLSearchParams({ ...id, limit: '50' });
      if (position) timelineQuery.set('before', String(Number(position) + 1));
      const scope = encodeURIComponent(instance);
      const [detail, timeline, current, desired, compiled] = await Promise.all([
        call('GET', position ? `${path}?position=${position}` : path), call('GET', `/api/v1/timeline?${timelineQuery}`),
        // What the runtime reports and what Keelson wants: now only (a past page has the timeline).
        position ? null : call('GET', `/api/v1/current?scope=${scope}`),
        position ? null : call('GET', `/api/v1/desired?scope=${scope}`),
        position ? null : call('GET', `/api/v1/events?${new URLSearchParams({ stream: `instance:${instance}`, type: 'DesiredStateCompiled', latest: 'true', limit: '2' })}`),
      ]);
      body.replaceChildren(...render(detail, timeline), ...state(current?.instances[0], desired?.instances[0], compiled?.events ?? []));
      if (!stream && !position) stream = follow({ after: detail.explanation?.decisionPosition ?? 0, onEvents: soon, onState: setLive });
    } catch (error) {
      body.replaceChildren(h('p', { class: 'error', role: 'alert' }, `Could not read ${instance}: ${error.message}`));
    }
  }

  function soon(events) {
    // Only events that can change this instance's page: its own stream's, its service's, and decisions.
    if (timer || stopped) return;
    if (events && !events.some((event) => event.stream.includes(`${id.application}/`) || event.stream === 'config')) return;
    timer = setTimeout(() => { timer = null; load(); }, 500);
  }

  function render(detail, timeline) {
    const status = detail.status;
    const explanation = detail.explanation;
    const facts = h('dl', { class: 'facts', id: 'instance-facts' },
      fact('Status', status ? h('span', { class: `status status-${status.status}` }, status.waitingFor ? `${status.status}: ${status.waitingFor}` : status.status) : 'not released yet'),
      fact('Why', status?.reason ?? explanation?.reason ?? '—'),
      fact('Running', status?.current?.length ? status.current.join(', ') : 'nothing'),
      fact('Desired release', status?.desired ?? '—'),
      fact('Target', status?.target ? `${status.target}${status.targetIsRollback ? ' (rollback)' : ''}` : '—'),
      fact('Last good release', status?.lastGood ?? '—'),
      fact('Since', status?.since ?? '—'),
      explanation ? fact('Decision', `#${explanation.decisionPosition} by engine ${explanation.engineVersion}, over the log up to #${explanation.viewPosition}, at ${explanation.now}`) : null);
    const parts = [facts];
    if (session.canDeploy && status && !position) parts.push(actions(status));
    parts.push(h('h2', {}, 'Timeline'));
    parts.push(timeline.entries.length === 0 ? h('p', { class: 'muted' }, 'Nothing has happened here yet.')
      : h('table', { class: 'events', id: 'instance-timeline' },
        h('caption', { class: 'visually-hidden' }, `What happened to ${instance}, newest first`),
        h('thead', {}, h('tr', {}, ['Position', 'When', 'Kind', 'By', 'What'].map((name) => h('th', { scope: 'col' }, name)))),
        h('tbody', {}, timeline.entries.map((entry) => h('tr', { 'data-kind': entry.kind },
          h('td', { class: 'mono' }, `#${entry.position}`),
          h('td', {}, new Date(entry.atMilliseconds).toISOString().replace('.000Z', 'Z')),
          h('td', {}, entry.kind),
          h('td', {}, entry.actor ?? ''),
          h('td', {}, entry.line))))));
    if (timeline.next) parts.push(h('p', { class: 'muted' }, `Older entries: keelson timeline ${instance}.`));
    if (explanation) {
      parts.push(h('h2', {}, 'What the last decision saw'));
      parts.push(h('details', { id: 'instance-view' },
        h('summary', {}, `The view it was made over (the instance's record up to #${explanation.viewPosition})`),
        h('pre', { class: 'document' }, JSON.stringify(explanation.view, null, 2))));
      const rows = explanation.events.slice().reverse().map((event) => h('tr', {},
        h('td', { class: 'mono' }, `#${event.position}`),
        h('td', {}, event.recordedAt),
        h('td', {}, event.type),
        h('td', {}, event.actor ?? ''),
        h('td', { class: 'mono' }, summary(event.payload))));
      parts.push(h('table', { class: 'events', id: 'instance-events' },
        h('caption', { class: 'visually-hidden' }, `Events of ${instance} up to its last decision, newest first`),
        h('thead', {}, h('tr', {}, ['Position', 'Recorded', 'Event', 'By', 'What'].map((name) => h('th', { scope: 'col' }, name)))),
        h('tbody', {}, rows)));
      if (explanation.earlierEvents) parts.push(h('p', { class: 'muted' }, `${explanation.earlierEvents} earlier events are not shown (keelson timeline ${instance} lists them).`));
    }
    return parts;
  }

  function actions(status) {
    const buttons = [];
    const version = status.target ?? status.desired;
    const service = `${id.application}/${id.service}`;
    if (status.status === 'waiting' && status.waitingFor === 'approval') {
      buttons.push(action('Approve', 'approve', `${path}/approve`, {
        title: `Approve ${version} for ${instance}?`,
        text: `Records an approval for ${id.channel}. Once its other gates pass, Keelson applies it there.`,
        action: 'Approve', comment: true,
      }, (answer) => ({ release: version, ...(answer.comment ? { comment: answer.comment } : {}) })));
      buttons.push(action('Reject', 'reject', `${path}/reject`, {
        title: `Reject ${version} for ${instance}?`,
        text: `${version} will not go to ${id.channel}; the instance keeps what it runs. A newer release can still go there.`,
        action: 'Reject', comment: true,
      }, (answer) => ({ release: version, ...(answer.comment ? { reason: answer.comment } : {}) })));
    }
    if (status.lastGood && status.current.length && !status.current.every((running) => running === status.lastGood)) {
      buttons.push(action('Roll back', 'rollback', `${path}/rollback`, {
        title: `Roll ${instance} back to ${status.lastGood}?`,
        text: `Marks ${status.current.join(', ')} bad for this service and applies ${status.lastGood}, the last release that passed its watch here.`,
        action: 'Roll back', comment: true,
      }, (answer) => (answer.comment ? { reason: answer.comment } : {})));
    }
    buttons.push(action('Pause', 'pause', '/api/v1/pause', {
      title: `Pause ${instance}?`,
      text: 'Keelson applies no new release here until it is resumed (rollbacks still happen).',
      action: 'Pause', comment: true,
    }, (answer) => ({ scope: instance, ...(answer.comment ? { reason: answer.comment } : {}) })));
    buttons.push(action('Resume', 'resume', '/api/v1/resume', {
      title: `Resume ${instance}?`,
      text: 'Lifts a pause of this instance (a pause of its service or application stays).',
      action: 'Resume',
    }, () => ({ scope: instance })));
    if (version) {
      buttons.push(action('Mark bad', 'mark-bad', `/api/v1/services/${instancePath(instance).split('/').slice(0, 2).join('/')}/mark-bad`, {
        title: `Mark ${service} ${version} bad?`,
        text: `${version} then goes nowhere else, and every instance of ${service} that runs it rolls back to its last good release. Releasing it again clears the mark.`,
        action: 'Mark bad', comment: true,
      }, (answer) => ({ release: version, ...(answer.comment ? { reason: answer.comment } : {}) })));
    }
    buttons.push(action('Release…', 'release', '/api/v1/releases', {
      title: `Release a version of ${service}`,
      text: `The version moves through ${service}'s release channels in order, through their gates.`,
      action: 'Release', value: { label: 'Version', initial: '' },
    }, (answer) => ({ application: id.application, service: id.service, version: answer.value })));
    return h('div', { class: 'actions', role: 'group', 'aria-label': 'Actions' }, buttons);
  }

  function action(label, name, route, question, bodyOf) {
    const button = h('button', { type: 'button', class: name }, label);
    button.addEventListener('click', async () => {
      const answer = await confirmAction(question);
      if (!answer || (question.value && !answer.value)) return;
      button.disabled = true;
      try {
        const result = await call('POST', route, bodyOf(answer));
        button.disabled = false;
        const said = result.message ?? result.summary ?? 'done';
        toast(`${said} (event #${result.position})`);
        announce(said);
        soon();
      } catch (error) {
        button.disabled = false;
        toast(`${label}: ${error.message}`);
        announce(`${label} failed: ${error.message}`);
      }
    });
    return button;
  }

  load();
  return () => {
    stopped = true;
    stream?.close();
    clearTimeout(timer);
  };
}

/** The last observation and the desired state, with what changed since the desired state before. */
function state(current, desired, compiled) {
  const parts = [];
  if (current) {
    parts.push(h('h2', {}, 'Last observation'));
    parts.push(h('p', { class: 'muted' }, `From ${current.runtime}, fetch #${current.fetchedPosition}; last seen unchanged at #${current.lastSeenPosition} (${current.lastSeenAt}). `,
      current.healthy ? 'Healthy.' : 'Not healthy.'));
    parts.push(current.observation.objects.length === 0 ? h('p', {}, 'Nothing runs.')
      : h('table', { class: 'events', id: 'instance-observation' },
        h('caption', { class: 'visually-hidden' }, 'What the runtime reported, object by object'),
        h('thead', {}, h('tr', {}, ['Object', 'Version', 'Ready', 'Health', 'Drift', 'Message'].map((name) => h('th', { scope: 'col' }, name)))),
        h('tbody', {}, current.observation.objects.map((object) => h('tr', {},
          h('td', { class: 'mono' }, object.name), h('td', {}, object.version ?? '—'),
          h('td', {}, `${object.readyReplicas}/${object.desiredReplicas}`), h('td', {}, object.health),
          h('td', {}, object.drifted ? 'drifted' : '—'), h('td', {}, object.message ?? ''))))));
  }
  if (desired) {
    parts.push(h('h2', {}, 'Desired state'));
    parts.push(h('p', { class: 'muted' }, `${desired.version}, compiled at #${desired.position} (${desired.recordedAt}); digest `, h('code', {}, desired.digest)));
    const previous = compiled.length === 2 ? compiled[0] : null;
    if (previous) {
      const lines = diff(parse(previous.payload.document), desired.document);
      parts.push(h('p', {}, `Changes since the desired state before (${previous.payload.version}, #${previous.position}):`));
      parts.push(lines.length === 0 ? h('p', { class: 'muted' }, 'none.')
        : h('pre', { class: 'diff', id: 'instance-diff' }, lines.map(([sign, text]) => h('span', { class: sign === '+' ? 'added' : 'removed' }, `${sign} ${text}\n`))));
    }
    const text = JSON.stringify(desired.document, null, 2);
    parts.push(h('details', {}, h('summary', {}, 'The compiled document'),
      h('pre', { class: 'document' }, text.length > 100000 ? `${text.slice(0, 100000)}\n… (${text.length} characters; keelson get desired shows all)` : text)));
  }
  return parts;
}

function parse(text) {
  try { return typeof text === 'string' ? JSON.parse(text) : text; } catch { return text; }
}

/** Two JSON values as `path = value` lines; the lines only one side has. */
function diff(before, after) {
  const flatten = (value, path, into) => {
    if (value !== null && typeof value === 'object' && Object.keys(value).length > 0) {
      for (const key of Object.keys(value).sort()) flatten(value[key], Array.isArray(value) ? `${path}[${key}]` : `${path}.${key}`, into);
    } else {
      into.push(`${path || '.'} = ${JSON.stringify(value)}`);
    }
    return into;
  };
  const old = new Set(flatten(before, '', [])), now = new Set(flatten(after, '', []));
  return [...[...old].filter((line) => !now.has(line)).map((line) => ['-', line]), ...[...now].filter((line) => !old.has(line)).map((line) => ['+', line])];
}

function fact(name, value) {
  return [h('dt', {}, name), h('dd', {}, value)];
}

/** A payload in one line, shortened. */
function summary(payload) {
  const text = JSON.stringify(payload);
  return text.length > 160 ? `${text.slice(0, 159)}…` : text;
}
