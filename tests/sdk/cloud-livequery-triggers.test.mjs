// LiveQuery triggers: beforeConnect may refuse a connection; beforeSubscribe may narrow a
// subscription's query and keys, or refuse it; afterLiveQueryEvent may drop or change an event. Runs against Basalt (the fixture needs --cloud).
import assert from 'node:assert/strict';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';

import Parse from 'parse/node';

import { createClasses, isExternalServer, startServer } from './harness.mjs';

const fixture = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'cloud', 'livequery', 'main.js');
/** Failure bound for one awaited frame; never a wait in a passing run. */
const frameTimeoutMs = 3000;
let server;
const sockets = [];

before(async () => {
  if (isExternalServer) return;
  server = await startServer({ args: ['--cloud', fixture, '--live-query-classes', '*'] });
  await createClasses('LqNote', 'LqEvent');
});

after(async () => {
  for (const socket of sockets) socket.terminate();
  await server?.stop();
});

/** A raw WebSocket to the LiveQuery endpoint, with `next()` taking its frames in order. */
async function open() {
  const WebSocket = Parse.CoreManager.getWebSocketController();
  const socket = new WebSocket(server.serverURL.replace(/^http/, 'ws'));
  sockets.push(socket);
  const frames = [];
  const waiters = [];
  socket.on('message', (data) => {
    const frame = JSON.parse(data.toString());
    if (waiters.length) waiters.shift()(frame);
    else frames.push(frame);
  });
  await new Promise((resolve, reject) => {
    socket.once('open', resolve);
    socket.once('error', reject);
  });
  const next = (what) => {
    if (frames.length) return Promise.resolve(frames.shift());
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no frame within ${frameTimeoutMs} ms: ${what}`)), frameTimeoutMs);
      waiters.push((frame) => {
        clearTimeout(timer);
        resolve(frame);
      });
    });
  };
  const send = (frame) => socket.send(JSON.stringify(frame));
  return { send, next };
}

describe('LiveQuery triggers', { skip: isExternalServer && 'needs Basalt with the LiveQuery trigger fixture' }, () => {
  test('beforeConnect refusing answers an error frame with its code and message', async () => {
    const ws = await open();
    ws.send({ op: 'connect', applicationId: server.appId, javascriptKey: server.javascriptKey, installationId: 'banned-device' });
    assert.deepEqual(await ws.next('the refusal'), {
      op: 'error',
      code: Parse.Error.OPERATION_FORBIDDEN,
      error: 'This device may not connect.',
      reconnect: false,
      requestId: null,
    });
  });

  test('beforeSubscribe narrows the query and the keys of a subscription', async () => {
    const ws = await open();
    ws.send({ op: 'connect', applicationId: server.appId, javascriptKey: server.javascriptKey });
    assert.equal((await ws.next('connected')).op, 'connected');
    ws.send({ op: 'subscribe', requestId: 1, query: { className: 'LqNote', where: {} } });
    assert.equal((await ws.next('subscribed')).op, 'subscribed');
    await new Parse.Object('LqNote').save({ title: 'draft', published: false, body: 'hidden' }, { useMasterKey: true });
    const news = await new Parse.Object('LqNote').save({ title: 'news', published: true, body: 'long' }, { useMasterKey: true });
    const frame = await ws.next('the create of the published note');
    assert.equal(frame.op, 'create');
    assert.equal(frame.object.objectId, news.id);
    assert.equal(frame.object.title, 'news');
    assert.equal(frame.object.body, undefined);
  });

  test('afterLiveQueryEvent changes the object an event carries, or drops the event', async () => {
    const ws = await open();
    ws.send({ op: 'connect', applicationId: server.appId, javascriptKey: server.javascriptKey });
    await ws.next('connected');
    ws.send({ op: 'subscribe', requestId: 3, query: { className: 'LqEvent', where: {} } });
    assert.equal((await ws.next('subscribed')).op, 'subscribed');
    await new Parse.Object('LqEvent').save({ name: 'quiet', muted: true }, { useMasterKey: true });
    const loud = await new Parse.Object('LqEvent').save({ name: 'loud' }, { useMasterKey: true });
    const created = await ws.next('the create of the unmuted object');
    assert.equal(created.object.objectId, loud.id);
    assert.equal(created.object.heard, 'create by trigger');
    await loud.save({ name: 'louder' }, { useMasterKey: true });
    const updated = await ws.next('the update');
    assert.equal(updated.op, 'update');
    assert.equal(updated.object.name, 'louder');
    assert.equal(updated.object.heard, 'update by trigger');
    const stored = await new Parse.Query('LqEvent').get(loud.id, { useMasterKey: true });
    assert.equal(stored.get('heard'), undefined, 'the trigger changes what is sent, not what is stored');
  });

  test('beforeSubscribe throwing refuses the subscription with 141 and the request id', async () => {
    const ws = await open();
    ws.send({ op: 'connect', applicationId: server.appId, javascriptKey: server.javascriptKey });
    await ws.next('connected');
    ws.send({ op: 'subscribe', requestId: 7, query: { className: 'LqNote', where: { secret: true } } });
    assert.deepEqual(await ws.next('the refusal'), {
      op: 'error',
      code: Parse.Error.SCRIPT_FAILED,
      error: 'No subscribing to secrets.',
      reconnect: false,
      requestId: 7,
    });
  });
});
