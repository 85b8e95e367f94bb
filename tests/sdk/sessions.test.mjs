// Sessions (`_Session`, `/sessions`): what sign-up and log-in record, who may read, change and
// revoke which session, one session per user and installation, and log-out. Shapes and codes are
// Parse Server 9.10's.

import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { Parse, expectParseError, startServer } from './harness.mjs';

let server;
let sdkInstallationId; // the installation id the SDK sends with every request

const password = 'correct horse';
const tokenPattern = /^r:[0-9A-Za-z]{32,}$/;
const yearMs = 365 * 24 * 3600 * 1000;

const unique = (base) => `${base}${randomBytes(4).toString('hex')}`;
const withToken = (token, installationId) => ({
  headers: {
    'X-Parse-Session-Token': token,
    ...(installationId ? { 'X-Parse-Installation-Id': installationId } : {}),
  },
});

async function signUp(base = 'user') {
  const user = new Parse.User({ username: unique(base), password });
  await user.signUp();
  return user;
}

/** Logs in over REST from the given installation; returns the session token. */
async function logIn(user, installationId) {
  const { status, body } = await server.rest('POST', 'login', {
    body: { username: user.getUsername(), password },
    headers: installationId ? { 'X-Parse-Installation-Id': installationId } : {},
  });
  assert.equal(status, 200);
  return body.sessionToken;
}

/** The caller's own session over REST (`GET /sessions/me`). */
async function sessionOf(token) {
  const { status, body } = await server.rest('GET', 'sessions/me', withToken(token));
  assert.equal(status, 200);
  return body;
}

/** Session tokens of all of a user's sessions, as the master key sees them, sorted. */
async function tokensOf(user) {
  const { body } = await server.rest('GET', 'sessions', {
    master: true,
    query: { where: { user: { __type: 'Pointer', className: '_User', objectId: user.id } } },
  });
  return body.results.map((session) => session.sessionToken).sort();
}

before(async () => {
  server = await startServer();
  sdkInstallationId = await Parse.CoreManager.getInstallationController().currentInstallationId();
});

after(() => server?.stop());

describe('what a session records', () => {
  test('a sign-up session: r: token, user pointer, createdWith signup/password, the SDK installation id', async () => {
    const startedAt = Date.now();
    const user = await signUp('signup');
    const session = await sessionOf(user.getSessionToken());
    assert.deepEqual(Object.keys(session).sort(), [
      'createdAt', 'createdWith', 'expiresAt', 'installationId', 'objectId', 'sessionToken', 'updatedAt', 'user',
    ]);
    assert.match(session.objectId, /^[0-9A-Za-z]{10}$/);
    assert.match(session.sessionToken, tokenPattern);
    assert.equal(session.sessionToken, user.getSessionToken());
    assert.deepEqual(session.user, { __type: 'Pointer', className: '_User', objectId: user.id });
    assert.deepEqual(session.createdWith, { action: 'signup', authProvider: 'password' });
    assert.equal(session.installationId, sdkInstallationId);
    assert.equal(session.expiresAt.__type, 'Date');
    const expiresAt = Date.parse(session.expiresAt.iso);
    assert.ok(expiresAt >= startedAt + yearMs && expiresAt <= Date.now() + yearMs, session.expiresAt.iso);
  });

  test('a log-in session records createdWith login/password and the request\'s installation id', async () => {
    const user = await signUp('login');
    const token = await logIn(user, 'device-login');
    const session = await sessionOf(token);
    assert.deepEqual(session.createdWith, { action: 'login', authProvider: 'password' });
    assert.equal(session.installationId, 'device-login');
    assert.notEqual(token, user.getSessionToken());
  });

  test('a session created without an installation id has no installationId field', async () => {
    const user = await signUp('noinstall');
    const session = await sessionOf(await logIn(user));
    assert.equal('installationId' in session, false);
  });

  test('an anonymous sign-up records createdWith login/anonymous', async () => {
    const user = await Parse.AnonymousUtils.logIn();
    const session = await sessionOf(user.getSessionToken());
    assert.deepEqual(session.createdWith, { action: 'login', authProvider: 'anonymous' });
  });

  test('every session gets a different token', async () => {
    const user = await signUp('tokens');
    const tokens = new Set([user.getSessionToken()]);
    for (const device of ['a', 'b', 'c', 'd']) tokens.add(await logIn(user, `device-${device}`));
    assert.equal(tokens.size, 5);
  });
});

