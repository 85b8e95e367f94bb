// Installations (`_Installation`, `/installations`): Parse.Installation saved, updated and fetched
// as a client; the /installations routes beside /classes/_Installation (create, the create that
// finds a known device and updates it, client find and delete refused, master list and delete);
// which id finds a device's row (installationId in any case, the X-Parse-Installation-Id header,
// deviceToken); lower-casing; the 135, 136 and 132 errors; the device-token dedup; and the
// installation id a log-in session records. Shapes, codes and messages are Parse Server 9.10's.
//
// The SDK sends its own X-Parse-Installation-Id with every request; `server.rest` sends none unless
// a test passes one, so the cases that depend on the header (or its absence) go over REST.
// Every test uses its own random ids and tokens, so reruns against one database do not collide.

import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { Parse, expectParseError, isExternalServer, startServer } from './harness.mjs';

let server;

const unique = (base) => `${base}-${randomBytes(4).toString('hex')}`;
const isoDate = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/;
const denied = { code: 119, error: 'Permission denied' };

/** A client create (no master key, no installation id header unless given). */
function create(route, body, headers = {}) {
  return server.rest('POST', route, { body, headers });
}

/** The stored rows matching `where`, as the master key lists them, in objectId order. */
async function rowsWhere(where) {
  const { status, body } = await server.rest('GET', 'installations', { master: true, query: { where } });
  assert.equal(status, 200);
  return body.results.sort((a, b) => a.objectId.localeCompare(b.objectId));
}

/** One stored row by id, as the master key reads it. */
async function rowOf(objectId) {
  const { status, body } = await server.rest('GET', `installations/${objectId}`, { master: true });
  assert.equal(status, 200);
  return body;
}

/** Asserts a create answered 201 with objectId, createdAt and a Location; returns the objectId. */
function assertCreated({ status, headers, body }) {
  assert.equal(status, 201, JSON.stringify(body));
  assert.deepEqual(Object.keys(body).sort(), ['createdAt', 'objectId']);
  assert.match(body.createdAt, isoDate);
  assert.equal(headers.location, `${server.serverURL}/classes/_Installation/${body.objectId}`);
  return body.objectId;
}

/**
 * Asserts a create that found a known device answered as an update: 200 {updatedAt}, no Location.
 * Basalt also names the row it updated (`objectId`, so the SDK learns the id of its
 * installation); Parse Server 9.10 does not. Returns that objectId when there is one.
 */
function assertUpdated({ status, headers, body }) {
  assert.equal(status, 200, JSON.stringify(body));
  const { objectId, ...rest } = body;
  assert.deepEqual(Object.keys(rest), ['updatedAt']);
  assert.match(body.updatedAt, isoDate);
  assert.equal(headers.location, undefined);
  if (!isExternalServer) assert.equal(typeof objectId, 'string');
  return objectId;
}

function assertError({ status, body }, code, error) {
  assert.equal(status, 400);
  assert.deepEqual(body, { code, error });
}

before(async () => {
  server = await startServer();
});

after(() => server?.stop());

