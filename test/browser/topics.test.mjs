// 2. One EventSource subscribed to 10 topics receives the events of all of them on one
//    connection, each once, in strictly increasing id order, even when published concurrently.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import {
  startHerald, launchBrowser, openPage, openEventSource, waitForOpen, waitForEvents,
  sseState, assertIncreasing, sleep,
} from './harness.mjs';

let herald;
let browser;

before(async () => {
  herald = await startHerald();
  browser = await launchBrowser();
});

after(async () => {
  await browser?.shutdown();
  await herald?.stop();
});

test('one EventSource on 10 topics gets all their events in id order', { timeout: 60_000 }, async () => {
  const page = await openPage(browser, `${herald.url}/healthz`);
  const topics = Array.from({ length: 10 }, (_, i) => `t${i}`);
  const query = topics.map((t) => `topic=${t}`).join('&');
  await openEventSource(page, 'many', `/events?${query}`, ['message', 'tick']);
  await waitForOpen(page, 'many');

  const stats = await herald.stats();
  assert.equal(stats.streams, 1, `expected one stream, stats: ${JSON.stringify(stats)}`);

  const published = new Map(); // id -> { data, type }
  const record = (id, data, type = 'message') => {
    assert.ok(!published.has(id), `id ${id} assigned twice`);
    published.set(id, { data, type });
  };

  // Concurrent single publishes: 10 topics x 6 events, all in flight at once.
  const jobs = [];
  for (let round = 0; round < 6; round++) {
    for (const t of topics) {
      const data = `${t} #${round}`;
      const event = round % 2 ? 'tick' : undefined;
      jobs.push(herald.publish(t, data, event).then((id) => record(id, data, event ?? 'message')));
    }
    jobs.push(herald.publish('unsubscribed', `noise ${round}`)); // must not arrive
  }
  await Promise.all(jobs);

  // One event on three topics (two of them subscribed twice over): delivered once.
  const multiId = await herald.publish(['t3', 't7', 'unsubscribed'], 'on t3, t7 and another');
  record(multiId, 'on t3, t7 and another');

  // A batch across all topics in reverse topic order: ids follow the array, not the topic.
  const batch = [...topics].reverse().map((t) => ({ topic: t, data: `batch ${t}` }));
  const batchIds = await herald.publishJson(batch);
  assert.equal(batchIds.length, 10);
  assertIncreasing(batchIds, 'batch ids');
  batchIds.forEach((id, i) => record(id, batch[i].data));

  await waitForEvents(page, 'many', published.size, 10_000);
  await sleep(300);
  const { events, errors } = await sseState(page, 'many');
  assert.equal(errors, 0);
  assert.equal(events.length, published.size, 'every event exactly once, nothing else');

  const ids = events.map((e) => e.lastEventId);
  assertIncreasing(ids, 'received ids');
  const expectedIds = [...published.keys()].sort((a, b) => (BigInt(a) < BigInt(b) ? -1 : 1));
  assert.deepEqual(ids, expectedIds);
  for (const e of events) {
    const want = published.get(e.lastEventId);
    assert.equal(e.data, want.data, `data of ${e.lastEventId}`);
    assert.equal(e.type, want.type, `type of ${e.lastEventId}`);
  }
  const seenTopics = new Set(events.map((e) => /^(?:batch )?(t\d)/.exec(e.data)?.[1]).filter(Boolean));
  assert.equal(seenTopics.size, 10, `events of all 10 topics: ${[...seenTopics]}`);

  // Still one connection, one stream, after all that.
  assert.equal((await herald.stats()).streams, 1);
  const resources = await page.evaluate(() =>
    performance.getEntriesByType('resource').filter((r) => r.name.includes('/events?')).length);
  assert.ok(resources <= 1, `EventSource requests seen by the page: ${resources}`);
  page.assertNoConsoleErrors();
  await page.close();
});
