// Starts the server a test file talks to and points the Parse JS SDK at it.
//
// Two modes:
// - `PARSE_SERVER_URL` set (with `PARSE_APP_ID`, `PARSE_MASTER_KEY`, optional
//   `PARSE_JAVASCRIPT_KEY`): use that running server. This is how the suite is
//   validated against a real Parse Server. Class names get a random suffix so
//   reruns against the same database do not collide.
// - otherwise: spawn `basalt serve --port 0` (binary from `BASALT_BIN`, default
//   `<repo>/target/debug/basalt`) on a fresh data directory and wait for the
//   `basalt listening on http://127.0.0.1:PORT/parse` line on its stdout. With
//   `BASALT_TEST_DATABASE_URI` (a PostgreSQL server, `postgres://user@host:port`)
//   it stores into a fresh database on that server, dropped (with psql) on stop.
//   With `BASALT_TEST_NODES=N` as well, N nodes share that database and one data directory
//   (their files), behind a round-robin TCP proxy that sends each new connection to the next
//   node, as a plain load balancer would: the suite must pass there as on one node.
//
// Each test file runs in its own process (node --test), so the SDK's global
// configuration belongs to that file alone.

import { execFile, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import http from 'node:http';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import readline from 'node:readline';
import { fileURLToPath } from 'node:url';
import Parse from 'parse/node';

import { supervise } from './child.mjs';

export { Parse };

/**
 * True when the suite runs against an external server (the reference Parse Server on Postgres).
 * Used only to skip the few tests where Parse on Postgres is known to break behaviour that Parse
 * on Mongo and the REST guide agree on; each such skip names the gap.
 */
export const isExternalServer = Boolean(process.env.PARSE_SERVER_URL);

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

/** Upper bound for the binary to print its listening line; only a failure bound, never a wait. */
const startTimeoutMs = 20_000;
/** Lines of server output kept to explain a failed start. */
const outputLinesMax = 50;
/** Lines of server output kept for `waitForOutput` (the newest; older ones are dropped). */
const watchedLinesMax = 5_000;
/** Default upper bound for `waitForOutput`; only a failure bound, never a wait. */
const outputTimeoutMs = 5_000;

/** Printed by `basalt serve` on stdout once it accepts requests, e.g. `http://127.0.0.1:41235/parse`. */
const listeningLine = /^basalt listening on (http:\/\/\S+)\s*$/;

/**
 * Starts (or attaches to) a server and initialises the SDK against it.
 *
 * @param {{args?: string[], env?: Record<string, string>}} [options] `args`: extra command-line
 *   arguments for the spawned `basalt serve` (e.g. `['--verify-user-emails']`); `env`: variables
 *   added to its environment; both ignored with an external server, which is configured where it
 *   runs.
 * @returns {Promise<{serverURL: string, appId: string, masterKey: string, javascriptKey: string,
 *   className: (base: string) => string,
 *   rest: (method: string, route: string, options?: RestOptions) => Promise<RestResponse>,
 *   waitForOutput?: (pattern: RegExp, timeoutMs?: number) => Promise<OutputLine>,
 *   stop: () => Promise<void>}>}
 *   `waitForOutput` (spawned Basalt only, absent with an external server): resolves with the first
 *   line the server printed, before or after the call, that matches `pattern` (no `g` flag);
 *   rejects when none arrives within `timeoutMs`.
 */
export async function startServer({ args = [], env = {} } = {}) {
  const external = process.env.PARSE_SERVER_URL;
  const config = external ? externalConfig(external) : await spawnBasalt(args, env);

  Parse.initialize(config.appId, config.javascriptKey, config.masterKey);
  Parse.serverURL = config.serverURL;
  if (!external) {
    // The SDK retries a 5xx answer (and a dropped connection) up to 4 times with backoff, seconds
    // per call. From Basalt a 5xx is a failure to report at once: waiting it out would hide it
    // and slow the run. Against Parse the default stays, since Parse drops the connection after
    // some error answers and the retry is what carries the SDK's next pooled request over it.
    Parse.CoreManager.set('REQUEST_ATTEMPT_LIMIT', 1);
  }

  // Reruns against one external database must not see each other's classes.
  const suffix = external ? `_${randomBytes(4).toString('hex')}` : '';
  return {
    ...config,
    className: (base) => `${base}${suffix}`,
    rest: (method, route, options) => rest(config, method, route, options),
  };
}

function externalConfig(serverURL) {
  return {
    serverURL: serverURL.replace(/\/$/, ''),
    appId: requiredEnv('PARSE_APP_ID'),
    masterKey: requiredEnv('PARSE_MASTER_KEY'),
    javascriptKey: process.env.PARSE_JAVASCRIPT_KEY ?? 'test-js',
    stop: async () => {},
  };
}

function requiredEnv(name) {
  const value = process.env[name];
  if (!value) throw new Error(`${name} must be set when PARSE_SERVER_URL is set`);
  return value;
}

/** Nodes to start (`BASALT_TEST_NODES`, with PostgreSQL only); 1 without it. */
function nodeCount() {
  const nodes = Number.parseInt(process.env.BASALT_TEST_NODES ?? '1', 10);
  if (nodes > 1 && !process.env.BASALT_TEST_DATABASE_URI) {
    throw new Error('BASALT_TEST_NODES needs BASALT_TEST_DATABASE_URI: nodes share a PostgreSQL database');
  }
  return Math.max(nodes, 1);
}

async function spawnBasalt(extraArgs, extraEnv = {}) {
  const bin = process.env.BASALT_BIN ?? path.join(repoRoot, 'target', 'debug', 'basalt');
  const appId = 'test-app';
  const masterKey = 'test-master';
  const javascriptKey = 'test-js';
  const dataDir = await mkdtemp(path.join(tmpdir(), 'basalt-sdk-'));
  const database = postgresDatabase();
  const nodes = [];
  let proxy = null;
  const stop = async () => {
    if (proxy) await proxy.close();
    await Promise.all(nodes.map((node) => node.stop()));
    await rm(dataDir, { recursive: true, force: true });
    if (database) await database.drop();
  };
  // Every node's output goes to one watcher: a line any node printed is found.
  const watcher = outputWatcher();
  try {
    // Behind the proxy, the URLs the server hands out (files, Location, mail links) name it.
    const targets = [];
    const clustered = nodeCount() > 1;
    if (clustered) proxy = await roundRobinProxy(targets);
    const ownURL = extraArgs.includes('--public-server-url');
    const publicURL = clustered && !ownURL ? ['--public-server-url', `http://127.0.0.1:${proxy.port}/parse`] : [];
    const starting = [];
    for (let index = 0; index < nodeCount(); index += 1) {
      const child = spawn(
        bin,
        ['serve', '--port', '0', '--data-dir', dataDir, '--app-id', appId,
          '--master-key', masterKey, '--javascript-key', javascriptKey, ...publicURL,
          ...(database ? ['--database-uri', database.uri] : []), ...extraArgs],
        { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...extraEnv } },
      );
      // A test file that crashes before `after` must not leave a server behind.
      const supervised = supervise(child);
      nodes.push(supervised);
      starting.push(waitForListening(child, supervised.exited, bin, watcher));
    }
    const urls = await Promise.all(starting);
    if (!clustered) {
      return { serverURL: urls[0], appId, masterKey, javascriptKey, stop, waitForOutput: watcher.waitFor };
    }
    targets.push(...urls.map((url) => new URL(url)));
    const serverURL = `http://127.0.0.1:${proxy.port}${new URL(urls[0]).pathname}`;
    return { serverURL, appId, masterKey, javascriptKey, stop, waitForOutput: watcher.waitFor };
  } catch (error) {
    await stop();
    throw error;
  }
}

