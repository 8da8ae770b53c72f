// Shared helpers for Herald's browser tests (node:test + playwright-core + Debian's chromium).
//
//   startHerald(flags)      a herald process on a free 127.0.0.1 port, ready once /healthz answers
//   startStaticServer(html) a tiny http server on another 127.0.0.1 port (another origin)
//   launchBrowser()         chromium with a fresh profile directory
//   openPage(browser, url)  a page whose console errors are collected; page.assertNoConsoleErrors()
//   publish*, ids helpers, waitFor(), withTimeout()
//
// Everything is bounded in time; everything started here is stopped by its own handle.

import { spawn } from 'node:child_process';
import { mkdtemp, rm, access } from 'node:fs/promises';
import { constants as fsConstants } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import assert from 'node:assert/strict';
import { chromium } from 'playwright-core';

export const HOST = '127.0.0.1';
export const HERALD_BIN = process.env.HERALD_BIN || '/work/main/build/herald';
export const CHROMIUM = process.env.CHROMIUM_BIN || '/usr/bin/chromium';
export const STARTUP_TIMEOUT_MS = 10_000;

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Rejects if `promise` has not settled within `ms`. */
export async function withTimeout(promise, ms, what = 'operation') {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} timed out after ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** Polls `fn` (sync or async) until it returns a truthy value; returns that value. */
export async function waitFor(fn, { timeout = 5000, interval = 50, what = 'condition' } = {}) {
  const deadline = Date.now() + timeout;
  let last;
  for (;;) {
    try {
      last = await fn();
      if (last) return last;
    } catch (e) {
      last = e;
    }
    if (Date.now() > deadline) {
      const detail = last instanceof Error ? `: ${last.message}` : '';
      throw new Error(`timed out after ${timeout} ms waiting for ${what}${detail}`);
    }
    await sleep(interval);
  }
}

/** A TCP port that was free on 127.0.0.1 a moment ago. */
export function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, HOST, () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

/** fetch with a deadline. */
export async function httpFetch(url, opts = {}, timeoutMs = 5000) {
  return fetch(url, { ...opts, signal: AbortSignal.timeout(timeoutMs) });
}

// ---------------------------------------------------------------------------------------------
// Herald
// ---------------------------------------------------------------------------------------------

// Herald processes still running; killed if this test process exits without stopping them.
const live = new Set();
process.on('exit', () => {
  for (const proc of live) proc.kill('SIGKILL');
});

class Herald {
  constructor(proc, port, flags) {
    this.proc = proc;
    this.port = port;
    this.flags = flags;
    this.url = `http://${HOST}:${port}`;
    this.origin = this.url;
    this.stderr = '';
    this.exited = null;
    proc.stderr.on('data', (d) => {
      this.stderr += d.toString();
      if (this.stderr.length > 200_000) this.stderr = this.stderr.slice(-100_000);
    });
    proc.stdout.on('data', () => {});
    this.exitPromise = new Promise((resolve) => {
      live.add(proc);
      proc.on('exit', (code, signal) => {
        live.delete(proc);
        this.exited = { code, signal };
        resolve(this.exited);
      });
    });
  }

  /** POST raw `body`; `query` is a URLSearchParams-able object or string. Returns the response JSON. */
  async publishRaw(query, body, headers = {}) {
    const qs = typeof query === 'string' ? query : new URLSearchParams(query).toString();
    const res = await httpFetch(`${this.url}/publish?${qs}`, { method: 'POST', body, headers });
    const text = await res.text();
    assert.equal(res.status, 200, `publish ${qs} answered ${res.status}: ${text}`);
    return idsOf(text);
  }

  /** Plain-body publish to one or several topics; returns the id (string). */
  async publish(topic, data, event) {
    const q = new URLSearchParams();
    for (const t of [].concat(topic)) q.append('topic', t);
    if (event !== undefined) q.append('event', event);
    const ids = await this.publishRaw(q, data);
    assert.equal(ids.length, 1);
    return ids[0];
  }

  /** JSON publish (object or array); returns the list of ids (strings, in order). */
  async publishJson(payload) {
    const res = await httpFetch(`${this.url}/publish`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify(payload),
    });
    const text = await res.text();
    assert.equal(res.status, 200, `JSON publish answered ${res.status}: ${text}`);
    return idsOf(text);
  }

  async stats() {
    const res = await httpFetch(`${this.url}/stats`);
    assert.equal(res.status, 200);
    return res.json();
  }

  async stop() {
    if (this.exited) return this.exited;
    this.proc.kill('SIGTERM');
    const result = await Promise.race([this.exitPromise, sleep(5000).then(() => null)]);
    if (result) return result;
    this.proc.kill('SIGKILL');
    return this.exitPromise;
  }
}

/** The ids in a publish answer ({"id":N} or {"ids":[...]}) as decimal strings (no precision loss). */
export function idsOf(text) {
  const m = /"ids?"\s*:\s*(\[[^\]]*\]|\d+)/.exec(text);
  assert.ok(m, `no id in publish answer: ${text}`);
  return m[1].match(/\d+/g) ?? [];
}

