// Local stand-ins for the four push services a Parse server sends through, checking each request
// as the real service would: APNs (HTTP/2 over TLS, ES256 provider token), FCM HTTP v1 (OAuth2
// JWT-bearer token exchange at the service account's token_uri, then messages:send), Web Push
// (RFC 8030 + RFC 8291 aes128gcm body, decrypted here with `http_ece`, the library `web-push`
// uses, and RFC 8292 VAPID, verified with node:crypto) and Expo (/--/api/v2/push/send).
//
//   const fakes = await startPushFakes();
//   // fakes.pushConfig: Parse's `push` option shape with a `url` per provider (Basalt's
//   //   --push-config); fakes.caFile: the CA that signed the APNs fake's certificate
//   //   (SSL_CERT_FILE for Basalt, `ca` for node-apn).
//   const token = fakes.newToken('ios');            // a device token the APNs fake answers 200 for
//   const gone = fakes.newToken('android', 'gone'); // FCM answers 404 UNREGISTERED
//   const sub = fakes.newWebSubscription();         // a browser PushSubscription JSON string
//   await fakes.waitFor((f) => f.received.ios.length === 2, 5000);
//   await fakes.stop();
//
// The APNs and Web Push fakes are HTTPS (certificate from `caFile`); FCM and Expo plain HTTP.
//
// Behaviours a token is created with (`newToken(provider, behaviour)`, `newWebSubscription(behaviour)`):
//   'ok'   accepted (APNs 200, FCM 200, Web Push 201, Expo ticket ok);
//   'gone' unregistered (APNs 410 Unregistered, FCM 404 UNREGISTERED, Web Push 410, Expo ticket
//          error DeviceNotRegistered);
//   'busy' throttled once with `Retry-After: 1` (APNs 429 TooManyRequests, FCM 429
//          QUOTA_EXCEEDED, Web Push 429, Expo 429 TOO_MANY_REQUESTS for the whole request), then
//          accepted;
//   'bad'  not a valid token (APNs 400 BadDeviceToken, FCM 400 INVALID_ARGUMENT, Web Push 404,
//          Expo ticket error DeviceNotRegistered).
// A token the fakes never issued is answered by its shape alone: accepted when it looks like one
// of the provider's tokens (APNs: hex; FCM: [A-Za-z0-9_:-]{20,}; Expo: ExponentPushToken[…]),
// refused as 'bad' otherwise; an unknown Web Push subscription id is 404.
//
// `setDown(provider, mode)` takes a provider down: 'reset' (default) drops every connection it has
// and every new one; 'unavailable' answers 503 (APNs ServiceUnavailable, FCM UNAVAILABLE);
// `setDown(provider, false)` brings it back.
//
// What the fakes record (all arrays grow in arrival order; `at` is Date.now() on arrival):
//   received.{ios,android,web,expo}: accepted notifications {token, headers, payload, at, …}
//     (APNs: also `connection`, the number of the HTTP/2 connection it came on);
//     payload is the APNs JSON body, the FCM `message` object, the decrypted Web Push payload
//     (parsed as JSON when it is JSON) or the Expo message; `token` is the device token (for Web
//     Push the subscription JSON string as newWebSubscription returned it).
//   attempts.{…}: every notification request {token, status, reason, at} (retries included).
//   rejected.{…}: requests refused for bad authentication or a malformed request
//     {status, reason, detail, at}: a correct sender leaves these empty.
//   counts: ios {requests, connections, sessions, providerTokens (distinct JWTs)}, android
//     {requests, connections, tokenRequests, accessTokens}, web {requests, connections}, expo
//     {requests, connections, messages}.
// `waitFor(predicate, timeoutMs)` resolves when `predicate(fakes)` is true, checked now and after
// every request the fakes answer (no polling, no sleeping); it rejects after timeoutMs with a
// summary of what arrived.
//
// `startPushFakes({stateDir, ports})`: with `stateDir`, the keys, certificates and ports are kept
// there (made on first use, reused after), so a server started earlier with
// `<stateDir>/push-config.json` (e.g. the reference Parse Server) can be pointed at fakes that a
// later test process starts. FCM access tokens are HMAC-signed with a secret kept there, so a
// token issued by an earlier run of the fakes is still accepted. Without `stateDir` everything
// is made in a temporary directory removed by stop(), on free ports.

import { execFile } from 'node:child_process';
import crypto from 'node:crypto';
import { EventEmitter } from 'node:events';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import http from 'node:http';
import http2 from 'node:http2';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import path from 'node:path';
import zlib from 'node:zlib';

const require = createRequire(import.meta.url);
const ece = require('http_ece');

export const APNS_KEY_ID = 'KEYID12345';
export const APNS_TEAM_ID = 'TEAMID1234';
export const APNS_TOPIC = 'com.example.app';
export const FCM_PROJECT_ID = 'basalt-push-test';
export const FCM_CLIENT_EMAIL = `basalt-push@${FCM_PROJECT_ID}.iam.gserviceaccount.com`;
export const FCM_SCOPE = 'https://www.googleapis.com/auth/firebase.messaging';
export const VAPID_SUBJECT = 'mailto:ops@example.com';
export const EXPO_ACCESS_TOKEN = 'expo-access-token-for-tests';

const providers = ['ios', 'android', 'web', 'expo'];
const b64url = (bytes) => Buffer.from(bytes).toString('base64url');
const randomId = () => crypto.randomUUID();

/** APNs payloads may be 4 KiB (5 KiB for VoIP); Web Push bodies 4 KiB (RFC 8030 §7.2 minimum). */
const apnsPayloadMax = 4096;
const webPushBodyMax = 4096;
/** A provider token older than this is refused by APNs (ExpiredProviderToken). */
const apnsTokenLifetimeS = 3600;
/** Clock skew tolerated for iat/exp in the future. */
const skewS = 60;
const expoMessagesMax = 100;
const apnsPushTypes = new Set(['alert', 'background', 'location', 'voip', 'complication', 'fileprovider', 'mdm',
  'liveactivity', 'pushtotalk', 'widgets']);

/**
 * Starts the four fakes on 127.0.0.1.
 * @param {{stateDir?: string, ports?: {apns?: number, fcm?: number, web?: number, expo?: number},
 *   light?: boolean}} [options] `light` (benchmarks): `received` and `attempts` keep no entries, only
 *   `length` and the `firstAt`/`lastAt` times of the entries pushed.
 */
