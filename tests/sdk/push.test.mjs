// Push notifications: Parse.Push.send and POST /push to channels and to a query, delivered through
// the providers' own protocols to local fakes of APNs, FCM, Web Push and Expo (push-fakes.mjs,
// which check authentication and request shapes as the real services do and decrypt Web Push
// bodies); the payload each provider gets (localized alert and title, per-device badge), the
// _PushStatus a push records (Parse.Push.getPushStatus), tokens reported gone removed from their
// installations, a 429 retried, a provider that is down, scheduled pushes (also across a
// restart), /push_audiences, the push features of /serverInfo, Parse.Push.send from cloud code,
// and the 115 of a server without push configuration. Shapes, codes and messages are Parse
// Server 9.10's (with @parse/push-adapter 8.4.0); where Parse 9.10 does otherwise or cannot be
// pointed at the fakes, the test says so.
//
// Basalt is started with `--push-config <the fakes' configuration>` and SSL_CERT_FILE naming the
// fakes' CA (the APNs and Web Push fakes are HTTPS), and with cloud code defining `notify`.
//
// Against an external server (PARSE_SERVER_URL), that server must send through fakes started from
// one state directory, named here by PUSH_FAKES_STATE_DIR (see /work/ref/parse-server's
// start-push.mjs and README-push.txt): the fakes made there keep their keys and ports, and this
// file starts them again on those ports. It must also define the `notify` cloud function below.
//
// Every test uses its own channels and device tokens, so tests (and reruns against one database)
// do not see each other's deliveries. Nothing waits by sleeping: deliveries are awaited as events
// of the fakes, and a push's status is read until it is final (a bounded poll).

import assert from 'node:assert/strict';
import { createECDH, createPrivateKey, generateKeyPairSync, randomBytes, randomUUID, sign } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import http2 from 'node:http2';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';

import { Parse, isExternalServer, startServer } from './harness.mjs';
import { APNS_KEY_ID, APNS_TEAM_ID, APNS_TOPIC, EXPO_ACCESS_TOKEN, FCM_SCOPE, startPushFakes } from './push-fakes.mjs';

const ece = createRequire(import.meta.url)('http_ece');

/** Cloud code of the `notify` function (written to a temporary main.js for Basalt). */
const NOTIFY_SOURCE = `Parse.Cloud.define('notify', async (req) =>
  Parse.Push.send({ channels: [req.params.channel], data: { alert: 'from cloud' } }, { useMasterKey: true }));
Parse.Cloud.beforeSave(Parse.Installation, (req) => {
  if (!(req.object.get('channels') || []).includes('triggered')) return;
  if (req.object.get('deviceType') === 'win') throw new Parse.Error(Parse.Error.VALIDATION_ERROR, 'no Windows devices here');
  req.object.set('registeredBy', 'cloud');
});
`;

const basaltOnly = isExternalServer && 'needs a Basalt server started by this file';
const useMasterKey = true;
/** Failure bound for a push to reach the fakes or finish; never a wait. */
const deliveryTimeoutMs = 15_000;
/** Failure bound when a provider is down (the server's retries come first). */
const downTimeoutMs = 60_000;

let server;
let fakes;
let workDir;

const unique = (base) => `${base}${randomBytes(4).toString('hex')}`;
const statusId = /^[0-9A-Za-z]{10}$/;

before(async () => {
  const stateDir = process.env.PUSH_FAKES_STATE_DIR;
  if (isExternalServer && !stateDir) {
    throw new Error('against an external server, PUSH_FAKES_STATE_DIR must name the fakes\' state directory the server was configured from');
  }
  fakes = await startPushFakes(isExternalServer ? { stateDir } : {});
  workDir = await mkdtemp(path.join(tmpdir(), 'push-test-'));
  const cloudMain = path.join(workDir, 'main.js');
  await writeFile(cloudMain, NOTIFY_SOURCE);
  server = await startServer({
    args: ['--push-config', JSON.stringify(fakes.pushConfig), '--cloud', cloudMain],
    env: { SSL_CERT_FILE: fakes.caFile },
  });
});

after(async () => {
  await server?.stop();
  await fakes?.stop();
  if (workDir) await rm(workDir, { recursive: true, force: true });
});

// ---------------------------------------------------------------------------------------------
// Helpers.

/**
 * Saves an installation through the SDK (as a device would, no master key). `kind` is 'ios',
 * 'android', 'web' or 'expo' (an iOS device whose pushType is expo); `behaviour` is the fakes'
 * ('ok', 'gone', 'busy', 'bad'). Returns the saved Parse.Installation.
 */
async function device(kind, { channels = [], behaviour = 'ok', token, ...attrs } = {}) {
  const deviceToken = token !== undefined ? token
    : kind === 'web' ? fakes.newWebSubscription(behaviour)
      : fakes.newToken(kind, behaviour);
  const fields = kind === 'expo' ? { deviceType: 'ios', pushType: 'expo', appIdentifier: APNS_TOPIC }
    : kind === 'ios' ? { deviceType: 'ios', appIdentifier: APNS_TOPIC }
      : { deviceType: kind };
  const installation = new Parse.Installation({
    installationId: randomUUID(), ...fields, channels, ...(deviceToken === null ? {} : { deviceToken }), ...attrs,
  });
  await installation.save();
  return installation;
}

/** The provider a device's notifications go through. */
const providerOf = (installation) => (installation.get('pushType') === 'expo' ? 'expo'
  : installation.get('deviceType') === 'ios' ? 'ios' : installation.get('deviceType'));

/** The notifications the fakes accepted for `installation`. */
const deliveriesTo = (installation) => fakes.received[providerOf(installation)]
  .filter((entry) => entry.token === installation.get('deviceToken'));

