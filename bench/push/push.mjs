// Push fan-out benchmark: N installations, one push to all of them, through the providers'
// protocols to local fakes of APNs, FCM, Web Push and Expo (tests/sdk/push-fakes.mjs, which check
// every request as the real services do). Measures the time from POST /push until the push's
// _PushStatus is 'succeeded', notifications per second, and the server's peak RSS. Not part of
// the test suite.
//
//   (cd tests/sdk && npm ci)        # push-fakes.mjs needs http_ece from there
//   node bench/push/push.mjs [--installations 100000] [--mix ios=40,android=40,expo=15,web=5]
//                            [--server basalt|parse|both] [--timeout 1800] [-- extra serve args]
//
// --server basalt (default): `basalt serve --push-config …` (BASALT_BIN, default
//   target/release/basalt; this script builds nothing) on a fresh data dir (SQLite unless the
//   extra serve args say otherwise), with SSL_CERT_FILE naming the fakes' CA.
// --server parse: Parse Server 9.10.0 with @parse/push-adapter 8.4.0 (bench/push/parse-server.mjs)
//   on a fresh database of the local PostgreSQL (BASALT_BENCH_POSTGRES, default
//   postgres://postgres@127.0.0.1:5432), from PARSE_SERVER_DIR or, without it, an npm install
//   under ~/.cache/basalt-bench/parse-server-push-9.10.0 made on first use. Every provider reaches
//   its fake (Android through a firebase-admin shim: see parse-server.mjs).
// --server both: Basalt, then Parse Server, on fakes started once.
//
// What it does, per server:
//  1. Creates N installations (the mix of device kinds above; `expo` = an iOS device with pushType
//     expo; `web` = a browser PushSubscription the fake made keys for) in one channel, through the
//     REST API: POST /batch with the master key, 500 creates per batch, 4 batches in flight. (Not
//     an import: both servers take the same route, and the time is reported apart.)
//  2. Sends one push {channels: [that channel], data: {alert, title, sound}} with POST /push.
//  3. Reads the push's _PushStatus every 100 ms until it is 'succeeded' (or 'failed', or the
//     timeout); meanwhile prints progress every 5 s.
//  4. Reports: the time to 'succeeded', the first and last delivery the fakes saw (from the POST),
//     notifications/s (deliveries ÷ time to the last delivery, and numSent ÷ time to 'succeeded'),
//     numSent/numFailed from the status and the deliveries the fakes counted per provider, the
//     server's peak RSS (VmHWM from /proc/<pid>/status) after creating the installations and
//     during the push (VmHWM reset by writing 5 to /proc/<pid>/clear_refs before the push), its
//     CPU time, and this process's CPU: the fakes run here, on the same machine, and at high rates
//     they take a good share of it (Web Push decryption most of all).
// Exits non-zero when a server misses deliveries or its push does not succeed.

