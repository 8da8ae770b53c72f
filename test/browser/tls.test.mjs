// 7. HTTPS: Chromium loads the dashboard from Herald's TLS listener (a throwaway self-signed
//    certificate, accepted with --ignore-certificate-errors), and an EventSource over HTTPS
//    receives events published over HTTPS (from the page) and over plain HTTP.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { chromium } from 'playwright-core';
import {
  startHerald, launchBrowser, openPage, openEventSource, waitForOpen, waitForEvents, sseState,
  waitFor, sleep, HOST,
} from './harness.mjs';

let dir;
let herald;
let browser;
let tlsUrl;

/** launchBrowser() with the harness's chromium flags plus --ignore-certificate-errors. */
async function launchBrowserIgnoringCertificateErrors() {
  const original = chromium.launchPersistentContext;
  chromium.launchPersistentContext = (userDataDir, options) => original.call(chromium, userDataDir,
    { ...options, args: [...(options.args ?? []), '--ignore-certificate-errors'] });
  try {
    return await launchBrowser();
  } finally {
    chromium.launchPersistentContext = original;
  }
}

before(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'herald-tls-'));
  const cert = path.join(dir, 'cert.pem');
  const key = path.join(dir, 'key.pem');
  await promisify(execFile)('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256',
    '-nodes', '-days', '2', '-subj', '/CN=localhost', '-addext', 'subjectAltName=DNS:localhost,IP:127.0.0.1',
    '-keyout', key, '-out', cert], { timeout: 30_000 });
  herald = await startHerald(['--tls-cert', cert, '--tls-key', key, '--tls-port', '0']);
  // --tls-port 0: the startup line names the port picked.
  const m = await waitFor(() => / and [\d.]+:(\d+) \(https\) with /.exec(herald.stderr),
    { timeout: 3000, what: 'the startup line naming the https port' });
  tlsUrl = `https://${HOST}:${m[1]}`;
  browser = await launchBrowserIgnoringCertificateErrors();
});

after(async () => {
  await browser?.shutdown();
  await herald?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

test('dashboard and EventSource over HTTPS', { timeout: 60_000 }, async () => {
  const page = await openPage(browser, `${tlsUrl}/`, { ignoreFavicon: false });
  const nav = await page.evaluate(() => ({
    protocol: location.protocol,
    secure: window.isSecureContext,
    hop: performance.getEntriesByType('navigation')[0]?.nextHopProtocol,
  }));
  assert.deepEqual(nav, { protocol: 'https:', secure: true, hop: 'http/1.1' });

  // The dashboard's own stream (/stats/stream) works over TLS: the overview fills in.
  await waitFor(async () => /\d/.test(await page.locator('#connections').first().textContent()),
    { timeout: 4000, what: '#connections from /stats/stream over https' });

  await openEventSource(page, 'es', '/events?topic=tls-news', ['message', 'price']);
  await waitForOpen(page, 'es');

  // Published from the page (same-origin HTTPS fetch), and from outside over plain HTTP.
  const fromPage = await page.evaluate(async () => {
    const res = await fetch('/publish?topic=tls-news&event=price', { method: 'POST', body: 'over https é 🎉' });
    return { status: res.status, body: await res.text() };
  });
  assert.equal(fromPage.status, 200, fromPage.body);
  const pageId = /"id"\s*:\s*(\d+)/.exec(fromPage.body)?.[1];
  assert.ok(pageId, fromPage.body);
  const plainId = await herald.publish('tls-news', 'over plain http');

  await waitForEvents(page, 'es', 2);
  await sleep(200); // a duplicate would show up now
  const st = await sseState(page, 'es');
  assert.deepEqual(st.events.map(({ type, data, lastEventId }) => ({ type, data, lastEventId })), [
    { type: 'price', data: 'over https é 🎉', lastEventId: pageId },
    { type: 'message', data: 'over plain http', lastEventId: plainId },
  ]);
  assert.equal(st.readyState, 1, 'EventSource still open');
  assert.equal(st.errors, 0, `EventSource errors: ${st.states.join(',')}`);
  page.assertNoConsoleErrors();
  await page.close();
});
