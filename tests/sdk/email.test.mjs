// Email verification and password reset: the mails a real SMTP
// sink receives, the links in them followed like a browser would (redirects not followed, so each
// 303 is checked), the password-reset form read and posted as a browser posts it, and what the
// SDK sees before and after.
//
// Each describe starts its own server with the flags it needs and its own SMTP sink. Against an
// external server the suite is skipped: its mail settings are made where it runs, not here.

import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { Parse, expectParseError, isExternalServer, startServer } from './harness.mjs';
import { startMailSink } from './mail.mjs';

const skip = isExternalServer && 'needs the server to send its mails to this file\'s SMTP sink';

const appName = 'Basalt Mail Test';
const password = 'old password 1';
const newPassword = 'new password 2';
const tokenPattern = /^[0-9A-Za-z]{16,}$/;

const unique = (base) => `${base}${randomBytes(4).toString('hex')}`;

/** Arguments that make the server send its mails to `sink`. */
const mailArgs = (sink) => ['--app-name', appName, '--smtp-url', sink.url, '--smtp-from', 'Basalt Mail <noreply@example.com>'];

/** Starts a sink and a server sending to it; `extra` are more server flags. */
async function startWithMail(extra) {
  const sink = await startMailSink();
  try {
    const server = await startServer({ args: [...mailArgs(sink), ...extra] });
    return { sink, server };
  } catch (error) {
    await sink.stop();
    throw error;
  }
}

/** The one link in `mail` to `{serverURL}/apps/{appId}/{page}?token=…`, as a URL; fails if there is none. */
function linkIn(server, mail, page) {
  const prefix = `${server.serverURL}/apps/${server.appId}/${page}?token=`;
  const links = mail.text.match(/https?:\/\/\S+/g) ?? [];
  assert.equal(links.length, 1, `expected one link in:\n${mail.text}`);
  assert.ok(links[0].startsWith(prefix), `${links[0]} does not start with ${prefix}`);
  const url = new URL(links[0]);
  assert.match(url.searchParams.get('token'), tokenPattern);
  return url;
}

/** GET `url` without following redirects: the status and the Location header. */
async function visit(url) {
  const response = await fetch(url, { redirect: 'manual' });
  await response.arrayBuffer();
  return { status: response.status, location: response.headers.get('location') };
}

/** The user row as the master key sees it, over REST. */
async function masterGet(server, id) {
  const { status, body } = await server.rest('GET', `users/${id}`, { master: true });
  assert.equal(status, 200);
  return body;
}

/** Signs up a fresh user (email `<username>@example.com`) and returns it with its username and email. */
async function signUp(base) {
  const username = unique(base);
  const email = `${username}@example.com`;
  const user = new Parse.User({ username, password, email });
  await user.signUp();
  return { user, username, email };
}

describe('email verification', { skip }, () => {
  let server;
  let sink;

  before(async () => {
    ({ server, sink } = await startWithMail(['--verify-user-emails']));
  });

  after(async () => {
    await server?.stop();
    await sink?.stop();
  });

  const page = (name) => `${server.serverURL}/apps/${name}`;

  test('sign-up mails a verification link to the user\'s address and stores emailVerified false', async () => {
    const { user, email } = await signUp('verify');
    assert.match(user.getSessionToken(), /^r:/);

    const mail = await sink.nextMail(email);
    assert.deepEqual(mail.to, [email]);
    assert.equal(mail.from, '"Basalt Mail" <noreply@example.com>');
    assert.equal(mail.subject, `Please verify your e-mail for ${appName}`);
    assert.ok(mail.text.includes(email), mail.text);
    linkIn(server, mail, 'verify_email');
    assert.equal((await masterGet(server, user.id)).emailVerified, false);
  });

  test('following the link answers 303 to the success page and sets emailVerified true', async () => {
    const { user, email } = await signUp('verify');
    const link = linkIn(server, await sink.nextMail(email), 'verify_email');

    assert.deepEqual(await visit(link), { status: 303, location: page('verify_email_success.html') });
    assert.equal((await masterGet(server, user.id)).emailVerified, true);
  });

  test('a link already followed, or a made-up token, answers 303 to the invalid-link page', async () => {
    const { email } = await signUp('verify');
    const link = linkIn(server, await sink.nextMail(email), 'verify_email');
    assert.equal((await visit(link)).location, page('verify_email_success.html'));

    const invalid = { status: 303, location: page('invalid_verification_link.html') };
    assert.deepEqual(await visit(link), invalid);
    const madeUp = new URL(link);
    madeUp.searchParams.set('token', 'x'.repeat(32));
    assert.deepEqual(await visit(madeUp), invalid);
  });

  test('requestEmailVerification mails a fresh link that replaces the first and verifies the user', async () => {
    const { user, email } = await signUp('resend');
    const first = linkIn(server, await sink.nextMail(email), 'verify_email');

    assert.deepEqual(await Parse.User.requestEmailVerification(email), {});
    const fresh = linkIn(server, await sink.nextMail(email), 'verify_email');
    assert.notEqual(fresh.searchParams.get('token'), first.searchParams.get('token'));

    assert.deepEqual(await visit(first), { status: 303, location: page('invalid_verification_link.html') });
    assert.equal((await masterGet(server, user.id)).emailVerified, false);
    assert.deepEqual(await visit(fresh), { status: 303, location: page('verify_email_success.html') });
    assert.equal((await masterGet(server, user.id)).emailVerified, true);
  });

  test('POST /verificationEmailRequest answers {} for an unknown email, 204 without one, 125 for a non-string', async () => {
    const unknown = await server.rest('POST', 'verificationEmailRequest', { body: { email: `${unique('nobody')}@example.com` } });
    assert.deepEqual({ status: unknown.status, body: unknown.body }, { status: 200, body: {} });

    const missing = await server.rest('POST', 'verificationEmailRequest', { body: {} });
    assert.equal(missing.status, 400);
    assert.equal(missing.body.code, Parse.Error.EMAIL_MISSING);

    const notString = await server.rest('POST', 'verificationEmailRequest', { body: { email: 42 } });
    assert.equal(notString.status, 400);
    assert.equal(notString.body.code, Parse.Error.INVALID_EMAIL_ADDRESS);
  });

  test('changing the email of a verified user resets emailVerified and mails a link to the new address', async () => {
    const { user, email } = await signUp('change');
    await visit(linkIn(server, await sink.nextMail(email), 'verify_email'));
    assert.equal((await masterGet(server, user.id)).emailVerified, true);

    const newEmail = `${unique('changed')}@example.com`;
    user.setEmail(newEmail);
    await user.save(null, { sessionToken: user.getSessionToken() });
    assert.equal((await masterGet(server, user.id)).emailVerified, false);

    const link = linkIn(server, await sink.nextMail(newEmail), 'verify_email');
    assert.deepEqual(await visit(link), { status: 303, location: page('verify_email_success.html') });
    const row = await masterGet(server, user.id);
    assert.equal(row.email, newEmail);
    assert.equal(row.emailVerified, true);
  });
});

