// The live event stream (`/api/v1/events/stream`, Server-Sent Events) read with fetch, because
// EventSource cannot send a bearer header. After a dropped connection it reconnects with
// `Last-Event-ID` set to the last position it saw, so nothing is missed and nothing comes twice.

import { session } from './api.js';

/**
 * Follows the log after `after`. `onEvents(events)` gets each batch of events read together
 * ({ position, type, ... } as the API shows them); `onState('live' | 'reconnecting' | 'stopped')`
 * tells when the connection changes. Returns `{ close() }`.
 */
export function follow({ after, onEvents, onState }) {
  let last = after;
  let closed = false;
  let controller = null;
  let delay = 1000;

  async function connect() {
    while (!closed) {
      controller = new AbortController();
      try {
        const response = await fetch(`/api/v1/events/stream?after=${last}`, {
          headers: { Authorization: `Bearer ${session.token}`, Accept: 'text/event-stream', 'Last-Event-ID': String(last) },
          signal: controller.signal, cache: 'no-store',
        });
        if (response.status === 401) {
          window.dispatchEvent(new CustomEvent('keelson:unauthorized'));
          onState('stopped');
          return;
        }
        if (!response.ok || !response.body) throw new Error(`the stream answered ${response.status}`);
        onState('live');
        delay = 1000;
        await read(response.body.getReader());
      } catch (error) {
        if (closed) return;
      }
      if (closed) return;
      onState('reconnecting');
      await new Promise((resolve) => setTimeout(resolve, delay));
      delay = Math.min(delay * 2, 15000);
    }
  }

  async function read(reader) {
    const decoder = new TextDecoder();
    let buffer = '';
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      buffer += decoder.decode(value, { stream: true });
      const events = [];
      let end;
      while ((end = buffer.indexOf('\n\n')) >= 0) {
        const frame = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        const event = parse(frame);
        if (event) events.push(event);
      }
      if (events.length > 0) {
        last = events[events.length - 1].position;
        onEvents(events);
      }
    }
  }

  function parse(frame) {
    let id = null, data = '';
    for (const line of frame.split('\n')) {
      if (line.startsWith('id:')) id = line.slice(3).trim();
      else if (line.startsWith('data:')) data += line.slice(5).trimStart();
    }
    if (id === null || data === '') return null; // a keep-alive comment
    try {
      return JSON.parse(data);
    } catch {
      return null;
    }
  }

  connect();
  return {
    close() {
      closed = true;
      controller?.abort();
    },
  };
}
