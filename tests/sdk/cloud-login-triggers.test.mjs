// beforeLogin may refuse a log-in, afterLogin sees the new session, afterLogout the ended one.
// Runs against Basalt (the fixture needs --cloud).
import assert from 'node:assert/strict';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';

import Parse from 'parse/node';

import { expectParseError, isExternalServer, startServer } from './harness.mjs';
import { startMailSink } from './mail.mjs';

const fixture = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'cloud', 'login', 'main.js');
let server;
let sink;

before(async () => {
  if (isExternalServer) return;
  sink = await startMailSink();
  server = await startServer({
    args: ['--cloud', fixture, '--app-name', 'Triggers', '--smtp-url', sink.url, '--smtp-from', 'noreply@example.com'],
  });
});

after(async () => {
  await server?.stop();
  await sink?.stop();
});

async function events(className, userId) {
  return new Parse.Query(className).equalTo('userId', userId).find({ useMasterKey: true });
}

describe('log-in triggers', { skip: isExternalServer && 'needs Basalt with the log-in trigger fixture' }, () => {
  test('a log-in runs afterLogin with the user and its new session token', async () => {
    const user = await Parse.User.signUp('loginTriggerAlice', 'pw-alice');
    assert.equal((await events('LoginEvent', user.id)).length, 0, 'sign-up is not a log-in');
    await Parse.User.logOut();
    const loggedIn = await Parse.User.logIn('loginTriggerAlice', 'pw-alice');
    const [event] = await events('LoginEvent', loggedIn.id);
    assert.equal(event.get('requestUserId'), loggedIn.id);
    assert.equal(event.get('hasToken'), true);
    await Parse.User.logOut();
  });

  test('beforeLogin throwing an Error refuses the log-in with 141 and starts no session', async () => {
    const user = await Parse.User.signUp('loginTriggerBanned', 'pw-banned');
    user.set('banned', true);
    await user.save(null, { useMasterKey: true });
    await Parse.User.logOut();
    const sessionsBefore = await new Parse.Query('_Session').equalTo('user', user).count({ useMasterKey: true });
    const error = await expectParseError(Parse.User.logIn('loginTriggerBanned', 'pw-banned'), Parse.Error.SCRIPT_FAILED);
    assert.equal(error.message, 'Access denied, you have been banned.');
    const sessionsAfter = await new Parse.Query('_Session').equalTo('user', user).count({ useMasterKey: true });
    assert.equal(sessionsAfter, sessionsBefore);
    assert.equal((await events('LoginEvent', user.id)).length, 0);
  });

  test('beforeLogin throwing a Parse.Error answers its code', async () => {
    await Parse.User.signUp('mustUseCode', 'pw-code');
    await Parse.User.logOut();
    const error = await expectParseError(Parse.User.logIn('mustUseCode', 'pw-code'), Parse.Error.OPERATION_FORBIDDEN);
    assert.equal(error.message, 'Log in with a code instead.');
  });

  test('a wrong password is refused before beforeLogin runs', async () => {
    await expectParseError(Parse.User.logIn('loginTriggerAlice', 'wrong'), Parse.Error.OBJECT_NOT_FOUND);
  });

  test('beforeLogin also guards a log-in with authData', async () => {
    const authData = { id: `anon-${Date.now()}` };
    const first = await Parse.User.logInWith('anonymous', { authData });
    first.set('banned', true);
    await first.save(null, { useMasterKey: true });
    await Parse.User.logOut();
    const { status, body } = await server.rest('POST', 'users', { body: { authData: { anonymous: authData } } });
    assert.equal(status, 400);
    assert.equal(body.code, Parse.Error.SCRIPT_FAILED);
  });

  test('beforePasswordResetRequest may refuse a reset; otherwise the mail goes out', async () => {
    const refused = await Parse.User.signUp('noResetUser', 'pw', { email: 'noreset@example.com', noReset: true });
    await Parse.User.logOut();
    const error = await expectParseError(Parse.User.requestPasswordReset('noreset@example.com'), Parse.Error.OPERATION_FORBIDDEN);
    assert.equal(error.message, 'Resets are off for this account.');
    assert.ok(refused.id);
    await Parse.User.signUp('resetUser', 'pw', { email: 'reset@example.com' });
    await Parse.User.logOut();
    await Parse.User.requestPasswordReset('reset@example.com');
    const mail = await sink.nextMail('reset@example.com');
    assert.match(mail.subject, /Password Reset/);
    assert.equal(sink.mails.filter((sent) => sent.to.includes('noreset@example.com')).length, 0);
  });

  test('log-out runs afterLogout with the ended session', async () => {
    const user = await Parse.User.signUp('loginTriggerBob', 'pw-bob');
    const token = user.getSessionToken();
    const logout = await server.rest('POST', 'logout', { headers: { 'X-Parse-Session-Token': token } });
    assert.equal(logout.status, 200);
    const [event] = await events('LogoutEvent', user.id);
    assert.equal(event.get('sessionClass'), '_Session');
    assert.equal(event.get('sessionToken'), token);
    const { status } = await server.rest('GET', 'users/me', { headers: { 'X-Parse-Session-Token': token } });
    assert.equal(status, 400);
  });
});