describe('Parse.Installation through the SDK, without the master key', () => {
  test('save creates the row; fetch by id reads it back', async () => {
    const installationId = unique('sdk');
    const deviceToken = unique('token');
    const installation = new Parse.Installation({
      installationId, deviceType: 'ios', deviceToken, channels: ['news'],
    });
    await installation.save();
    assert.match(installation.id, /^[0-9A-Za-z]{10}$/);
    assert.ok(installation.createdAt instanceof Date);

    const fetched = await Parse.Installation.createWithoutData(installation.id).fetch();
    assert.equal(fetched.get('installationId'), installationId);
    assert.equal(fetched.get('deviceType'), 'ios');
    assert.equal(fetched.get('deviceToken'), deviceToken);
    assert.deepEqual(fetched.get('channels'), ['news']);
    assert.equal(fetched.createdAt.toISOString(), installation.createdAt.toISOString());

    const row = await rowOf(installation.id);
    assert.deepEqual(Object.keys(row).sort(), [
      'channels', 'createdAt', 'deviceToken', 'deviceType', 'installationId', 'objectId', 'updatedAt',
    ]);
  });

  test('addUnique and remove on channels, increment on badge', async () => {
    const installation = new Parse.Installation({
      installationId: unique('ops'), deviceType: 'android', channels: ['a'],
    });
    await installation.save();

    installation.addUnique('channels', 'b');
    installation.increment('badge');
    await installation.save();
    assert.deepEqual(installation.get('channels'), ['a', 'b']);
    assert.equal(installation.get('badge'), 1);

    installation.addUnique('channels', 'a');
    await installation.save();
    installation.remove('channels', 'a');
    installation.increment('badge', 2);
    await installation.save();

    const fetched = await Parse.Installation.createWithoutData(installation.id).fetch();
    assert.deepEqual(fetched.get('channels'), ['b']);
    assert.equal(fetched.get('badge'), 3);
  });

  test('the update operators answer the new values over REST', async () => {
    const objectId = assertCreated(await create('installations', {
      installationId: unique('ops'), deviceType: 'ios', badge: 4,
    }));
    const { status, body } = await server.rest('PUT', `installations/${objectId}`, {
      body: {
        channels: { __op: 'AddUnique', objects: ['x', 'x', 'y'] },
        badge: { __op: 'Increment', amount: 1 },
      },
    });
    assert.equal(status, 200);
    assert.deepEqual(Object.keys(body).sort(), ['badge', 'channels', 'updatedAt']);
    assert.deepEqual(body.channels, ['x', 'y']);
    assert.equal(body.badge, 5);
  });

  test('a query is a find: refused to a client with 119, even Query.get; the master key may', async () => {
    const installation = await new Parse.Installation({ installationId: unique('query'), deviceType: 'ios' }).save();
    await expectParseError(new Parse.Query(Parse.Installation).get(installation.id), Parse.Error.OPERATION_FORBIDDEN);
    await expectParseError(new Parse.Query(Parse.Installation).find(), Parse.Error.OPERATION_FORBIDDEN);
    const found = await new Parse.Query(Parse.Installation).get(installation.id, { useMasterKey: true });
    assert.equal(found.get('installationId'), installation.get('installationId'));
  });
});

for (const route of ['installations', 'classes/_Installation']) {
  describe(`/${route}`, () => {
    test('POST creates: 201 with objectId, createdAt and Location /classes/_Installation/<id>', async () => {
      const installationId = unique('create');
      const objectId = assertCreated(await create(route, { installationId, deviceType: 'ios', badge: 1 }));
      const row = await rowOf(objectId);
      assert.equal(row.installationId, installationId);
      assert.equal(row.badge, 1);
    });

    test('a second POST with the same installationId in another case updates that row: 200 {updatedAt}', async () => {
      const installationId = unique('again');
      const objectId = assertCreated(await create(route, { installationId, deviceType: 'ios', badge: 1 }));
      const updated = assertUpdated(
        await create(route, { installationId: installationId.toUpperCase(), deviceType: 'ios', badge: 2 }),
      );
      if (updated) assert.equal(updated, objectId);
      const rows = await rowsWhere({ installationId });
      assert.deepEqual(rows.map((row) => [row.objectId, row.badge]), [[objectId, 2]]);
    });

    test(`GET /${route} without the master key: 400 ${JSON.stringify(denied)}; with it, the rows`, async () => {
      const installationId = unique('list');
      const objectId = assertCreated(await create(route, { installationId, deviceType: 'android' }));
      assert.deepEqual(await server.rest('GET', route).then(({ status, body }) => ({ status, body })),
        { status: 400, body: denied });
      const { status, body } = await server.rest('GET', route, { master: true, query: { where: { installationId } } });
      assert.equal(status, 200);
      assert.deepEqual(body.results.map((row) => row.objectId), [objectId]);
    });

    test(`GET /${route}/:id reads one row without the master key`, async () => {
      const installationId = unique('get');
      const objectId = assertCreated(await create(route, { installationId, deviceType: 'android' }));
      const { status, body } = await server.rest('GET', `${route}/${objectId}`);
      assert.equal(status, 200);
      assert.deepEqual(body, await rowOf(objectId));
      assert.equal(body.installationId, installationId);
    });

    test('DELETE without the master key: 400 119 and the row stays; with it: 200 {} and the row is gone', async () => {
      const objectId = assertCreated(await create(route, { installationId: unique('delete'), deviceType: 'ios' }));
      assertError(await server.rest('DELETE', `${route}/${objectId}`), denied.code, denied.error);
      await rowOf(objectId);

      const { status, body } = await server.rest('DELETE', `${route}/${objectId}`, { master: true });
      assert.equal(status, 200);
      assert.deepEqual(body, {});
      const gone = await server.rest('GET', `${route}/${objectId}`, { master: true });
      assert.equal(gone.status, 404);
      assert.deepEqual(gone.body, { code: 101, error: 'Object not found.' });
    });
  });
}