describe('Parse.Session.current', () => {
  before(() => Parse.User.enableUnsafeCurrentUser());
  after(async () => {
    await Parse.User.logOut();
    Parse.User.disableUnsafeCurrentUser();
  });

  test('returns the current user\'s session', async () => {
    const user = await signUp('current');
    const session = await Parse.Session.current();
    assert.ok(session instanceof Parse.Session);
    assert.equal(session.getSessionToken(), user.getSessionToken());
    assert.equal(session.get('user').id, user.id);
    assert.deepEqual(session.get('createdWith'), { action: 'signup', authProvider: 'password' });
    assert.equal(session.get('installationId'), sdkInstallationId);
    assert.ok(session.get('expiresAt') instanceof Date);
    assert.equal(Parse.Session.isCurrentSessionRevocable(), true);
  });

  test('after log-out the old session is gone: /sessions/me answers 209', async () => {
    const user = await signUp('current');
    const token = user.getSessionToken();
    await Parse.User.logOut();
    const { status, body } = await server.rest('GET', 'sessions/me', withToken(token));
    assert.equal(status, 400);
    assert.equal(body.code, 209);
    await expectParseError(new Parse.Query(Parse.Session).find({ sessionToken: token }),
      Parse.Error.INVALID_SESSION_TOKEN);
  });
});

describe('GET /sessions/me', () => {
  test('without a session token answers 400 {"code":209,"error":"Session token required."}', async () => {
    const { status, body } = await server.rest('GET', 'sessions/me');
    assert.equal(status, 400);
    assert.deepEqual(body, { code: 209, error: 'Session token required.' });
  });

  test('with an unknown token answers 400 with code 209', async () => {
    const { status, body } = await server.rest('GET', 'sessions/me', withToken('r:00000000000000000000000000000000'));
    assert.equal(status, 400);
    assert.equal(body.code, 209);
  });
});

describe('listing sessions', () => {
  let alice;
  let bob;
  let aliceTokens;

  before(async () => {
    alice = await signUp('alice');
    bob = await signUp('bob');
    aliceTokens = [alice.getSessionToken(), await logIn(alice, 'alice-phone')].sort();
  });

  test('GET /sessions answers only the caller\'s own sessions', async () => {
    const { status, body } = await server.rest('GET', 'sessions', withToken(alice.getSessionToken()));
    assert.equal(status, 200);
    assert.deepEqual(body.results.map((session) => session.sessionToken).sort(), aliceTokens);
    for (const session of body.results) assert.equal(session.user.objectId, alice.id);
  });

  test('a where on another user\'s sessions finds nothing, and count agrees', async () => {
    const where = { user: { __type: 'Pointer', className: '_User', objectId: bob.id } };
    const { body } = await server.rest('GET', 'sessions', { query: { where }, ...withToken(alice.getSessionToken()) });
    assert.deepEqual(body.results, []);
    const counted = await server.rest('GET', 'sessions', {
      query: { count: 1, limit: 0 },
      ...withToken(alice.getSessionToken()),
    });
    assert.deepEqual(counted.body, { results: [], count: 2 });
  });

  test('a Parse.Session query finds the caller\'s own sessions only', async () => {
    const sessions = await new Parse.Query(Parse.Session).find({ sessionToken: bob.getSessionToken() });
    assert.deepEqual(sessions.map((session) => session.getSessionToken()), [bob.getSessionToken()]);
  });

  test('/classes/_Session behaves like /sessions', async () => {
    const { status, body } = await server.rest('GET', 'classes/_Session', withToken(bob.getSessionToken()));
    assert.equal(status, 200);
    assert.deepEqual(body.results.map((session) => session.sessionToken), [bob.getSessionToken()]);
  });

  test('the master key lists any user\'s sessions', async () => {
    assert.deepEqual(await tokensOf(alice), aliceTokens);
    assert.deepEqual(await tokensOf(bob), [bob.getSessionToken()]);
  });

  test('GET /sessions without a session token answers 400 with code 209', async () => {
    const { status, body } = await server.rest('GET', 'sessions');
    assert.equal(status, 400);
    assert.equal(body.code, 209);
  });
});