describe('log-in with an unverified email (--prevent-login-with-unverified-email)', { skip }, () => {
  let server;
  let sink;

  before(async () => {
    ({ server, sink } = await startWithMail(['--verify-user-emails', '--prevent-login-with-unverified-email']));
  });

  after(async () => {
    await server?.stop();
    await sink?.stop();
  });

  test('sign-up answers 201 without a session token', async () => {
    const username = unique('blocked');
    const { status, body } = await server.rest('POST', 'users', {
      body: { username, password, email: `${username}@example.com` },
    });
    assert.equal(status, 201);
    assert.deepEqual(Object.keys(body).sort(), ['createdAt', 'objectId']);
  });

  test('log-in fails with 205 until the verification link is followed, then succeeds', async () => {
    const { user, username, email } = await signUp('blocked');
    assert.equal(user.getSessionToken(), undefined);

    const error = await expectParseError(Parse.User.logIn(username, password), Parse.Error.EMAIL_NOT_FOUND);
    assert.equal(error.message, 'User email is not verified.');

    const link = linkIn(server, await sink.nextMail(email), 'verify_email');
    assert.deepEqual(await visit(link), { status: 303, location: `${server.serverURL}/apps/verify_email_success.html` });

    const loggedIn = await Parse.User.logIn(username, password);
    assert.equal(loggedIn.id, user.id);
    assert.match(loggedIn.getSessionToken(), /^r:/);
    assert.equal(loggedIn.get('emailVerified'), true);
  });

  test('a wrong password for an unverified user still fails with 101', async () => {
    const { username } = await signUp('blocked');
    await expectParseError(Parse.User.logIn(username, 'wrong password 3'), Parse.Error.OBJECT_NOT_FOUND);
  });
});