describe('135: a create must name the device', () => {
  test('without deviceType: "deviceType must be specified in this operation"', async () => {
    const installationId = unique('notype');
    const deviceToken = unique('notype');
    assertError(await create('installations', { installationId }),
      135, 'deviceType must be specified in this operation');
    assertError(await create('classes/_Installation', { deviceToken }),
      135, 'deviceType must be specified in this operation');
    assert.deepEqual(await rowsWhere({ $or: [{ installationId }, { deviceToken }] }), []);
  });

  test('without installationId, deviceToken or X-Parse-Installation-Id: "at least one ID field ..."', async () => {
    for (const route of ['installations', 'classes/_Installation']) {
      assertError(await create(route, { deviceType: 'ios', tag: unique('noid') }),
        135, 'at least one ID field (deviceToken, installationId) must be specified in this operation');
    }
  });

  test('with the master key a create needs no id field: 201, a row without installationId', async () => {
    const tag = unique('masternoid');
    const { status, body } = await server.rest('POST', 'installations', {
      master: true, body: { deviceType: 'ios', tag },
    });
    assert.equal(status, 201);
    const [row] = await rowsWhere({ tag });
    assert.equal(row.objectId, body.objectId);
    assert.equal('installationId' in row, false);
  });
});

describe('the X-Parse-Installation-Id header', () => {
  test('stands in for installationId on a client create, but the new row does not store it', async () => {
    const tag = unique('header');
    const objectId = assertCreated(await create('installations', { deviceType: 'android', tag },
      { 'X-Parse-Installation-Id': unique('hdr') }));
    const row = await rowOf(objectId);
    assert.equal(row.tag, tag);
    assert.equal('installationId' in row, false);
  });

  test('finds the row of a known installationId (any case): the create updates it, even its deviceType', async () => {
    const installationId = unique('known');
    const objectId = assertCreated(await create('installations', { installationId, deviceType: 'ios' }));
    const header = { 'X-Parse-Installation-Id': installationId.toUpperCase() };
    assertUpdated(await create('installations', { deviceType: 'ios', badge: 7 }, header));
    // A create that finds the row is not checked for a changed deviceType (an update is: 136).
    assertUpdated(await create('installations', { deviceType: 'android', badge: 8 }, header));
    // Once the row is found, deviceType may be left out.
    assertUpdated(await create('installations', { badge: 9 }, header));
    const rows = await rowsWhere({ installationId });
    assert.deepEqual(rows.map((row) => [row.objectId, row.deviceType, row.badge]), [[objectId, 'android', 9]]);
  });

  test('the body\'s installationId wins over the header', async () => {
    const installationId = unique('body');
    const objectId = assertCreated(await create('installations', { installationId, deviceType: 'ios' },
      { 'X-Parse-Installation-Id': unique('other') }));
    assert.equal((await rowOf(objectId)).installationId, installationId);
  });

  test('with the master key the header finds nothing: a new row without installationId', async () => {
    const installationId = unique('masterhdr');
    const known = assertCreated(await create('installations', { installationId, deviceType: 'ios' }));
    const { status, body } = await server.rest('POST', 'installations', {
      master: true, body: { deviceType: 'ios', badge: 5 }, headers: { 'X-Parse-Installation-Id': installationId },
    });
    assert.equal(status, 201);
    assert.notEqual(body.objectId, known);
    assert.equal('installationId' in await rowOf(body.objectId), false);
    assert.equal('badge' in await rowOf(known), false);
  });
});