export async function startPushFakes({ stateDir, ports = {}, light = false } = {}) {
  await requireOpenssl();
  const ownDir = !stateDir;
  const dir = stateDir ?? await mkdtemp(path.join(tmpdir(), 'push-fakes-'));
  await mkdir(dir, { recursive: true });
  const keys = await loadOrMakeKeys(dir);
  const savedPorts = existsSync(path.join(dir, 'ports.json'))
    ? JSON.parse(await readFile(path.join(dir, 'ports.json'), 'utf8')) : {};
  const wantPorts = { apns: 0, fcm: 0, web: 0, expo: 0, ...savedPorts, ...ports };

  const events = new EventEmitter();
  events.setMaxListeners(0);
  const changed = () => events.emit('change');

  const behaviours = new Map(); // token -> 'gone' | 'busy' | 'bad'
  const throttled = new Set(); // busy tokens already answered 429 once
  const subscriptions = new Map(); // id -> {json, ecdh, auth, behaviour}
  const down = { ios: false, android: false, web: false, expo: false };
  const list = light ? countingList : () => [];
  const received = { ios: list(), android: list(), web: list(), expo: list() };
  const attempts = { ios: list(), android: list(), web: list(), expo: list() };
  const rejected = { ios: [], android: [], web: [], expo: [] };
  const providerTokens = new Set();
  const accessTokens = new Set();
  const counts = {
    ios: { requests: 0, connections: 0, sessions: 0, get providerTokens() { return providerTokens.size; } },
    android: { requests: 0, connections: 0, tokenRequests: 0, get accessTokens() { return accessTokens.size; } },
    web: { requests: 0, connections: 0 },
    expo: { requests: 0, connections: 0, messages: 0 },
  };
  const sockets = { ios: new Set(), android: new Set(), web: new Set(), expo: new Set() };
  const h2sessions = new Set();

  /** The behaviour of a token: what it was issued with, else 'ok' when it has the right shape. */
  const behaviourOf = (token, shapeOk) => behaviours.get(token) ?? (shapeOk ? 'ok' : 'bad');
  /** A 'busy' token is throttled the first time only. */
  const throttleNow = (token) => {
    if (throttled.has(token)) return false;
    throttled.add(token);
    return true;
  };
  const reject = (provider, status, reason, detail) => {
    rejected[provider].push({ status, reason, detail, at: Date.now() });
  };

  // ---------------------------------------------------------------- APNs
  const apnsPublicKey = crypto.createPublicKey(keys.apnsKeyPem);
  const apns = http2.createSecureServer({
    key: keys.serverKeyPem, cert: keys.serverCertPem, allowHTTP1: false,
    settings: { maxConcurrentStreams: 1000 },
  });
  apns.on('session', (session) => {
    counts.ios.sessions += 1;
    session.fakeId = counts.ios.sessions;
    h2sessions.add(session);
    session.once('close', () => h2sessions.delete(session));
  });
  apns.on('stream', (stream, headers) => {
    const chunks = [];
    let size = 0;
    stream.on('data', (chunk) => {
      size += chunk.length;
      if (size <= apnsPayloadMax + 1) chunks.push(chunk);
    });
    stream.on('end', () => {
      const answer = (status, body, extra = {}) => {
        if (stream.destroyed || stream.closed) return;
        const apnsId = headers['apns-id'] ?? randomId();
        stream.respond({ ':status': status, 'apns-id': apnsId, ...(status === 200 ? { 'apns-unique-id': randomId() } : {}),
          ...(body ? { 'content-type': 'application/json' } : {}), ...extra });
        stream.end(body ? JSON.stringify(body) : undefined);
      };
      try {
        handleApns(headers, Buffer.concat(chunks), size, answer, stream.session?.fakeId);
      } catch (error) {
        answer(500, { reason: 'InternalServerError' });
        reject('ios', 500, 'InternalServerError', String(error?.stack ?? error));
      }
      changed();
    });
    stream.on('error', () => {});
  });

  function handleApns(headers, body, size, answer, connection) {
    counts.ios.requests += 1;
    const refuse = (status, reason, detail, isAuth = true) => {
      if (isAuth) reject('ios', status, reason, detail);
      answer(status, { reason, ...(status === 410 ? { timestamp: Date.now() } : {}) });
      return { status, reason };
    };
    if (down.ios === 'unavailable') return refuse(503, 'ServiceUnavailable', 'provider set down', false);
    if (headers[':method'] !== 'POST') return refuse(405, 'MethodNotAllowed', headers[':method']);
    const match = /^\/3\/device\/([^/?]*)$/.exec(headers[':path'] ?? '');
    if (!match) return refuse(404, 'BadPath', headers[':path']);
    const token = decodeURIComponent(match[1]);
    const attempt = { token, status: 0, reason: null, at: Date.now() };
    attempts.ios.push(attempt);
    const done = (status, reason, detail, isAuth) => {
      attempt.status = status;
      attempt.reason = reason;
      return refuse(status, reason, detail, isAuth);
    };
    if (!token) return done(400, 'MissingDeviceToken', '');

    // Provider authentication token (ES256 JWT).
    const authorization = headers.authorization;
    if (!authorization) return done(403, 'MissingProviderToken', 'no authorization header');
    const bearer = /^bearer (\S+)$/i.exec(authorization);
    if (!bearer) return done(403, 'InvalidProviderToken', `authorization is not "bearer <jwt>": ${authorization}`);
    const jwt = parseJwt(bearer[1]);
    if (!jwt) return done(403, 'InvalidProviderToken', 'not a JWT');
    if (jwt.header.alg !== 'ES256') return done(403, 'InvalidProviderToken', `alg ${jwt.header.alg}`);
    if (jwt.header.kid !== APNS_KEY_ID) return done(403, 'InvalidProviderToken', `kid ${jwt.header.kid}`);
    if (jwt.claims.iss !== APNS_TEAM_ID) return done(403, 'InvalidProviderToken', `iss ${jwt.claims.iss}`);
    if (!verifyEs256(apnsPublicKey, jwt)) return done(403, 'InvalidProviderToken', 'bad signature (ES256, IEEE P1363 r||s)');
    const now = Math.floor(Date.now() / 1000);
    if (!Number.isInteger(jwt.claims.iat)) return done(403, 'InvalidProviderToken', `iat ${jwt.claims.iat}`);
    if (jwt.claims.iat > now + skewS) return done(403, 'InvalidProviderToken', `iat ${jwt.claims.iat} in the future`);
    if (now - jwt.claims.iat > apnsTokenLifetimeS) return done(403, 'ExpiredProviderToken', `iat ${jwt.claims.iat}`);
    providerTokens.add(bearer[1]);

    // Headers.
    const topic = headers['apns-topic'];
    if (!topic) return done(400, 'MissingTopic', 'no apns-topic');
    if (topic !== APNS_TOPIC && !topic.startsWith(`${APNS_TOPIC}.`)) return done(400, 'TopicDisallowed', topic);
    const pushType = headers['apns-push-type'];
    if (pushType !== undefined && !apnsPushTypes.has(pushType)) return done(400, 'InvalidPushType', pushType);
    const priority = headers['apns-priority'];
    if (priority !== undefined && !['1', '5', '10'].includes(priority)) return done(400, 'BadPriority', priority);
    const expiration = headers['apns-expiration'];
    if (expiration !== undefined && !/^\d+$/.test(expiration)) return done(400, 'BadExpirationDate', expiration);
    const apnsId = headers['apns-id'];
    if (apnsId !== undefined && !/^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/.test(apnsId)) {
      return done(400, 'BadMessageId', apnsId);
    }
    const collapseId = headers['apns-collapse-id'];
    if (collapseId !== undefined && Buffer.byteLength(collapseId) > 64) return done(400, 'BadCollapseId', collapseId);

    // Payload.
    if (size === 0) return done(400, 'PayloadEmpty', '');
    if (size > apnsPayloadMax) return done(413, 'PayloadTooLarge', `${size} bytes`);
    let payload;
    try {
      payload = JSON.parse(body.toString('utf8'));
    } catch {
      return done(400, 'BadPayload', `not JSON: ${body.toString('utf8').slice(0, 200)}`);
    }
    if (!isObject(payload)) return done(400, 'BadPayload', 'not a JSON object');
    if (payload.aps !== undefined && !isObject(payload.aps)) return done(400, 'BadPayload', 'aps is not a dictionary');
    if (payload.aps?.badge !== undefined && !Number.isInteger(payload.aps.badge)) {
      return done(400, 'BadPayload', `aps.badge ${JSON.stringify(payload.aps.badge)} is not an integer`);
    }

    // The device.
    const behaviour = behaviourOf(token, /^[0-9a-fA-F]{64,200}$/.test(token));
    if (behaviour === 'bad') return done(400, 'BadDeviceToken', token, false);
    if (behaviour === 'gone') return done(410, 'Unregistered', token, false);
    if (behaviour === 'busy' && throttleNow(token)) {
      attempt.status = 429;
      attempt.reason = 'TooManyRequests';
      answer(429, { reason: 'TooManyRequests' }, { 'retry-after': '1' });
      return;
    }
    attempt.status = 200;
    const plain = Object.fromEntries(Object.entries(headers).filter(([name]) => !name.startsWith(':')));
    received.ios.push({ token, headers: plain, payload, connection, at: Date.now() });
    answer(200);
  }

  // ---------------------------------------------------------------- FCM (HTTP v1 + OAuth2 token)
  const fcmPublicKey = crypto.createPublicKey(keys.serviceAccount.private_key);
  let fcmURL = ''; // set once listening: token_uri must match it exactly
  const fcm = http.createServer((req, res) => handle('android', req, res, handleFcm));

  async function handleFcm(req, res, body) {
    const url = new URL(req.url, 'http://fcm.invalid');
    if (url.pathname === '/token') return handleToken(req, res, body);
    const match = /^\/v1\/projects\/([^/]+)\/messages:send$/.exec(url.pathname);
    if (!match) return sendJson(res, 404, googleError(404, 'NOT_FOUND', `Not found: ${url.pathname}`));
    counts.android.requests += 1;
    const fail = (status, error, isAuth = true) => {
      if (isAuth) reject('android', status, error.error.status, error.error.message);
      return sendJson(res, status, error);
    };
    if (down.android === 'unavailable') return fail(503, googleError(503, 'UNAVAILABLE', 'The service is currently unavailable.'), false);
    if (req.method !== 'POST') return fail(405, googleError(405, 'METHOD_NOT_ALLOWED', `${req.method} not allowed`));

    const bearer = /^Bearer (\S+)$/i.exec(req.headers.authorization ?? '');
    const access = bearer && verifyAccessToken(bearer[1]);
    if (!access) {
      return fail(401, googleError(401, 'UNAUTHENTICATED', 'Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or other valid authentication credential. See https://developers.google.com/identity/sign-in/web/devconsole-project.'));
    }
    if (access.exp < Date.now() / 1000) return fail(401, googleError(401, 'UNAUTHENTICATED', 'Request had invalid authentication credentials (expired access token).'));
    if (!access.scope.split(' ').some((s) => s === FCM_SCOPE || s === 'https://www.googleapis.com/auth/cloud-platform')) {
      return fail(403, googleError(403, 'PERMISSION_DENIED', 'Request had insufficient authentication scopes.'));
    }
    if (match[1] !== FCM_PROJECT_ID) {
      return fail(403, googleError(403, 'PERMISSION_DENIED', `Permission 'cloudmessaging.messages.create' denied on resource '//cloudresourcemanager.googleapis.com/projects/${match[1]}' (or it may not exist).`));
    }
    if (!/^application\/json\b/i.test(req.headers['content-type'] ?? '')) {
      return fail(400, googleError(400, 'INVALID_ARGUMENT', `Invalid content type ${req.headers['content-type']}`));
    }
    let request;
    try {
      request = JSON.parse(body.toString('utf8'));
    } catch (error) {
      return fail(400, googleError(400, 'INVALID_ARGUMENT', `Invalid JSON payload received. ${error.message}`));
    }
    const problem = fcmRequestProblem(request);
    if (problem) return fail(400, googleError(400, 'INVALID_ARGUMENT', problem, 'INVALID_ARGUMENT'));
    const { message } = request;
    if (message.token === undefined) {
      // Topic or condition: accepted, nothing to record per device.
      return sendJson(res, 200, { name: `projects/${FCM_PROJECT_ID}/messages/${Date.now()}` });
    }
    const token = message.token;
    const attempt = { token, status: 0, reason: null, at: Date.now() };
    attempts.android.push(attempt);
    const answer = (status, payload, headers) => {
      attempt.status = status;
      attempt.reason = payload?.error?.details?.[0]?.errorCode ?? payload?.error?.status ?? null;
      return sendJson(res, status, payload, headers);
    };
    const behaviour = behaviourOf(token, /^[\w:-]{20,}$/.test(token));
    if (behaviour === 'bad') {
      return answer(400, googleError(400, 'INVALID_ARGUMENT', 'The registration token is not a valid FCM registration token', 'INVALID_ARGUMENT'));
    }
    if (behaviour === 'gone') return answer(404, googleError(404, 'NOT_FOUND', 'Requested entity was not found.', 'UNREGISTERED'));
    if (behaviour === 'busy' && throttleNow(token)) {
      return answer(429, googleError(429, 'RESOURCE_EXHAUSTED', 'Quota exceeded for quota metric \'Send messages\'.', 'QUOTA_EXCEEDED'), { 'retry-after': '1' });
    }
    if (request.validate_only === true) return answer(200, { name: `projects/${FCM_PROJECT_ID}/messages/fake_message_id` });
    const id = `0:${Date.now()}%${crypto.randomBytes(8).toString('hex')}`;
    received.android.push({ token, headers: { ...req.headers }, payload: message, at: Date.now() });
    return answer(200, { name: `projects/${FCM_PROJECT_ID}/messages/${id}` });
  }

  function handleToken(req, res, body) {
    counts.android.tokenRequests += 1;
    const fail = (error, description) => {
      reject('android', 400, error, description);
      return sendJson(res, 400, { error, error_description: description });
    };
    if (req.method !== 'POST') return sendJson(res, 405, { error: 'invalid_request', error_description: 'POST only' });
    if (!/^application\/x-www-form-urlencoded\b/i.test(req.headers['content-type'] ?? '')) {
      return fail('invalid_request', `content-type ${req.headers['content-type']} (expected application/x-www-form-urlencoded)`);
    }
    const form = new URLSearchParams(body.toString('utf8'));
    const grantType = form.get('grant_type');
    if (grantType !== 'urn:ietf:params:oauth:grant-type:jwt-bearer') return fail('unsupported_grant_type', `Invalid grant_type: ${grantType}`);
    const jwt = parseJwt(form.get('assertion') ?? '');
    if (!jwt) return fail('invalid_grant', 'Invalid JWT: not a JWT');
    if (jwt.header.alg !== 'RS256') return fail('invalid_grant', `Invalid JWT: alg ${jwt.header.alg}`);
    if (jwt.header.kid !== undefined && jwt.header.kid !== keys.serviceAccount.private_key_id) {
      return fail('invalid_grant', 'Invalid JWT Signature.');
    }
    if (!crypto.verify('sha256', Buffer.from(jwt.signingInput), fcmPublicKey, jwt.signature)) {
      return fail('invalid_grant', 'Invalid JWT Signature.');
    }
    const { iss, scope, aud, iat, exp } = jwt.claims;
    if (iss !== keys.serviceAccount.client_email) return fail('invalid_grant', 'Invalid grant: account not found');
    if (aud !== keys.serviceAccount.token_uri && aud !== `${fcmURL}/token`) return fail('invalid_grant', `Invalid JWT audience ${aud}`);
    const now = Math.floor(Date.now() / 1000);
    if (!Number.isInteger(iat) || !Number.isInteger(exp) || iat > now + skewS || exp < now || exp - iat > 3600) {
      return fail('invalid_grant', 'Invalid JWT: Token must be a short-lived token (60 minutes) and in a reasonable timeframe. Check your iat and exp values in the JWT claim.');
    }
    if (typeof scope !== 'string' || !scope.trim()) return fail('invalid_scope', 'Invalid OAuth scope or ID token audience provided.');
    const accessToken = issueAccessToken({ sub: iss, scope, exp: now + 3599 });
    accessTokens.add(accessToken);
    return sendJson(res, 200, { access_token: accessToken, expires_in: 3599, token_type: 'Bearer' });
  }

  const issueAccessToken = (claims) => {
    const body = b64url(JSON.stringify({ ...claims, n: crypto.randomBytes(6).toString('hex') }));
    return `ya29.fake.${body}.${crypto.createHmac('sha256', keys.secret).update(body).digest('base64url')}`;
  };
  const verifyAccessToken = (token) => {
    const match = /^ya29\.fake\.([\w-]+)\.([\w-]+)$/.exec(token);
    if (!match) return null;
    const expected = crypto.createHmac('sha256', keys.secret).update(match[1]).digest();
    const given = Buffer.from(match[2], 'base64url');
    if (given.length !== expected.length || !crypto.timingSafeEqual(given, expected)) return null;
    return JSON.parse(Buffer.from(match[1], 'base64url').toString('utf8'));
  };

  // ---------------------------------------------------------------- Web Push
  const vapidPublicKey = publicKeyFromRaw(Buffer.from(keys.vapid.publicKey, 'base64url'));
  let webURL = '';
  // HTTPS as every real push service (web-push refuses anything else), HTTP/2 or HTTP/1.1.
  const web = http2.createSecureServer({ key: keys.serverKeyPem, cert: keys.serverCertPem, allowHTTP1: true },
    (req, res) => handle('web', req, res, handleWebPush));

  function handleWebPush(req, res, body) {
    const url = new URL(req.url, 'https://web.invalid');
    const match = /^\/wp\/([\w-]+)$/.exec(url.pathname);
    counts.web.requests += 1;
    const fail = (status, reason, isAuth = true) => {
      if (isAuth) reject('web', status, reason, `${req.method} ${req.url}`);
      return sendText(res, status, reason);
    };
    if (down.web === 'unavailable') return fail(503, 'Service Unavailable', false);
    if (!match) return fail(404, 'no such subscription', false);
    if (req.method !== 'POST') return fail(405, `${req.method} not allowed`);
    const subscription = subscriptions.get(match[1]);
    const token = subscription?.json ?? `${webURL}${url.pathname}`;
    const attempt = { token, status: 0, reason: null, at: Date.now() };
    attempts.web.push(attempt);
    const done = (status, reason, isAuth) => {
      attempt.status = status;
      attempt.reason = reason;
      return fail(status, reason, isAuth);
    };

    // VAPID (RFC 8292): Authorization: vapid t=<JWT>, k=<public key>.
    const authorization = req.headers.authorization ?? '';
    const scheme = /^vapid\s+(.+)$/i.exec(authorization);
    if (!scheme) return done(401, `authorization is not "vapid t=…, k=…": ${authorization || '(none)'}`);
    const params = Object.fromEntries(scheme[1].split(',').map((part) => {
      const at = part.indexOf('=');
      return [part.slice(0, at).trim().toLowerCase(), part.slice(at + 1).trim()];
    }));
    if (!params.t || !params.k) return done(401, `vapid needs t= and k=: ${authorization}`);
    if (params.k !== keys.vapid.publicKey) return done(403, `VAPID k= ${params.k} is not the application server key the subscription was made with`);
    const jwt = parseJwt(params.t);
    if (!jwt) return done(403, 'VAPID t= is not a JWT');
    if (jwt.header.alg !== 'ES256') return done(403, `VAPID JWT alg ${jwt.header.alg}`);
    if (jwt.header.typ !== undefined && jwt.header.typ !== 'JWT') return done(403, `VAPID JWT typ ${jwt.header.typ}`);
    if (!verifyEs256(vapidPublicKey, jwt)) return done(403, 'VAPID JWT signature does not verify (ES256, IEEE P1363 r||s) with k=');
    const origin = new URL(webURL).origin;
    if (jwt.claims.aud !== origin) return done(403, `VAPID aud ${jwt.claims.aud} is not the push service origin ${origin}`);
    const now = Math.floor(Date.now() / 1000);
    if (!Number.isInteger(jwt.claims.exp) || jwt.claims.exp <= now || jwt.claims.exp > now + 24 * 3600 + skewS) {
      return done(403, `VAPID exp ${jwt.claims.exp} is not within 24 hours from now`);
    }
    if (typeof jwt.claims.sub !== 'string' || !/^(mailto:|https:)/.test(jwt.claims.sub)) return done(403, `VAPID sub ${jwt.claims.sub}`);
    if (jwt.claims.sub !== VAPID_SUBJECT) return done(403, `VAPID sub ${jwt.claims.sub} is not the configured ${VAPID_SUBJECT}`);

    // RFC 8030 headers.
    const ttl = req.headers.ttl;
    if (ttl === undefined || !/^\d+$/.test(ttl)) return done(400, `TTL header missing or not a number: ${ttl}`);
    const urgency = req.headers.urgency;
    if (urgency !== undefined && !['very-low', 'low', 'normal', 'high'].includes(urgency)) return done(400, `Urgency ${urgency}`);
    const topic = req.headers.topic;
    if (topic !== undefined && !/^[\w-]{1,32}$/.test(topic)) return done(400, `Topic ${topic}`);

    if (!subscription || subscription.behaviour === 'bad') return done(404, 'no such subscription', false);
    if (subscription.behaviour === 'gone') return done(410, 'push subscription has unsubscribed or expired', false);

    // RFC 8291 body.
    let payload = null;
    if (body.length > 0) {
      if ((req.headers['content-encoding'] ?? '').toLowerCase() !== 'aes128gcm') {
        return done(415, `Content-Encoding ${req.headers['content-encoding']} (expected aes128gcm)`);
      }
      if (body.length > webPushBodyMax) return done(413, `${body.length} bytes`);
      const idLength = body.length > 20 ? body[20] : -1;
      if (idLength !== 65) return done(400, `aes128gcm keyid is ${idLength} bytes (RFC 8291: the sender's 65-byte public key)`);
      let plaintext;
      try {
        plaintext = ece.decrypt(body, { version: 'aes128gcm', privateKey: subscription.ecdh, authSecret: subscription.auth });
      } catch (error) {
        return done(400, `cannot decrypt the aes128gcm body: ${error.message}`);
      }
      const text = plaintext.toString('utf8');
      try {
        payload = JSON.parse(text);
      } catch {
        payload = text;
      }
    }
    if (subscription.behaviour === 'busy' && throttleNow(subscription.json)) {
      attempt.status = 429;
      attempt.reason = 'Too Many Requests';
      return sendText(res, 429, 'Too Many Requests', { 'retry-after': '1' });
    }
    attempt.status = 201;
    received.web.push({ token, endpoint: `${webURL}${url.pathname}`, headers: { ...req.headers }, payload, at: Date.now() });
    res.writeHead(201, { location: `${webURL}/wp/messages/${randomId()}`, 'content-length': 0 });
    res.end();
  }

  // ---------------------------------------------------------------- Expo
  let expoURL = '';
  const expo = http.createServer((req, res) => handle('expo', req, res, handleExpo));

  function handleExpo(req, res, body) {
    const url = new URL(req.url, 'http://expo.invalid');
    const errors = (status, code, message, isAuth = true, headers = {}) => {
      if (isAuth) reject('expo', status, code, message);
      return sendJson(res, status, { errors: [{ code, message }] }, headers);
    };
    if (url.pathname === '/--/api/v2/push/getReceipts') return sendJson(res, 200, { data: {} });
    if (url.pathname !== '/--/api/v2/push/send') return errors(404, 'NOT_FOUND', `Not found: ${url.pathname}`);
    counts.expo.requests += 1;
    if (down.expo === 'unavailable') return errors(503, 'SERVICE_UNAVAILABLE', 'Expo is unavailable', false);
    if (req.method !== 'POST') return errors(405, 'METHOD_NOT_ALLOWED', req.method);
    if (req.headers.authorization !== `Bearer ${EXPO_ACCESS_TOKEN}`) {
      return errors(401, 'UNAUTHORIZED', `The bearer token is invalid (authorization ${req.headers.authorization ?? '(none)'}).`);
    }
    let text;
    try {
      const encoding = (req.headers['content-encoding'] ?? '').toLowerCase();
      text = (encoding === 'gzip' ? zlib.gunzipSync(body) : encoding === 'deflate' ? zlib.inflateSync(body) : body).toString('utf8');
    } catch (error) {
      return errors(400, 'VALIDATION_ERROR', `cannot decode the ${req.headers['content-encoding']} body: ${error.message}`);
    }
    let parsed;
    try {
      parsed = JSON.parse(text);
    } catch (error) {
      return errors(400, 'VALIDATION_ERROR', `"value" must be valid JSON: ${error.message}`);
    }
    const messages = Array.isArray(parsed) ? parsed : [parsed];
    for (const [index, message] of messages.entries()) {
      const problem = expoMessageProblem(message);
      if (problem) return errors(400, 'VALIDATION_ERROR', `"[${index}]" ${problem}`);
    }
    const recipients = messages.flatMap((message) => (Array.isArray(message.to) ? message.to : [message.to])
      .map((to) => ({ to, message })));
    if (recipients.length > expoMessagesMax) {
      return errors(400, 'PUSH_TOO_MANY_NOTIFICATIONS', `You are trying to send more than ${expoMessagesMax} push notifications in one request`);
    }
    counts.expo.messages += recipients.length;
    const busy = recipients.filter(({ to }) => behaviours.get(to) === 'busy' && !throttled.has(to));
    if (busy.length) {
      for (const { to } of busy) throttled.add(to);
      for (const { to } of recipients) attempts.expo.push({ token: to, status: 429, reason: 'TOO_MANY_REQUESTS', at: Date.now() });
      return errors(429, 'TOO_MANY_REQUESTS', 'Too many requests; retry after a second.', false, { 'retry-after': '1' });
    }
    const data = recipients.map(({ to, message }) => {
      const behaviour = behaviourOf(to, /^Expo(nent)?PushToken\[[^\]]+\]$/.test(to));
      const attempt = { token: to, status: 200, reason: null, at: Date.now() };
      attempts.expo.push(attempt);
      if (behaviour === 'bad') {
        attempt.reason = 'DeviceNotRegistered';
        return { status: 'error', message: `"${to}" is not a valid Expo push token`, details: { error: 'DeviceNotRegistered' } };
      }
      if (behaviour === 'gone') {
        attempt.reason = 'DeviceNotRegistered';
        return { status: 'error', message: `"${to}" is not a registered push notification recipient`, details: { error: 'DeviceNotRegistered', expoPushToken: to } };
      }
      const { to: _to, ...payload } = message;
      received.expo.push({ token: to, headers: { ...req.headers }, payload: { to, ...payload }, at: Date.now() });
      return { status: 'ok', id: randomId() };
    });
    return sendJson(res, 200, { data });
  }

  // ---------------------------------------------------------------- plumbing
  /** Reads an HTTP/1.1 request's body, then runs the provider's handler and announces a change. */
  function handle(provider, req, res, handler) {
    const chunks = [];
    req.on('data', (chunk) => chunks.push(chunk));
    req.on('end', () => {
      try {
        if (down[provider] === 'reset') {
          req.socket.destroy();
        } else {
          handler(req, res, Buffer.concat(chunks));
        }
      } catch (error) {
        reject(provider, 500, 'fake crashed', String(error?.stack ?? error));
        if (!res.headersSent) sendJson(res, 500, { error: String(error) });
      }
      changed();
    });
    req.on('error', () => {});
  }

  const servers = { ios: apns, android: fcm, web, expo };
  for (const provider of providers) {
    servers[provider].on('connection', (socket) => {
      if (down[provider] === 'reset') {
        socket.destroy();
        changed();
        return;
      }
      counts[provider].connections += 1;
      sockets[provider].add(socket);
      socket.once('close', () => sockets[provider].delete(socket));
      socket.on('error', () => {});
      changed();
    });
    servers[provider].on('clientError', (_error, socket) => socket.destroy());
  }
  apns.on('tlsClientError', () => {});
  web.on('tlsClientError', () => {});
  web.on('session', (session) => {
    h2sessions.add(session);
    session.once('close', () => h2sessions.delete(session));
  });

  const listenOn = (server, port) => new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => {
      server.off('error', reject);
      resolve(server.address().port);
    });
  });
  const apnsPort = await listenOn(apns, wantPorts.apns);
  const fcmPort = await listenOn(fcm, wantPorts.fcm);
  const webPort = await listenOn(web, wantPorts.web);
  const expoPort = await listenOn(expo, wantPorts.expo);
  const apnsURL = `https://127.0.0.1:${apnsPort}`;
  fcmURL = `http://127.0.0.1:${fcmPort}`;
  webURL = `https://127.0.0.1:${webPort}`;
  expoURL = `http://127.0.0.1:${expoPort}`;
  await writeFile(path.join(dir, 'ports.json'), JSON.stringify({ apns: apnsPort, fcm: fcmPort, web: webPort, expo: expoPort }));

  // The service account names the fake's token endpoint.
  const serviceAccount = { ...keys.serviceAccount, token_uri: `${fcmURL}/token` };
  keys.serviceAccount = serviceAccount;
  const serviceAccountFile = path.join(dir, 'service-account.json');
  await writeFile(serviceAccountFile, JSON.stringify(serviceAccount, null, 2));

  const pushConfig = {
    ios: { token: { key: keys.apnsKeyFile, keyId: APNS_KEY_ID, teamId: APNS_TEAM_ID }, topic: APNS_TOPIC, production: false, url: apnsURL },
    android: { firebaseServiceAccount: serviceAccountFile, url: fcmURL },
    web: { vapidDetails: { subject: VAPID_SUBJECT, publicKey: keys.vapid.publicKey, privateKey: keys.vapid.privateKey } },
    expo: { accessToken: EXPO_ACCESS_TOKEN, url: expoURL },
  };
  const pushConfigFile = path.join(dir, 'push-config.json');
  await writeFile(pushConfigFile, JSON.stringify(pushConfig, null, 2));

  const fakes = {
    dir,
    pushConfig,
    pushConfigFile,
    caFile: keys.caFile,
    urls: { ios: apnsURL, android: fcmURL, web: webURL, expo: expoURL },
    received,
    attempts,
    rejected,
    counts,
    /** A fresh device token for `provider` ('ios' | 'android' | 'expo') answered as `behaviour`. */
    newToken(provider, behaviour = 'ok') {
      const token = provider === 'ios' ? crypto.randomBytes(32).toString('hex')
        : provider === 'android' ? `${b64url(crypto.randomBytes(16))}:APA91b${b64url(crypto.randomBytes(100))}`
          : provider === 'expo' ? `ExponentPushToken[${b64url(crypto.randomBytes(16))}]`
            : null;
      if (!token) throw new Error(`newToken: unknown provider ${provider} (web: use newWebSubscription)`);
      if (behaviour !== 'ok') behaviours.set(token, behaviour);
      return token;
    },
    /**
     * A browser PushSubscription (as `JSON.stringify(subscription)` gives it) whose endpoint is the
     * fake, with a fresh P-256 key pair and auth secret the fake decrypts with.
     */
    newWebSubscription(behaviour = 'ok') {
      const id = b64url(crypto.randomBytes(12));
      const ecdh = crypto.createECDH('prime256v1');
      ecdh.generateKeys();
      const auth = crypto.randomBytes(16);
      const json = JSON.stringify({
        endpoint: `${webURL}/wp/${id}`,
        expirationTime: null,
        keys: { p256dh: b64url(ecdh.getPublicKey()), auth: b64url(auth) },
      });
      subscriptions.set(id, { json, ecdh, auth, behaviour });
      return json;
    },
    /** Takes `provider` down ('reset' | 'unavailable') or, with false, back up. */
    setDown(provider, mode = 'reset') {
      if (!providers.includes(provider)) throw new Error(`setDown: unknown provider ${provider}`);
      down[provider] = mode;
      if (mode === 'reset') {
        for (const socket of sockets[provider]) socket.destroy();
        if (provider === 'ios' || provider === 'web') for (const session of h2sessions) session.destroy();
      }
      changed();
    },
    /** Resolves once `predicate(fakes)` holds; rejects after `timeoutMs`. */
    waitFor(predicate, timeoutMs = 5_000, what = String(predicate)) {
      return new Promise((resolve, reject) => {
        let timer;
        const check = () => {
          let ok;
          try {
            ok = predicate(fakes);
          } catch (error) {
            events.off('change', check);
            clearTimeout(timer);
            reject(error);
            return;
          }
          if (ok) {
            events.off('change', check);
            clearTimeout(timer);
            resolve(fakes);
          }
        };
        timer = setTimeout(() => {
          events.off('change', check);
          reject(new Error(`push fakes: no ${what} within ${timeoutMs} ms; ${fakes.summary()}`));
        }, timeoutMs);
        events.on('change', check);
        check();
      });
    },
    /** One line of what arrived, for failure messages. */
    summary() {
      return providers.map((p) => `${p}: ${received[p].length} received, ${attempts[p].length} attempts` +
        ` (${[...new Set(attempts[p].map((a) => `${a.status}${a.reason ? ` ${a.reason}` : ''}`))].join(', ') || '-'}),` +
        ` ${rejected[p].length} rejected${rejected[p].length ? ` [${rejected[p].slice(-3).map((r) => `${r.status} ${r.reason}: ${r.detail}`).join(' | ')}]` : ''}`)
        .join('; ');
    },
    async stop() {
      for (const session of h2sessions) session.destroy();
      for (const provider of providers) {
        for (const socket of sockets[provider]) socket.destroy();
      }
      await Promise.all(Object.values(servers).map((server) => new Promise((resolve) => server.close(() => resolve()))));
      if (ownDir) await rm(dir, { recursive: true, force: true });
    },
  };
  return fakes;
}

