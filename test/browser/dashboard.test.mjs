// 6. The dashboard served at /: live overview from /stats/stream, topic table, topic console,
//    publish form, the --demo time topic, a phone layout without horizontal overflow, and
//    screenshots in artifacts/ (HERALD_ARTIFACTS, default <repo>/artifacts).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  startHerald, launchBrowser, openPage, httpFetch, waitFor, sleep, HOST,
} from './harness.mjs';

const ARTIFACTS = process.env.HERALD_ARTIFACTS
  || path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../artifacts');

let herald;
let browser;

before(async () => {
  herald = await startHerald(['--demo']);
  browser = await launchBrowser();
});

after(async () => {
  await browser?.shutdown();
  await herald?.stop();
});

/** A raw HTTP subscriber outside the browser; collects the ids it receives. */
function rawSubscriber(topic) {
  const ids = [];
  let body = '';
  const req = http.get({
    host: HOST, port: herald.port, path: `/events?topic=${encodeURIComponent(topic)}`, agent: false,
    headers: { Accept: 'text/event-stream' },
  });
  const ready = new Promise((resolve, reject) => {
    req.on('response', (res) => {
      res.setEncoding('utf8');
      res.on('data', (chunk) => {
        body += chunk;
        for (const m of chunk.matchAll(/^id: (\d+)$/gm)) ids.push(m[1]);
        if (body.includes(': connected')) resolve(res);
      });
      res.on('error', () => {});
    });
    req.on('error', reject);
  });
  req.setTimeout(30_000, () => req.destroy());
  return { ids, ready, close: () => req.destroy() };
}

const number = (text) => Number(String(text).replace(/[^\d]/g, ''));

test('dashboard: overview, topic table, console, publish form, demo, phone layout', { timeout: 90_000 }, async () => {
  const home = await (await httpFetch(`${herald.url}/`)).text();
  assert.match(home, /id="console-topics"/, 'GET / serves the dashboard');

  const page = await openPage(browser, `${herald.url}/`, { ignoreFavicon: false });
  const text = (sel) => page.locator(sel).first().textContent();

  // The overview fills in from /stats/stream.
  await waitFor(async () => /\d/.test(await text('#connections')), { timeout: 4000, what: '#connections from stats' });
  for (const id of ['#connections', '#streams', '#topics-count', '#published-total', '#delivered-total',
    '#published-rate', '#delivered-rate']) {
    assert.match((await text(id)).trim(), /^\d[\d,.\s]*$/, `${id} shows a number`);
  }
  assert.ok(number(await text('#connections')) >= 1);
  assert.ok(number(await text('#streams')) >= 1, 'the stats stream itself is a stream');
  const chart = await page.locator('#chart').boundingBox();
  assert.ok(chart && chart.width > 100 && chart.height > 40, `#chart is laid out: ${JSON.stringify(chart)}`);

  // An outside subscriber on a new topic shows up in the table within 2 s, with 1 subscriber.
  const topic = `dash-${Math.random().toString(36).replace(/[^a-z]/g, '')}`;
  const raw = rawSubscriber(topic);
  await raw.ready;
  const row = page.locator(`#topic-table tbody tr[data-topic="${topic}"]`);
  await waitFor(async () => (await row.count()) === 1
    && (await row.locator('td.subscribers').textContent()).trim() === '1',
  { timeout: 2000, interval: 100, what: `table row for ${topic} with 1 subscriber` });

  // The console watches that topic: the table counts 2 subscribers.
  await page.fill('#console-topics', `${topic}, `);
  await page.click('#console-connect');
  await waitFor(async () => (await text('#console-state')).trim() === 'open', { timeout: 3000, what: 'console open' });
  await waitFor(async () => (await row.locator('td.subscribers').textContent()).trim() === '2',
    { timeout: 2500, interval: 100, what: 'table shows 2 subscribers' });

  // Publish through the form.
  const publishedBefore = number(await text('#published-total'));
  await page.fill('#publish-topic', topic);
  await page.fill('#publish-event', '');
  await page.fill('#publish-data', 'from the form: é 日本 🎉');
  await page.click('#publish-submit');
  // The raw subscriber learns the id Herald assigned; the result must show that id.
  await waitFor(() => raw.ids.length === 1, { timeout: 3000, what: 'raw subscriber got the form event' });
  const id = raw.ids[0];
  await waitFor(async () => (await text('#publish-result')).includes(id), { timeout: 3000, what: `#publish-result shows ${id}` });
  assert.doesNotMatch(await text('#publish-result'), /error/i);
  const item = page.locator(`#console-events li[data-id="${id}"]`);
  await item.waitFor({ timeout: 3000 });
  assert.equal(await item.getAttribute('data-type'), 'message');
  assert.equal(await item.getAttribute('data-replay'), 'false');
  assert.match(await item.textContent(), /from the form: é 日本 🎉/);
  await waitFor(async () => number(await text('#published-total')) > publishedBefore,
    { timeout: 2500, interval: 100, what: '#published-total increases' });
  await waitFor(async () => (await row.locator('td.last-id').textContent()).replace(/[^\d]/g, '') === id,
    { timeout: 2500, interval: 100, what: 'table shows the last id' });

  // A custom event type published from the form shows with its type.
  await page.fill('#publish-event', 'price');
  await page.fill('#publish-data', '{"sku":42}');
  await page.click('#publish-submit');
  await waitFor(() => raw.ids.length === 2, { timeout: 3000, what: 'raw subscriber got the price event' });
  const priceId = raw.ids[1];
  await waitFor(async () => (await text('#publish-result')).includes(priceId), { timeout: 3000, what: 'second publish result' });
  const priceItem = page.locator(`#console-events li[data-id="${priceId}"]`);
  await priceItem.waitFor({ timeout: 3000 });
  assert.equal(await priceItem.getAttribute('data-type'), 'price');

  // A refused publish reports the error (a topic with a space is invalid: 400).
  await page.fill('#publish-topic', 'bad topic');
  await page.fill('#publish-event', '');
  await page.click('#publish-submit');
  await waitFor(async () => /Error/.test(await text('#publish-result')), { timeout: 3000, what: 'error shown' });
  assert.match(await text('#publish-result'), /Error.*\S{4,}/, 'the error carries the message');

  // --demo: the time topic gets an event within ~3 s of clicking the button.
  await page.click('#demo-time');
  await waitFor(async () => (await text('#console-state')).trim() === 'open', { timeout: 3000, what: 'demo console open' });
  // (The console keeps earlier rows; the time event is the newest row with a timestamp.)
  const timeItem = page.locator('#console-events li[data-id]', { hasText: /\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d/ }).first();
  await timeItem.waitFor({ timeout: 3500 });
  assert.equal(await timeItem.getAttribute('data-type'), 'message');
  const timeId = await timeItem.getAttribute('data-id');
  assert.ok(BigInt(timeId) > BigInt(priceId), 'the time event is newer than what was published before');
  assert.equal(await timeItem.getAttribute('data-replay'), 'false');
  assert.equal(await page.inputValue('#console-topics'), 'time');

  raw.close();
  await mkdir(ARTIFACTS, { recursive: true });
  await page.screenshot({ path: path.join(ARTIFACTS, 'dashboard.png'), fullPage: true });

  // Phone: no horizontal overflow.
  await page.setViewportSize({ width: 390, height: 844 });
  await sleep(1200); // a stats tick re-renders the table at the new width
  const widths = await page.evaluate(() => ({
    doc: document.documentElement.scrollWidth, body: document.body.scrollWidth,
    wide: [...document.querySelectorAll('body *')].filter((el) => el.getBoundingClientRect().right > 391)
      .slice(0, 5).map((el) => `${el.tagName.toLowerCase()}#${el.id}.${el.className}`),
  }));
  assert.ok(widths.doc <= 390, `horizontal overflow on a phone: ${JSON.stringify(widths)}`);
  await page.screenshot({ path: path.join(ARTIFACTS, 'dashboard-phone.png'), fullPage: true });

  page.assertNoConsoleErrors([/status of 400 .*\(http:\/\/127\.0\.0\.1:\d+\/publish\)$/]);
  await page.close();
});