describe('lower-casing', () => {
  test('installationId is stored lower-cased', async () => {
    const installationId = unique('MiXeD-Case');
    const objectId = assertCreated(await create('installations', { installationId, deviceType: 'ios' }));
    assert.equal((await rowOf(objectId)).installationId, installationId.toLowerCase());
    const fetched = await Parse.Installation.createWithoutData(objectId).fetch();
    assert.equal(fetched.get('installationId'), installationId.toLowerCase());
  });

  test('a 64-character deviceToken is stored lower-cased; a shorter one as sent', async () => {
    const longToken = randomBytes(32).toString('hex').toUpperCase();
    const shortToken = `ShortToken${randomBytes(4).toString('hex').toUpperCase()}`;
    const long = assertCreated(await create('installations', {
      installationId: unique('long'), deviceType: 'ios', deviceToken: longToken,
    }));
    const short = assertCreated(await create('installations', {
      installationId: unique('short'), deviceType: 'ios', deviceToken: shortToken,
    }));
    assert.equal((await rowOf(long)).deviceToken, longToken.toLowerCase());
    assert.equal((await rowOf(short)).deviceToken, shortToken);
  });

  test('the upper-case form of a 64-character token finds the stored row', async () => {
    const token = randomBytes(32).toString('hex');
    const objectId = assertCreated(await create('installations', { deviceType: 'ios', deviceToken: token }));
    assertUpdated(await create('installations', { deviceType: 'ios', deviceToken: token.toUpperCase(), badge: 3 }));
    const rows = await rowsWhere({ deviceToken: token });
    assert.deepEqual(rows.map((row) => [row.objectId, row.badge]), [[objectId, 3]]);
  });
});

describe('136: installationId and deviceType of a row are fixed', () => {
  test('changing installationId: "installationId may not be changed in this operation"', async () => {
    const installationId = unique('fixed');
    const installation = await new Parse.Installation({ installationId, deviceType: 'ios' }).save();
    installation.set('installationId', unique('changed'));
    const error = await expectParseError(installation.save(), 136);
    assert.equal(error.message, 'installationId may not be changed in this operation');

    assertError(await server.rest('PUT', `installations/${installation.id}`, { body: { installationId: unique('rest') } }),
      136, 'installationId may not be changed in this operation');
    assert.equal((await rowOf(installation.id)).installationId, installationId);
  });

  test('changing deviceType: "deviceType may not be changed in this operation"', async () => {
    const installation = await new Parse.Installation({ installationId: unique('type'), deviceType: 'ios' }).save();
    installation.set('deviceType', 'android');
    const error = await expectParseError(installation.save(), 136);
    assert.equal(error.message, 'deviceType may not be changed in this operation');

    assertError(await server.rest('PUT', `classes/_Installation/${installation.id}`, { body: { deviceType: 'android' } }),
      136, 'deviceType may not be changed in this operation');
    assert.equal((await rowOf(installation.id)).deviceType, 'ios');
  });

  test('the same installationId in another case and the same deviceType are no change', async () => {
    const installationId = unique('same');
    const objectId = assertCreated(await create('installations', { installationId, deviceType: 'ios' }));
    const { status, body } = await server.rest('PUT', `installations/${objectId}`, {
      body: { installationId: installationId.toUpperCase(), deviceType: 'ios', badge: 2 },
    });
    assert.equal(status, 200);
    assert.deepEqual(Object.keys(body), ['updatedAt']);
    const row = await rowOf(objectId);
    assert.equal(row.installationId, installationId);
    assert.equal(row.badge, 2);
  });
});

