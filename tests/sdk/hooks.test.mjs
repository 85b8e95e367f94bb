// Cloud Code webhooks: functions and triggers that live at an external URL, declared through
// Parse.Hooks (the /hooks routes, master key only). The endpoint here is an HTTP server in this
// test process that records each call (body and X-Parse-Webhook-Key) and answers Parse's
// {"success": …} / {"error": …}. Basalt runs with the plain cloud fixture, so a webhook can be
// shown to replace an in-process function of the same name.
import assert from 'node:assert/strict';
import http from 'node:http';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';

import Parse from 'parse/node';

import { isExternalServer, startServer } from './harness.mjs';

const fixture = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'cloud', 'main.js');
const webhookKey = 'hook-secret';

let server;
let endpoint;
/** Every call the endpoint received: `{path, key, body}`. */
const calls = [];
/** The answer for each path: a function of the request body, giving the JSON (or text) to send. */
const answers = new Map();

function callsTo(route) {
  return calls.filter((call) => call.path === route);
}

before(async () => {
  endpoint = http.createServer((request, response) => {
    const chunks = [];
    request.on('data', (chunk) => chunks.push(chunk));
    request.on('end', () => {
      const body = JSON.parse(Buffer.concat(chunks).toString('utf8'));
      calls.push({ path: request.url, key: request.headers['x-parse-webhook-key'], body });
      const answer = answers.get(request.url);
      const reply = answer ? answer(body) : { success: null };
      response.writeHead(200, { 'Content-Type': 'application/json' });
      response.end(typeof reply === 'string' ? reply : JSON.stringify(reply));
    });
  });
  await new Promise((resolve) => endpoint.listen(0, '127.0.0.1', resolve));
  server = await startServer({ args: ['--cloud', fixture, '--webhook-key', webhookKey] });
});

after(async () => {
  await server?.stop();
  await new Promise((resolve) => endpoint.close(resolve));
});

const url = (route) => `http://127.0.0.1:${endpoint.address().port}${route}`;

const skip = isExternalServer && 'needs Basalt started with a webhook key';

describe('declaring hooks (Parse.Hooks)', { skip }, () => {
  test('functions are created, listed, read, updated and removed', async () => {
    const created = await Parse.Hooks.createFunction('hookCrud', url('/crud'));
    assert.deepEqual(created, { functionName: 'hookCrud', url: url('/crud') });
    assert.deepEqual(await Parse.Hooks.getFunction('hookCrud'), created);
    assert.ok((await Parse.Hooks.getFunctions()).some((hook) => hook.functionName === 'hookCrud'));

    const updated = await Parse.Hooks.updateFunction('hookCrud', url('/crud2'));
    assert.deepEqual(updated, { functionName: 'hookCrud', url: url('/crud2') });
    assert.equal((await Parse.Hooks.getFunction('hookCrud')).url, url('/crud2'));

    assert.deepEqual(await Parse.Hooks.removeFunction('hookCrud'), {});
    assert.ok(!(await Parse.Hooks.getFunctions()).some((hook) => hook.functionName === 'hookCrud'));
    await assert.rejects(Parse.Hooks.getFunction('hookCrud'),
      (error) => error.code === 143 && error.message === 'no function named: hookCrud is defined');
  });

  test('triggers are created, listed, read, updated and removed', async () => {
    const created = await Parse.Hooks.createTrigger('HookCrud', 'beforeSave', url('/t'));
    assert.deepEqual(created, { className: 'HookCrud', triggerName: 'beforeSave', url: url('/t') });
    assert.deepEqual(await Parse.Hooks.getTrigger('HookCrud', 'beforeSave'), created);
    assert.ok((await Parse.Hooks.getTriggers()).some((hook) => hook.className === 'HookCrud'));
    assert.equal((await Parse.Hooks.updateTrigger('HookCrud', 'beforeSave', url('/t2'))).url, url('/t2'));
    await Parse.Hooks.removeTrigger('HookCrud', 'beforeSave');
    await assert.rejects(Parse.Hooks.getTrigger('HookCrud', 'beforeSave'),
      (error) => error.code === 143 && error.message === 'class HookCrud does not exist');
  });

  test('a duplicate, a missing hook and an invalid declaration answer 143', async () => {
    await Parse.Hooks.createFunction('hookTwice', url('/twice'));
    await assert.rejects(Parse.Hooks.createFunction('hookTwice', url('/twice')),
      (error) => error.code === 143 && error.message === 'function name: hookTwice already exists');
    await Parse.Hooks.createTrigger('HookTwice', 'afterSave', url('/twice'));
    await assert.rejects(Parse.Hooks.createTrigger('HookTwice', 'afterSave', url('/twice')),
      (error) => error.code === 143 && error.message === 'class HookTwice already has trigger afterSave');
    await assert.rejects(Parse.Hooks.updateFunction('hookNever', url('/never')),
      (error) => error.code === 143 && error.message === 'no function named: hookNever is defined');
    await assert.rejects(Parse.Hooks.createTrigger('HookCrud', 'beforeDance', url('/t')),
      (error) => error.code === 143 && error.message === 'invalid hook declaration');
    const { status, body } = await server.rest('POST', 'hooks/functions', { master: true, body: { functionName: 'noUrl' } });
    assert.deepEqual([status, body.code, body.error], [400, 143, 'invalid hook declaration']);
  });

  test('every /hooks route needs the master key', async () => {
    for (const [method, route] of [['GET', 'hooks/functions'], ['GET', 'hooks/triggers'],
      ['POST', 'hooks/functions'], ['PUT', 'hooks/functions/hello'], ['GET', 'hooks/triggers/A/beforeSave']]) {
      const { status } = await server.rest(method, route, { body: { functionName: 'x', url: url('/x') } });
      assert.equal(status, 403, `${method} ${route}`);
    }
  });
});