/**
 * A TCP proxy on a free port that hands each new connection to the next of `targets` in turn
 * (a plain round-robin load balancer); bytes pass through untouched, WebSockets included.
 * `targets` may be filled after the proxy starts (the nodes need its address first).
 */
function roundRobinProxy(targets) {
  let next = 0;
  const open = new Set();
  const server = net.createServer((client) => {
    const target = targets[next % targets.length];
    next += 1;
    const upstream = net.connect(Number(target.port), target.hostname);
    open.add(client);
    open.add(upstream);
    const end = () => {
      client.destroy();
      upstream.destroy();
      open.delete(client);
      open.delete(upstream);
    };
    client.on('error', end).on('close', end);
    upstream.on('error', end).on('close', end);
    client.pipe(upstream);
    upstream.pipe(client);
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      resolve({
        port: server.address().port,
        close: () => new Promise((done) => {
          for (const socket of open) socket.destroy();
          server.close(() => done());
        }),
      });
    });
  });
}

/**
 * A fresh PostgreSQL database for one server when `BASALT_TEST_DATABASE_URI` names a server
 * (Basalt creates it on start); `drop` removes it with psql. `null` without the variable.
 */
function postgresDatabase() {
  const server = process.env.BASALT_TEST_DATABASE_URI?.replace(/\/$/, '');
  if (!server) return null;
  // `BASALT_TEST_DATABASE_PREFIX` (set by run-tests) names this run's databases, so a run cleans
  // up only its own.
  const prefix = process.env.BASALT_TEST_DATABASE_PREFIX ?? 'basalt_test_';
  const name = `${prefix}sdk_${process.pid}_${randomBytes(6).toString('hex')}`;
  return {
    uri: `${server}/${name}`,
    drop: () => new Promise((resolve, reject) => {
      execFile('psql', [`${server}/postgres`, '-qc', `DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`],
        (error, _stdout, stderr) => (error ? reject(new Error(`dropping ${name}: ${stderr}`)) : resolve()));
    }),
  };
}