/** Every request the fakes got for `installation` (accepted or not). */
const attemptsFor = (installation) => fakes.attempts[providerOf(installation)]
  .filter((entry) => entry.token === installation.get('deviceToken'));

/** Waits until every one of `installations` got `count` notifications (each). */
function delivered(installations, { count = 1, timeoutMs = deliveryTimeoutMs } = {}) {
  return fakes.waitFor(() => installations.every((installation) => deliveriesTo(installation).length >= count), timeoutMs,
    `delivery to ${installations.map((i) => `${providerOf(i)} ${i.id}`).join(', ')}`);
}

/** Waits until every one of `installations` had a request answered (whatever the answer). */
function attempted(installations, timeoutMs = deliveryTimeoutMs) {
  return fakes.waitFor(() => installations.every((installation) => attemptsFor(installation).length > 0), timeoutMs,
    `requests for ${installations.map((i) => `${providerOf(i)} ${i.id}`).join(', ')}`);
}

/** Reads the push's _PushStatus until its status is one of `statuses` (a bounded poll). */
async function pushStatus(id, { statuses = ['succeeded', 'failed'], timeoutMs = deliveryTimeoutMs } = {}) {
  const deadline = Date.now() + timeoutMs;
  let status;
  for (;;) {
    status = await Parse.Push.getPushStatus(id, { useMasterKey });
    if (statuses.includes(status.get('status')) || Date.now() > deadline) break;
    await delay(50);
  }
  assert.ok(statuses.includes(status.get('status')),
    `push ${id} still ${status.get('status')} after ${timeoutMs} ms: ${JSON.stringify(status.toJSON())}`);
  return status;
}

/** An installation as the master key reads it (REST, so fields the SDK would hide stay visible). */
async function row(installation) {
  const { status, body } = await server.rest('GET', `installations/${installation.id}`, { master: true });
  assert.equal(status, 200, JSON.stringify(body));
  return body;
}

/** Reads `installation` until `predicate(row)` holds (a bounded poll); returns the row. */
async function rowUntil(installation, predicate, what, timeoutMs = deliveryTimeoutMs) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const current = await row(installation);
    if (predicate(current)) return current;
    if (Date.now() > deadline) assert.fail(`installation ${installation.id}: no ${what} within ${timeoutMs} ms: ${JSON.stringify(current)}`);
    await delay(50);
  }
}

/** FCM data as the Parse Android SDK reads it (RemoteMessage.getData(): message.data and android.data). */
const fcmData = (message) => ({ ...message.data, ...message.android?.data });

/**
 * The 403 of a master-key route without the master key: Parse Server 9.10 sanitises it to
 * "Permission denied"; Basalt names what is missing (README, "Differences").
 */
const masterKeyRequired = isExternalServer ? 'Permission denied' : 'unauthorized: master key is required';

/** Keys of a payload that carry a locale (`alert-fr`, `title-fr`): Parse strips them. */
const localeKeys = (object) => Object.keys(object ?? {}).filter((key) => /^(alert|title)-/.test(key));

// ---------------------------------------------------------------------------------------------