export const big = (id) => BigInt(id);

/** Asserts that a list of decimal id strings strictly increases (compared as BigInt). */
export function assertIncreasing(ids, what = 'ids') {
  for (let i = 1; i < ids.length; i++) {
    assert.ok(big(ids[i]) > big(ids[i - 1]),
      `${what} not strictly increasing at ${i}: ${ids[i - 1]} then ${ids[i]}`);
  }
}

async function binaryPresent() {
  try {
    await access(HERALD_BIN, fsConstants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/**
 * Starts herald on a free loopback port with `flags` (array of strings) and waits for /healthz.
 * Retries with another port if the process dies during startup (e.g. the port was taken).
 */
export async function startHerald(flags = [], { threads = 2 } = {}) {
  assert.ok(await binaryPresent(), `herald binary not found or not executable: ${HERALD_BIN} (set HERALD_BIN)`);
  let lastError;
  for (let attempt = 0; attempt < 3; attempt++) {
    const port = await freePort();
    const args = ['--host', HOST, '--port', String(port), '--threads', String(threads), ...flags];
    const proc = spawn(HERALD_BIN, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    const herald = new Herald(proc, port, flags);
    proc.on('error', (e) => { lastError = e; });
    const deadline = Date.now() + STARTUP_TIMEOUT_MS;
    while (Date.now() < deadline && !herald.exited) {
      try {
        const res = await httpFetch(`${herald.url}/healthz`, {}, 1000);
        if (res.status === 200) return herald;
      } catch { /* not listening yet */ }
      await sleep(50);
    }
    if (!herald.exited) {
      await herald.stop();
      throw new Error(`herald did not answer /healthz within ${STARTUP_TIMEOUT_MS} ms\n${herald.stderr}`);
    }
    lastError = new Error(`herald ${args.join(' ')} exited during startup ` +
      `(${JSON.stringify(herald.exited)}):\n${herald.stderr}`);
  }
  throw lastError;
}

// ---------------------------------------------------------------------------------------------
// A static page server (another origin) and a controllable TCP proxy
// ---------------------------------------------------------------------------------------------

export const BLANK_HTML = '<!doctype html><html><head><meta charset="utf-8">' +
  '<link rel="icon" href="data:,"><title>herald test page</title></head><body>test page</body></html>';

/** An http server on 127.0.0.1 serving `html` for GET / (and every other GET path). */
export async function startStaticServer(html = BLANK_HTML) {
  const sockets = new Set();
  const server = http.createServer((req, res) => {
    if (req.url === '/favicon.ico') {
      res.writeHead(204);
      res.end();
      return;
    }
    res.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8', 'Cache-Control': 'no-store' });
    res.end(html);
  });
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, HOST, resolve);
  });
  const { port } = server.address();
  return {
    port,
    origin: `http://${HOST}:${port}`,
    url: `http://${HOST}:${port}/`,
    async close() {
      for (const s of sockets) s.destroy();
      await new Promise((r) => server.close(r));
    },
  };
}

/**
 * A TCP proxy on 127.0.0.1 forwarding to `targetPort`. Records, for every connection, the
 * request heads the client sent (`connections[i].requests[j].headers`, lower-case names).
 * `cutAll()` destroys every open connection (both sides); `pause()`/`resume()` refuse or accept
 * new connections.
 */
export async function startProxy(targetPort) {
  const open = new Set();
  const connections = [];
  let refusing = false;
  const server = net.createServer((client) => {
    if (refusing) {
      client.destroy();
      return;
    }
    const record = { at: Date.now(), requests: [], closed: false };
    connections.push(record);
    const upstream = net.connect(targetPort, HOST);
    const pair = { client, upstream, record };
    open.add(pair);
    let head = Buffer.alloc(0);
    client.on('data', (chunk) => {
      // GET requests have no body: every request head ends with an empty line.
      head = Buffer.concat([head, chunk]);
      let end;
      while ((end = head.indexOf('\r\n\r\n')) >= 0) {
        const lines = head.subarray(0, end).toString('latin1').split('\r\n');
        const headers = {};
        for (const line of lines.slice(1)) {
          const i = line.indexOf(':');
          if (i > 0) headers[line.slice(0, i).trim().toLowerCase()] = line.slice(i + 1).trim();
        }
        record.requests.push({ requestLine: lines[0], headers });
        head = head.subarray(end + 4);
      }
    });
    client.pipe(upstream);
    upstream.pipe(client);
    const close = () => {
      record.closed = true;
      client.destroy();
      upstream.destroy();
      open.delete(pair);
    };
    client.on('error', close);
    upstream.on('error', close);
    client.on('close', close);
    upstream.on('close', close);
  });
  await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, HOST, resolve);
  });
  const { port } = server.address();
  return {
    port,
    url: `http://${HOST}:${port}`,
    connections,
    openCount: () => open.size,
    cutAll() {
      const n = open.size;
      for (const { client, upstream } of [...open]) {
        client.destroy();
        upstream.destroy();
      }
      return n;
    },
    pause() { refusing = true; },
    resume() { refusing = false; },
    async close() {
      this.cutAll();
      await new Promise((r) => server.close(r));
    },
  };
}

