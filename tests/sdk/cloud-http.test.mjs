// Parse.Cloud.httpRequest against a local HTTP server started by this file: methods, headers,
// query parameters, body encodings (form by default, JSON when the Content-Type says so),
// redirects (not followed unless asked), error statuses rejecting with the response, network
// failures, and time spent waiting on the network not counting against the call's time limit.
import assert from 'node:assert/strict';
import http from 'node:http';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';

import Parse from 'parse/node';

import { isExternalServer, startServer } from './harness.mjs';

const fixture = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'cloud', 'http', 'main.js');
/** The cloud call time limit given to the server; the slow endpoint answers after three times it. */
const cloudTimeoutMs = 200;
let server;
let remote;
let base;

/** Echoes what it received as JSON; a few paths behave differently. */
function handle(request, response) {
  const chunks = [];
  request.on('data', (chunk) => chunks.push(chunk));
  request.on('end', () => {
    const url = new URL(request.url, 'http://localhost');
    if (url.pathname === '/missing') {
      response.writeHead(404, { 'Content-Type': 'application/json' });
      response.end(JSON.stringify({ reason: 'not here' }));
      return;
    }
    if (url.pathname === '/moved') {
      response.writeHead(302, { Location: '/echo?moved=yes' });
      response.end();
      return;
    }
    if (url.pathname === '/plain') {
      response.writeHead(200, { 'Content-Type': 'text/plain' });
      response.end('just text');
      return;
    }
    const reply = () => {
      response.writeHead(200, { 'Content-Type': 'application/json' });
      response.end(JSON.stringify({
        method: request.method,
        path: url.pathname,
        query: Object.fromEntries(url.searchParams),
        contentType: request.headers['content-type'] || null,
        custom: request.headers['x-custom'] || null,
        body: Buffer.concat(chunks).toString(),
      }));
    };
    if (url.pathname === '/slow') setTimeout(reply, cloudTimeoutMs * 3);
    else reply();
  });
}

before(async () => {
  if (isExternalServer) return;
  remote = http.createServer(handle);
  await new Promise((resolve) => remote.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${remote.address().port}`;
  server = await startServer({ args: ['--cloud', fixture, '--cloud-timeout-ms', String(cloudTimeoutMs)] });
});

after(async () => {
  await server?.stop();
  remote?.close();
});

const fetch = (options) => Parse.Cloud.run('fetch', options);

describe('Parse.Cloud.httpRequest', { skip: isExternalServer && 'needs the local HTTP server of this file' }, () => {
  test('a GET with params and headers', async () => {
    const result = await fetch({ url: `${base}/echo`, params: { q: 'Sean Plott', n: 2 }, headers: { 'X-Custom': 'yes' } });
    assert.equal(result.ok, true);
    assert.equal(result.status, 200);
    assert.deepEqual(result.data.query, { q: 'Sean Plott', n: '2' });
    assert.equal(result.data.method, 'GET');
    assert.equal(result.data.custom, 'yes');
  });

  test('an object body is form-encoded without a Content-Type', async () => {
    const { data } = await fetch({ url: `${base}/echo`, method: 'POST', body: { a: 'b c', list: [1, 2] } });
    assert.equal(data.contentType, 'application/x-www-form-urlencoded');
    assert.equal(data.body, 'a=b%20c&list=1&list=2');
  });

  test('an object body is JSON when the Content-Type says so', async () => {
    const { data } = await fetch({
      url: `${base}/echo`,
      method: 'put',
      headers: { 'Content-Type': 'application/json' },
      body: { nested: { ok: true } },
    });
    assert.equal(data.method, 'PUT');
    assert.deepEqual(JSON.parse(data.body), { nested: { ok: true } });
  });

  test('a text body goes as it is, and a non-JSON answer has text but no data', async () => {
    const sent = await fetch({ url: `${base}/echo`, method: 'POST', body: 'raw text', headers: { 'Content-Type': 'text/plain' } });
    assert.equal(sent.data.body, 'raw text');
    const plain = await fetch({ url: `${base}/plain` });
    assert.equal(plain.text, 'just text');
    assert.equal(plain.data, null);
  });

  test('a 404 rejects with the response', async () => {
    assert.deepEqual(await fetch({ url: `${base}/missing` }), { ok: false, status: 404, data: { reason: 'not here' } });
  });

  test('redirects are not followed unless asked', async () => {
    const notFollowed = await fetch({ url: `${base}/moved` });
    assert.equal(notFollowed.status, 302);
    assert.equal(notFollowed.location, '/echo?moved=yes');
    const followed = await fetch({ url: `${base}/moved`, followRedirects: true });
    assert.equal(followed.status, 200);
    assert.deepEqual(followed.data.query, { moved: 'yes' });
  });

  test('a network failure rejects with an Error', async () => {
    const closed = http.createServer();
    await new Promise((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const { port } = closed.address();
    await new Promise((resolve) => closed.close(resolve));
    const result = await fetch({ url: `http://127.0.0.1:${port}/` });
    assert.equal(result.ok, false);
    assert.match(result.message, /error|connect|refused/i);
  });

  test('success and error callbacks are called', async () => {
    assert.equal(await Parse.Cloud.run('fetchWithCallbacks', { url: `${base}/echo` }), 'success 200');
    assert.equal(await Parse.Cloud.run('fetchWithCallbacks', { url: `${base}/missing` }), 'error 404');
  });

  test('the global fetch: method, headers, body, status, headers.get and json()', async () => {
    const result = await Parse.Cloud.run('fetchGlobal', {
      url: `${base}/echo?x=1`,
      method: 'post',
      body: JSON.stringify({ hello: 'world' }),
      headers: { 'Content-Type': 'application/json', 'X-Custom': 'fetch' },
    });
    assert.equal(result.status, 200);
    assert.equal(result.ok, true);
    assert.equal(result.contentType, 'application/json');
    assert.equal(result.data.method, 'POST');
    assert.equal(result.data.custom, 'fetch');
    assert.deepEqual(result.data.query, { x: '1' });
    assert.deepEqual(JSON.parse(result.data.body), { hello: 'world' });
    const missing = await Parse.Cloud.run('fetchGlobal', { url: `${base}/missing` });
    assert.deepEqual([missing.status, missing.ok], [404, false]);
    const redirected = await Parse.Cloud.run('fetchGlobal', { url: `${base}/moved` });
    assert.equal(redirected.status, 200, 'fetch follows redirects by default');
  });

  test('waiting on a slow answer does not count against the call time limit', async () => {
    const result = await fetch({ url: `${base}/slow` });
    assert.equal(result.status, 200);
    assert.equal(result.data.path, '/slow');
  });
});
