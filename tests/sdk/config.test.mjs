// Config (`/config`, Parse.Config): master-key writes that merge per key, masterKeyOnly parameters
// hidden from clients, Parse-encoded values, and refused client writes. Shapes are Parse Server 9.10's.
//
// Parameter names carry a random suffix and assertions look only at this run's keys: against an
// external server every run shares the single `_GlobalConfig` row.

import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { Parse, startServer } from './harness.mjs';

let server;
const suffix = randomBytes(4).toString('hex');
const key = (base) => `${base}_${suffix}`;

async function putConfig(body) {
  const response = await server.rest('PUT', 'config', { master: true, body });
  assert.equal(response.status, 200, JSON.stringify(response.body));
  return response;
}

before(async () => {
  server = await startServer();
});

after(() => server?.stop());

describe('writing with the master key', () => {
  test('PUT /config answers 200 {"result":true}', async () => {
    const { body } = await putConfig({ params: { [key('first')]: 1 } });
    assert.deepEqual(body, { result: true });
  });

  test('GET /config answers {"params", "masterKeyOnly"} with a false flag for each public key', async () => {
    await putConfig({ params: { [key('shape')]: 'value' } });
    const { status, body } = await server.rest('GET', 'config');
    assert.equal(status, 200);
    assert.deepEqual(Object.keys(body).sort(), ['masterKeyOnly', 'params']);
    assert.equal(body.params[key('shape')], 'value');
    assert.equal(body.masterKeyOnly[key('shape')], false);
  });

  test('a PUT merges per key: parameters it does not name are kept', async () => {
    await putConfig({ params: { [key('keepA')]: 'a', [key('keepB')]: 'b' } });
    await putConfig({ params: { [key('keepB')]: 'b2' } });
    const config = await Parse.Config.get();
    assert.equal(config.get(key('keepA')), 'a');
    assert.equal(config.get(key('keepB')), 'b2');
  });

  test('a Delete op removes a parameter', async () => {
    await putConfig({ params: { [key('gone')]: 1, [key('stays')]: 2 } });
    await putConfig({ params: { [key('gone')]: { __op: 'Delete' } } });
    const { body } = await server.rest('GET', 'config', { master: true });
    assert.equal(key('gone') in body.params, false);
    assert.equal(body.params[key('stays')], 2);
  });

  test('Parse.Config.save writes with the master key and returns the new config', async () => {
    const config = await Parse.Config.save({ [key('saved')]: 'from sdk', [key('count')]: 3 });
    assert.equal(config.get(key('saved')), 'from sdk');
    const fetched = await Parse.Config.get();
    assert.equal(fetched.get(key('saved')), 'from sdk');
    assert.equal(fetched.get(key('count')), 3);
  });

  test('values keep their Parse types: Date, GeoPoint, Object and Array', async () => {
    const when = new Date('2024-05-06T07:08:09.010Z');
    await Parse.Config.save({
      [key('when')]: when,
      [key('where')]: new Parse.GeoPoint(48.5, 2.25),
      [key('object')]: { nested: { list: [1, 'two'] } },
      [key('array')]: [true, null, 1.5],
    });
    const config = await Parse.Config.get();
    assert.ok(config.get(key('when')) instanceof Date);
    assert.equal(config.get(key('when')).toISOString(), when.toISOString());
    assert.ok(config.get(key('where')) instanceof Parse.GeoPoint);
    assert.deepEqual([config.get(key('where')).latitude, config.get(key('where')).longitude], [48.5, 2.25]);
    assert.deepEqual(config.get(key('object')), { nested: { list: [1, 'two'] } });
    assert.deepEqual(config.get(key('array')), [true, null, 1.5]);
    const { body } = await server.rest('GET', 'config');
    assert.deepEqual(body.params[key('when')], { __type: 'Date', iso: when.toISOString() });
  });

  test('Parse.Config.current returns the last fetched config without a request', async () => {
    await Parse.Config.save({ [key('cached')]: 'v1' });
    await Parse.Config.get();
    await putConfig({ params: { [key('cached')]: 'v2' } });
    assert.equal(Parse.Config.current().get(key('cached')), 'v1');
    assert.equal((await Parse.Config.get()).get(key('cached')), 'v2');
  });
});