describe('Parse.Push.send to channels', () => {
  test('reaches exactly the devices in the channel, each provider with its payload: localized alert and title, badge incremented per iOS device', async () => {
    const channel = unique('news');
    const iosEnglish = await device('ios', { channels: [channel], localeIdentifier: 'en-US' });
    const iosFrench = await device('ios', { channels: [channel, unique('other')], localeIdentifier: 'fr-FR', badge: 5 });
    const android = await device('android', { channels: [channel] });
    const web = await device('web', { channels: [channel] });
    const expo = await device('expo', { channels: [channel] });
    const elsewhere = await device('ios', { channels: [unique('elsewhere')] });
    const noToken = await device('android', { channels: [channel], token: null });

    const id = await Parse.Push.send({
      channels: [channel],
      data: {
        alert: 'hello', title: 'Greetings', badge: 'Increment', sound: 'default', custom: 'x',
        'alert-fr': 'bonjour', 'title-fr': 'Salutations',
      },
    }, { useMasterKey });
    assert.match(id, statusId);
    await delivered([iosEnglish, iosFrench, android, web, expo]);

    // APNs: one request per device, its badge, its language; custom keys beside aps.
    const [toEnglish] = deliveriesTo(iosEnglish);
    assert.deepEqual(toEnglish.payload, {
      aps: { alert: { title: 'Greetings', body: 'hello' }, badge: 1, sound: 'default' }, custom: 'x',
    });
    const [toFrench] = deliveriesTo(iosFrench);
    assert.deepEqual(toFrench.payload, {
      aps: { alert: { title: 'Salutations', body: 'bonjour' }, badge: 6, sound: 'default' }, custom: 'x',
    });
    for (const { headers } of [toEnglish, toFrench]) {
      assert.equal(headers['apns-topic'], APNS_TOPIC);
      assert.equal(headers['apns-push-type'], 'alert');
      assert.equal(headers['apns-priority'], '10');
    }

    // FCM: a data message as the Parse Android SDK reads it (push_id, time, data = the JSON).
    const [toAndroid] = deliveriesTo(android);
    const data = fcmData(toAndroid.payload);
    assert.equal(toAndroid.payload.token, android.get('deviceToken'));
    assert.equal(typeof data.push_id, 'string');
    assert.ok(!Number.isNaN(Date.parse(data.time)), `time ${data.time}`);
    const androidData = JSON.parse(data.data);
    assert.equal(androidData.alert, 'hello');
    assert.equal(androidData.title, 'Greetings');
    assert.equal(androidData.sound, 'default');
    assert.equal(androidData.custom, 'x');
    assert.deepEqual(localeKeys(androidData), []);
    assert.equal(toAndroid.payload.android?.priority?.toLowerCase(), 'high');

    // Web Push: the decrypted body is the push data as JSON.
    const [toWeb] = deliveriesTo(web);
    assert.equal(toWeb.payload.alert, 'hello');
    assert.equal(toWeb.payload.title, 'Greetings');
    assert.equal(toWeb.payload.sound, 'default');
    assert.equal(toWeb.payload.custom, 'x');
    assert.deepEqual(localeKeys(toWeb.payload), []);

    // Expo: alert as body.
    const [toExpo] = deliveriesTo(expo);
    assert.equal(toExpo.payload.to, expo.get('deviceToken'));
    assert.equal(toExpo.payload.body, 'hello');
    assert.equal(toExpo.payload.title, 'Greetings');
    assert.deepEqual(localeKeys(toExpo.payload), []);

    // The iOS badges were incremented in the installations too.
    assert.equal((await row(iosEnglish)).badge, 1);
    assert.equal((await row(iosFrench)).badge, 6);

    // Parse 9.10 on PostgreSQL ends a push sent in several groups (here per badge and language)
    // as 'running' with count -1 (each group's tracking decrements the one batch count), so the
    // final status is checked on Basalt only; the single-group push below checks it on both.
    if (!isExternalServer) {
      const status = await pushStatus(id);
      assert.equal(status.get('status'), 'succeeded');
      assert.equal(status.get('numSent'), 5);
      assert.equal(status.get('numFailed'), undefined);
      assert.deepEqual(status.get('sentPerType'), { ios: 3, android: 1, web: 1 });
      assert.equal(status.get('failedPerType'), undefined);
      const { body } = await server.rest('GET', `classes/_PushStatus/${id}`, { master: true });
      assert.deepEqual(Object.keys(body).sort(), [
        'ACL', 'createdAt', 'numSent', 'objectId', 'payload', 'pushHash', 'pushTime', 'query', 'sentPerType', 'source',
        'status', 'updatedAt',
      ]);
    }
    assert.deepEqual(deliveriesTo(elsewhere), []);
    assert.deepEqual(attemptsFor(elsewhere), []);
    assert.equal(noToken.get('deviceToken'), undefined);
    for (const installation of [iosEnglish, iosFrench, android, web, expo]) {
      assert.equal(deliveriesTo(installation).length, 1, `${providerOf(installation)} got one notification`);
    }
  });

  test('Parse.Push.getPushStatus: succeeded with numSent, numFailed, sentPerType and failedPerType', async () => {
    const channel = unique('status');
    const ok = [await device('ios', { channels: [channel] }), await device('android', { channels: [channel] }),
      await device('web', { channels: [channel] }), await device('expo', { channels: [channel] })];
    const gone = [await device('ios', { channels: [channel], behaviour: 'gone' }),
      await device('android', { channels: [channel], behaviour: 'gone' })];

    const id = await Parse.Push.send({ channels: [channel], data: { alert: 'status check' } }, { useMasterKey });
    await delivered(ok);
    const status = await pushStatus(id);
    assert.equal(status.id, id);
    assert.equal(status.get('status'), 'succeeded');
    assert.equal(status.get('source'), 'rest');
    assert.deepEqual(JSON.parse(status.get('query')), { channels: { $in: [channel] } });
    assert.deepEqual(JSON.parse(status.get('payload')), { alert: 'status check' });
    assert.equal(status.get('pushHash'), 'dbe521bbe4b6dad663b761d57d49617e'); // md5('status check')
    assert.equal(status.get('numSent'), 4);
    assert.equal(status.get('numFailed'), 2);
    // Parse counts by deviceType: the Expo device is an iOS device.
    assert.deepEqual(status.get('sentPerType'), { ios: 2, android: 1, web: 1 });
    assert.deepEqual(status.get('failedPerType'), { ios: 1, android: 1 });
    assert.ok(status.get('pushTime'));
    // The stored row, as REST reads it: Parse removes `count` (batches left) once it is done.
    const { body } = await server.rest('GET', `classes/_PushStatus/${id}`, { master: true });
    assert.deepEqual(Object.keys(body).sort(), [
      'ACL', 'createdAt', 'failedPerType', 'numFailed', 'numSent', 'objectId', 'payload', 'pushHash', 'pushTime',
      'query', 'sentPerType', 'source', 'status', 'updatedAt',
    ]);
    assert.deepEqual(body.ACL, {});
  });

  test('a push that matches no installation succeeds with numSent 0', async () => {
    const id = await Parse.Push.send({ channels: [unique('empty')], data: { alert: 'nobody', title: 'T' } }, { useMasterKey });
    const status = await pushStatus(id);
    assert.equal(status.get('status'), 'succeeded');
    const { body } = await server.rest('GET', `classes/_PushStatus/${id}`, { master: true });
    assert.deepEqual(Object.keys(body).sort(), [
      'ACL', 'createdAt', 'numSent', 'objectId', 'payload', 'pushHash', 'pushTime', 'query', 'source', 'status', 'updatedAt',
    ]);
    assert.equal(body.numSent, 0);
  });

  test('Parse.Push.send with a where query reaches only the installations it matches', async () => {
    const channel = unique('where');
    const chosen = await device('android', { channels: [channel] });
    const other = await device('android', { channels: [channel] });
    const id = await Parse.Push.send({
      where: new Parse.Query(Parse.Installation).equalTo('installationId', chosen.get('installationId')),
      data: { alert: 'just you' },
    }, { useMasterKey });
    await delivered([chosen]);
    const status = await pushStatus(id);
    assert.equal(status.get('numSent'), 1);
    assert.deepEqual(status.get('sentPerType'), { android: 1 });
    assert.deepEqual(JSON.parse(status.get('query')), { installationId: chosen.get('installationId') });
    assert.equal(JSON.parse(fcmData(deliveriesTo(chosen)[0].payload).data).alert, 'just you');
    assert.deepEqual(attemptsFor(other), []);
  });

  test('one APNs connection and one provider token carry a push to many devices; one FCM access token too', async () => {
    const channel = unique('many');
    const phones = [];
    for (let i = 0; i < 10; i += 1) phones.push(await device('ios', { channels: [channel] }));
    const androids = [];
    for (let i = 0; i < 5; i += 1) androids.push(await device('android', { channels: [channel] }));
    const id = await Parse.Push.send({ channels: [channel], data: { alert: 'to all' } }, { useMasterKey });
    await delivered([...phones, ...androids]);
    const apns = phones.map((phone) => deliveriesTo(phone)[0]);
    assert.equal(new Set(apns.map((entry) => entry.connection)).size, 1, 'HTTP/2 connections used');
    assert.equal(new Set(apns.map((entry) => entry.headers.authorization)).size, 1, 'APNs provider tokens used');
    const fcm = androids.map((phone) => deliveriesTo(phone)[0]);
    assert.equal(new Set(fcm.map((entry) => entry.headers.authorization)).size, 1, 'FCM access tokens used');
    await pushStatus(id);
  });
});