// ---------------------------------------------------------------------------------------------
// Browser
// ---------------------------------------------------------------------------------------------

const CHROMIUM_ARGS = [
  '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync',
];

/**
 * Launches chromium with a fresh profile directory. Returns a BrowserContext (persistent, so
 * the profile directory is ours) with a `shutdown()` that closes it and removes the directory.
 */
export async function launchBrowser(options = {}) {
  const userDataDir = await mkdtemp(path.join(os.tmpdir(), 'herald-chromium-'));
  let context;
  try {
    context = await chromium.launchPersistentContext(userDataDir, {
      executablePath: CHROMIUM,
      headless: true,
      args: CHROMIUM_ARGS,
      timeout: 30_000,
      viewport: { width: 1280, height: 900 },
      ...options,
    });
  } catch (e) {
    await rm(userDataDir, { recursive: true, force: true });
    throw e;
  }
  context.setDefaultTimeout(10_000);
  context.shutdown = async () => {
    try {
      await withTimeout(context.close(), 15_000, 'closing chromium');
    } finally {
      await rm(userDataDir, { recursive: true, force: true, maxRetries: 3 });
    }
  };
  return context;
}

/**
 * Opens `url` in a new page of `context`. Console errors and uncaught page errors are collected
 * in `page.consoleErrors`. `page.assertNoConsoleErrors(allowed)` fails on any of them that no
 * regexp of `allowed` matches, and returns the ones that did match.
 * With `ignoreFavicon` (default), the browser's own failed /favicon.ico fetch is not counted
 * (tests use Herald documents such as /healthz as blank pages; they have no icon).
 */
export async function openPage(context, url, { ignoreFavicon = true } = {}) {
  const page = await context.newPage();
  page.consoleErrors = [];
  page.on('console', (msg) => {
    if (msg.type() === 'error') {
      const loc = msg.location();
      if (ignoreFavicon && /\/favicon\.ico$/.test(loc?.url ?? '')) return;
      page.consoleErrors.push(`console.error: ${msg.text()}${loc?.url ? ` (${loc.url})` : ''}`);
    }
  });
  page.on('pageerror', (err) => page.consoleErrors.push(`pageerror: ${err.message}`));
  page.on('crash', () => page.consoleErrors.push('page crashed'));
  page.assertNoConsoleErrors = (allowed = []) => {
    const unexpected = page.consoleErrors.filter((m) => !allowed.some((re) => re.test(m)));
    assert.deepEqual(unexpected, [], `unexpected console errors on ${url}`);
    return page.consoleErrors.filter((m) => allowed.some((re) => re.test(m)));
  };
  if (url) await page.goto(url, { waitUntil: 'load' });
  return page;
}

/**
 * Script evaluated in a page: opens an EventSource on `url`, records every event of the listed
 * types into window.__sse[name] = { events: [...], errors, opens, es }.
 * Each record: { type, data, lastEventId, t }.
 */
export async function openEventSource(page, name, url, types = ['message']) {
  await page.evaluate(({ name, url, types }) => {
    window.__sse = window.__sse || {};
    const es = new EventSource(url);
    const rec = { events: [], errors: 0, opens: 0, states: [], es };
    window.__sse[name] = rec;
    const push = (e) => rec.events.push({
      type: e.type, data: e.data, lastEventId: e.lastEventId, t: performance.now(),
    });
    for (const type of types) es.addEventListener(type, push);
    es.addEventListener('open', () => { rec.opens++; rec.states.push('open'); });
    es.addEventListener('error', () => { rec.errors++; rec.states.push(`error:${es.readyState}`); });
  }, { name, url, types });
}

/** The recorded state of window.__sse[name] (without the EventSource object). */
export async function sseState(page, name) {
  return page.evaluate((name) => {
    const rec = window.__sse[name];
    return {
      events: rec.events, errors: rec.errors, opens: rec.opens, states: rec.states,
      readyState: rec.es.readyState,
    };
  }, name);
}

/** Waits until window.__sse[name] has at least `count` events; returns the state. */
export async function waitForEvents(page, name, count, timeout = 5000) {
  try {
    await page.waitForFunction(({ name, count }) => window.__sse[name].events.length >= count,
      { name, count }, { timeout, polling: 50 });
  } catch (e) {
    const st = await sseState(page, name);
    throw new Error(`expected ${count} events on ${name}, got ${st.events.length} ` +
      `(readyState ${st.readyState}, states ${st.states.join(',')}): ${JSON.stringify(st.events)}`);
  }
  return sseState(page, name);
}

/** Waits until the EventSource `name` has opened at least `n` times. */
export async function waitForOpen(page, name, n = 1, timeout = 5000) {
  await page.waitForFunction(({ name, n }) => window.__sse[name].opens >= n,
    { name, n }, { timeout, polling: 25 });
}