/** What `received`/`attempts` are in light mode: a count and the first and last arrival times. */
function countingList() {
  return {
    length: 0, firstAt: null, lastAt: null,
    push(entry) {
      this.length += 1;
      this.firstAt ??= entry.at;
      this.lastAt = entry.at;
    },
    filter: () => [], map: () => [], some: () => false, slice: () => [],
  };
}

// ---------------------------------------------------------------------------------------------
// Request checks.

const fcmMessageFields = new Set(['name', 'data', 'notification', 'android', 'webpush', 'apns', 'fcm_options', 'fcmOptions',
  'token', 'topic', 'condition']);
const fcmNotificationFields = new Set(['title', 'body', 'image']);
const fcmAndroidFields = new Set(['collapse_key', 'collapseKey', 'priority', 'ttl', 'restricted_package_name',
  'restrictedPackageName', 'data', 'notification', 'fcm_options', 'fcmOptions', 'direct_boot_ok', 'directBootOk',
  'bandwidth_constrained_ok', 'restricted_satellite_ok']);
const fcmAndroidNotificationFields = new Set(['title', 'body', 'icon', 'color', 'sound', 'tag', 'click_action',
  'body_loc_key', 'body_loc_args', 'title_loc_key', 'title_loc_args', 'channel_id', 'ticker', 'sticky', 'event_time',
  'local_only', 'notification_priority', 'default_sound', 'default_vibrate_timings', 'default_light_settings',
  'vibrate_timings', 'visibility', 'notification_count', 'light_settings', 'image', 'proxy', 'bypass_proxy_notification']);