/** Resolves with the URL from the listening line; rejects if the child dies or stays silent too long. */
function waitForListening(child, exited, bin, watcher) {
  const output = [];
  const remember = (stream) => (line) => {
    watcher.add(stream, line);
    output.push(`${stream}: ${line}`);
    if (output.length > outputLinesMax) output.shift();
    if (process.env.BASALT_LOG) process.stderr.write(`[basalt ${stream}] ${line}\n`);
  };
  // Both streams are drained for the child's whole life so it never blocks on a full pipe.
  const stdout = readline.createInterface({ input: child.stdout });
  readline.createInterface({ input: child.stderr }).on('line', remember('stderr'));
  const explain = (what) => new Error(`${what}\n${bin}\n--- last server output ---\n${output.join('\n')}`);

  return new Promise((resolve, reject) => {
    const timer = setTimeout(
      () => reject(explain(`no "basalt listening on" line within ${startTimeoutMs} ms`)),
      startTimeoutMs,
    );
    const settle = (fn, value) => {
      clearTimeout(timer);
      fn(value);
    };
    stdout.on('line', (line) => {
      remember('stdout')(line);
      const match = listeningLine.exec(line);
      if (match) settle(resolve, match[1]);
    });
    child.once('error', (error) =>
      settle(reject, explain(`cannot start basalt (${error.code ?? error.message}); build it with cargo build or set BASALT_BIN`)));
    exited.then(({ code, signal }) =>
      settle(reject, explain(`basalt exited (code ${code}, signal ${signal}) before listening`)));
  });
}

/** @typedef {{stream: 'stdout' | 'stderr', line: string}} OutputLine */