import { execFileSync, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import http from 'node:http';
import { cpus, homedir, loadavg, tmpdir } from 'node:os';
import path from 'node:path';
import readline from 'node:readline';
import { setTimeout as delay } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';

import { listening } from '../server.mjs';
import { APNS_TOPIC, startPushFakes } from '../../tests/sdk/push-fakes.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const repoRoot = path.resolve(here, '..', '..');
const appId = 'bench';
const masterKey = 'bench-master';
const startTimeoutMs = 60_000;
const batchSize = 500;
const batchesInFlight = 4;
const parseServerVersion = '9.10.0';
const kinds = ['ios', 'android', 'expo', 'web'];

async function main() {
  const options = parseArgs(process.argv.slice(2));
  console.log(`machine: ${cpus().length} CPUs (${cpus()[0]?.model ?? '?'}), load average ${loadavg().map((l) => l.toFixed(2)).join(' ')}`);
  console.log(`installations: ${options.installations} (${Object.entries(options.mix).map(([k, v]) => `${k} ${v}%`).join(', ')})`);
  const fakes = await startPushFakes({ light: true });
  let failed = false;
  try {
    for (const which of options.servers) {
      const ok = await runOne(which, fakes, options).catch((error) => {
        console.error(`${which}: benchmark failed: ${error.stack ?? error}`);
        return false;
      });
      failed ||= !ok;
    }
  } finally {
    await fakes.stop();
  }
  process.exitCode = failed ? 1 : 0;
}

/** One server: start, fill, push, measure, stop. Resolves true when every notification arrived. */
async function runOne(which, fakes, options) {
  const server = which === 'basalt' ? await startBasalt(fakes, options) : await startParse(fakes, options);
  const log = watchStderr(server.child);
  try {
    console.log(`\n== ${server.name} (pid ${server.child.pid}) at ${server.url}`);
    const rest = restClient(server.url);
    const channel = `bench${Date.now()}`;

    // 1. Installations.
    const counts = split(options.installations, options.mix);
    const devices = [];
    for (const kind of kinds) {
      for (let i = 0; i < counts[kind]; i += 1) devices.push(deviceBody(kind, fakes, channel));
    }
    const fillStart = performance.now();
    let next = 0;
    await Promise.all(Array.from({ length: batchesInFlight }, async () => {
      while (next < devices.length) {
        const slice = devices.slice(next, next + batchSize);
        next += batchSize;
        const { status, body } = await rest('POST', '/batch', {
          requests: slice.map((device) => ({ method: 'POST', path: `${server.mount}/installations`, body: device })),
        });
        if (status !== 200) throw new Error(`batch answered ${status}: ${JSON.stringify(body).slice(0, 300)}`);
        const failures = body.filter((item) => item.error);
        if (failures.length) throw new Error(`batch: ${failures.length} creates failed, e.g. ${JSON.stringify(failures[0])}`);
      }
    }));
    const fillSeconds = (performance.now() - fillStart) / 1000;
    console.log(`installations: ${devices.length} created in ${fillSeconds.toFixed(1)} s ` +
      `(${(devices.length / fillSeconds).toFixed(0)}/s, REST /batch of ${batchSize}, ${batchesInFlight} in flight): ` +
      `${kinds.map((kind) => `${kind} ${counts[kind]}`).join(', ')}; ` +
      `server peak RSS so far ${await procStatusMib(server.child.pid, 'VmHWM')} MiB, RSS now ${await procStatusMib(server.child.pid, 'VmRSS')} MiB`);

    // 2. The push.
    const before = Object.fromEntries(kinds.map((kind) => [kind, fakes.received[providerOf(kind)].length]));
    for (const kind of kinds) Object.assign(fakes.received[providerOf(kind)], { firstAt: null, lastAt: null });
    const deliveredSince = () => kinds.reduce((sum, kind) => sum + fakes.received[providerOf(kind)].length, 0)
      - Object.values(before).reduce((a, b) => a + b, 0);
    // The push's own peak: VmHWM reset to the current RSS (Linux; as root or the same user).
    const peakWasReset = await resetPeak(server.child.pid);
    const cpuBefore = await cpuSeconds(server.child.pid);
    const benchCpuBefore = process.cpuUsage();
    const pushStart = Date.now();
    const sent = await rest('POST', '/push', {
      channels: [channel], data: { alert: 'benchmark', title: 'Bench', sound: 'default' },
    });
    if (sent.status !== 200) throw new Error(`POST /push answered ${sent.status}: ${JSON.stringify(sent.body)}`);
    const statusId = sent.headers['x-parse-push-status-id'];
    const answeredMs = Date.now() - pushStart;

    // 3. Until the status is final.
    let status;
    let lastReport = Date.now();
    const deadline = pushStart + options.timeoutS * 1000;
    for (;;) {
      status = (await rest('GET', `/classes/_PushStatus/${statusId}`)).body;
      if (status.status === 'succeeded' || status.status === 'failed' || Date.now() > deadline) break;
      if (Date.now() - lastReport >= 5000) {
        lastReport = Date.now();
        console.log(`  … ${((Date.now() - pushStart) / 1000).toFixed(0)} s: status ${status.status}, numSent ${status.numSent ?? 0}, ` +
          `numFailed ${status.numFailed ?? 0}; fakes got ${deliveredSince()}; server RSS ${await procStatusMib(server.child.pid, 'VmRSS')} MiB`);
      }
      await delay(100);
    }
    const doneMs = Date.now() - pushStart;
    const cpu = (await cpuSeconds(server.child.pid)) - cpuBefore;
    const benchCpu = process.cpuUsage(benchCpuBefore);

    // 4. Report.
    const delivered = deliveredSince();
    const lastAt = Math.max(...kinds.map((kind) => fakes.received[providerOf(kind)].lastAt ?? 0));
    const firstAt = Math.min(...kinds.map((kind) => fakes.received[providerOf(kind)].firstAt ?? Infinity));
    const lastMs = lastAt - pushStart;
    const expected = devices.length;
    console.log(`push: POST /push answered in ${answeredMs} ms; status '${status.status}' after ${(doneMs / 1000).toFixed(2)} s` +
      `${status.status === 'succeeded' || status.status === 'failed' ? '' : ` (gave up after ${options.timeoutS} s)`}`);
    console.log(`  numSent ${status.numSent ?? 0}, numFailed ${status.numFailed ?? 0}, sentPerType ${JSON.stringify(status.sentPerType ?? {})}` +
      `${status.failedPerType ? `, failedPerType ${JSON.stringify(status.failedPerType)}` : ''}`);
    console.log(`  fakes: ${delivered} of ${expected} delivered (${kinds.map((kind) => `${kind} ${fakes.received[providerOf(kind)].length - before[kind]}`).join(', ')}` +
      `); first ${Number.isFinite(firstAt) ? firstAt - pushStart : '?'} ms, last ${lastMs} ms after the POST`);
    console.log(`  throughput: ${(delivered / (lastMs / 1000)).toFixed(0)} notifications/s to the last delivery; ` +
      `${((status.numSent ?? 0) / (doneMs / 1000)).toFixed(0)}/s numSent to 'succeeded'`);
    console.log(`  server: CPU ${cpu.toFixed(2)} s over the push, peak RSS (VmHWM) during the push ${await procStatusMib(server.child.pid, 'VmHWM')} MiB` +
      `${peakWasReset ? '' : ' (VmHWM could not be reset: the peak since start)'}, ` +
      `RSS now ${await procStatusMib(server.child.pid, 'VmRSS')} MiB`);
    console.log(`  this process (fakes + polling): CPU ${((benchCpu.user + benchCpu.system) / 1e6).toFixed(2)} s`);
    const rejected = Object.values(fakes.rejected).flat();
    if (rejected.length) console.log(`  fakes refused ${rejected.length} requests, e.g. ${JSON.stringify(rejected[0])}`);
    return status.status === 'succeeded' && delivered === expected && rejected.length === 0;
  } catch (error) {
    if (log.tail.length) console.error(`${server.name} stderr (last lines):\n${log.tail.join('\n')}`);
    throw error;
  } finally {
    await server.stop();
  }
}

const providerOf = (kind) => kind;

function deviceBody(kind, fakes, channel) {
  const installationId = randomUUID();
  switch (kind) {
    case 'ios': return { installationId, deviceType: 'ios', appIdentifier: APNS_TOPIC, deviceToken: fakes.newToken('ios'), channels: [channel] };
    case 'android': return { installationId, deviceType: 'android', deviceToken: fakes.newToken('android'), channels: [channel] };
    case 'expo': return { installationId, deviceType: 'ios', pushType: 'expo', appIdentifier: APNS_TOPIC, deviceToken: fakes.newToken('expo'), channels: [channel] };
    case 'web': return { installationId, deviceType: 'web', deviceToken: fakes.newWebSubscription(), channels: [channel] };
    default: throw new Error(kind);
  }
}

// ---------------------------------------------------------------------------------------------
// Servers.

async function startBasalt(fakes, options) {
  const bin = process.env.BASALT_BIN ?? path.join(repoRoot, 'target', 'release', 'basalt');
  const dataDir = await mkdtemp(path.join(tmpdir(), 'basalt-push-bench-'));
  const child = spawn(bin,
    ['serve', '--port', '0', '--data-dir', dataDir, '--app-id', appId, '--master-key', masterKey,
      '--push-config', fakes.pushConfigFile, ...options.serveArgs],
    { stdio: ['ignore', 'pipe', 'pipe'], env: { RUST_LOG: 'warn', ...process.env, SSL_CERT_FILE: fakes.caFile } });
  const kill = () => child.kill('SIGKILL');
  process.on('exit', kill);
  const url = await listening(child, startTimeoutMs);
  return {
    name: `Basalt (${bin})`, child, url, mount: new URL(url).pathname.replace(/\/$/, ''),
    stop: async () => {
      process.off('exit', kill);
      await stopChild(child);
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}

async function startParse(fakes) {
  const parseDir = process.env.PARSE_SERVER_DIR ?? await installParse();
  const postgres = (process.env.BASALT_BENCH_POSTGRES ?? 'postgres://postgres@127.0.0.1:5432').replace(/\/$/, '');
  const database = `basalt_bench_push_${process.pid}`;
  execFileSync('psql', [`${postgres}/postgres`, '-qc', `CREATE DATABASE "${database}"`]);
  const workDir = await mkdtemp(path.join(tmpdir(), 'parse-push-bench-'));
  const port = await freePort();
  const child = spawn('node', [path.join(here, 'parse-server.mjs')], {
    cwd: workDir, // Parse Server writes its logs/ folder into its working directory
    stdio: ['ignore', 'pipe', 'pipe'],
    env: {
      ...process.env, PARSE_SERVER_DIR: parseDir, PARSE_PUSH_CONFIG: fakes.pushConfigFile, PUSH_CA_FILE: fakes.caFile,
      NODE_EXTRA_CA_CERTS: fakes.caFile, PORT: String(port), DATABASE_URI: `${postgres}/${database}`,
      APP_ID: appId, MASTER_KEY: masterKey,
    },
  });
  const kill = () => child.kill('SIGKILL');
  process.on('exit', kill);
  const url = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('parse-server did not start')), startTimeoutMs);
    readline.createInterface({ input: child.stdout }).on('line', (line) => {
      const match = /^parse-server listening on (http:\/\/\S+)$/.exec(line);
      if (match) {
        clearTimeout(timer);
        resolve(match[1]);
      }
    });
    child.once('exit', (code) => reject(new Error(`parse-server exited with ${code}`)));
  });
  const version = JSON.parse(await readFile(path.join(parseDir, 'node_modules', 'parse-server', 'package.json'), 'utf8')).version;
  const adapter = JSON.parse(await readFile(path.join(parseDir, 'node_modules', '@parse', 'push-adapter', 'package.json'), 'utf8')).version;
  return {
    name: `Parse Server ${version} with @parse/push-adapter ${adapter} (Node ${process.version}, PostgreSQL)`,
    child, url, mount: '/parse',
    stop: async () => {
      process.off('exit', kill);
      await stopChild(child);
      await rm(workDir, { recursive: true, force: true });
      execFileSync('psql', [`${postgres}/postgres`, '-qc', `DROP DATABASE IF EXISTS "${database}" WITH (FORCE)`]);
    },
  };
}