describe('what the providers answer', () => {
  test('tokens APNs and FCM report unregistered are removed from their installations', async () => {
    const channel = unique('gone');
    const ios = await device('ios', { channels: [channel], behaviour: 'gone' });
    const android = await device('android', { channels: [channel], behaviour: 'gone' });
    const kept = await device('ios', { channels: [channel] });
    const id = await Parse.Push.send({ channels: [channel], data: { alert: 'anyone there?' } }, { useMasterKey });
    await attempted([ios, android, kept]);
    assert.equal(attemptsFor(ios)[0].status, 410);
    assert.equal(attemptsFor(android)[0].status, 404);
    await pushStatus(id);
    for (const installation of [ios, android]) {
      const current = await rowUntil(installation, (r) => r.deviceToken === undefined, 'removal of its deviceToken');
      assert.equal(current.installationId, installation.get('installationId'));
      assert.deepEqual(current.channels, [channel]);
    }
    assert.equal((await row(kept)).deviceToken, kept.get('deviceToken'));
  });

  // Parse 9.10's adapter keeps these: it compares Expo's ticket message (a sentence) with
  // 'DeviceNotRegistered', and passes web-push's error body, not the status, on.
  test('Web Push and Expo subscriptions reported gone are removed too', { skip: basaltOnly }, async () => {
    const channel = unique('gone');
    const web = await device('web', { channels: [channel], behaviour: 'gone' });
    const expo = await device('expo', { channels: [channel], behaviour: 'gone' });
    const id = await Parse.Push.send({ channels: [channel], data: { alert: 'anyone there?' } }, { useMasterKey });
    await attempted([web, expo]);
    const status = await pushStatus(id);
    assert.equal(status.get('numFailed'), 2);
    for (const installation of [web, expo]) {
      await rowUntil(installation, (r) => r.deviceToken === undefined, 'removal of its deviceToken');
    }
  });

  // Parse 9.10: node-apn retries a 429 (without waiting: it reads 'Retry-After' from HTTP/2 headers,
  // which are lower case) and so does expo-server-sdk; firebase-admin retries only 503 and
  // web-push never retries.
  const retriedByParse = new Set(['ios', 'expo']);
  for (const kind of ['ios', 'android', 'web', 'expo']) {
    test(`${kind}: a 429 with Retry-After: 1 is retried after that second and delivered once`, {
      skip: isExternalServer && !retriedByParse.has(kind) && 'Parse 9.10 does not retry a 429 from this provider',
    }, async () => {
      const channel = unique('busy');
      const busy = await device(kind, { channels: [channel], behaviour: 'busy' });
      const id = await Parse.Push.send({ channels: [channel], data: { alert: 'try again' } }, { useMasterKey });
      await delivered([busy]);
      const [first, second, ...more] = attemptsFor(busy);
      assert.equal(first.status, 429);
      assert.ok([200, 201].includes(second.status), `retry answered ${second.status}`);
      assert.deepEqual(more, []);
      if (!isExternalServer) assert.ok(second.at - first.at >= 900, `retried ${second.at - first.at} ms after the 429`);
      const status = await pushStatus(id);
      assert.equal(status.get('numSent'), 1);
      assert.equal(status.get('numFailed'), undefined);
      assert.equal(deliveriesTo(busy).length, 1);
    });
  }

  test('a provider that is down: its devices count as failed, the others are sent', async () => {
    const channel = unique('down');
    const phones = [await device('ios', { channels: [channel] }), await device('ios', { channels: [channel] })];
    const web = await device('web', { channels: [channel] });
    fakes.setDown('ios', 'reset');
    try {
      const id = await Parse.Push.send({ channels: [channel], data: { alert: 'is APNs there?' } }, { useMasterKey });
      await delivered([web]);
      const status = await pushStatus(id, { timeoutMs: downTimeoutMs });
      assert.equal(status.get('status'), 'succeeded');
      assert.equal(status.get('numSent'), 1);
      assert.equal(status.get('numFailed'), 2);
      assert.deepEqual(status.get('sentPerType'), { web: 1 });
      assert.deepEqual(status.get('failedPerType'), { ios: 2 });
      for (const phone of phones) assert.deepEqual(deliveriesTo(phone), []);
    } finally {
      fakes.setDown('ios', false);
    }
    // Back up: the next push goes through (a new connection).
    const later = await device('ios', { channels: [unique('up')] });
    await Parse.Push.send({ channels: later.get('channels'), data: { alert: 'back' } }, { useMasterKey });
    await delivered([later]);
    // The tokens of the devices a provider could not be reached for are kept.
    for (const phone of phones) assert.equal((await row(phone)).deviceToken, phone.get('deviceToken'));
  });
});

