// Herald dashboard: a live overview from /stats/stream, a console that watches topics
// with EventSource, and a publish form. Plain JavaScript, no build step.
'use strict';

const $ = (id) => document.getElementById(id);
const HISTORY_POINTS = 300; // one point a second: five minutes

// ---- Overview -------------------------------------------------------------------------
const points = { published: [], delivered: [] };
let previous = null;

function rate(now, key) {
  if (!previous) return 0;
  const seconds = now.uptime_seconds - previous.uptime_seconds;
  return seconds > 0 ? Math.max(0, (now[key] - previous[key]) / seconds) : 0;
}

function drawChart() {
  const max = Math.max(1, ...points.published, ...points.delivered);
  const toPoints = (values) => values
    .map((v, i) => `${(600 * (HISTORY_POINTS - values.length + i)) / (HISTORY_POINTS - 1)},${156 - (150 * v) / max}`)
    .join(' ');
  $('chart-published').setAttribute('points', toPoints(points.published));
  $('chart-delivered').setAttribute('points', toPoints(points.delivered));
  $('chart-max').textContent = Math.round(max).toLocaleString();
}

function renderTopics(list) {
  const body = $('topic-table').querySelector('tbody');
  body.replaceChildren(...list.map((t) => {
    const row = document.createElement('tr');
    row.dataset.topic = t.name;
    const name = document.createElement('td');
    name.className = 'topic';
    const pick = document.createElement('button');
    pick.type = 'button';
    pick.textContent = t.name;
    pick.title = `Watch ${t.name} in the console`;
    pick.addEventListener('click', () => { $('console-topics').value = t.name; $('publish-topic').value = t.name; connectConsole(); });
    name.append(pick);
    const cells = [['subscribers', t.subscribers], ['last-id', t.last_id || '–'], ['retained', t.retained]].map(([cls, v]) => {
      const td = document.createElement('td');
      td.className = cls;
      td.textContent = String(v);
      return td;
    });
    row.append(name, ...cells);
    return row;
  }));
  $('topics-empty').hidden = list.length > 0;
}

function onStats(stats) {
  const published = rate(stats, 'events_published');
  const delivered = rate(stats, 'events_delivered');
  previous = stats;
  $('connections').textContent = stats.connections.toLocaleString();
  $('streams').textContent = stats.streams.toLocaleString();
  $('topics-count').textContent = stats.topics.toLocaleString();
  $('published-total').textContent = stats.events_published.toLocaleString();
  $('delivered-total').textContent = stats.events_delivered.toLocaleString();
  $('published-rate').textContent = Math.round(published).toLocaleString();
  $('delivered-rate').textContent = Math.round(delivered).toLocaleString();
  for (const [key, value] of [['published', published], ['delivered', delivered]]) {
    points[key].push(value);
    if (points[key].length > HISTORY_POINTS) points[key].shift();
  }
  drawChart();
  renderTopics(stats.topic_list);
  $('demo-hint').hidden = stats.demo;
}

const statsSource = new EventSource('/stats/stream');
statsSource.addEventListener('stats', (e) => onStats(JSON.parse(e.data)));
statsSource.onopen = () => { $('stats-state').textContent = 'live'; };
statsSource.onerror = () => { $('stats-state').textContent = 'reconnecting'; };

// ---- Console --------------------------------------------------------------------------
let source = null;
let receivedAny = false;
let inReplay = false;
let resumeRequested = false;
const listenedTypes = new Set();

function splitList(text) {
  return text.split(/[\s,]+/).filter(Boolean);
}

function setState(state) { $('console-state').textContent = state; }

function addRow(row) {
  const list = $('console-events');
  list.prepend(row);
  while (list.children.length > 200) list.lastElementChild.remove();
}

