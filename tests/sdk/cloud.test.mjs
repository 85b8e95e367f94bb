// Cloud Code functions with the fixture tests/cloud/main.js: loading it (require of modules and
// JSON, failures at load time), `Parse.Cloud.define` served at `POST /functions/:name` and called
// with `Parse.Cloud.run`, the `request` object, return values (Parse objects included), errors,
// validators, console output, `Parse.Object` / `Parse.Query` inside a function with and without
// `useMasterKey` / `sessionToken`, and the CPU-time and memory limits of an invocation.
// Expected codes, messages and shapes are Parse Server 9.10's.
//
// Against an external server, that server must load the same fixture (`cloud:
// '<repo>/tests/cloud/main.js'`); what needs Basalt's own flags or output (limits, console lines,
// broken fixtures) is skipped there.

import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { Parse, createClasses, expectParseError, isExternalServer, startServer } from './harness.mjs';

/** Command-line flags of `basalt serve` for cloud code: the one place to change if they are renamed. */
const CLOUD_FLAGS = { main: '--cloud', timeoutMs: '--cloud-timeout-ms' };
/** CPU-time limit per invocation given to the server under test. */
const cloudTimeoutMs = 200;

const cloudDir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', 'cloud');
const cloudArgs = (main) => [CLOUD_FLAGS.main, main, CLOUD_FLAGS.timeoutMs, String(cloudTimeoutMs)];

const basaltOnly = isExternalServer && 'needs a server started by this file (Basalt flags or output)';

let server;
let Item; // objects the functions create, change and query
let Ranked; // objects queried with constraints
let Grouped; // objects for distinct and aggregate
let Guarded; // one public and one alice-only object, for the rights of in-function calls
let alice;
let bob;

const password = 'correct horse';
const unique = (base) => `${base}${randomBytes(4).toString('hex')}`;
const useMasterKey = true;
const as = (user) => ({ sessionToken: user.getSessionToken() });
const run = (name, params = {}, options = {}) => Parse.Cloud.run(name, params, options);
/** `POST /functions/:name` over REST, for exact status codes and bodies. */
const call = (name, body = {}, options = {}) => server.rest('POST', `functions/${name}`, { body, ...options });

async function signUp(base, attrs = {}) {
  const user = new Parse.User({ username: unique(base), password, ...attrs });
  await user.signUp();
  return user;
}

before(async () => {
  server = await startServer({ args: cloudArgs(path.join(cloudDir, 'main.js')) });
  Item = server.className('Item');
  Ranked = server.className('Ranked');
  Guarded = server.className('Guarded');
  Grouped = server.className('Grouped');
  await createClasses(Item, Ranked, Guarded, Grouped, 'RateLimitedPost');
  alice = await signUp('alice', { color: 'blue' });
  bob = await signUp('bob');
});

after(() => server?.stop());

describe('loading main.js', () => {
  test('a function defined in main.js answers Parse.Cloud.run', async () => {
    assert.equal(await run('hello'), 'Hello world!');
  });

  test('main.js requires a relative .js module, which requires a .json file next to main.js', async () => {
    assert.equal(await run('greet', { name: 'Ann' }), 'Hello, Ann!');
  });

  test('require() of a .json file gives its parsed content; each file is loaded once and shared', async () => {
    const info = await run('fixtureInfo');
    assert.deepEqual(info.data, { greeting: 'Hello', version: 3, colors: ['red', 'green'] });
    assert.equal(info.sameModule, true);
    assert.equal(info.sameData, true);
    // Module-level state persists between calls inside one invocation at least.
    assert.equal(info.calls.length, 2);
    assert.equal(info.calls[1], info.calls[0] + 1);
  });
});

