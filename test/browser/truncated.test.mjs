// 4. History truncation: with --history-size 5, a page resuming from an early id first gets a
//    `herald-history-truncated` event naming the topics whose history no longer reaches back,
//    then the retained events, in id order.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import {
  startHerald, launchBrowser, openPage, openEventSource, waitForOpen, waitForEvents, sseState,
  sleep, assertIncreasing,
} from './harness.mjs';

let herald;
let browser;

before(async () => {
  herald = await startHerald(['--history-size', '5']);
  browser = await launchBrowser();
});

after(async () => {
  await browser?.shutdown();
  await herald?.stop();
});

const TYPES = ['message', 'herald-history-truncated'];

test('resuming from an early id: truncated notice, then the retained events', { timeout: 60_000 }, async () => {
  const page = await openPage(browser, `${herald.url}/healthz`);

  // 20 events on "hist"; the first one's id is where the page resumes from. Two events on
  // "kept" after it: that topic's history still reaches back, so it is not in the notice.
  const hist = [];
  const kept = [];
  for (let i = 0; i < 20; i++) {
    hist.push(await herald.publish('hist', `h${i}`));
    if (i === 3 || i === 12) kept.push(await herald.publish('kept', `k${i}`));
  }
  const early = hist[0];

  await openEventSource(page, 'r', `/events?topic=hist&topic=kept&lastEventId=${early}`, TYPES);
  const retained = [...hist.slice(-5), ...kept].sort((a, b) => (BigInt(a) < BigInt(b) ? -1 : 1));
  const st = await waitForEvents(page, 'r', 1 + retained.length);
  await sleep(300);
  const { events } = await sseState(page, 'r');
  assert.equal(events.length, 1 + retained.length, JSON.stringify(events));

  const [notice, ...rest] = events;
  assert.equal(notice.type, 'herald-history-truncated', 'the notice comes first');
  assert.equal(notice.lastEventId, '', 'the notice carries no id');
  const body = JSON.parse(notice.data);
  assert.deepEqual(body, { topics: ['hist'], last_event_id: early });
  assert.equal(typeof body.last_event_id, 'string');

  assert.ok(rest.every((e) => e.type === 'message'));
  const ids = rest.map((e) => e.lastEventId);
  assertIncreasing(ids);
  assert.deepEqual(ids, retained, 'the 5 retained events of hist and both of kept, in id order');
  const dataOf = new Map([...hist.map((id, i) => [id, `h${i}`]), ...kept.map((id, i) => [id, `k${[3, 12][i]}`])]);
  for (const e of rest) assert.equal(e.data, dataOf.get(e.lastEventId));
  assert.equal(st.errors, 0);

  // Live events follow the replay.
  const live = await herald.publish('hist', 'live');
  const after = await waitForEvents(page, 'r', events.length + 1);
  assert.deepEqual(after.events.at(-1), { ...after.events.at(-1), type: 'message', data: 'live', lastEventId: live });
  page.assertNoConsoleErrors();
  await page.close();
});

test('resuming from an id history still covers: no notice, exactly the missed events', { timeout: 30_000 }, async () => {
  const page = await openPage(browser, `${herald.url}/healthz`);
  const ids = [];
  for (let i = 0; i < 8; i++) ids.push(await herald.publish('fresh', `f${i}`));
  // History holds f3..f7; resuming after f4 needs f5..f7 only.
  await openEventSource(page, 'ok', `/events?topic=fresh&lastEventId=${ids[4]}`, TYPES);
  await waitForOpen(page, 'ok');
  await waitForEvents(page, 'ok', 3);
  await sleep(300);
  const { events } = await sseState(page, 'ok');
  assert.deepEqual(events.map((e) => [e.type, e.lastEventId, e.data]),
    [5, 6, 7].map((i) => ['message', ids[i], `f${i}`]));
  page.assertNoConsoleErrors();
  await page.close();
});

test('an id from before this server started gets the notice', { timeout: 30_000 }, async () => {
  const page = await openPage(browser, `${herald.url}/healthz`);
  const id = await herald.publish('old', 'only one');
  await openEventSource(page, 'o', '/events?topic=old&lastEventId=17', TYPES);
  const { events } = await waitForEvents(page, 'o', 2);
  assert.equal(events[0].type, 'herald-history-truncated');
  assert.deepEqual(JSON.parse(events[0].data), { topics: ['old'], last_event_id: '17' });
  assert.deepEqual([events[1].type, events[1].lastEventId, events[1].data], ['message', id, 'only one']);
  page.assertNoConsoleErrors();
  await page.close();
});

test('the boundary: notice only when an event after the id was dropped', { timeout: 30_000 }, async () => {
  const page = await openPage(browser, `${herald.url}/healthz`);
  const ids = [];
  for (let i = 0; i < 8; i++) ids.push(await herald.publish('edge', `e${i}`));
  // History holds e3..e7. After e2 nothing was dropped; after e1, e2 was.
  await openEventSource(page, 'at', `/events?topic=edge&lastEventId=${ids[2]}`, TYPES);
  await openEventSource(page, 'before', `/events?topic=edge&lastEventId=${ids[1]}`, TYPES);
  await waitForEvents(page, 'at', 5);
  await waitForEvents(page, 'before', 6);
  await sleep(300);
  const at = (await sseState(page, 'at')).events;
  const beforeIt = (await sseState(page, 'before')).events;
  assert.deepEqual(at.map((e) => [e.type, e.lastEventId]), [3, 4, 5, 6, 7].map((i) => ['message', ids[i]]),
    'resuming right before the oldest retained event is complete: no notice');
  assert.equal(beforeIt[0].type, 'herald-history-truncated');
  assert.deepEqual(JSON.parse(beforeIt[0].data), { topics: ['edge'], last_event_id: ids[1] });
  assert.deepEqual(beforeIt.slice(1).map((e) => e.lastEventId), ids.slice(3));
  page.assertNoConsoleErrors();
  await page.close();
});