describe('device tokens', () => {
  test('a new installationId claiming a token held by another installationId removes the older row', async () => {
    const deviceToken = unique('claimed');
    const old = assertCreated(await create('installations', {
      installationId: unique('old'), deviceType: 'android', deviceToken,
    }));
    const installationId = unique('new');
    const fresh = assertCreated(await create('installations', { installationId, deviceType: 'android', deviceToken }));
    assert.notEqual(fresh, old);
    const rows = await rowsWhere({ deviceToken });
    assert.deepEqual(rows.map((row) => [row.objectId, row.installationId]), [[fresh, installationId]]);
  });

  test('a new installationId claiming a token held by a row without installationId takes that row over', async () => {
    const deviceToken = unique('bare');
    const bare = assertCreated(await create('installations', { deviceType: 'android', deviceToken, tag: 'bare' }));
    const installationId = unique('claim');
    assertUpdated(await create('installations', { installationId, deviceType: 'android', deviceToken }));
    const rows = await rowsWhere({ deviceToken });
    assert.deepEqual(rows.map((row) => [row.objectId, row.installationId, row.tag]), [[bare, installationId, 'bare']]);
  });

  test('a known installationId naming the token of a row without installationId: that row survives, the other goes', async () => {
    const installationId = unique('idrow');
    const deviceToken = unique('merge');
    const idRow = assertCreated(await create('installations', { installationId, deviceType: 'android', tag: 'id' }));
    const tokenRow = assertCreated(await create('installations', { deviceType: 'android', deviceToken, tag: 'token' }));
    assertUpdated(await create('installations', { installationId, deviceType: 'android', deviceToken }));
    const rows = await rowsWhere({ $or: [{ installationId }, { deviceToken }] });
    assert.deepEqual(rows.map((row) => [row.objectId, row.installationId, row.deviceToken, row.tag]),
      [[tokenRow, installationId, deviceToken, 'token']]);
    const gone = await server.rest('GET', `installations/${idRow}`, { master: true });
    assert.equal(gone.status, 404);
  });

  test('132 when the token matches several rows and no installationId is given', async () => {
    const deviceToken = unique('shared');
    const first = assertCreated(await create('installations', {
      installationId: unique('first'), deviceType: 'android', deviceToken,
    }));
    const second = assertCreated(await create('installations', { installationId: unique('second'), deviceType: 'android' }));
    // An update by objectId that sets a token another installationId holds leaves both rows.
    const { status } = await server.rest('PUT', `installations/${second}`, { body: { deviceToken } });
    assert.equal(status, 200);
    assert.deepEqual((await rowsWhere({ deviceToken })).map((row) => row.objectId).sort(), [first, second].sort());

    const message = 'Must specify installationId when deviceToken matches multiple Installation objects';
    assertError(await create('installations', { deviceType: 'android', deviceToken }), 132, message);
    const { status: masterStatus, body } = await server.rest('POST', 'installations', {
      master: true, body: { deviceType: 'android', deviceToken },
    });
    assert.equal(masterStatus, 400);
    assert.deepEqual(body, { code: 132, error: message });
    // Without deviceType the 135 comes first.
    assertError(await create('installations', { deviceToken }), 135, 'deviceType must be specified in this operation');
    assert.equal((await rowsWhere({ deviceToken })).length, 2);
  });
});

describe('sessions and installations', () => {
  test('a log-in with X-Parse-Installation-Id records it, as sent, on the session; no installation row', async () => {
    const username = unique('user');
    await new Parse.User({ username, password: 'pw' }).signUp();
    const installationId = unique('Device-X');
    const login = await server.rest('POST', 'login', {
      body: { username, password: 'pw' }, headers: { 'X-Parse-Installation-Id': installationId },
    });
    assert.equal(login.status, 200);
    const { status, body } = await server.rest('GET', 'sessions/me', {
      headers: { 'X-Parse-Session-Token': login.body.sessionToken },
    });
    assert.equal(status, 200);
    assert.equal(body.installationId, installationId);
    assert.deepEqual(await rowsWhere({ installationId: { $in: [installationId, installationId.toLowerCase()] } }), []);
  });
});