const fcmReservedDataKeys = new Set(['from', 'notification', 'message_type']);

/** What FCM HTTP v1 would refuse in a send request (400 INVALID_ARGUMENT), or null. */
function fcmRequestProblem(request) {
  if (!isObject(request)) return 'Invalid JSON payload received. Expected an object.';
  for (const key of Object.keys(request)) {
    if (key !== 'message' && key !== 'validate_only' && key !== 'validateOnly') {
      return `Invalid JSON payload received. Unknown name "${key}": Cannot find field.`;
    }
  }
  const message = request.message;
  if (!isObject(message)) return 'Invalid JSON payload received. "message" is required.';
  for (const key of Object.keys(message)) {
    if (!fcmMessageFields.has(key)) return `Invalid JSON payload received. Unknown name "${key}" at 'message': Cannot find field.`;
  }
  const targets = ['token', 'topic', 'condition'].filter((key) => message[key] !== undefined);
  if (targets.length !== 1) return `Exactly one of message.token, message.topic or message.condition must be set (got ${targets.join(', ') || 'none'}).`;
  for (const key of targets) if (typeof message[key] !== 'string') return `Invalid value at 'message.${key}' (TYPE_STRING)`;
  const dataProblem = (data, where) => {
    if (data === undefined) return null;
    if (!isObject(data)) return `Invalid value at '${where}' (map)`;
    for (const [key, value] of Object.entries(data)) {
      if (typeof value !== 'string') return `Invalid value at '${where}[${key}].value' (TYPE_STRING), ${JSON.stringify(value)}`;
      if (fcmReservedDataKeys.has(key) || key.startsWith('google.') || key.startsWith('gcm.')) return `Invalid data key "${key}" at '${where}': reserved.`;
    }
    return null;
  };
  const fieldsProblem = (object, allowed, where) => {
    if (object === undefined) return null;
    if (!isObject(object)) return `Invalid value at '${where}' (object)`;
    for (const key of Object.keys(object)) {
      if (!allowed.has(key)) return `Invalid JSON payload received. Unknown name "${key}" at '${where}': Cannot find field.`;
    }
    return null;
  };
  const stringsProblem = (object, names, where) => {
    for (const name of names) {
      if (object?.[name] !== undefined && typeof object[name] !== 'string') return `Invalid value at '${where}.${name}' (TYPE_STRING), ${JSON.stringify(object[name])}`;
    }
    return null;
  };
  const problem = dataProblem(message.data, 'message.data')
    ?? fieldsProblem(message.notification, fcmNotificationFields, 'message.notification')
    ?? stringsProblem(message.notification, ['title', 'body', 'image'], 'message.notification')
    ?? fieldsProblem(message.android, fcmAndroidFields, 'message.android');
  if (problem) return problem;
  const android = message.android;
  if (android) {
    if (android.priority !== undefined && !['normal', 'high', 'NORMAL', 'HIGH'].includes(android.priority)) {
      return `Invalid value at 'message.android.priority' (type.googleapis.com/google.firebase.fcm.v1.AndroidMessagePriority), "${android.priority}"`;
    }
    if (android.ttl !== undefined && (typeof android.ttl !== 'string' || !/^\d+(\.\d{1,9})?s$/.test(android.ttl))) {
      return `Invalid value at 'message.android.ttl' (type.googleapis.com/google.protobuf.Duration), ${JSON.stringify(android.ttl)}`;
    }
    const nested = dataProblem(android.data, 'message.android.data')
      ?? fieldsProblem(android.notification, fcmAndroidNotificationFields, 'message.android.notification')
      ?? stringsProblem(android.notification, ['title', 'body', 'icon', 'color', 'sound', 'tag', 'click_action', 'channel_id'], 'message.android.notification')
      ?? stringsProblem(android, ['collapse_key', 'restricted_package_name'], 'message.android');
    if (nested) return nested;
  }
  if (message.apns !== undefined) {
    if (!isObject(message.apns)) return "Invalid value at 'message.apns' (object)";
    if (message.apns.headers !== undefined) {
      if (!isObject(message.apns.headers)) return "Invalid value at 'message.apns.headers' (map)";
      for (const [key, value] of Object.entries(message.apns.headers)) {
        if (typeof value !== 'string') return `Invalid value at 'message.apns.headers[${key}].value' (TYPE_STRING)`;
      }
    }
    if (message.apns.payload !== undefined && !isObject(message.apns.payload)) return "Invalid value at 'message.apns.payload' (object)";
  }
  const size = Buffer.byteLength(JSON.stringify({ data: message.data, notification: message.notification, android: message.android }));
  if (size > 4096 + 256) return `Android message is too big (${size} bytes)`;
  return null;
}