describe('masterKeyOnly parameters', () => {
  test('are hidden from clients, params and flags alike', async () => {
    await putConfig({
      params: { [key('secret')]: 'hidden', [key('open')]: 'shown' },
      masterKeyOnly: { [key('secret')]: true },
    });
    const { body } = await server.rest('GET', 'config');
    assert.equal(key('secret') in body.params, false);
    assert.equal(key('secret') in body.masterKeyOnly, false);
    assert.equal(body.params[key('open')], 'shown');
    assert.equal(body.masterKeyOnly[key('open')], false);
    const config = await Parse.Config.get();
    assert.equal(config.get(key('secret')), undefined);
  });

  test('are visible with the master key, flagged true', async () => {
    await putConfig({ params: { [key('admin')]: 42 }, masterKeyOnly: { [key('admin')]: true } });
    const { body } = await server.rest('GET', 'config', { master: true });
    assert.equal(body.params[key('admin')], 42);
    assert.equal(body.masterKeyOnly[key('admin')], true);
    assert.equal((await Parse.Config.get({ useMasterKey: true })).get(key('admin')), 42);
  });

  test('Parse.Config.save takes the masterKeyOnly flags as its second argument', async () => {
    await Parse.Config.save({ [key('sdkSecret')]: 's', [key('sdkOpen')]: 'o' }, { [key('sdkSecret')]: true });
    const config = await Parse.Config.get();
    assert.equal(config.get(key('sdkSecret')), undefined);
    assert.equal(config.get(key('sdkOpen')), 'o');
    assert.equal((await Parse.Config.get({ useMasterKey: true })).get(key('sdkSecret')), 's');
  });

  test('writing a hidden key again without the flag makes it public', async () => {
    await putConfig({ params: { [key('flip')]: 1 }, masterKeyOnly: { [key('flip')]: true } });
    await putConfig({ params: { [key('flip')]: 2 } });
    const { body } = await server.rest('GET', 'config');
    assert.equal(body.params[key('flip')], 2);
    assert.equal(body.masterKeyOnly[key('flip')], false);
  });

  test('a session token does not reveal them', async () => {
    await putConfig({ params: { [key('userHidden')]: 'x' }, masterKeyOnly: { [key('userHidden')]: true } });
    const user = new Parse.User({ username: `config${suffix}`, password: 'correct horse' });
    await user.signUp();
    const config = await Parse.Config.get({ sessionToken: user.getSessionToken() });
    assert.equal(config.get(key('userHidden')), undefined);
  });
});

describe('client writes', () => {
  test('PUT /config without the master key answers 403 and changes nothing', async () => {
    await putConfig({ params: { [key('guarded')]: 'before' } });
    const { status, body } = await server.rest('PUT', 'config', { body: { params: { [key('guarded')]: 'after' } } });
    assert.equal(status, 403);
    assert.equal(typeof body.error, 'string');
    assert.equal(body.code, undefined);
    const config = await Parse.Config.get();
    assert.equal(config.get(key('guarded')), 'before');
  });

  test('a client session token does not allow PUT /config either', async () => {
    const user = new Parse.User({ username: `writer${suffix}`, password: 'correct horse' });
    await user.signUp();
    const { status } = await server.rest('PUT', 'config', {
      body: { params: { [key('guarded2')]: 1 } },
      headers: { 'X-Parse-Session-Token': user.getSessionToken() },
    });
    assert.equal(status, 403);
    assert.equal((await Parse.Config.get()).get(key('guarded2')), undefined);
  });
});