describe('one session by id', () => {
  let alice;
  let bob;
  let aliceSession;
  let bobSession;

  before(async () => {
    alice = await signUp('alice');
    bob = await signUp('bob');
    aliceSession = await sessionOf(alice.getSessionToken());
    bobSession = await sessionOf(bob.getSessionToken());
  });

  test('GET /sessions/:id answers the caller\'s own session', async () => {
    const { status, body } = await server.rest('GET', `sessions/${aliceSession.objectId}`,
      withToken(alice.getSessionToken()));
    assert.equal(status, 200);
    assert.deepEqual(body, aliceSession);
  });

  test('GET /sessions/:id of another user\'s session answers 404 with code 101', async () => {
    const { status, body } = await server.rest('GET', `sessions/${bobSession.objectId}`,
      withToken(alice.getSessionToken()));
    assert.equal(status, 404);
    assert.deepEqual(body, { code: 101, error: 'Object not found.' });
  });

  test('GET /sessions/:id without a session token answers 400 with code 209', async () => {
    const { status, body } = await server.rest('GET', `sessions/${bobSession.objectId}`);
    assert.equal(status, 400);
    assert.equal(body.code, 209);
  });

  test('PUT /sessions/:id sets a custom field on the caller\'s own session', async () => {
    const { status, body } = await server.rest('PUT', `sessions/${aliceSession.objectId}`, {
      body: { deviceName: 'laptop' },
      ...withToken(alice.getSessionToken()),
    });
    assert.equal(status, 200);
    assert.deepEqual(Object.keys(body), ['updatedAt']);
    const after = await sessionOf(alice.getSessionToken());
    assert.equal(after.deviceName, 'laptop');
    assert.equal(after.sessionToken, alice.getSessionToken());
  });

  test('PUT of user, expiresAt, createdWith or sessionToken fails with 105 "Invalid key name: <field>"', async () => {
    const values = {
      user: { __type: 'Pointer', className: '_User', objectId: bob.id },
      expiresAt: { __type: 'Date', iso: '2099-01-01T00:00:00.000Z' },
      createdWith: { action: 'login', authProvider: 'password' },
      sessionToken: 'r:ffffffffffffffffffffffffffffffff',
    };
    for (const [field, value] of Object.entries(values)) {
      const { status, body } = await server.rest('PUT', `sessions/${aliceSession.objectId}`, {
        body: { [field]: value },
        ...withToken(alice.getSessionToken()),
      });
      assert.equal(status, 400, field);
      assert.deepEqual(body, { code: 105, error: `Invalid key name: ${field}` });
    }
    const unchanged = await sessionOf(alice.getSessionToken());
    assert.equal(unchanged.user.objectId, alice.id);
    assert.equal(unchanged.expiresAt.iso, aliceSession.expiresAt.iso);
  });

  test('PUT /sessions/:id of another user\'s session answers 404 with code 101', async () => {
    const { status, body } = await server.rest('PUT', `sessions/${bobSession.objectId}`, {
      body: { deviceName: 'stolen' },
      ...withToken(alice.getSessionToken()),
    });
    assert.equal(status, 404);
    assert.deepEqual(body, { code: 101, error: 'Object not found.' });
    assert.equal((await sessionOf(bob.getSessionToken())).deviceName, undefined);
  });

  test('DELETE /sessions/:id of another user\'s session answers 404 "Object not found for delete."', async () => {
    const { status, body } = await server.rest('DELETE', `sessions/${bobSession.objectId}`,
      withToken(alice.getSessionToken()));
    assert.equal(status, 404);
    assert.deepEqual(body, { code: 101, error: 'Object not found for delete.' });
    assert.equal((await Parse.User.me(bob.getSessionToken())).id, bob.id);
  });

  test('DELETE /sessions/:id of the caller\'s other session revokes it', async () => {
    const user = await signUp('revoke');
    const phoneToken = await logIn(user, 'phone');
    const phoneSession = await sessionOf(phoneToken);
    const { status, body } = await server.rest('DELETE', `sessions/${phoneSession.objectId}`,
      withToken(user.getSessionToken()));
    assert.equal(status, 200);
    assert.deepEqual(body, {});
    await expectParseError(Parse.User.me(phoneToken), Parse.Error.INVALID_SESSION_TOKEN);
    assert.equal((await Parse.User.me(user.getSessionToken())).id, user.id);
  });

  test('destroying the current session through the SDK revokes its token', async () => {
    const user = await signUp('revoke');
    const token = user.getSessionToken();
    const [session] = await new Parse.Query(Parse.Session).find({ sessionToken: token });
    await session.destroy({ sessionToken: token });
    await expectParseError(Parse.User.me(token), Parse.Error.INVALID_SESSION_TOKEN);
    assert.deepEqual(await tokensOf(user), []);
  });
});