/** What Expo's push API would refuse in one message (400 VALIDATION_ERROR), or null. */
function expoMessageProblem(message) {
  if (!isObject(message)) return 'must be of type object';
  const to = message.to;
  if (typeof to !== 'string' && !(Array.isArray(to) && to.length && to.every((t) => typeof t === 'string'))) {
    return '"to" must be a push token string or an array of them';
  }
  for (const name of ['title', 'body', 'subtitle', 'channelId', 'categoryId']) {
    if (message[name] !== undefined && message[name] !== null && typeof message[name] !== 'string') return `"${name}" must be a string`;
  }
  if (message.sound !== undefined && message.sound !== null && typeof message.sound !== 'string' && !isObject(message.sound)) {
    return '"sound" must be a string or an object';
  }
  for (const name of ['badge', 'ttl', 'expiration']) {
    if (message[name] !== undefined && (typeof message[name] !== 'number' || !Number.isFinite(message[name]) || message[name] < 0)) {
      return `"${name}" must be a non-negative number, got ${JSON.stringify(message[name])}`;
    }
  }
  if (message.priority !== undefined && !['default', 'normal', 'high'].includes(message.priority)) {
    return `"priority" must be one of [default, normal, high], got ${JSON.stringify(message.priority)}`;
  }
  if (message.data !== undefined && !isObject(message.data)) return '"data" must be of type object';
  if (Buffer.byteLength(JSON.stringify(message)) > 4096) return 'is larger than 4096 bytes';
  return null;
}