describe('webhook functions', { skip }, () => {
  test('a call carries the request and the webhook key; success is the result', async () => {
    answers.set('/echo', (body) => ({ success: { echoed: body.params.word } }));
    await Parse.Hooks.createFunction('hookEcho', url('/echo'));
    const user = await Parse.User.signUp(`hooker${Date.now()}`, 'pw');
    const result = await Parse.Cloud.run('hookEcho', { word: 'hi' }, { sessionToken: user.getSessionToken() });
    assert.deepEqual(result, { echoed: 'hi' });
    const [call] = callsTo('/echo');
    assert.equal(call.key, webhookKey);
    assert.equal(call.body.functionName, 'hookEcho');
    assert.deepEqual(call.body.params, { word: 'hi' });
    assert.equal(call.body.master, false);
    assert.equal(call.body.user.objectId, user.id);
    assert.equal(call.body.user.sessionToken, user.getSessionToken());
    assert.equal(typeof call.body.headers, 'object');
    await Parse.User.logOut();
  });

  test('the endpoint\'s error reaches the client as 141 with its message (Parse drops a code)', async () => {
    answers.set('/no', () => ({ error: 'the webhook says no' }));
    answers.set('/coded', () => ({ error: { code: 4242, message: 'custom failure' } }));
    answers.set('/garbled', () => 'this is not JSON');
    await Parse.Hooks.createFunction('hookNo', url('/no'));
    await Parse.Hooks.createFunction('hookCoded', url('/coded'));
    await Parse.Hooks.createFunction('hookGarbled', url('/garbled'));
    await assert.rejects(Parse.Cloud.run('hookNo'), (error) => error.code === 141 && error.message === 'the webhook says no');
    await assert.rejects(Parse.Cloud.run('hookCoded'), (error) => error.code === 141 && error.message === 'custom failure');
    await assert.rejects(Parse.Cloud.run('hookGarbled'), (error) => error.code === 141 && error.message === 'Malformed response');
  });

  test('an unreachable endpoint is a 141 naming it, and the server keeps serving', async () => {
    await Parse.Hooks.createFunction('hookDown', 'http://127.0.0.1:1/down');
    await assert.rejects(Parse.Cloud.run('hookDown'),
      (error) => error.code === 141 && error.message.includes('http://127.0.0.1:1/down'));
    assert.equal(await Parse.Cloud.run('hello'), 'Hello world!');
  });

  test('a webhook replaces the cloud code function of the same name until it is removed', async () => {
    answers.set('/hello', () => ({ success: 'hello from the webhook' }));
    assert.equal(await Parse.Cloud.run('hello'), 'Hello world!');
    await Parse.Hooks.createFunction('hello', url('/hello'));
    assert.equal(await Parse.Cloud.run('hello'), 'hello from the webhook');
    await Parse.Hooks.removeFunction('hello');
    assert.equal(await Parse.Cloud.run('hello'), 'Hello world!');
  });
});