function showEvent(e) {
  receivedAny = true;
  const row = document.createElement('li');
  row.dataset.id = e.lastEventId;
  row.dataset.type = e.type;
  row.dataset.replay = String(inReplay);
  const meta = document.createElement('div');
  meta.className = 'meta';
  const badges = [`#${e.lastEventId}`, e.type, new Date().toLocaleTimeString()];
  if (inReplay) badges.push('replay');
  for (const text of badges) {
    const span = document.createElement('span');
    span.textContent = text;
    if (text === e.type || text === 'replay') span.className = text === 'replay' ? 'badge replay' : 'badge';
    meta.append(span);
  }
  const data = document.createElement('pre');
  data.textContent = e.data;
  row.append(meta, data);
  addRow(row);
}

function showNotice(type, text) {
  const row = document.createElement('li');
  row.className = 'notice';
  row.dataset.type = type;
  row.textContent = text;
  addRow(row);
}

function listen(type) {
  if (!source || listenedTypes.has(type)) return;
  listenedTypes.add(type);
  source.addEventListener(type, showEvent);
}

function connectConsole() {
  closeConsole();
  const topics = splitList($('console-topics').value);
  if (topics.length === 0) return;
  const lastId = $('console-last-id').value.trim();
  const query = topics.map((t) => `topic=${encodeURIComponent(t)}`);
  query.push('notifyReplay=1');
  if (lastId) query.push(`lastEventId=${encodeURIComponent(lastId)}`);
  receivedAny = false;
  resumeRequested = lastId !== '';
  source = new EventSource(`/events?${query.join('&')}`);
  setState('connecting');
  // Herald replays after a Last-Event-ID (the browser sends one when it reconnects after
  // receiving an event) or a lastEventId in the URL, and marks the end with
  // herald-replay-complete: events before that mark came from history.
  source.onopen = () => { inReplay = receivedAny || resumeRequested; setState('open'); };
  source.onerror = () => setState(source.readyState === EventSource.CLOSED ? 'closed' : 'reconnecting');
  source.onmessage = showEvent;
  for (const type of splitList($('console-types').value)) listen(type);
  source.addEventListener('herald-replay-complete', (e) => {
    inReplay = false;
    const { replayed } = JSON.parse(e.data);
    showNotice(e.type, `Replay complete: ${replayed} event${replayed === 1 ? '' : 's'} from history.`);
  });
  source.addEventListener('herald-history-truncated', (e) => {
    const { topics: lost, last_event_id: id } = JSON.parse(e.data);
    showNotice(e.type, `History no longer reaches back to #${id} for ${lost.join(', ')}: some events are gone.`);
  });
}

function closeConsole() {
  if (source) source.close();
  source = null;
  listenedTypes.clear();
  inReplay = false;
  setState('closed');
}

$('console-form').addEventListener('submit', (e) => { e.preventDefault(); connectConsole(); });
$('console-close').addEventListener('click', closeConsole);
$('demo-time').addEventListener('click', () => {
  $('console-topics').value = 'time';
  $('console-last-id').value = '';
  connectConsole();
});

// ---- Publish --------------------------------------------------------------------------
$('publish-form').addEventListener('submit', async (e) => {
  e.preventDefault();
  const result = $('publish-result');
  const topic = $('publish-topic').value.trim();
  const type = $('publish-event').value.trim();
  const body = { topic, data: $('publish-data').value };
  if (type) {
    body.event = type;
    listen(type); // so the console shows what we publish
  }
  // The key goes with this request only: the page never stores it.
  const headers = { 'Content-Type': 'application/json' };
  const key = $('publish-key').value.trim();
  if (key) headers.Authorization = `Bearer ${key}`;
  try {
    const response = await fetch('/publish', { method: 'POST', headers, body: JSON.stringify(body) });
    const answer = await response.json();
    result.className = response.ok ? '' : 'error';
    result.textContent = response.ok ? `Published to ${topic} as #${answer.id}` : `Error ${response.status}: ${answer.error}`;
  } catch (err) {
    result.className = 'error';
    result.textContent = `Error: ${err.message}`;
  }
});

connectConsole();
