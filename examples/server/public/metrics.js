// The figures of the answers streaming in the open conversation, polled over REST while they run
// and written straight into their status lines (a redraw would be wasted on them).

import { api, ui } from '/state.js';
import { metricsText } from '/render-messages.js';

const METRICS_POLL_MS = 600;
const polls = new Map(); // messageId → interval polling a running answer's metrics

/** Polls the metrics of each answer streaming in the open conversation, while it runs. */
export function pollMetrics(snap) {
  const running = new Map(Object.values(snap.streams).map((s) => [s.messageId, s.streamId]));
  for (const [messageId, timer] of polls) {
    if (running.has(messageId) && ui.activeId === snap.sessionId) continue;
    clearInterval(timer);
    polls.delete(messageId);
  }
  for (const [messageId, streamId] of running) {
    if (polls.has(messageId)) continue;
    const tick = async () => {
      try {
        const metrics = await api(`/streams/${encodeURIComponent(streamId)}/metrics`);
        if (!polls.has(messageId)) return;
        ui.liveMetrics.set(messageId, metrics);
        for (const el of document.querySelectorAll(`.msg[data-id="${CSS.escape(messageId)}"] .stream-metrics`)) el.textContent = metricsText(metrics);
      } catch {
        // Transient: the next tick tries again, and the answer's end stops the polling.
      }
    };
    polls.set(messageId, setInterval(tick, METRICS_POLL_MS));
    void tick();
  }
}