// ---------------------------------------------------------------------------------------------
// Keys, certificates, JWTs.

async function requireOpenssl() {
  try {
    await run('openssl', ['version']);
  } catch (error) {
    throw new Error(`push fakes need the openssl command (for the APNs fake's certificate): ${error.message}`);
  }
}

/** The keys the fakes and the server share: loaded from `dir`, or made and saved there. */
async function loadOrMakeKeys(dir) {
  const file = (name) => path.join(dir, name);
  const apnsKeyFile = file(`AuthKey_${APNS_KEY_ID}.p8`);
  if (!existsSync(apnsKeyFile)) {
    const { privateKey } = crypto.generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
    await writeFile(apnsKeyFile, privateKey.export({ type: 'pkcs8', format: 'pem' }));
  }
  const serviceAccountFile = file('service-account.json');
  if (!existsSync(serviceAccountFile)) {
    const { privateKey } = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
    await writeFile(serviceAccountFile, JSON.stringify({
      type: 'service_account',
      project_id: FCM_PROJECT_ID,
      private_key_id: crypto.randomBytes(20).toString('hex'),
      private_key: privateKey.export({ type: 'pkcs8', format: 'pem' }),
      client_email: FCM_CLIENT_EMAIL,
      client_id: '100000000000000000001',
      auth_uri: 'https://accounts.google.com/o/oauth2/auth',
      token_uri: 'http://127.0.0.1:0/token',
      auth_provider_x509_cert_url: 'https://www.googleapis.com/oauth2/v1/certs',
      client_x509_cert_url: `https://www.googleapis.com/robot/v1/metadata/x509/${encodeURIComponent(FCM_CLIENT_EMAIL)}`,
      universe_domain: 'googleapis.com',
    }, null, 2));
  }
  const vapidFile = file('vapid.json');
  if (!existsSync(vapidFile)) {
    // As web-push's generateVAPIDKeys(): the raw uncompressed point and the raw 32-byte scalar.
    const ecdh = crypto.createECDH('prime256v1');
    ecdh.generateKeys();
    await writeFile(vapidFile, JSON.stringify({
      publicKey: b64url(ecdh.getPublicKey()),
      privateKey: b64url(ecdh.getPrivateKey().length === 32 ? ecdh.getPrivateKey()
        : Buffer.concat([Buffer.alloc(32 - ecdh.getPrivateKey().length), ecdh.getPrivateKey()])),
    }));
  }
  const secretFile = file('access-token-secret');
  if (!existsSync(secretFile)) await writeFile(secretFile, crypto.randomBytes(32).toString('hex'));
  const caFile = file('ca.pem');
  if (!existsSync(caFile) || !existsSync(file('server.pem'))) await makeCertificates(dir);
  return {
    apnsKeyFile,
    apnsKeyPem: await readFile(apnsKeyFile, 'utf8'),
    serviceAccount: JSON.parse(await readFile(serviceAccountFile, 'utf8')),
    vapid: JSON.parse(await readFile(vapidFile, 'utf8')),
    secret: await readFile(secretFile, 'utf8'),
    caFile,
    serverKeyPem: await readFile(file('server-key.pem')),
    serverCertPem: await readFile(file('server.pem')),
  };
}