describe('params', () => {
  test('the params given to Parse.Cloud.run reach request.params unchanged', async () => {
    const params = { n: 1.5, s: 'x', yes: true, none: null, list: [1, 'two', null, [3]], nested: { deep: { er: 'est' } } };
    assert.deepEqual(await run('echo', params), params);
  });

  test('Date and Pointer params are decoded to a Date and a Parse.Object in the function', async () => {
    const when = new Date('2024-05-06T07:08:09.010Z');
    const item = Parse.Object.extend(Item).createWithoutData('abcdefghij');
    const types = await run('paramTypes', { when, item: item.toPointer(), list: [1, 'a', null, true, { x: 1 }], nested: { when } });
    assert.deepEqual(types, {
      whenIsDate: true,
      whenTime: when.getTime(),
      itemIsObject: true,
      itemClass: Item,
      itemId: 'abcdefghij',
      listTypes: ['number', 'string', 'null', 'boolean', 'object'],
      nestedWhenIsDate: true,
    });
  });

  test('query-string values are merged into the params and win over body values', async () => {
    const response = await server.rest('POST', 'functions/echo', { body: { x: 'body', y: 1 }, query: { x: 'query' } });
    assert.equal(response.status, 200);
    assert.deepEqual(response.body, { result: { x: 'query', y: 1 } });
  });
});

describe('return values', () => {
  test('plain values are sent as {"result": value}', async () => {
    const expected = {
      number: 42.5,
      string: 'text',
      boolean: false,
      null: null,
      array: [1, 'two', { three: 3 }, [4]],
      object: { a: 1, b: { c: [true, null] } },
    };
    for (const [kind, result] of Object.entries(expected)) {
      const response = await call('value', { kind });
      assert.equal(response.status, 200, kind);
      assert.deepEqual(response.body, { result }, kind);
    }
  });

  test('returning undefined answers {} without a result key, which the SDK gives as undefined', async () => {
    const response = await call('value', { kind: 'undefined' });
    assert.equal(response.status, 200);
    assert.deepEqual(response.body, {});
    assert.equal(await run('value', { kind: 'undefined' }), undefined);
  });

  test('Dates are encoded as {"__type":"Date","iso"} at any depth and decoded by the SDK', async () => {
    const iso = '2024-01-02T03:04:05.678Z';
    assert.deepEqual((await call('value', { kind: 'date' })).body, { result: { __type: 'Date', iso } });
    assert.deepEqual((await call('value', { kind: 'dates' })).body, {
      result: { at: { __type: 'Date', iso }, list: [{ __type: 'Date', iso: '1970-01-01T00:00:00.000Z' }] },
    });
    const decoded = await run('value', { kind: 'dates' });
    assert.ok(decoded.at instanceof Date);
    assert.equal(decoded.at.toISOString(), iso);
    assert.ok(decoded.list[0] instanceof Date);
  });

  test('a returned promise and an async function answer with the resolved value', async () => {
    assert.equal(await run('promised', { n: 4 }), 8);
    assert.deepEqual(await run('awaited', { n: 4 }), { doubled: 8, status: 'done' });
  });
});