describe('webhook triggers', { skip }, () => {
  before(async () => {
    // Clients may not create classes (Parse 9 default): the app's classes exist beforehand.
    for (const className of ['HookGame', 'HookLog', 'HookVault', 'HookSecret', 'HookGone']) {
      const { status } = await server.rest('POST', `schemas/${className}`, { master: true, body: { className } });
      assert.equal(status, 200, className);
    }
  });

  test('beforeSave sees the stored object with the write over it and may change it; untouched operations stay atomic', async () => {
    answers.set('/game/beforeSave', (body) => {
      if (body.object.reject) return { error: 'no rejected games' };
      return { success: { ...body.object, title: String(body.object.title ?? '').toUpperCase() } };
    });
    await Parse.Hooks.createTrigger('HookGame', 'beforeSave', url('/game/beforeSave'));
    const game = await new Parse.Object('HookGame', { title: 'chess', score: 1 }).save();
    assert.equal(game.get('title'), 'CHESS');
    const [created] = callsTo('/game/beforeSave');
    assert.equal(created.key, webhookKey);
    assert.equal(created.body.triggerName, 'beforeSave');
    assert.equal(created.body.object.className, 'HookGame');
    assert.equal(created.body.original, undefined);

    game.increment('score', 2);
    game.set('title', 'go');
    await game.save();
    const update = callsTo('/game/beforeSave')[1].body;
    assert.equal(update.object.objectId, game.id);
    assert.deepEqual(update.object.score, { __op: 'Increment', amount: 2 }, 'operations as written, as Parse shows them');
    assert.equal(update.original.score, 1);
    assert.equal(update.original.className, 'HookGame');
    const stored = await new Parse.Query('HookGame').get(game.id);
    assert.deepEqual([stored.get('title'), stored.get('score')], ['GO', 3]);

    await assert.rejects(new Parse.Object('HookGame', { reject: true }).save(),
      (error) => error.code === 141 && error.message === 'no rejected games');
    assert.equal(await new Parse.Query('HookGame').equalTo('reject', true).count(), 0);
  });

  test('afterSave and afterDelete are called with the saved object before the client is answered', async () => {
    await Parse.Hooks.createTrigger('HookLog', 'afterSave', url('/log/afterSave'));
    await Parse.Hooks.createTrigger('HookLog', 'afterDelete', url('/log/afterDelete'));
    const entry = await new Parse.Object('HookLog', { line: 'first' }).save(null, { context: { source: 'test' } });
    const [saved] = callsTo('/log/afterSave');
    assert.equal(saved.body.triggerName, 'afterSave');
    assert.equal(saved.body.object.objectId, entry.id);
    assert.equal(saved.body.object.line, 'first');
    assert.deepEqual(saved.body.context, { source: 'test' });
    await entry.destroy();
    const [deleted] = callsTo('/log/afterDelete');
    assert.equal(deleted.body.object.objectId, entry.id);
  });

  test('beforeDelete may refuse a delete', async () => {
    answers.set('/vault/beforeDelete', (body) => (body.object.locked ? { error: 'locked' } : { success: true }));
    await Parse.Hooks.createTrigger('HookVault', 'beforeDelete', url('/vault/beforeDelete'));
    const locked = await new Parse.Object('HookVault', { locked: true }).save();
    const open = await new Parse.Object('HookVault', { locked: false }).save();
    await assert.rejects(locked.destroy(), (error) => error.code === 141 && error.message === 'locked');
    await open.destroy();
    assert.equal(await new Parse.Query('HookVault').count(), 1);
  });

  test('beforeFind may refuse a query; afterFind may replace the results', async () => {
    answers.set('/secret/beforeFind', (body) => (body.query.where?.classified ? { error: 'not that' } : { success: {} }));
    answers.set('/secret/afterFind', (body) => ({
      success: body.objects.map((object) => ({ ...object, seen: true })),
    }));
    await new Parse.Object('HookSecret', { classified: false, n: 1 }).save();
    await Parse.Hooks.createTrigger('HookSecret', 'beforeFind', url('/secret/beforeFind'));
    await Parse.Hooks.createTrigger('HookSecret', 'afterFind', url('/secret/afterFind'));
    await assert.rejects(new Parse.Query('HookSecret').equalTo('classified', true).find(),
      (error) => error.code === 141 && error.message === 'not that');
    const [found] = await new Parse.Query('HookSecret').find();
    assert.equal(found.get('n'), 1);
    assert.equal(found.get('seen'), true);
    assert.equal(callsTo('/secret/afterFind').at(-1).body.triggerName, 'afterFind');
  });

  test('beforeLogin may refuse a log-in', async () => {
    answers.set('/login', (body) => (body.object.username.startsWith('banned') ? { error: 'banned' } : { success: true }));
    const name = `banned${Date.now()}`;
    await Parse.User.signUp(name, 'pw');
    await Parse.User.logOut();
    await Parse.Hooks.createTrigger('_User', 'beforeLogin', url('/login'));
    await assert.rejects(Parse.User.logIn(name, 'pw'), (error) => error.code === 141 && error.message === 'banned');
    assert.equal(callsTo('/login')[0].body.object.className, '_User');
    await Parse.Hooks.removeTrigger('_User', 'beforeLogin');
    await Parse.User.logIn(name, 'pw');
    await Parse.User.logOut();
  });

  test('a removed trigger is no longer called', async () => {
    await Parse.Hooks.createTrigger('HookGone', 'afterSave', url('/gone'));
    await new Parse.Object('HookGone').save();
    await Parse.Hooks.removeTrigger('HookGone', 'afterSave');
    await new Parse.Object('HookGone').save();
    assert.equal(callsTo('/gone').length, 1);
  });
});