describe('scheduled pushes', { skip: basaltOnly }, () => {
  // Parse 9.10 does not send scheduled pushes itself: with `scheduledPush: true` it records them as
  // 'scheduled' for another process to send, without it it sends them at once.

  /** A push_time `seconds` ahead, on a whole second. */
  const secondsAhead = (seconds) => new Date((Math.floor(Date.now() / 1000) + seconds + 1) * 1000);

  test('a push with push_time is not delivered before its time, and within a second after it', async () => {
    const channel = unique('later');
    const phone = await device('ios', { channels: [channel] });
    const web = await device('web', { channels: [channel] });
    const pushTime = secondsAhead(2);
    const id = await Parse.Push.send({ channels: [channel], push_time: pushTime, data: { alert: 'on time' } }, { useMasterKey });
    const scheduled = await Parse.Push.getPushStatus(id, { useMasterKey });
    assert.equal(scheduled.get('status'), 'scheduled');
    assert.equal(scheduled.get('pushTime'), pushTime.toISOString());
    await delivered([phone, web], { timeoutMs: pushTime - Date.now() + 5_000 });
    for (const installation of [phone, web]) {
      const [{ at }] = deliveriesTo(installation);
      assert.ok(at >= pushTime.getTime(), `delivered ${pushTime.getTime() - at} ms before push_time`);
      assert.ok(at <= pushTime.getTime() + 1_000, `delivered ${at - pushTime.getTime()} ms after push_time`);
    }
    const status = await pushStatus(id);
    assert.equal(status.get('numSent'), 2);
  });

  // The harness has no restart: a second server on the same SQLite file (named by --database-uri;
  // the harness's own data directories differ) stands in for it. With BASALT_TEST_DATABASE_URI
  // the harness names the database itself, so the test cannot.
  test('a push scheduled before a restart is delivered once by the restarted server', {
    skip: process.env.BASALT_TEST_DATABASE_URI && 'needs the SQLite store (the harness names the PostgreSQL database)',
  }, async () => {
    const database = path.join(workDir, 'restart.sqlite3');
    const args = ['--push-config', JSON.stringify(fakes.pushConfig), '--database-uri', `sqlite://${database}`];
    const first = await startServer({ args, env: { SSL_CERT_FILE: fakes.caFile } });
    let second;
    try {
      const channel = unique('restart');
      const token = fakes.newToken('ios');
      const created = await first.rest('POST', 'installations', {
        body: { installationId: randomUUID(), deviceType: 'ios', appIdentifier: APNS_TOPIC, deviceToken: token, channels: [channel] },
      });
      assert.equal(created.status, 201, JSON.stringify(created.body));
      const pushTime = secondsAhead(3);
      const sent = await first.rest('POST', 'push', {
        master: true, body: { channels: [channel], push_time: pushTime.toISOString(), data: { alert: 'survived' } },
      });
      assert.equal(sent.status, 200, JSON.stringify(sent.body));
      const id = sent.headers['x-parse-push-status-id'];
      await first.stop();
      assert.ok(Date.now() < pushTime.getTime(), 'the first server stopped before push_time');
      assert.deepEqual(fakes.attempts.ios.filter((a) => a.token === token), []);

      second = await startServer({ args, env: { SSL_CERT_FILE: fakes.caFile } });
      await fakes.waitFor(() => fakes.received.ios.some((entry) => entry.token === token),
        pushTime - Date.now() + 10_000, 'the scheduled push after the restart');
      const deadline = Date.now() + deliveryTimeoutMs;
      let status;
      do {
        status = (await second.rest('GET', `classes/_PushStatus/${id}`, { master: true })).body;
        if (status.status === 'succeeded') break;
        await delay(50);
      } while (Date.now() < deadline);
      assert.equal(status.status, 'succeeded', JSON.stringify(status));
      assert.equal(status.numSent, 1);
      const deliveries = fakes.received.ios.filter((entry) => entry.token === token);
      assert.equal(deliveries.length, 1);
      assert.ok(deliveries[0].at >= pushTime.getTime(), 'not before push_time');
      assert.equal(deliveries[0].payload.aps.alert, 'survived');
    } finally {
      await first.stop();
      await second?.stop();
      Parse.serverURL = server.serverURL;
    }
  });
});

describe('POST /push over REST', () => {
  test('answers {result: true} with the status id in X-Parse-Push-Status-Id, exposed to browsers', async () => {
    const channel = unique('rest');
    const phone = await device('android', { channels: [channel] });
    const { status, headers, body } = await server.rest('POST', 'push', {
      master: true, headers: { Origin: 'http://example.com' }, body: { channels: [channel], data: { alert: 'raw' } },
    });
    assert.equal(status, 200);
    assert.deepEqual(body, { result: true });
    const id = headers['x-parse-push-status-id'];
    assert.match(id, statusId);
    assert.match(headers['access-control-expose-headers'] ?? '', /\bX-Parse-Push-Status-Id\b/i);
    await delivered([phone]);
    const pushed = await pushStatus(id);
    assert.equal(pushed.get('numSent'), 1);
  });

  test('without the master key: 403, nothing sent', async () => {
    const channel = unique('nokey');
    const phone = await device('ios', { channels: [channel] });
    const { status, body } = await server.rest('POST', 'push', { body: { channels: [channel], data: { alert: 'sneaky' } } });
    assert.equal(status, 403);
    assert.deepEqual(body, { error: masterKeyRequired });
    // The SDK turns the code-less answer into an error without a code.
    await assert.rejects(Parse.Push.send({ channels: [channel], data: { alert: 'sneaky' } }, { useMasterKey: false }),
      (error) => error.message === masterKeyRequired && error.code === undefined);
    assert.deepEqual(attemptsFor(phone), []);
  });
});