// --reset-token-validity-duration is set to show the flag is accepted and fresh links work under
// it; expiry itself is covered by the Rust tests, which inject a clock instead of waiting.
describe('password reset', { skip }, () => {
  const policyMessage = 'The password must contain a digit.';
  let server;
  let sink;

  before(async () => {
    ({ server, sink } = await startWithMail([
      '--reset-token-validity-duration', '3600',
      '--password-policy-pattern', '^.*[0-9].*$',
      '--password-policy-message', policyMessage,
    ]));
  });

  after(async () => {
    await server?.stop();
    await sink?.stop();
  });

  const page = (name) => `${server.serverURL}/apps/${name}`;
  const resetEndpoint = () => `${server.serverURL}/apps/${server.appId}/request_password_reset`;

  /** Signs up a user, asks for a reset with the SDK and returns the user and the link mailed to it. */
  async function requestReset(base = 'reset') {
    const signedUp = await signUp(base);
    await Parse.User.requestPasswordReset(signedUp.email);
    const mail = await sink.nextMail(signedUp.email);
    return { ...signedUp, mail, link: linkIn(server, mail, 'request_password_reset') };
  }

  /** POSTs the reset form as a browser does; the status and Location header. */
  async function submit(token, value) {
    const response = await fetch(resetEndpoint(), {
      method: 'POST',
      redirect: 'manual',
      headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ token, new_password: value }).toString(),
    });
    await response.arrayBuffer();
    return { status: response.status, location: response.headers.get('location') };
  }

  test('requestPasswordReset resolves and mails a reset link naming the app and the user', async () => {
    const { username, email, mail } = await requestReset();
    assert.deepEqual(mail.to, [email]);
    assert.equal(mail.subject, `Password Reset for ${appName}`);
    assert.ok(mail.text.includes(appName) && mail.text.includes(username), mail.text);
  });

  test('link, form and submit reset the password; the old password fails with 101 and old sessions with 209', async () => {
    const { user, username, link } = await requestReset();
    const oldSession = user.getSessionToken();
    const token = link.searchParams.get('token');

    const opened = await visit(link);
    assert.equal(opened.status, 303);
    const choose = new URL(opened.location);
    assert.equal(`${choose.origin}${choose.pathname}`, page('choose_password'));
    assert.deepEqual(Object.fromEntries(choose.searchParams), { token, id: server.appId });

    const response = await fetch(choose);
    assert.equal(response.status, 200);
    assert.match(response.headers.get('content-type'), /^text\/html/);
    const html = await response.text();
    const form = /<form\b[^>]*>/i.exec(html)?.[0];
    assert.ok(form, html);
    assert.match(form, /method="post"/i);
    const action = new URL(/action="([^"]*)"/i.exec(form)[1], choose);
    assert.equal(action.href, resetEndpoint());
    assert.match(html, new RegExp(`<input[^>]*name="token"[^>]*value="${token}"`));
    assert.match(html, /<input[^>]*name="new_password"/);

    assert.deepEqual(await submit(token, newPassword), { status: 303, location: page('password_reset_success.html') });

    const loggedIn = await Parse.User.logIn(username, newPassword);
    assert.equal(loggedIn.id, user.id);
    await expectParseError(Parse.User.logIn(username, password), Parse.Error.OBJECT_NOT_FOUND);
    await expectParseError(Parse.User.me(oldSession), Parse.Error.INVALID_SESSION_TOKEN);
  });

  test('a reset link works once: after use both the link and the form answer 303 to invalid_link.html', async () => {
    const { link } = await requestReset();
    const token = link.searchParams.get('token');
    assert.equal((await submit(token, newPassword)).location, page('password_reset_success.html'));

    const invalid = { status: 303, location: page('invalid_link.html') };
    assert.deepEqual(await visit(link), invalid);
    assert.deepEqual(await submit(token, 'another password 4'), invalid);
  });

  test('two simultaneous submits of one token give exactly one success and one invalid_link', async () => {
    const { username, link } = await requestReset();
    const token = link.searchParams.get('token');

    const results = await Promise.all([submit(token, 'first password 5'), submit(token, 'second password 6')]);
    assert.deepEqual(results.map(({ status }) => status), [303, 303]);
    assert.deepEqual(results.map(({ location }) => location).sort(), [
      page('invalid_link.html'),
      page('password_reset_success.html'),
    ]);
    const winner = results[0].location === page('password_reset_success.html') ? 'first password 5' : 'second password 6';
    const loser = winner === 'first password 5' ? 'second password 6' : 'first password 5';
    await Parse.User.logIn(username, winner);
    await expectParseError(Parse.User.logIn(username, loser), Parse.Error.OBJECT_NOT_FOUND);
  });

  test('a password the policy refuses redirects back to the form with the policy message and changes nothing', async () => {
    const { username, link } = await requestReset();
    const token = link.searchParams.get('token');

    const refused = await submit(token, 'no digits here');
    assert.equal(refused.status, 303);
    const back = new URL(refused.location);
    assert.equal(`${back.origin}${back.pathname}`, page('choose_password'));
    assert.equal(back.searchParams.get('token'), token);
    assert.equal(back.searchParams.get('id'), server.appId);
    assert.equal(back.searchParams.get('error'), policyMessage);

    await Parse.User.logIn(username, password);
    // The link stays usable for a password the policy accepts.
    assert.deepEqual(await submit(token, newPassword), { status: 303, location: page('password_reset_success.html') });
    await Parse.User.logIn(username, newPassword);
  });

  test('requestPasswordReset for an unknown email resolves like a known one', async () => {
    assert.deepEqual(await Parse.User.requestPasswordReset(`${unique('nobody')}@example.com`), {});
  });

  test('POST /requestPasswordReset without an email answers 204, with a non-string 125', async () => {
    const missing = await server.rest('POST', 'requestPasswordReset', { body: {} });
    assert.equal(missing.status, 400);
    assert.deepEqual(missing.body, { code: Parse.Error.EMAIL_MISSING, error: 'you must provide an email' });

    const notString = await server.rest('POST', 'requestPasswordReset', { body: { email: 42 } });
    assert.equal(notString.status, 400);
    assert.equal(notString.body.code, Parse.Error.INVALID_EMAIL_ADDRESS);
  });
});