/**
 * A throw-away CA and a server certificate it signs for 127.0.0.1 and localhost (P-256), made with
 * the openssl command. A CA plus a leaf rather than one self-signed certificate: rustls/webpki
 * refuses a CA certificate as a server's own certificate.
 */
async function makeCertificates(dir) {
  const file = (name) => path.join(dir, name);
  await writeFile(file('openssl.cnf'), [
    '[req]', 'distinguished_name = dn', 'prompt = no', '[dn]', 'CN = push fakes test CA',
    '[ca_ext]', 'basicConstraints = critical, CA:TRUE', 'keyUsage = critical, keyCertSign, cRLSign',
    'subjectKeyIdentifier = hash',
    '[leaf_ext]', 'basicConstraints = critical, CA:FALSE', 'keyUsage = critical, digitalSignature',
    'extendedKeyUsage = serverAuth', 'subjectKeyIdentifier = hash', 'authorityKeyIdentifier = keyid',
    'subjectAltName = IP:127.0.0.1, IP:::1, DNS:localhost', '',
  ].join('\n'));
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  await run('openssl', ['req', '-x509', ...ec, '-config', file('openssl.cnf'), '-extensions', 'ca_ext',
    '-keyout', file('ca-key.pem'), '-out', file('ca.pem'), '-days', '30', '-sha256']);
  await run('openssl', ['req', '-new', ...ec, '-config', file('openssl.cnf'), '-subj', '/CN=localhost',
    '-keyout', file('server-key.pem'), '-out', file('server.csr')]);
  await run('openssl', ['x509', '-req', '-in', file('server.csr'), '-CA', file('ca.pem'), '-CAkey', file('ca-key.pem'),
    '-set_serial', `0x${crypto.randomBytes(8).toString('hex')}`, '-days', '30', '-sha256',
    '-extfile', file('openssl.cnf'), '-extensions', 'leaf_ext', '-out', file('server.pem')]);
}