describe('/push_audiences', () => {
  test('create, list, read, update and delete; the query is stored as a string and answered as an object', async () => {
    const name = unique('audience');
    const created = await server.rest('POST', 'push_audiences', {
      master: true, body: { name, query: JSON.stringify({ localeIdentifier: 'fr-FR' }) },
    });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    assert.deepEqual(Object.keys(created.body).sort(), ['createdAt', 'objectId']);
    const id = created.body.objectId;

    const listed = await server.rest('GET', 'push_audiences', { master: true });
    assert.equal(listed.status, 200);
    const mine = listed.body.results.find((audience) => audience.objectId === id);
    assert.deepEqual({ name: mine.name, query: mine.query }, { name, query: { localeIdentifier: 'fr-FR' } });

    const read = await server.rest('GET', `push_audiences/${id}`, { master: true });
    assert.equal(read.status, 200);
    assert.deepEqual(Object.keys(read.body).sort(), ['createdAt', 'name', 'objectId', 'query', 'updatedAt']);
    assert.deepEqual(read.body.query, { localeIdentifier: 'fr-FR' });

    const updated = await server.rest('PUT', `push_audiences/${id}`, {
      master: true, body: { name: `${name}-2`, query: JSON.stringify({ deviceType: 'ios' }) },
    });
    assert.equal(updated.status, 200, JSON.stringify(updated.body));
    assert.deepEqual(Object.keys(updated.body), ['updatedAt']);
    const reread = await server.rest('GET', `push_audiences/${id}`, { master: true });
    assert.deepEqual({ name: reread.body.name, query: reread.body.query }, { name: `${name}-2`, query: { deviceType: 'ios' } });

    const deleted = await server.rest('DELETE', `push_audiences/${id}`, { master: true });
    assert.equal(deleted.status, 200);
    assert.deepEqual(deleted.body, {});
    const missing = await server.rest('GET', `push_audiences/${id}`, { master: true });
    assert.equal(missing.status, 404);
    assert.deepEqual(missing.body, { code: 101, error: 'Object not found.' });
  });

  test('a query given as an object is refused (111); without the master key, 403', async () => {
    const asObject = await server.rest('POST', 'push_audiences', {
      master: true, body: { name: unique('audience'), query: { deviceType: 'ios' } },
    });
    assert.equal(asObject.status, 400);
    assert.deepEqual(asObject.body, { code: 111, error: 'schema mismatch for _Audience.query; expected String but got Object' });
    const anonymous = await server.rest('GET', 'push_audiences');
    assert.equal(anonymous.status, 403);
    assert.deepEqual(anonymous.body, { error: masterKeyRequired });
  });

  test('a push naming audience_id counts a use of the audience (timesUsed, lastUsed)', async () => {
    const channel = unique('aud');
    const phone = await device('web', { channels: [channel] });
    // { channels: channel } would do on Mongo; Parse 9.10 on PostgreSQL fails it (invalid JSON).
    const where = { channels: { $in: [channel] } };
    const created = await server.rest('POST', 'push_audiences', {
      master: true, body: { name: unique('audience'), query: JSON.stringify(where) },
    });
    const id = created.body.objectId;
    const before = Date.now();
    const sent = await server.rest('POST', 'push', { master: true, body: { where, audience_id: id, data: { alert: 'audience' } } });
    assert.equal(sent.status, 200, JSON.stringify(sent.body));
    await delivered([phone]);
    const deadline = Date.now() + deliveryTimeoutMs;
    let audience;
    do {
      audience = (await server.rest('GET', `push_audiences/${id}`, { master: true })).body;
      if (audience.timesUsed === 1) break;
      await delay(50);
    } while (Date.now() < deadline);
    assert.equal(audience.timesUsed, 1, JSON.stringify(audience));
    assert.equal(audience.lastUsed?.__type, 'Date');
    assert.ok(Date.parse(audience.lastUsed.iso) >= before - 1_000, JSON.stringify(audience.lastUsed));
  });
});

describe('/serverInfo', () => {
  test('features.push: every push feature is on with push configured', async () => {
    const { status, body } = await server.rest('GET', 'serverInfo', { master: true });
    assert.equal(status, 200);
    // Parse 9.10 says scheduledPush only with `scheduledPush: true`, which makes it leave
    // scheduled pushes to another process; the reference server is started without it.
    assert.deepEqual(body.features.push, {
      immediatePush: true, scheduledPush: !isExternalServer, storedPushData: true, pushAudiences: true, localization: true,
    });
  });
});

describe('cloud code', () => {
  test('Parse.Push.send in a function called from the SDK delivers and answers the status id', async () => {
    const channel = unique('cloud');
    const phone = await device('ios', { channels: [channel] });
    const id = await Parse.Cloud.run('notify', { channel });
    assert.match(id, statusId);
    await delivered([phone]);
    assert.equal(deliveriesTo(phone)[0].payload.aps.alert, 'from cloud');
    const status = await pushStatus(id);
    assert.equal(status.get('numSent'), 1);
  });
});

describe('triggers on installations', () => {
  test('a beforeSave on Parse.Installation changes and refuses installations as on any class', async () => {
    const tagged = await device('android', { channels: ['triggered'] });
    await tagged.fetch();
    assert.equal(tagged.get('registeredBy'), 'cloud');
    await assert.rejects(device('win', { channels: ['triggered'], token: 'a-windows-token' }),
      (error) => error.code === Parse.Error.VALIDATION_ERROR && error.message === 'no Windows devices here');
  });
});

describe('a server without push configuration', { skip: basaltOnly }, () => {
  test('POST /push answers 115 "Missing push configuration"; /serverInfo says push is off', async () => {
    const saved = process.env.PARSE_SERVER_PUSH;
    delete process.env.PARSE_SERVER_PUSH;
    const plain = await startServer();
    try {
      const sent = await plain.rest('POST', 'push', { master: true, body: { channels: ['any'], data: { alert: 'nobody' } } });
      assert.equal(sent.status, 400);
      assert.deepEqual(sent.body, { code: 115, error: 'Missing push configuration' });
      const info = await plain.rest('GET', 'serverInfo', { master: true });
      assert.deepEqual(info.body.features.push, {
        immediatePush: false, scheduledPush: false, storedPushData: false, pushAudiences: true, localization: true,
      });
    } finally {
      await plain.stop();
      if (saved !== undefined) process.env.PARSE_SERVER_PUSH = saved;
      Parse.serverURL = server.serverURL;
    }
  });
});

