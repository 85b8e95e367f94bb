// Error codes and HTTP statuses as the SDK surfaces them, plus the raw responses for malformed
// requests the SDK never sends.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { Parse, createClasses, expectParseError, startServer } from './harness.mjs';

let server;
let Probe;
let probe; // one saved object of Probe

before(async () => {
  server = await startServer();
  Probe = server.className('Probe');
  await createClasses(Probe);
  probe = await new Parse.Object(Probe, { title: 'hello', n: 1 }).save();
});

after(() => server?.stop());

function query() {
  return new Parse.Query(Probe);
}

describe('not found (101)', () => {
  test('get of a missing objectId fails with 101', async () => {
    const error = await expectParseError(query().get('abcdefghij'), Parse.Error.OBJECT_NOT_FOUND);
    assert.equal(error.message, 'Object not found.');
  });

  test('a missing object answers HTTP 404 with code 101 over REST, for GET, PUT and DELETE', async () => {
    const route = `classes/${Probe}/abcdefghij`;
    for (const [method, body] of [['GET'], ['PUT', { n: 2 }], ['DELETE']]) {
      const response = await server.rest(method, route, { body });
      assert.equal(response.status, 404, method);
      assert.deepEqual(response.body, { code: 101, error: 'Object not found.' }, method);
    }
  });

  test('destroying an object twice fails the second time with 101', async () => {
    const object = await new Parse.Object(Probe, { n: 2 }).save();
    await object.destroy();
    await expectParseError(object.destroy(), Parse.Error.OBJECT_NOT_FOUND);
  });
});

describe('invalid queries', () => {
  test('a non-string $regex fails with 102', async () => {
    await expectParseError(query().matches('title', 5).find(), Parse.Error.INVALID_QUERY);
  });

  test('unknown regex options fail with 102', async () => {
    const error = await expectParseError(query().matches('title', 'h', 'z').find(), Parse.Error.INVALID_QUERY);
    assert.match(error.message, /\$options/);
  });

  test('a constraint on ACL fails with 102', async () => {
    await expectParseError(query().equalTo('ACL', 'x').find(), Parse.Error.INVALID_QUERY);
  });

  test('a non-array $in fails with 107', async () => {
    await expectParseError(query().containedIn('n', 5).find(), Parse.Error.INVALID_JSON);
  });

  test('an invalid key name in a constraint fails with 105', async () => {
    await expectParseError(query().equalTo('1bad', 1).find(), Parse.Error.INVALID_KEY_NAME);
  });

  test('an unknown find parameter answers 400 with code 102', async () => {
    const { status, body } = await server.rest('GET', `classes/${Probe}`, { query: { foo: 1 } });
    assert.equal(status, 400);
    assert.deepEqual(body, { code: 102, error: 'Invalid parameter for query: foo' });
  });

  test('an unknown parameter on get answers 400 with code 102', async () => {
    const { status, body } = await server.rest('GET', `classes/${Probe}/${probe.id}`, { query: { foo: 1 } });
    assert.equal(status, 400);
    assert.equal(body.code, 102);
  });

  test('a where that is not JSON answers 400 with code 107', async () => {
    const { status, body } = await server.rest('GET', `classes/${Probe}`, { query: { where: 'notjson' } });
    assert.equal(status, 400);
    assert.deepEqual(body, { code: 107, error: 'where parameter is not valid JSON' });
  });

  test('$or with a non-array operand answers 400 with code 102', async () => {
    const { status, body } = await server.rest('GET', `classes/${Probe}`, { query: { where: { $or: { n: 1 } } } });
    assert.equal(status, 400);
    assert.equal(body.code, 102);
  });

  test('an empty $nor answers 400 with code 102', async () => {
    const { status, body } = await server.rest('GET', `classes/${Probe}`, { query: { where: { $nor: [] } } });
    assert.equal(status, 400);
    assert.equal(body.code, 102);
  });
});

describe('invalid writes', () => {
  test('a key with $ inside an Object value fails with 121', async () => {
    await expectParseError(new Parse.Object(Probe, { o: { $a: 1 } }).save(), Parse.Error.INVALID_NESTED_KEY);
  });

  test('a key with a dot inside an Object value fails with 121', async () => {
    await expectParseError(new Parse.Object(Probe, { o: { 'a.b': 1 } }).save(), Parse.Error.INVALID_NESTED_KEY);
  });

  test('a body that is not JSON answers 400', async () => {
    const { status } = await server.rest('POST', `classes/${Probe}`, { body: '{not json' });
    // Parse answers {"error": "<parser message>"} without a code; Basalt adds code 107.
    assert.equal(status, 400);
  });
});

describe('classes', () => {
  test('a client query on a class that does not exist fails with 119', async () => {
    await expectParseError(new Parse.Query(server.className('Nowhere')).find(), Parse.Error.OPERATION_FORBIDDEN);
  });

  test('a master key query on a class that does not exist finds nothing', async () => {
    assert.deepEqual(await new Parse.Query(server.className('Nowhere')).find({ useMasterKey: true }), []);
  });
});

describe('keys and sessions', () => {
  test('a wrong application id answers 403 {"error":"unauthorized"}', async () => {
    const { status, body } = await server.rest('GET', `classes/${Probe}`, { appId: 'wrong-app' });
    assert.equal(status, 403);
    assert.deepEqual(body, { error: 'unauthorized' });
  });

  test('a missing application id answers 403 {"error":"unauthorized"}', async () => {
    const { status, body } = await server.rest('GET', `classes/${Probe}`, {
      headers: { 'X-Parse-Application-Id': undefined, 'X-Parse-Javascript-Key': undefined },
    });
    assert.equal(status, 403);
    assert.deepEqual(body, { error: 'unauthorized' });
  });

  test('a wrong javascript key answers 403 {"error":"unauthorized"}', async () => {
    const { status, body } = await server.rest('GET', `classes/${Probe}`, {
      headers: { 'X-Parse-Javascript-Key': 'wrong-key' },
    });
    assert.equal(status, 403);
    assert.deepEqual(body, { error: 'unauthorized' });
  });

  test('the SDK initialised with a wrong application id rejects with "unauthorized"', async () => {
    Parse.initialize('wrong-app', server.javascriptKey, server.masterKey);
    try {
      const error = await query().find().then(
        () => assert.fail('expected the query to be refused'),
        (e) => e,
      );
      assert.ok(error instanceof Parse.Error);
      assert.equal(error.message, 'unauthorized');
    } finally {
      Parse.initialize(server.appId, server.javascriptKey, server.masterKey);
    }
    assert.equal((await query().get(probe.id)).get('title'), 'hello');
  });

  test('an unknown session token fails with 209 instead of acting anonymously', async () => {
    await expectParseError(query().find({ sessionToken: 'r:bogus' }), Parse.Error.INVALID_SESSION_TOKEN);
  });

  test('aggregate without the master key is refused with 403', async () => {
    // Over REST only: Parse closes the connection after this answer, which breaks the next
    // request on the SDK's connection pool.
    const { status, body } = await server.rest('GET', `aggregate/${Probe}`, { query: { distinct: 'n' } });
    assert.equal(status, 403);
    assert.equal(typeof body.error, 'string');
  });

  test('an unknown route under the mount answers 404', async () => {
    const { status } = await server.rest('GET', 'nonsense');
    assert.equal(status, 404);
  });
});
