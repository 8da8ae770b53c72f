// 3. Reconnection: the page's EventSource goes through a TCP proxy the test controls. The proxy
//    cuts every connection while events are being published; the browser reconnects on its own
//    after --retry (500 ms) with Last-Event-ID = the last id it received, and ends up with every
//    published event exactly once and in order.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import {
  startHerald, startStaticServer, startProxy, launchBrowser, openPage, waitFor, sleep,
  assertIncreasing,
} from './harness.mjs';

let herald;
let site;
let proxy;
let browser;

before(async () => {
  herald = await startHerald(['--retry', '500ms']);
  site = await startStaticServer();
  proxy = await startProxy(herald.port);
  browser = await launchBrowser();
});

after(async () => {
  await browser?.shutdown();
  await proxy?.close();
  await site?.close();
  await herald?.stop();
});

test('EventSource reconnects with Last-Event-ID after cuts and misses nothing', { timeout: 90_000 }, async () => {
  // The page is on another origin (Herald's default CORS is *); only the stream uses the proxy.
  const page = await openPage(browser, site.url);
  await page.evaluate((url) => {
    const rec = { events: [], errors: [], opens: [] };
    window.__rc = rec;
    const es = new EventSource(url);
    rec.es = es;
    es.onmessage = (e) => rec.events.push(e.lastEventId);
    es.onopen = () => rec.opens.push(performance.now());
    es.onerror = () => rec.errors.push({
      t: performance.now(),
      readyState: es.readyState,
      lastReceived: rec.events.at(-1) ?? null,
    });
  }, `${proxy.url}/events?topic=rc`);
  const state = () => page.evaluate(() => ({
    events: window.__rc.events, errors: window.__rc.errors, opens: window.__rc.opens.length,
    readyState: window.__rc.es.readyState,
  }));
  await waitFor(async () => (await state()).opens === 1, { what: 'first open' });
  assert.equal(proxy.connections.length, 1);
  assert.equal(proxy.connections[0].requests[0].headers['last-event-id'], undefined,
    'first connect sends no Last-Event-ID');

  // Publish directly to Herald, steadily, for the whole test.
  const published = [];
  let publishing = true;
  const publisher = (async () => {
    let n = 0;
    while (publishing) {
      published.push(await herald.publish('rc', `event ${n++}`));
      await sleep(15);
    }
  })();

  const cuts = [];
  try {
    for (let round = 1; round <= 2; round++) {
      // Let some events flow on this connection, then cut everything.
      const before = (await state()).events.length;
      await waitFor(async () => (await state()).events.length >= before + 15,
        { timeout: 5000, what: `events before cut ${round}` });
      const connectionsBefore = proxy.connections.length;
      const cutAt = Date.now();
      const n = proxy.cutAll();
      assert.equal(n, 1, 'one proxied connection open at the cut');
      cuts.push({ cutAt, connectionsBefore });

      // The browser notices (error, readyState CONNECTING), waits ~retry, reconnects by itself.
      await waitFor(async () => (await state()).errors.length >= round, { timeout: 5000, what: `error event ${round}` });
      const err = (await state()).errors[round - 1];
      assert.equal(err.readyState, 0, 'EventSource is CONNECTING after the cut, not CLOSED');
      await waitFor(() => proxy.connections.length > connectionsBefore,
        { timeout: 5000, what: `reconnection ${round}` });
      const conn = proxy.connections[connectionsBefore];
      await waitFor(() => conn.requests.length > 0, { what: 'reconnect request head' });
      const delay = conn.at - cutAt;
      assert.ok(delay >= 400 && delay < 2500,
        `reconnected ${delay} ms after the cut; expected about the 500 ms retry (default is 3 s)`);
      const { headers, requestLine } = conn.requests[0];
      assert.match(requestLine, /^GET \/events\?topic=rc HTTP\/1\.1$/);
      assert.ok(err.lastReceived, 'page had received events before the cut');
      assert.equal(headers['last-event-id'], err.lastReceived,
        'Last-Event-ID on reconnect = last id the page received before the cut');
      await waitFor(async () => (await state()).opens === round + 1, { timeout: 5000, what: `reopen ${round}` });
    }
    await sleep(300);
  } finally {
    publishing = false;
    await publisher;
  }

  // Every published event exactly once, in order.
  await waitFor(async () => (await state()).events.length >= published.length,
    { timeout: 5000, what: 'all events after the last reconnect' });
  await sleep(200);
  const { events, readyState } = await state();
  assert.equal(readyState, 1, 'stream open at the end');
  assertIncreasing(events, 'received ids');
  assert.deepEqual(events, published, 'every event once, in order, none missing');
  assert.equal(proxy.connections.length, 3, 'one connection per cut, no extra reconnects');

  // Chromium reports the broken stream as a failed load; that is the only error allowed.
  const streamUrl = `${proxy.url}/events?topic=rc`.replace(/[.?]/g, '\\$&');
  const allowed = page.assertNoConsoleErrors([
    new RegExp(`net::ERR_(INCOMPLETE_CHUNKED_ENCODING|CONNECTION_RESET|EMPTY_RESPONSE) \\(${streamUrl}\\)$`),
  ]);
  assert.ok(allowed.length <= 2, `network errors: ${allowed}`);
  await page.close();
});
