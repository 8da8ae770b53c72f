// 9. Token expiry: a page reading a private topic with a cookie token gets
//    `herald-token-expiring` before the token runs out, renews the cookie (here: sets a fresh
//    token it was given), and when Herald ends the stream at exp, EventSource reconnects by
//    itself with Last-Event-ID and the new cookie: every event arrives once, in order.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import {
  startHerald, launchBrowser, openPage, openEventSource, waitForEvents, waitForOpen, sseState,
  assertIncreasing,
} from './harness.mjs';

const SECRET = 'browser-test-secret-of-thirty-two-bytes';
const b64url = (buf) => Buffer.from(buf).toString('base64url');
function hs256(claims) {
  const head = `${b64url(JSON.stringify({ alg: 'HS256', typ: 'JWT' }))}.${b64url(JSON.stringify(claims))}`;
  return `${head}.${createHmac('sha256', SECRET).update(head).digest('base64url')}`;
}
const publisher = { Authorization: `Bearer ${hs256({ herald: { publish: ['*'] } })}` };

let herald;
let browser;

before(async () => {
  herald = await startHerald(['--jwt-secret', SECRET, '--private-topics', 'orders/*', '--jwt-leeway', '0s',
    '--retry', '500ms']);
  browser = await launchBrowser();
});

after(async () => {
  await browser?.shutdown();
  await herald?.stop();
});

test('the page renews its cookie on herald-token-expiring and misses nothing', { timeout: 60_000 }, async () => {
  const page = await openPage(browser, `${herald.url}/healthz`);
  const exp = Math.floor(Date.now() / 1000) + 4;
  const first = hs256({ herald: { subscribe: ['orders/*'] }, exp });
  const fresh = hs256({ herald: { subscribe: ['orders/*'] }, exp: exp + 600 });
  const send = async (data) => (await herald.publishRaw({ topic: 'orders/7' }, data, publisher))[0];

  await page.evaluate(({ first, fresh }) => {
    document.cookie = `herald_token=${first}; path=/; SameSite=Strict`;
    // The renewal listener is added as the EventSource is made, as a page would: added later,
    // from another evaluate, it could miss a warning that arrives first (it may come at once).
    const Native = window.EventSource;
    window.EventSource = function RenewingEventSource(url, init) {
      const es = new Native(url, init);
      es.addEventListener('herald-token-expiring', () => {
        document.cookie = `herald_token=${fresh}; path=/; SameSite=Strict`;
      });
      return es;
    };
  }, { first, fresh });
  await openEventSource(page, 'o', '/events?topic=orders/7', ['message', 'herald-token-expiring']);
  await waitForOpen(page, 'o');

  const sent = [await send('one')];
  let st = await waitForEvents(page, 'o', 2);
  const warning = st.events.find((e) => e.type === 'herald-token-expiring');
  assert.ok(warning, `no warning: ${JSON.stringify(st.events)}`);
  assert.ok(Date.now() / 1000 < exp, 'the warning came after the token expired');
  assert.deepEqual(JSON.parse(warning.data), { exp });
  sent.push(await send('two'));
  await waitForEvents(page, 'o', 3);

  // Herald ends the stream at exp; EventSource reports it and reconnects by itself.
  await page.waitForFunction(() => window.__sse.o.errors >= 1, null, { timeout: 4000 + 3000, polling: 25 });
  const endedAt = Date.now() / 1000;
  assert.ok(endedAt >= exp - 0.1 && endedAt < exp + 2, `stream ended at ${endedAt}, token exp ${exp}`);
  sent.push(await send('three'));    // published while the page is away
  await waitForOpen(page, 'o', 2).catch(async (e) => {
    throw new Error(`${e.message}; EventSource states ${JSON.stringify(await sseState(page, 'o'))}`);
  });
  sent.push(await send('four'));

  st = await waitForEvents(page, 'o', 5);
  const ids = st.events.filter((e) => e.type === 'message').map((e) => e.lastEventId);
  assertIncreasing(ids);
  assert.deepEqual(ids, sent, 'every event once, in order, across the renewal');
  assert.equal(st.events.filter((e) => e.type === 'herald-token-expiring').length, 1);
  assert.equal(st.readyState, 1, 'the renewed stream is open');
  assert.deepEqual((await sseState(page, 'o')).states, ['open', 'error:0', 'open']);
  page.assertNoConsoleErrors();
  await page.close();
});