/** parse-server 9.10.0 (with the router override its /batch needs) under ~/.cache/basalt-bench. */
async function installParse() {
  const directory = path.join(homedir(), '.cache', 'basalt-bench', `parse-server-push-${parseServerVersion}`);
  if (existsSync(path.join(directory, 'node_modules', 'parse-server'))) return directory;
  await mkdir(directory, { recursive: true });
  await writeFile(path.join(directory, 'package.json'), JSON.stringify({
    name: 'bench-parse-push', private: true,
    dependencies: { 'parse-server': parseServerVersion }, overrides: { router: '2.2.0' },
  }, null, 2));
  console.error(`installing parse-server ${parseServerVersion} into ${directory}`);
  execFileSync('npm', ['install', '--no-audit', '--no-fund'], { cwd: directory, stdio: 'inherit' });
  return directory;
}

function freePort() {
  return new Promise((resolve, reject) => {
    const probe = http.createServer();
    probe.once('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const { port } = probe.address();
      probe.close(() => resolve(port));
    });
  });
}

async function stopChild(child) {
  if (child.exitCode !== null || child.signalCode !== null) return;
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
  await new Promise((resolve) => child.once('exit', resolve));
  clearTimeout(timer);
}

// ---------------------------------------------------------------------------------------------
// Plumbing.