function run(command, args) {
  return new Promise((resolve, reject) => {
    execFile(command, args, (error, stdout, stderr) => {
      if (error) reject(new Error(`${command} ${args.join(' ')}: ${stderr || error.message}`));
      else resolve(stdout);
    });
  });
}

/** {header, claims, signature, signingInput} of a compact JWS, or null when it is not one. */
function parseJwt(token) {
  const parts = typeof token === 'string' ? token.split('.') : [];
  if (parts.length !== 3 || parts.some((part) => !/^[\w-]*$/.test(part))) return null;
  try {
    const header = JSON.parse(Buffer.from(parts[0], 'base64url').toString('utf8'));
    const claims = JSON.parse(Buffer.from(parts[1], 'base64url').toString('utf8'));
    if (!isObject(header) || !isObject(claims)) return null;
    return { header, claims, signature: Buffer.from(parts[2], 'base64url'), signingInput: `${parts[0]}.${parts[1]}` };
  } catch {
    return null;
  }
}

/**
 * ES256 as JWS defines it: the 64-byte r||s signature (a DER signature is refused). A token that
 * verified once is remembered, as the real services keep a provider token they accepted (APNs
 * for its hour): a sender reuses its token for many requests, and checking the signature of
 * each would make the fakes, not the server, what a benchmark measures.
 */
function verifyEs256(publicKey, jwt) {
  if (jwt.signature.length !== 64) return false;
  const remembered = verifiedTokens.get(publicKey);
  if (remembered?.has(jwt.signingInput + '.' + jwt.signature.toString('base64url'))) return true;
  const valid = crypto.verify('sha256', Buffer.from(jwt.signingInput), { key: publicKey, dsaEncoding: 'ieee-p1363' }, jwt.signature);
  if (valid) {
    if (!verifiedTokens.has(publicKey)) verifiedTokens.set(publicKey, new Set());
    verifiedTokens.get(publicKey).add(jwt.signingInput + '.' + jwt.signature.toString('base64url'));
  }
  return valid;
}

/** Tokens whose signature verified, per public key (see `verifyEs256`). */
const verifiedTokens = new WeakMap();

/** A P-256 public key from its 65-byte uncompressed point. */
function publicKeyFromRaw(point) {
  if (point.length !== 65 || point[0] !== 4) throw new Error('VAPID public key must be a 65-byte uncompressed P-256 point');
  return crypto.createPublicKey({
    key: { kty: 'EC', crv: 'P-256', x: b64url(point.subarray(1, 33)), y: b64url(point.subarray(33)) },
    format: 'jwk',
  });
}

function googleError(code, status, message, errorCode) {
  return {
    error: {
      code, message, status,
      ...(errorCode ? { details: [{ '@type': 'type.googleapis.com/google.firebase.fcm.v1.FcmError', errorCode }] } : {}),
    },
  };
}

function sendJson(res, status, body, headers = {}) {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json; charset=UTF-8', 'content-length': Buffer.byteLength(text), ...headers });
  res.end(text);
}

function sendText(res, status, text, headers = {}) {
  res.writeHead(status, { 'content-type': 'text/plain', 'content-length': Buffer.byteLength(text), ...headers });
  res.end(text);
}

function isObject(value) {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}
