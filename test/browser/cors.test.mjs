// 5. CORS: a page on another origin subscribes and publishes (JSON, so with a preflight) when
//    --cors-origins lists its origin; with another origin listed the EventSource fails and
//    nothing is received or published.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import {
  startHerald, startStaticServer, launchBrowser, openPage, openEventSource, waitForOpen,
  waitForEvents, sseState, waitFor, sleep, httpFetch,
} from './harness.mjs';

let site;
let browser;

before(async () => {
  site = await startStaticServer();
  browser = await launchBrowser();
});

after(async () => {
  await browser?.shutdown();
  await site?.close();
});

/** In the page: POST JSON to Herald; returns { ok, status, body } or { error }. */
const publishFromPage = (page, url, payload) => page.evaluate(async ({ url, payload }) => {
  try {
    const res = await fetch(url, {
      method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(payload),
    });
    return { ok: res.ok, status: res.status, body: await res.text() };
  } catch (e) {
    return { error: String(e) };
  }
}, { url, payload });

test('an allowed origin subscribes and publishes with a preflighted JSON POST', { timeout: 60_000 }, async () => {
  const herald = await startHerald(['--cors-origins', `http://example.invalid,${site.origin}`]);
  try {
    const page = await openPage(browser, site.url);
    assert.equal(await page.evaluate(() => location.origin), site.origin);
    await openEventSource(page, 'c', `${herald.url}/events?topic=cors`, ['message', 'price']);
    await waitForOpen(page, 'c');

    const id = await herald.publish('cors', 'from the back end é');
    await waitForEvents(page, 'c', 1);

    // The preflight Herald answers for the page.
    const pre = await httpFetch(`${herald.url}/publish`, {
      method: 'OPTIONS',
      headers: {
        Origin: site.origin, 'Access-Control-Request-Method': 'POST',
        'Access-Control-Request-Headers': 'content-type',
      },
    });
    assert.equal(pre.status, 204);
    assert.equal(pre.headers.get('access-control-allow-origin'), site.origin);
    assert.match(pre.headers.get('access-control-allow-methods') ?? '', /POST/);
    assert.match(pre.headers.get('access-control-allow-headers') ?? '', /content-type/i);

    const result = await publishFromPage(page, `${herald.url}/publish`,
      { topic: 'cors', event: 'price', data: { from: 'page', n: 1 } });
    assert.equal(result.error, undefined, `fetch from the allowed origin failed: ${result.error}`);
    assert.equal(result.status, 200, result.body);
    const pageId = /"id"\s*:\s*(\d+)/.exec(result.body)?.[1];
    assert.ok(pageId, result.body);

    const { events, errors } = await waitForEvents(page, 'c', 2);
    assert.deepEqual(events.map((e) => [e.type, e.lastEventId, e.data]), [
      ['message', id, 'from the back end é'],
      ['price', pageId, '{"from":"page","n":1}'],
    ]);
    assert.equal(errors, 0);
    page.assertNoConsoleErrors();
    await page.close();
  } finally {
    await herald.stop();
  }
});

test('an origin not listed gets no stream and cannot publish', { timeout: 60_000 }, async () => {
  const herald = await startHerald(['--cors-origins', 'http://example.invalid']);
  try {
    const page = await openPage(browser, site.url);
    await openEventSource(page, 'x', `${herald.url}/events?topic=cors`, ['message']);
    // A CORS failure fails the EventSource for good: error, readyState CLOSED, no reconnect.
    await waitFor(async () => (await sseState(page, 'x')).readyState === 2,
      { timeout: 5000, what: 'EventSource CLOSED' });
    await herald.publish('cors', 'must not arrive');

    const result = await publishFromPage(page, `${herald.url}/publish`, { topic: 'cors', data: 'from page' });
    assert.ok(result.error, `fetch from a refused origin should fail: ${JSON.stringify(result)}`);
    assert.match(result.error, /TypeError/);

    await sleep(1000);
    const st = await sseState(page, 'x');
    assert.deepEqual(st.events, []);
    assert.equal(st.opens, 0);
    assert.ok(st.errors >= 1);
    assert.equal(st.readyState, 2);
    // The refused preflight kept the POST from being sent: only the back end's event exists.
    const stats = await herald.stats();
    assert.equal(stats.events_published, 1, JSON.stringify(stats));

    const expected = page.assertNoConsoleErrors([/CORS policy/, /net::ERR_FAILED/]);
    assert.ok(expected.some((m) => /CORS policy/.test(m) && m.includes('/events')),
      `the CORS error of the EventSource is reported: ${expected}`);
    await page.close();
  } finally {
    await herald.stop();
  }
});
