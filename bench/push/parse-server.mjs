// Parse Server 9.10 with its own push adapter (@parse/push-adapter 8.4.0) pointed at the push
// fakes (tests/sdk/push-fakes.mjs), for bench/push/push.mjs. Not part of the test suite.
//
//   PARSE_SERVER_DIR   a directory whose node_modules holds parse-server 9.10.0 (push.mjs makes
//                      one under ~/.cache/basalt-bench when it is not given)
//   PARSE_PUSH_CONFIG  Basalt's --push-config (Parse's `push` option plus a `url` per provider),
//                      a file or the JSON
//   PUSH_CA_FILE       the fakes' CA (node-apn's `ca`); start node with NODE_EXTRA_CA_CERTS set to it
//                      as well, for web-push, which speaks only HTTPS and takes no CA option
//   PORT, DATABASE_URI, APP_ID, MASTER_KEY
// Prints `parse-server listening on http://127.0.0.1:PORT/parse` once it answers.
//
// How each provider reaches its fake (what @parse/push-adapter 8.4.0 allows):
//   ios      node-apn (the adapter's default APNs client): `address`, `port`, `ca` options.
//            (useNativeAPNs: true has the Apple endpoints hard-coded.)
//   web      web-push posts to the subscription's endpoint, which is the fake.
//   expo     expo-server-sdk reads EXPO_BASE_URL once, when loaded: set before parse-server loads.
//   android  firebase-admin hard-codes fcm.googleapis.com, and google-auth-library
//            https://oauth2.googleapis.com/token (the service account's token_uri is ignored).
//            Shim: the default firebase app (which the adapter reuses) is created first with an
//            httpAgent that connects every request to the fake, used on firebase-admin's legacy
//            HTTP/1.1 transport only (fcmEnableLegacyHttpTransport: its HTTP/2 transport takes no
//            agent), and a credential doing the JWT-bearer exchange at token_uri itself.
import crypto from 'node:crypto';
import { readFileSync } from 'node:fs';
import https from 'node:https';
import { createRequire } from 'node:module';
import net from 'node:net';
import path from 'node:path';

const dir = process.env.PARSE_SERVER_DIR;
if (!dir) throw new Error('PARSE_SERVER_DIR must name a directory with parse-server 9.10.0 installed');
const require = createRequire(path.join(path.resolve(dir), 'package.json'));
const port = Number(process.env.PORT ?? 1340);
const source = process.env.PARSE_PUSH_CONFIG;
if (!source) throw new Error('PARSE_PUSH_CONFIG must name the push configuration (file or JSON)');
const config = JSON.parse(source.trim().startsWith('{') ? source : readFileSync(source, 'utf8'));
process.env.PARSE_SERVER_CLEANUP_INVALID_INSTALLATIONS ??= '1';

const push = {};
if (config.ios) {
  const url = new URL(config.ios.url ?? 'https://api.sandbox.push.apple.com');
  push.ios = {
    token: config.ios.token, topic: config.ios.topic, production: Boolean(config.ios.production),
    address: url.hostname, port: Number(url.port || 443),
    ...(process.env.PUSH_CA_FILE ? { ca: process.env.PUSH_CA_FILE } : {}),
  };
}
if (config.web) push.web = { vapidDetails: config.web.vapidDetails };
if (config.expo) {
  if (config.expo.url) process.env.EXPO_BASE_URL = config.expo.url.replace(/\/$/, '');
  push.expo = config.expo.accessToken ? { accessToken: config.expo.accessToken } : {};
}
if (config.android) {
  const account = typeof config.android.firebaseServiceAccount === 'string'
    ? JSON.parse(readFileSync(config.android.firebaseServiceAccount, 'utf8'))
    : config.android.firebaseServiceAccount;
  if (config.android.url) {
    const { initializeApp } = require('firebase-admin/app');
    initializeApp({
      credential: jwtBearerCredential(account),
      httpAgent: redirectingAgent(new URL(config.android.url)),
      projectId: account.project_id,
    });
  }
  push.android = { firebaseServiceAccount: account, fcmEnableLegacyHttpTransport: Boolean(config.android.url) };
}

const { ParseServer } = require('parse-server');
await ParseServer.startApp({
  appId: process.env.APP_ID ?? 'bench',
  masterKey: process.env.MASTER_KEY ?? 'bench-master',
  masterKeyIps: ['0.0.0.0/0', '::/0'],
  databaseURI: process.env.DATABASE_URI,
  port,
  mountPath: '/parse',
  serverURL: `http://127.0.0.1:${port}/parse`,
  push,
  logLevel: 'error',
  silent: true,
});
console.log(`parse-server listening on http://127.0.0.1:${port}/parse`);

/** An https agent whose every connection goes, in clear text, to `target` (the FCM fake). */
function redirectingAgent(target) {
  class Redirecting extends https.Agent {
    createConnection(_options, callback) {
      const socket = net.connect(Number(target.port), target.hostname);
      if (callback) socket.once('connect', () => callback(null, socket)).once('error', callback);
      return socket;
    }
  }
  return new Redirecting({ keepAlive: true, maxSockets: 64 });
}

/** A firebase-admin credential doing the OAuth2 JWT-bearer exchange at the account's token_uri. */
function jwtBearerCredential(account) {
  return {
    async getAccessToken() {
      const now = Math.floor(Date.now() / 1000);
      const part = (object) => Buffer.from(JSON.stringify(object)).toString('base64url');
      const signingInput = `${part({ alg: 'RS256', typ: 'JWT', kid: account.private_key_id })}.${part({
        iss: account.client_email,
        scope: 'https://www.googleapis.com/auth/cloud-platform https://www.googleapis.com/auth/firebase.messaging',
        aud: account.token_uri, iat: now, exp: now + 3600,
      })}`;
      const signature = crypto.sign('sha256', Buffer.from(signingInput), account.private_key).toString('base64url');
      const response = await fetch(account.token_uri, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({
          grant_type: 'urn:ietf:params:oauth:grant-type:jwt-bearer', assertion: `${signingInput}.${signature}`,
        }),
      });
      const body = await response.json();
      if (!response.ok) throw new Error(`token exchange at ${account.token_uri}: ${response.status} ${JSON.stringify(body)}`);
      return { access_token: body.access_token, expires_in: body.expires_in };
    },
  };
}