test('dashboard console marks replayed events', { timeout: 60_000 }, async () => {
  const page = await openPage(browser, `${herald.url}/`, { ignoreFavicon: false });
  const topic = `replay-${Math.random().toString(36).replace(/[^a-z]/g, '')}`;
  const ids = [];
  for (let i = 0; i < 3; i++) ids.push(await herald.publish(topic, `old ${i}`));
  await page.fill('#console-topics', topic);
  await page.fill('#console-last-id', ids[0]);
  await page.click('#console-connect');
  const items = page.locator('#console-events li[data-id]');
  await waitFor(async () => (await items.count()) === 2, { timeout: 3000, what: 'two replayed events' });
  const live = await herald.publish(topic, 'new');
  await waitFor(async () => (await items.count()) === 3, { timeout: 3000, what: 'the live event' });
  const rows = await items.evaluateAll((els) => els.map((el) => [el.dataset.id, el.dataset.replay]));
  // Newest first.
  assert.deepEqual(rows, [[live, 'false'], [ids[2], 'true'], [ids[1], 'true']]);
  page.assertNoConsoleErrors();
  await page.close();
});

test('dashboard publish form sends the publish key', { timeout: 60_000 }, async () => {
  const key = 'dashboard-test-publish-key-0123';
  const keyed = await startHerald(['--publish-key', key]);
  try {
    const page = await openPage(browser, `${keyed.url}/`, { ignoreFavicon: false });
    await page.fill('#publish-topic', 'keyed');
    await page.fill('#publish-data', 'no key');
    await page.click('#publish-submit');
    await waitFor(async () => /Error 401/.test(await page.textContent('#publish-result')),
      { timeout: 3000, what: 'a publish without the key is refused' });
    assert.match(await page.textContent('#publish-result'), /publish key/);
    await page.fill('#publish-key', key);
    await page.fill('#publish-data', 'with the key');
    await page.click('#publish-submit');
    await waitFor(async () => /Published to keyed as #\d+/.test(await page.textContent('#publish-result')),
      { timeout: 3000, what: 'a publish with the key is accepted' });
    page.assertNoConsoleErrors([/status of 401 .*\/publish\)$/]);
    await page.close();
  } finally {
    await keyed.stop();
  }
});
