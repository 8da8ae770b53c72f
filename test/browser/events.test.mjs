// 1. A page's EventSource receives published events with the right data, lastEventId and type:
//    custom types, multi-line data (LF, CRLF, CR -> LF), non-ASCII, JSON data, forms, empty data.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import {
  startHerald, launchBrowser, openPage, openEventSource, waitForOpen, waitForEvents,
  sseState, httpFetch, idsOf, sleep,
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

// The page lives on Herald's own origin (a plain document Herald serves), so EventSource is
// same-origin, as in the README's examples.
const pageUrl = () => `${herald.url}/healthz`;

test('EventSource receives data, lastEventId and event type, byte for byte', { timeout: 60_000 }, async () => {
  const page = await openPage(browser, pageUrl());
  await openEventSource(page, 'es', '/events?topic=news', ['message', 'price', 'prix-é']);
  await waitForOpen(page, 'es');

  const expected = []; // { type, data, id }
  const plain = async (data, event, type = event ?? 'message') => {
    const id = await herald.publish('news', data, event);
    expected.push({ type, data: data.replace(/\r\n|\r/g, '\n'), id });
  };

  await plain('hello');
  await plain('first custom', 'price');
  await plain('line1\nline2\nline3');
  await plain('a\r\nb\r\nc');
  await plain('x\ry\rz');
  await plain('first\n\nthird\r\n');                      // blank line inside, trailing newline
  await plain('\nleading newline');
  await plain('café é 日本 🎉 Ünïcödé ∑ 𝄞');
  await plain('日本\r\n🎉\nend', 'price');
  await plain('data: fake\n\nid: 1\nevent: evil\nretry: 1\n: comment');  // no field injection
  await plain('   spaces kept  ');
  await plain('');                                         // empty data is an event with data ""
  await plain('typed', 'prix-é');                          // non-ASCII event type

  // JSON: an object is sent as compact JSON; a string as is.
  const [jsonId] = await herald.publishJson(
    { topic: 'news', event: 'price', data: { sku: 42, price: 9.5, name: 'thé 日本 🎉', tags: ['a', 'b'] } });
  expected.push({ type: 'price', json: { sku: 42, price: 9.5, name: 'thé 日本 🎉', tags: ['a', 'b'] }, id: jsonId });
  const [strId] = await herald.publishJson({ topic: 'news', data: 'json string\r\nwith CRLF, é 🎉' });
  expected.push({ type: 'message', data: 'json string\nwith CRLF, é 🎉', id: strId });

  // An HTML-form style body (application/x-www-form-urlencoded;charset=UTF-8).
  const form = new URLSearchParams({ topic: 'news', event: 'price', data: 'form é 日本 🎉\r\nsecond' });
  const res = await httpFetch(`${herald.url}/publish`, { method: 'POST', body: form });
  assert.equal(res.status, 200, await res.clone().text());
  const [formId] = idsOf(await res.text());
  expected.push({ type: 'price', data: 'form é 日本 🎉\nsecond', id: formId });

  // A batch: consecutive ids, in order.
  const batchIds = await herald.publishJson([
    { topic: 'news', data: 'batch 1' }, { topic: 'elsewhere', data: 'not for us' },
    { topic: 'news', event: 'price', data: 'batch 3' },
  ]);
  assert.equal(batchIds.length, 3);
  expected.push({ type: 'message', data: 'batch 1', id: batchIds[0] });
  expected.push({ type: 'price', data: 'batch 3', id: batchIds[2] });

  const st = await waitForEvents(page, 'es', expected.length);
  await sleep(300); // anything extra (duplicates, the other topic) would show up now
  const { events } = await sseState(page, 'es');
  assert.equal(events.length, expected.length,
    `received ${events.length} events, expected ${expected.length}: ${JSON.stringify(events)}`);
  events.forEach((got, i) => {
    const want = expected[i];
    assert.equal(got.type, want.type, `event ${i} type`);
    assert.equal(got.lastEventId, want.id, `event ${i} lastEventId`);
    if (want.json) {
      assert.equal(got.data, JSON.stringify(JSON.parse(got.data)), `event ${i}: JSON data not compact`);
      assert.deepEqual(JSON.parse(got.data), want.json, `event ${i} JSON data`);
    } else {
      assert.equal(got.data, want.data, `event ${i} data`);
    }
  });
  assert.equal(st.errors, 0, 'EventSource reported an error');
  page.assertNoConsoleErrors();
  await page.close();
});

test('non-ASCII topic names and event ids survive the browser round trip', { timeout: 30_000 }, async () => {
  const page = await openPage(browser, pageUrl());
  const topic = 'prix/€-日本:🎉';
  await openEventSource(page, 'u', `/events?topic=${encodeURIComponent(topic)}`, ['message']);
  await waitForOpen(page, 'u');
  const id1 = await herald.publish(topic, 'one');
  const [id2] = await herald.publishJson({ topic, data: { 'clé': 'valeur é' } });
  const { events } = await waitForEvents(page, 'u', 2);
  assert.deepEqual(events.map((e) => [e.lastEventId, e.data]),
    [[id1, 'one'], [id2, '{"clé":"valeur é"}']]);
  assert.ok(BigInt(id2) > BigInt(id1));
  page.assertNoConsoleErrors();
  await page.close();
});