describe('the fakes', () => {
  test('refused no request from the server for bad authentication or a malformed body', () => {
    assert.deepEqual(fakes.rejected, { ios: [], android: [], web: [], expo: [] }, fakes.summary());
  });
});

// The fakes themselves, on their own instance: they refuse what the real services refuse.
describe('the push fakes refuse what the real services refuse', () => {
  let own;
  before(async () => {
    own = await startPushFakes();
  });
  after(() => own?.stop());

  const part = (object) => Buffer.from(JSON.stringify(object)).toString('base64url');
  const jws = (header, claims, key, dsaEncoding) => {
    const input = `${part(header)}.${part(claims)}`;
    return `${input}.${sign('sha256', Buffer.from(input), dsaEncoding ? { key, dsaEncoding } : key).toString('base64url')}`;
  };
  const now = () => Math.floor(Date.now() / 1000);

  test('APNs: provider token signature, kid, iss and age; topic; device token', async () => {
    const key = createPrivateKey(await readFile(own.pushConfig.ios.token.key));
    const otherKey = generateKeyPairSync('ec', { namedCurve: 'prime256v1' }).privateKey;
    const good = jws({ alg: 'ES256', kid: APNS_KEY_ID }, { iss: APNS_TEAM_ID, iat: now() }, key, 'ieee-p1363');
    const session = http2.connect(own.urls.ios, { ca: await readFile(own.caFile) });
    const send = (token, authorization, headers = { 'apns-topic': APNS_TOPIC }) => new Promise((resolve, reject) => {
      const request = session.request({ ':method': 'POST', ':path': `/3/device/${token}`, ...(authorization ? { authorization } : {}), ...headers });
      let status;
      let body = '';
      request.on('response', (h) => { status = h[':status']; });
      request.on('data', (chunk) => { body += chunk; });
      request.on('end', () => resolve({ status, reason: body ? JSON.parse(body).reason : undefined }));
      request.on('error', reject);
      request.end(JSON.stringify({ aps: { alert: 'x' } }));
    });
    try {
      const token = own.newToken('ios');
      assert.deepEqual(await send(token, `bearer ${good}`), { status: 200, reason: undefined });
      assert.deepEqual(await send(token, undefined), { status: 403, reason: 'MissingProviderToken' });
      assert.deepEqual(await send(token, `bearer ${jws({ alg: 'ES256', kid: APNS_KEY_ID }, { iss: APNS_TEAM_ID, iat: now() }, otherKey, 'ieee-p1363')}`),
        { status: 403, reason: 'InvalidProviderToken' });
      assert.deepEqual(await send(token, `bearer ${jws({ alg: 'ES256', kid: APNS_KEY_ID }, { iss: APNS_TEAM_ID, iat: now() }, key, 'der')}`),
        { status: 403, reason: 'InvalidProviderToken' }, 'a DER signature');
      assert.deepEqual(await send(token, `bearer ${jws({ alg: 'ES256', kid: 'OTHERKEYID' }, { iss: APNS_TEAM_ID, iat: now() }, key, 'ieee-p1363')}`),
        { status: 403, reason: 'InvalidProviderToken' });
      assert.deepEqual(await send(token, `bearer ${jws({ alg: 'ES256', kid: APNS_KEY_ID }, { iss: 'OTHERTEAM1', iat: now() }, key, 'ieee-p1363')}`),
        { status: 403, reason: 'InvalidProviderToken' });
      assert.deepEqual(await send(token, `bearer ${jws({ alg: 'ES256', kid: APNS_KEY_ID }, { iss: APNS_TEAM_ID, iat: now() - 7200 }, key, 'ieee-p1363')}`),
        { status: 403, reason: 'ExpiredProviderToken' });
      assert.deepEqual(await send(token, `bearer ${good}`, {}), { status: 400, reason: 'MissingTopic' });
      assert.deepEqual(await send(token, `bearer ${good}`, { 'apns-topic': 'com.other.app' }), { status: 400, reason: 'TopicDisallowed' });
      assert.deepEqual(await send('not-hex', `bearer ${good}`), { status: 400, reason: 'BadDeviceToken' });
      assert.deepEqual(await send(own.newToken('ios', 'gone'), `bearer ${good}`), { status: 410, reason: 'Unregistered' });
    } finally {
      session.close();
    }
  });

  test('FCM: the JWT-bearer exchange at token_uri, then messages:send with its access token', async () => {
    const account = JSON.parse(await readFile(own.pushConfig.android.firebaseServiceAccount, 'utf8'));
    const key = createPrivateKey(account.private_key);
    const exchange = (claims, signingKey = key) => fetch(account.token_uri, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({
        grant_type: 'urn:ietf:params:oauth:grant-type:jwt-bearer',
        assertion: jws({ alg: 'RS256', typ: 'JWT' }, { iss: account.client_email, scope: FCM_SCOPE, aud: account.token_uri, iat: now(), exp: now() + 3600, ...claims }, signingKey),
      }),
    });
    const otherKey = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey;
    assert.equal((await (await exchange({}, otherKey)).json()).error_description, 'Invalid JWT Signature.');
    assert.equal((await exchange({ aud: 'https://oauth2.googleapis.com/token' })).status, 400);
    assert.equal((await exchange({ iss: 'someone@else.iam.gserviceaccount.com' })).status, 400);
    assert.equal((await exchange({ exp: now() + 7200 })).status, 400);
    const granted = await exchange({});
    assert.equal(granted.status, 200);
    const { access_token: accessToken, token_type: tokenType } = await granted.json();
    assert.equal(tokenType, 'Bearer');
    const send = (message, bearer = accessToken) => fetch(`${own.urls.android}/v1/projects/${account.project_id}/messages:send`, {
      method: 'POST', headers: { authorization: `Bearer ${bearer}`, 'content-type': 'application/json' }, body: JSON.stringify({ message }),
    });
    const token = own.newToken('android');
    assert.equal((await send({ token, data: { a: 'b' } }, 'ya29.forged')).status, 401);
    const numberData = await send({ token, data: { badge: 1 } });
    assert.equal(numberData.status, 400);
    assert.equal((await numberData.json()).error.status, 'INVALID_ARGUMENT');
    assert.equal((await send({ token, unknownField: 1 })).status, 400);
    assert.equal((await send({ token, android: { ttl: 3600 } })).status, 400);
    const ok = await send({ token, data: { a: 'b' }, notification: { title: 't', body: 'b' }, android: { priority: 'high', ttl: '3600s' } });
    assert.equal(ok.status, 200);
    assert.match((await ok.json()).name, new RegExp(`^projects/${account.project_id}/messages/`));
    const gone = await send({ token: own.newToken('android', 'gone'), data: { a: 'b' } });
    assert.equal(gone.status, 404);
    assert.equal((await gone.json()).error.details[0].errorCode, 'UNREGISTERED');
  });

  test('Web Push: VAPID signature, key, audience and expiry; TTL; the aes128gcm body decrypts', async () => {
    const { publicKey, privateKey } = own.pushConfig.web.vapidDetails;
    const vapidKey = createPrivateKey({ key: {
      kty: 'EC', crv: 'P-256', d: privateKey,
      x: Buffer.from(publicKey, 'base64url').subarray(1, 33).toString('base64url'),
      y: Buffer.from(publicKey, 'base64url').subarray(33).toString('base64url'),
    }, format: 'jwk' });
    const subscription = JSON.parse(own.newWebSubscription());
    const origin = new URL(subscription.endpoint).origin;
    const vapid = (claims, key = vapidKey, k = publicKey) => `vapid t=${jws({ typ: 'JWT', alg: 'ES256' },
      { aud: origin, exp: now() + 3600, sub: 'mailto:ops@example.com', ...claims }, key, 'ieee-p1363')}, k=${k}`;
    const sender = createECDH('prime256v1');
    sender.generateKeys();
    const body = ece.encrypt(Buffer.from(JSON.stringify({ alert: 'hi' })), {
      version: 'aes128gcm', privateKey: sender, dh: subscription.keys.p256dh, authSecret: subscription.keys.auth,
    });
    const session = http2.connect(origin, { ca: await readFile(own.caFile) });
    const post = (headers, payload = body, path = new URL(subscription.endpoint).pathname) => new Promise((resolve, reject) => {
      const request = session.request({ ':method': 'POST', ':path': path, ...headers });
      let status;
      request.on('response', (h) => { status = h[':status']; });
      request.on('data', () => {});
      request.on('end', () => resolve(status));
      request.on('error', reject);
      request.end(payload);
    });
    const headers = (authorization) => ({ authorization, ttl: '60', 'content-encoding': 'aes128gcm' });
    try {
      const otherKey = generateKeyPairSync('ec', { namedCurve: 'prime256v1' }).privateKey;
      assert.equal(await post(headers(vapid({}, otherKey))), 403, 'signed with another key');
      assert.equal(await post(headers(vapid({ aud: 'https://push.example.com' }))), 403, 'another audience');
      assert.equal(await post(headers(vapid({ exp: now() - 10 }))), 403, 'expired');
      assert.equal(await post(headers(vapid({ exp: now() + 48 * 3600 }))), 403, 'more than 24 h ahead');
      assert.equal(await post({ authorization: vapid({}), 'content-encoding': 'aes128gcm' }), 400, 'no TTL');
      assert.equal(await post({ ...headers(vapid({})), 'content-encoding': 'aesgcm' }), 415, 'the old encoding');
      assert.equal(await post(headers(vapid({})), Buffer.concat([body.subarray(0, body.length - 1), Buffer.from([body[body.length - 1] ^ 1])])), 400, 'tampered');
      assert.equal(await post(headers(vapid({})), body, '/wp/unknown'), 404);
      assert.equal(await post(headers(vapid({}))), 201);
      assert.deepEqual(own.received.web.at(-1).payload, { alert: 'hi' });
    } finally {
      session.close();
    }
  });

  test('Expo: the access token, message fields and the 100-message limit; tickets in order', async () => {
    const send = (messages, token = EXPO_ACCESS_TOKEN) => fetch(`${own.urls.expo}/--/api/v2/push/send`, {
      method: 'POST', headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
      body: JSON.stringify(messages),
    });
    const to = own.newToken('expo');
    assert.equal((await send([{ to, body: 'x' }], null)).status, 401);
    const badBadge = await send([{ to, body: 'x', badge: 'Increment' }]);
    assert.equal(badBadge.status, 400);
    assert.equal((await badBadge.json()).errors[0].code, 'VALIDATION_ERROR');
    const tooMany = await send(Array.from({ length: 101 }, () => ({ to, body: 'x' })));
    assert.equal((await tooMany.json()).errors[0].code, 'PUSH_TOO_MANY_NOTIFICATIONS');
    const gone = own.newToken('expo', 'gone');
    const { data } = await (await send([{ to, body: 'x' }, { to: gone, body: 'y' }])).json();
    assert.equal(data[0].status, 'ok');
    assert.equal(data[1].status, 'error');
    assert.equal(data[1].details.error, 'DeviceNotRegistered');
  });
});