function restClient(serverURL) {
  const { hostname, port, pathname } = new URL(serverURL);
  const mount = pathname.replace(/\/$/, '');
  const agent = new http.Agent({ keepAlive: true, maxSockets: batchesInFlight + 2 });
  return (method, route, body) => new Promise((resolve, reject) => {
    const payload = body === undefined ? undefined : JSON.stringify(body);
    const request = http.request({
      hostname, port, method, path: `${mount}${route}`, agent,
      headers: {
        'X-Parse-Application-Id': appId, 'X-Parse-Master-Key': masterKey,
        ...(payload === undefined ? {} : { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(payload) }),
      },
    }, (response) => {
      let text = '';
      response.setEncoding('utf8');
      response.on('data', (chunk) => (text += chunk));
      response.on('end', () => {
        let parsed = text;
        try {
          parsed = JSON.parse(text);
        } catch { /* text */ }
        resolve({ status: response.statusCode, headers: response.headers, body: parsed });
      });
      response.on('error', reject);
    });
    request.on('error', reject);
    request.end(payload);
  });
}

/** Keeps the last lines of the server's stderr (and drains it). */
function watchStderr(child) {
  const log = { tail: [] };
  readline.createInterface({ input: child.stderr }).on('line', (line) => {
    log.tail.push(line);
    if (log.tail.length > 20) log.tail.shift();
  });
  return log;
}