/** Keeps the server's output lines and resolves waiters looking for one (`waitForOutput`). */
function outputWatcher() {
  const lines = [];
  const waiters = new Set();
  return {
    add(stream, line) {
      const entry = { stream, line };
      lines.push(entry);
      if (lines.length > watchedLinesMax) lines.shift();
      for (const waiter of waiters) {
        if (waiter.pattern.test(line)) waiter.settle(entry);
      }
    },
    waitFor(pattern, timeoutMs = outputTimeoutMs) {
      const seen = lines.find((entry) => pattern.test(entry.line));
      if (seen) return Promise.resolve(seen);
      return new Promise((resolve, reject) => {
        const waiter = {
          pattern,
          settle: (entry) => {
            clearTimeout(timer);
            waiters.delete(waiter);
            resolve(entry);
          },
        };
        const timer = setTimeout(() => {
          waiters.delete(waiter);
          reject(new Error(`no server output line matching ${pattern} within ${timeoutMs} ms`));
        }, timeoutMs);
        waiters.add(waiter);
      });
    },
  };
}

/**
 * @typedef {{body?: unknown, query?: Record<string, unknown>, master?: boolean,
 *   headers?: Record<string, string | undefined>, appId?: string}} RestOptions
 *   `body` is sent as JSON unless it is already a string; a header set to undefined is left out.
 * @typedef {{status: number, headers: import('node:http').IncomingHttpHeaders, body: any}} RestResponse
 *   `body` is the parsed JSON, or the text when it is not JSON.
 */

/**
 * Plain REST call for what the SDK cannot express (raw types, malformed queries, bad keys).
 * Query values are JSON-encoded unless they are strings, as the REST guide does.
 *
 * Each call uses its own connection (`agent: false`), apart from the SDK's pooled ones: Parse
 * Server destroys the socket after some error responses while announcing keep-alive, and a
 * pooled connection reused after that fails with "other side closed".
 */
async function rest(config, method, route, { body, query, master = false, headers = {}, appId } = {}) {
  const url = new URL(`${config.serverURL}/${route.replace(/^\//, '')}`);
  for (const [key, value] of Object.entries(query ?? {})) {
    url.searchParams.set(key, typeof value === 'string' ? value : JSON.stringify(value));
  }
  const payload = body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body);
  const requestHeaders = {
    'X-Parse-Application-Id': appId ?? config.appId,
    'X-Parse-Javascript-Key': config.javascriptKey,
    ...(master ? { 'X-Parse-Master-Key': config.masterKey } : {}),
    ...(payload === undefined ? {} : { 'Content-Type': 'application/json' }),
    ...headers,
  };
  for (const [name, value] of Object.entries(requestHeaders)) {
    if (value === undefined) delete requestHeaders[name];
  }
  const { status, headers: responseHeaders, text } = await new Promise((resolve, reject) => {
    const request = http.request(url, { method, headers: requestHeaders, agent: false }, (response) => {
      response.setEncoding('utf8');
      let text = '';
      response.on('data', (chunk) => (text += chunk));
      response.on('end', () => resolve({ status: response.statusCode, headers: response.headers, text }));
      response.on('error', reject);
    });
    request.on('error', reject);
    request.end(payload);
  });
  let parsed;
  try {
    parsed = JSON.parse(text);
  } catch {
    parsed = text;
  }
  return { status, headers: responseHeaders, body: parsed };
}

/**
 * Creates empty classes with the master key. Clients cannot create classes by saving
 * (9.x default `allowClientClassCreation: false`), but they may add fields to existing ones.
 */
export async function createClasses(...classNames) {
  for (const className of classNames) {
    await new Parse.Schema(className).save();
  }
}

/**
 * Runs `promise` expecting a Parse error with `code`; returns the error for further checks.
 * Clearer failures than assert.rejects when the promise resolves or fails with another code.
 */
export async function expectParseError(promise, code) {
  let result;
  try {
    result = await promise;
  } catch (error) {
    if (error?.code !== code) {
      throw new Error(`expected Parse error ${code}, got ${error?.code}: ${error?.message}`, { cause: error });
    }
    return error;
  }
  throw new Error(`expected Parse error ${code}, but the call succeeded with ${JSON.stringify(result)}`);
}