describe('POST /sessions', () => {
  test('creates a restricted session for the caller: createdWith {"action":"create"}', async () => {
    const user = await signUp('create');
    const { status, body } = await server.rest('POST', 'sessions', {
      body: { label: 'integration' },
      ...withToken(user.getSessionToken()),
    });
    assert.equal(status, 201);
    assert.match(body.sessionToken, tokenPattern);
    assert.deepEqual(body.user, { __type: 'Pointer', className: '_User', objectId: user.id });
    assert.deepEqual(body.createdWith, { action: 'create' });
    assert.equal(body.label, 'integration');
    assert.equal((await Parse.User.me(body.sessionToken)).id, user.id);
  });

  test('without a session token answers 400 {"code":209,"error":"Session token required."}', async () => {
    const { status, body } = await server.rest('POST', 'sessions', { body: {} });
    assert.equal(status, 400);
    assert.deepEqual(body, { code: 209, error: 'Session token required.' });
  });
});

describe('one session per user and installation', () => {
  test('logging in twice from the SDK\'s installation replaces the older session', async () => {
    const user = await signUp('twice');
    const first = await Parse.User.logIn(user.getUsername(), password);
    const second = await Parse.User.logIn(user.getUsername(), password);
    assert.notEqual(first.getSessionToken(), second.getSessionToken());
    await expectParseError(Parse.User.me(first.getSessionToken()), Parse.Error.INVALID_SESSION_TOKEN);
    // The sign-up session came from the same installation and is gone too.
    await expectParseError(Parse.User.me(user.getSessionToken()), Parse.Error.INVALID_SESSION_TOKEN);
    assert.deepEqual(await tokensOf(user), [second.getSessionToken()]);
  });

  test('log-ins from different installations keep one session each', async () => {
    const user = await signUp('devices');
    const phone = await logIn(user, 'phone');
    const tablet = await logIn(user, 'tablet');
    const phoneAgain = await logIn(user, 'phone');
    assert.deepEqual(await tokensOf(user), [user.getSessionToken(), tablet, phoneAgain].sort());
    await expectParseError(Parse.User.me(phone), Parse.Error.INVALID_SESSION_TOKEN);
  });

  test('log-ins without an installation id never replace each other', async () => {
    const user = await signUp('noinstall');
    const first = await logIn(user);
    const second = await logIn(user);
    assert.deepEqual(await tokensOf(user), [user.getSessionToken(), first, second].sort());
  });
});

describe('log-out and password change', () => {
  test('log-out deletes the session: its token then answers 209 everywhere', async () => {
    const user = await signUp('logout');
    const token = user.getSessionToken();
    await Parse.User.logOut({ sessionToken: token });
    assert.deepEqual(await tokensOf(user), []);
    for (const route of ['sessions/me', 'sessions', 'users/me']) {
      const { status, body } = await server.rest('GET', route, withToken(token));
      assert.equal(status, 400, route);
      assert.equal(body.code, 209, route);
    }
  });

  test('a password change leaves exactly one session, the new one, recorded with the installation id', async () => {
    const user = await signUp('pwchange');
    await logIn(user, 'phone');
    const { body } = await server.rest('PUT', `users/${user.id}`, {
      body: { password: 'new password' },
      ...withToken(user.getSessionToken(), 'laptop'),
    });
    assert.deepEqual(await tokensOf(user), [body.sessionToken]);
    const session = await sessionOf(body.sessionToken);
    assert.equal(session.user.objectId, user.id);
    assert.equal(session.installationId, 'laptop');
  });
});