async function resetPeak(pid) {
  try {
    await writeFile(`/proc/${pid}/clear_refs`, '5');
    return true;
  } catch {
    return false;
  }
}

async function procStatusMib(pid, field) {
  try {
    const text = await readFile(`/proc/${pid}/status`, 'utf8');
    const match = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(text);
    return match ? (Number(match[1]) / 1024).toFixed(1) : '?';
  } catch {
    return '?';
  }
}

/** utime + stime of a process, in seconds (from /proc/<pid>/stat, clock ticks of 1/100 s). */
async function cpuSeconds(pid) {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

/** Splits `total` by the mix's percentages (the remainder to the first kinds). */
function split(total, mix) {
  const counts = Object.fromEntries(kinds.map((kind) => [kind, Math.floor((total * (mix[kind] ?? 0)) / 100)]));
  let left = total - Object.values(counts).reduce((a, b) => a + b, 0);
  for (const kind of kinds) {
    if (left === 0) break;
    if ((mix[kind] ?? 0) > 0) {
      counts[kind] += 1;
      left -= 1;
    }
  }
  return counts;
}

function parseArgs(argv) {
  const dashes = argv.indexOf('--');
  const own = dashes === -1 ? argv : argv.slice(0, dashes);
  const serveArgs = dashes === -1 ? [] : argv.slice(dashes + 1);
  const options = { installations: 100_000, mix: { ios: 40, android: 40, expo: 15, web: 5 }, servers: ['basalt'], timeoutS: 1800, serveArgs };
  const usage = 'usage: push.mjs [--installations N] [--mix ios=40,android=40,expo=15,web=5] [--server basalt|parse|both] [--timeout S] [-- serve args]';
  for (let i = 0; i < own.length; i += 1) {
    const value = own[i + 1];
    switch (own[i]) {
      case '--installations': options.installations = Number(value); break;
      case '--timeout': options.timeoutS = Number(value); break;
      case '--server':
        if (!['basalt', 'parse', 'both'].includes(value)) throw new Error(usage);
        options.servers = value === 'both' ? ['basalt', 'parse'] : [value];
        break;
      case '--mix':
        options.mix = Object.fromEntries(value.split(',').map((part) => {
          const [kind, share] = part.split('=');
          if (!kinds.includes(kind)) throw new Error(`--mix: unknown kind ${kind} (${kinds.join(', ')})`);
          return [kind, Number(share)];
        }));
        break;
      default: throw new Error(`unknown argument ${own[i]}; ${usage}`);
    }
    i += 1;
  }
  const sum = Object.values(options.mix).reduce((a, b) => a + b, 0);
  if (Math.abs(sum - 100) > 1e-9) throw new Error(`--mix percentages must add up to 100 (got ${sum})`);
  if (!Number.isInteger(options.installations) || options.installations <= 0) throw new Error('--installations must be a positive integer');
  return options;
}

await main();