describe('Parse objects in results', () => {
  test('a saved Parse.Object comes back from Parse.Cloud.run as a Parse.Object', async () => {
    const item = await run('createItem', { className: Item, name: 'chair', count: 2 });
    assert.ok(item instanceof Parse.Object);
    assert.equal(item.className, Item);
    assert.match(item.id, /^[0-9A-Za-z]{10}$/);
    assert.equal(item.get('name'), 'chair');
    assert.equal(item.get('count'), 2);
    assert.ok(item.createdAt instanceof Date);
    assert.ok(item.updatedAt instanceof Date);
    const stored = await new Parse.Query(Item).get(item.id, { useMasterKey });
    assert.equal(stored.get('name'), 'chair');
  });

  test('it is encoded as a full object: its fields, objectId, plain ISO dates, __type Object and className', async () => {
    const { status, body } = await call('createItem', { className: Item, name: 'desk', count: 3 });
    assert.equal(status, 200);
    assert.deepEqual(Object.keys(body), ['result']);
    const { result } = body;
    assert.deepEqual(Object.keys(result).sort(), ['__type', 'className', 'count', 'createdAt', 'name', 'objectId', 'updatedAt']);
    assert.equal(result.__type, 'Object');
    assert.equal(result.className, Item);
    assert.equal(result.name, 'desk');
    assert.equal(result.count, 3);
    assert.match(result.createdAt, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
    assert.equal(result.updatedAt, result.createdAt);
  });

  test('objects nested in arrays and plain objects are decoded too', async () => {
    const Found = server.className('Found');
    await createClasses(Found);
    await Parse.Object.saveAll([1, 2].map((n) => new Parse.Object(Found, { n })), { useMasterKey });
    const { count, items } = await run('findItems', { className: Found });
    assert.equal(count, 2);
    assert.ok(items.every((item) => item instanceof Parse.Object && item.className === Found));
    assert.deepEqual(items.map((item) => item.get('n')), [1, 2]);
  });

  test('returning request.user sends the whole user with its sessionToken and without the password', async () => {
    const { status, body } = await call('me', {}, { headers: { 'X-Parse-Session-Token': alice.getSessionToken() } });
    assert.equal(status, 200);
    assert.deepEqual(Object.keys(body.result).sort(),
      ['ACL', '__type', 'className', 'color', 'createdAt', 'objectId', 'sessionToken', 'updatedAt', 'username']);
    assert.equal(body.result.__type, 'Object');
    assert.equal(body.result.className, '_User');
    assert.equal(body.result.objectId, alice.id);
    assert.equal(body.result.sessionToken, alice.getSessionToken());
    assert.deepEqual(body.result.ACL, { [alice.id]: { read: true, write: true } });
    const me = await run('me', {}, as(alice));
    assert.ok(me instanceof Parse.User);
    assert.equal(me.getUsername(), alice.getUsername());
  });
});

describe('the request object', () => {
  test('without a session request.user is undefined and request.master false', async () => {
    const info = await run('requestInfo');
    assert.equal(info.user, 'undefined');
    assert.equal(info.master, false);
    assert.equal(info.functionName, 'requestInfo');
  });

  test('with a session request.user is the Parse.User with its fields and session token, without password', async () => {
    const info = await run('requestInfo', {}, as(alice));
    assert.deepEqual(info.user, {
      isParseUser: true,
      className: '_User',
      id: alice.id,
      username: alice.getUsername(),
      sessionToken: alice.getSessionToken(),
      hasPassword: false,
      color: 'blue',
    });
    assert.equal(info.master, false);
  });

  test('with the master key request.master is true and request.user undefined, even with a session token', async () => {
    const viaSdk = await run('requestInfo', {}, { useMasterKey });
    assert.equal(viaSdk.master, true);
    assert.equal(viaSdk.user, 'undefined');
    const { body } = await call('requestInfo', {}, {
      master: true,
      headers: { 'X-Parse-Session-Token': alice.getSessionToken() },
    });
    assert.equal(body.result.master, true);
    assert.equal(body.result.user, 'undefined');
  });

  test('an invalid session token fails the call with 209 before the function runs', async () => {
    const response = await call('hello', {}, { headers: { 'X-Parse-Session-Token': 'r:not-a-session' } });
    assert.equal(response.status, 400);
    assert.deepEqual(response.body, { code: 209, error: 'Invalid session token' });
  });

  test('request.installationId is the SDK installation id, or the X-Parse-Installation-Id header', async () => {
    const installationId = await Parse.CoreManager.getInstallationController().currentInstallationId();
    assert.equal((await run('requestInfo')).installationId, installationId);
    const { body } = await call('requestInfo', {}, { headers: { 'X-Parse-Installation-Id': 'install-1' } });
    assert.equal(body.result.installationId, 'install-1');
    assert.equal((await call('requestInfo')).body.result.installationId, 'undefined');
  });

  test('request.headers holds the HTTP request headers with lower-case names', async () => {
    const { body } = await call('requestInfo', {}, { headers: { 'X-Custom-Thing': 'Hello There' } });
    const { headers } = body.result;
    assert.equal(headers['x-custom-thing'], 'Hello There');
    assert.equal(headers['x-parse-application-id'], server.appId);
    assert.equal(headers['content-type'], 'application/json');
    assert.equal(headers.host, new URL(server.serverURL).host);
    for (const name of Object.keys(headers)) assert.equal(name, name.toLowerCase());
  });

  test('request is a plain object: its keys enumerate, it serialises, headers can be replaced', async () => {
    const { body } = await call('requestShape');
    for (const key of ['functionName', 'headers', 'ip', 'master', 'params']) assert.ok(body.result.keys.includes(key), key);
    assert.equal(body.result.serializedHost, new URL(server.serverURL).host);
    assert.equal(body.result.replaced, 'yes');
  });

  test('request.ip is the client address; X-Forwarded-For is not trusted', async () => {
    const { body } = await call('requestInfo', {}, { headers: { 'X-Forwarded-For': '10.1.2.3' } });
    assert.equal(body.result.ip, '127.0.0.1');
  });
});

describe('errors', () => {
  test('a thrown Parse.Error keeps its code and message', async () => {
    const error = await expectParseError(run('throwParseError', { code: 137, message: 'taken' }), 137);
    assert.equal(error.message, 'taken');
    const custom = await call('throwParseError', { code: 9001, message: 'custom code' });
    assert.equal(custom.status, 400);
    assert.deepEqual(custom.body, { code: 9001, error: 'custom code' });
  });

  test('the HTTP status follows the code: 101 answers 404, 1 answers 500, others 400', async () => {
    const notFound = await call('throwParseError', { code: 101, message: 'gone' });
    assert.equal(notFound.status, 404);
    assert.deepEqual(notFound.body, { code: 101, error: 'gone' });
    const internal = await call('throwParseError', { code: 1, message: 'broken' });
    assert.equal(internal.status, 500);
    assert.deepEqual(internal.body, { code: 1, error: 'broken' });
  });

  test('a thrown string answers 400 with code 141 and the string', async () => {
    const response = await call('throwString');
    assert.equal(response.status, 400);
    assert.deepEqual(response.body, { code: 141, error: 'a plain string' });
  });

  test('a thrown Error answers 141 with its message', async () => {
    const response = await call('throwError');
    assert.equal(response.status, 400);
    assert.deepEqual(response.body, { code: 141, error: 'an Error object' });
    const error = await expectParseError(run('throwError'), Parse.Error.SCRIPT_FAILED);
    assert.equal(error.message, 'an Error object');
  });

  test('a runtime TypeError answers 141 with the engine message', async () => {
    const error = await expectParseError(run('throwTypeError'), Parse.Error.SCRIPT_FAILED);
    assert.match(error.message, /property/);
  });

  test('a thrown plain object with a code answers 141: only a Parse.Error keeps its code', async () => {
    const response = await call('throwObjectWithCode');
    assert.deepEqual(response.body, { code: 141, error: 'object with a code' });
  });

  test('a rejection after an await and a returned rejected promise are errors of the call', async () => {
    const afterAwait = await expectParseError(run('rejectAfterAwait'), Parse.Error.DUPLICATE_VALUE);
    assert.equal(afterAwait.message, 'rejected after an await');
    const rejected = await expectParseError(run('rejectedPromise'), Parse.Error.SCRIPT_FAILED);
    assert.equal(rejected.message, 'a rejected promise');
  });

  test('an unknown function answers 141 Invalid function', async () => {
    const response = await call('noSuchFunction');
    assert.equal(response.status, 400);
    assert.deepEqual(response.body, { code: 141, error: 'Invalid function: "noSuchFunction"' });
  });
});

describe('validators', () => {
  const VALIDATION = Parse.Error.VALIDATION_ERROR; // 142

  const expectValidation = async (promise, message) => {
    const error = await expectParseError(promise, VALIDATION);
    assert.equal(error.message, message);
  };

  test('requireUser refuses a call without a session with 142 and runs it with one', async () => {
    const response = await call('needsUser');
    assert.equal(response.status, 400);
    assert.deepEqual(response.body, { code: 142, error: 'Validation failed. Please login to continue.' });
    assert.equal(await run('needsUser', {}, as(alice)), alice.getUsername());
  });

  test('requireMaster refuses a user and runs with the master key', async () => {
    await expectValidation(run('needsMaster', {}, as(alice)),
      'Validation failed. Master key is required to complete this request.');
    assert.equal(await run('needsMaster', {}, { useMasterKey }), true);
  });

  test('with the master key an object validator is skipped entirely', async () => {
    // needsUserAndField requires a user and a `name`: the master key gets through without either.
    assert.equal(await run('needsUserAndField', {}, { useMasterKey }), 'ok');
  });

  test('requireUser is checked before fields', async () => {
    await expectValidation(run('needsUserAndField'), 'Validation failed. Please login to continue.');
    await expectValidation(run('needsUserAndField', {}, as(bob)), 'Validation failed. Please specify data for name.');
    assert.equal(await run('needsUserAndField', { name: 'x' }, as(bob)), 'ok');
  });

  test('a required field that is missing or null fails; an empty string is present', async () => {
    await expectValidation(run('needsFields'), 'Validation failed. Please specify data for name.');
    await expectValidation(run('needsFields', { name: null }), 'Validation failed. Please specify data for name.');
    assert.deepEqual(await run('needsFields', { name: '' }), { name: '', count: 10 });
  });

  test('a field of the wrong type fails with the expected type in lower case', async () => {
    await expectValidation(run('needsFields', { name: 5 }), 'Validation failed. Invalid type for name. Expected: string');
    await expectValidation(run('needsFields', { name: 'a', count: 'x' }), 'Validation failed. Invalid type for count. Expected: number');
    await expectValidation(run('needsFields', { name: 'a', tags: 'x' }), 'Validation failed. Invalid type for tags. Expected: array');
  });

  test('a default fills a missing or null field and the function sees it in request.params', async () => {
    assert.deepEqual(await run('needsFields', { name: 'a' }), { name: 'a', count: 10 });
    assert.deepEqual(await run('needsFields', { name: 'a', count: null, tags: [1] }), { name: 'a', count: 10, tags: [1] });
    assert.deepEqual(await run('needsFields', { name: 'a', count: 3 }), { name: 'a', count: 3 });
  });

  test('options as an array list the accepted values', async () => {
    await expectValidation(run('needsFields', { name: 'a', color: 'blue' }),
      'Validation failed. Invalid option for color. Expected: red, green');
    assert.deepEqual(await run('needsFields', { name: 'a', color: 'red' }), { name: 'a', color: 'red', count: 10 });
  });

  test('options as a function fail with the field\'s own error message', async () => {
    await expectValidation(run('needsFields', { name: 'a', size: 20 }), 'size must be below 10');
    await expectValidation(run('needsFields', { name: 'a', size: 'big' }), 'Validation failed. Invalid type for size. Expected: number');
    assert.deepEqual(await run('needsFields', { name: 'a', size: 3 }), { name: 'a', size: 3, count: 10 });
  });

  test('fields as an array of names requires each one; 0 counts as present', async () => {
    await expectValidation(run('needsFieldList', { first: 1 }), 'Validation failed. Please specify data for second.');
    assert.deepEqual(await run('needsFieldList', { first: 1, second: 0 }), ['first', 'second']);
  });

  test('a validator function: a thrown string or Error gives 142, a thrown Parse.Error keeps its code', async () => {
    await expectValidation(run('customValidator', { mode: 'string' }), 'custom validator said no');
    await expectValidation(run('customValidator', { mode: 'error' }), 'custom validator Error');
    const error = await expectParseError(run('customValidator', { mode: 'parse' }), Parse.Error.INVALID_JSON);
    assert.equal(error.message, 'custom validator Parse.Error');
    assert.equal(await run('customValidator'), 'passed');
  });
});

describe('console', { skip: basaltOnly }, () => {
  test('console.log, warn and error write their arguments to the server log', async () => {
    const marker = unique('cloud-marker-');
    assert.equal(await run('logLines', { marker }), 'logged');
    await server.waitForOutput(new RegExp(`${marker}-log 42`));
    await server.waitForOutput(new RegExp(`${marker}-warn`));
    await server.waitForOutput(new RegExp(`${marker}-error`));
  });
});

describe('Parse.Object and Parse.Query inside a function', () => {
  test('create, increment, fetch, query with a subclass, destroy', async () => {
    const result = await run('itemLifecycle', { className: Item });
    assert.match(result.id, /^[0-9A-Za-z]{10}$/);
    assert.deepEqual({ ...result, id: undefined }, {
      id: undefined,
      afterIncrement: 7,
      fetchedName: 'lamp',
      fetchedCount: 7,
      label: 'lamp x7',
      queriedIsItem: true,
      afterDestroy: { code: 101, message: 'Object not found.' },
    });
    await expectParseError(new Parse.Query(Item).get(result.id, { useMasterKey }), Parse.Error.OBJECT_NOT_FOUND);
  });

  test('an increment made in a function is stored and seen by the client', async () => {
    const item = await new Parse.Object(Item, { name: 'counter', count: 10 }).save();
    assert.equal(await run('bumpItem', { className: Item, id: item.id, by: 5 }), 15);
    await item.fetch();
    assert.equal(item.get('count'), 15);
  });

  test('where constraints, ordering and limits with find, first, get and count', async () => {
    const objects = [1, 2, 3, 4, 5].map((n) => new Parse.Object(Ranked, { n, tag: n % 2 ? 'odd' : 'even' }));
    await Parse.Object.saveAll(objects, { useMasterKey });
    const result = await run('queryItems', { className: Ranked, id: objects[2].id });
    assert.deepEqual(result, {
      bigger: [3, 4, 5],
      firstEven: 4,
      missing: 'undefined',
      got: 3,
      counted: 3,
      limited: [4, 3],
    });
  });

  test('distinct and aggregate run with the master key by default', async () => {
    const objects = [1, 2, 3, 4].map((n) => new Parse.Object(Grouped, { n, tag: n % 2 ? 'odd' : 'even' }));
    await Parse.Object.saveAll(objects, { useMasterKey });
    assert.deepEqual(await run('summarizeItems', { className: Grouped }), {
      tags: ['even', 'odd'],
      evens: [2, 4],
      grouped: [['even', 6], ['odd', 4]],
      refused: Parse.Error.OPERATION_FORBIDDEN,
    });
  });

  test('Parse.File saves, is stored in an object, comes back as a Parse.File and reads its data', async () => {
    const base64 = Buffer.from('hello from cloud code').toString('base64');
    const result = await run('fileRoundTrip', { className: Item, base64 });
    assert.equal(result.isFile, true);
    assert.match(result.name, /^[0-9a-f]{32}_hello\.txt$/);
    assert.equal(result.data, base64);
    assert.equal(result.bytesData, Buffer.from('hi').toString('base64'));
    assert.equal(result.publicUpload, Parse.Error.FILE_SAVE_ERROR);
    const item = await new Parse.Query(Item).get(result.id, { useMasterKey });
    const download = await fetch(item.get('attachment').url());
    assert.equal(await download.text(), 'hello from cloud code');
    assert.equal(item.get('attachment').url(), result.url);
  });

  test('Parse.File.destroy removes the stored file', async () => {
    assert.equal(await run('fileDestroy', { className: Item }), Parse.Error.OBJECT_NOT_FOUND);
  });

  test('relations: add, query, remove, and a query redirected to the target class', async () => {
    assert.deepEqual(await run('relationRoundTrip', { className: Item }), {
      all: ['a', 'b', 'c'],
      isRelation: true,
      target: Item,
      redirected: ['a', 'c'],
      tagIsPointer: true,
    });
  });

  test('validators: requireAnyUserRoles, requireAllUserRoles (inherited roles count) and requireUserKeys', async () => {
    const acl = new Parse.ACL();
    acl.setPublicReadAccess(true);
    const editors = new Parse.Role('cloudEditors', acl);
    editors.getUsers().add(alice);
    await editors.save(null, { useMasterKey });
    const admins = new Parse.Role('cloudAdmins', acl);
    admins.getRoles().add(editors);
    await admins.save(null, { useMasterKey });
    assert.equal(await run('anyRole', {}, as(alice)), 'ok');
    assert.equal(await run('allRoles', {}, as(alice)), 'ok');
    const any = await expectParseError(run('anyRole', {}, as(bob)), Parse.Error.VALIDATION_ERROR);
    assert.equal(any.message, 'Validation failed. User does not match the required roles.');
    const all = await expectParseError(run('allRoles', {}, as(bob)), Parse.Error.VALIDATION_ERROR);
    assert.equal(all.message, 'Validation failed. User does not match all the required roles.');
    await expectParseError(run('anyRole'), Parse.Error.VALIDATION_ERROR);
    assert.equal(await run('needsColor', {}, as(alice)), 'blue');
    const keys = await expectParseError(run('needsColor', {}, as(bob)), Parse.Error.VALIDATION_ERROR);
    assert.equal(keys.message, 'Validation failed. Please set data for color on your account.');
  });

  describe('rate limits', { skip: basaltOnly }, () => {
    test('a function over its requestCount answers 429 with code 100 and the message; the master key is not counted', async () => {
      assert.equal((await call('limited')).status, 200);
      assert.equal((await call('limited', {}, { master: true })).status, 200);
      assert.equal((await call('limited')).status, 200);
      const refused = await call('limited');
      assert.equal(refused.status, 429);
      assert.deepEqual(refused.body, { code: Parse.Error.CONNECTION_FAILED, error: 'Slow down.' });
      assert.equal((await call('limited', {}, { master: true })).status, 200);
      await expectParseError(run('limited'), Parse.Error.CONNECTION_FAILED);
    });

    test('zone user counts each user apart', async () => {
      const aliceHeaders = { headers: { 'X-Parse-Session-Token': alice.getSessionToken() } };
      const bobHeaders = { headers: { 'X-Parse-Session-Token': bob.getSessionToken() } };
      assert.equal((await call('limitedPerUser', {}, aliceHeaders)).status, 200);
      assert.equal((await call('limitedPerUser', {}, aliceHeaders)).status, 429);
      assert.equal((await call('limitedPerUser', {}, bobHeaders)).status, 200);
    });

    test('requests from the same machine are not counted unless includeInternalRequests', async () => {
      for (let i = 0; i < 3; i += 1) assert.equal((await call('limitedNotLocal')).status, 200);
    });

    test('a beforeSave rateLimit covers creates and updates of its class, not reads', async () => {
      const post = await new Parse.Object('RateLimitedPost').save({ n: 1 }, { useMasterKey: false });
      await expectParseError(post.save({ n: 2 }), Parse.Error.CONNECTION_FAILED);
      await expectParseError(new Parse.Object('RateLimitedPost').save({ n: 3 }), Parse.Error.CONNECTION_FAILED);
      assert.equal((await new Parse.Query('RateLimitedPost').get(post.id)).get('n'), 1);
    });
  });

  test('Parse.Config saves and reads parameters, hiding master-only ones without the key', async () => {
    assert.deepEqual(await run('configRoundTrip', { greeting: 'hi from cloud' }), {
      greeting: 'hi from cloud',
      publicSecret: 'hidden',
      masterSecret: 's3cret',
    });
    const config = await Parse.Config.get();
    assert.equal(config.get('cloudGreeting'), 'hi from cloud');
    assert.equal(config.get('cloudSecret'), undefined);
  });

  describe('rights', () => {
    let privateItem;

    before(async () => {
      const publicItem = new Parse.Object(Guarded, { name: 'public' });
      privateItem = new Parse.Object(Guarded, { name: 'private' });
      privateItem.setACL(new Parse.ACL(alice));
      await Parse.Object.saveAll([publicItem, privateItem], { useMasterKey });
    });

    test('without an option a query runs as the public, not as the calling user', async () => {
      assert.deepEqual(await run('listAs', { className: Guarded, mode: 'none' }, as(alice)), { names: ['public'], count: 1 });
    });

    test('{sessionToken: request.user.getSessionToken()} runs as the caller', async () => {
      assert.deepEqual(await run('listAs', { className: Guarded, mode: 'session' }, as(alice)),
        { names: ['private', 'public'], count: 2 });
      assert.deepEqual(await run('listAs', { className: Guarded, mode: 'session' }, as(bob)), { names: ['public'], count: 1 });
    });

    test('{useMasterKey: true} sees everything whoever calls', async () => {
      assert.deepEqual(await run('listAs', { className: Guarded, mode: 'master' }, as(bob)),
        { names: ['private', 'public'], count: 2 });
    });

    test('a write without the rights fails inside the function and the call answers its error', async () => {
      const denied = await expectParseError(
        run('renameAs', { className: Guarded, id: privateItem.id, mode: 'none', name: 'nope' }, as(alice)),
        Parse.Error.OBJECT_NOT_FOUND);
      assert.equal(denied.message, 'Object not found.');
      await expectParseError(
        run('renameAs', { className: Guarded, id: privateItem.id, mode: 'session', name: 'nope' }, as(bob)),
        Parse.Error.OBJECT_NOT_FOUND);
      assert.equal(
        await run('renameAs', { className: Guarded, id: privateItem.id, mode: 'session', name: 'renamed' }, as(alice)),
        'renamed');
      const stored = await new Parse.Query(Guarded).get(privateItem.id, { useMasterKey });
      assert.equal(stored.get('name'), 'renamed');
    });
  });
});

describe('limits', { skip: basaltOnly }, () => {
  /** Upper bound for a runaway call to be stopped: only a failure bound, never a wait. */
  const stopBoundMs = 10 * cloudTimeoutMs;

  const expectTimeLimit = async (name, params) => {
    const started = performance.now();
    const error = await expectParseError(run(name, params), Parse.Error.SCRIPT_FAILED);
    const elapsed = performance.now() - started;
    assert.match(error.message, /time limit/i);
    assert.ok(elapsed < stopBoundMs, `${name} took ${Math.round(elapsed)} ms to be stopped`);
  };

  test('an endless loop ends the call with 141 naming the time limit', async () => {
    await expectTimeLimit('spin');
  });

  test('catching inside the function does not escape the time limit', async () => {
    await expectTimeLimit('spinCaught');
  });

  test('the limit also stops a loop that starts after an awaited query', async () => {
    await expectTimeLimit('spinAfterAwait', { className: Item });
  });

  test('other requests, cloud and plain, are answered while a call spins', async () => {
    let spinEnded = false;
    const spinning = run('spin').then(
      () => assert.fail('spin returned'),
      (error) => {
        spinEnded = true;
        return error;
      },
    );
    for (let round = 0; round < 2; round += 1) {
      assert.equal(await run('greet', { name: `round ${round}` }), `Hello, round ${round}!`);
      await new Parse.Query(Item).count();
    }
    assert.equal(spinEnded, false, 'the other requests waited for the spinning call');
    assert.equal((await spinning).code, Parse.Error.SCRIPT_FAILED);
  });

  test('a memory bomb ends the call with 141 and the server keeps serving', async () => {
    const error = await expectParseError(run('bomb'), Parse.Error.SCRIPT_FAILED);
    // The memory limit normally fires first; with a small CPU-time limit the time limit may.
    assert.match(error.message, /memory|time limit/i);
    assert.equal(await run('hello'), 'Hello world!');
  });

  test('after runaway calls, functions and module state still work', async () => {
    assert.equal(await run('greet', { name: 'again' }), 'Hello, again!');
    const info = await run('fixtureInfo');
    assert.equal(info.sameModule, true);
  });
});

describe('cloud code that fails to load stops the start', { skip: basaltOnly }, () => {
  /** Starts Basalt with a fixture that must not load; returns the rejection's text (server output). */
  const failedStart = async (fixture) => {
    const main = path.join(cloudDir, fixture, 'main.js');
    let started;
    try {
      started = await startServer({ args: cloudArgs(main) });
    } catch (error) {
      assert.match(error.message, /basalt exited \(code [1-9]\d*, signal null\) before listening/);
      return error.message;
    }
    await started.stop();
    throw new Error(`the server started with ${main}`);
  };

  test('a syntax error names the file, the line and SyntaxError', async () => {
    const output = await failedStart('broken');
    assert.match(output, /tests\/cloud\/broken\/main\.js(:4\b|.*\bline 4\b)/);
    assert.match(output, /SyntaxError/);
  });

  test('a throw at load time names the file, the line and the message', async () => {
    const output = await failedStart('throws');
    assert.match(output, /tests\/cloud\/throws\/main\.js(:5\b|.*\bline 5\b)/);
    assert.match(output, /cloud fixture refuses to load/);
  });

  test('a syntax error in a required module names that module and its line', async () => {
    const output = await failedStart('broken-require');
    assert.match(output, /tests\/cloud\/broken-require\/lib\/bad\.js(:3\b|.*\bline 3\b)/);
    assert.match(output, /SyntaxError/);
  });
});
