// LiveQuery delivery benchmark (issue 5): N WebSocket clients subscribed to one class, objects saved
// over REST at a steady rate; measures how long each save takes to reach every subscriber, and the
// save rate the server sustains while delivering. Not part of the test suite.
//
//   cargo build --release -j2 && (cd bench && npm ci) && node bench/livequery.mjs
//   node bench/livequery.mjs [--clients 1000] [--rate 100] [--duration 10]
//                            [--writers 8] [--max-duration 5] [--workers 1] [--payload-bytes 0]
//                            [-- extra serve args]
//
// Every option can also come from the environment: LQ_CLIENTS, LQ_RATE, LQ_DURATION, LQ_WRITERS,
// LQ_MAX_DURATION, LQ_WORKERS, LQ_PAYLOAD_BYTES (a command-line option wins). `--payload-bytes B`
// adds a B-byte string field `pad` to every object, to see how frame size weighs. BASALT_BIN
// overrides the binary (default target/release/basalt; this script builds nothing).
// `--max-duration 0` skips phase 2.
//
// What it does:
//  1. Starts `basalt serve --port 0` on a fresh data dir with LiveQuery on for every class, and
//     creates the class Tick (fields n, sentAt: Number) with the master key.
//  2. Opens N raw WebSocket clients (the `ws` package, in worker threads so that receiving events
//     does not delay the timestamps of the HTTP saves in the main thread); each sends `connect`,
//     then `subscribe` to Tick with where {}; the benchmark starts once all N `subscribed` arrived.
//  3. Phase 1, steady rate: saves `POST /parse/classes/Tick {n, sentAt}` at R per second for D
//     seconds over keep-alive HTTP (a pacing timer sends every save that is due). For each save it
//     records when it was sent and when its response arrived; each client records when each
//     `create` event arrived (matched by `n`). Latency = event arrival − that save's response
//     arrival (negative when the event beats the response; reported as measured), and also from
//     the save's send time.
//  4. Phase 2, saturation: W writers save back to back for the given seconds; reports the save
//     rate achieved and the delivery latencies there.
//  5. Reports per phase: deliveries received vs expected, latency p50/p90/p99/max, the spread
//     between the first and the last client to get each save, the server's CPU time
//     (utime+stime from /proc/<pid>/stat), its peak RSS (VmHWM from /proc/<pid>/status), and the
//     machine's CPU use (from /proc/stat) split into server / this benchmark / everything else, as
//     the benchmark's own clients run on the same machine.
// Nothing waits by sleeping: every wait is for a frame, a response or a worker's message, with a
// timeout only as the failure bound. Exits non-zero when a phase misses deliveries.

import { execFileSync, spawn } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import http from 'node:http';
import { tmpdir, cpus, loadavg } from 'node:os';
import path from 'node:path';
import readline from 'node:readline';
import { fileURLToPath } from 'node:url';
import { Worker, isMainThread, parentPort, workerData } from 'node:worker_threads';

import { listening } from './server.mjs';

const now = () => performance.timeOrigin + performance.now(); // comparable across threads

// ---------------------------------------------------------------------------------------------
// Main thread: the server, the saves, the report.

async function main() {
  const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
  const options = parseArgs(process.argv.slice(2));
  const bin = process.env.BASALT_BIN ?? path.join(repoRoot, 'target', 'release', 'basalt');
  const appId = 'bench';
  const masterKey = 'bench-master';
  const startTimeoutMs = 20_000;
  const setupTimeoutMs = 120_000;

  const dataDir = await mkdtemp(path.join(tmpdir(), 'basalt-livequery-bench-'));
  const child = spawn(
    bin,
    ['serve', '--port', '0', '--data-dir', dataDir, '--app-id', appId, '--master-key', masterKey,
      '--live-query-classes', '*', ...options.serveArgs],
    { stdio: ['ignore', 'pipe', 'pipe'], env: { RUST_LOG: 'warn', ...process.env } },
  );
  process.on('exit', () => child.kill('SIGKILL'));
  const serverLog = watchStderr(child);
  const workers = [];
  let failed = false;

  try {
    const serverURL = await listening(child, startTimeoutMs);
    const { hostname, port, pathname } = new URL(serverURL);
    const mount = pathname.replace(/\/$/, '');
    const wsURL = `ws://${hostname}:${port}${mount}`;
    const agent = new http.Agent({ keepAlive: true, maxSockets: Math.max(8, options.writers) });
    const rest = (method, route, body, headers = {}) =>
      request(agent, { hostname, port, method, path: `${mount}${route}` },
        { 'X-Parse-Application-Id': appId, ...headers }, body);

    const machine = `${cpus().length} CPUs (${cpus()[0]?.model ?? '?'}), load average ${loadavg().map((l) => l.toFixed(2)).join(' ')}`;
    console.log(`server: ${bin} (pid ${child.pid}) at ${serverURL}, LiveQuery at ${wsURL}`);
    console.log(`machine: ${machine}`);
    console.log(`clients: ${options.clients} in ${options.workers} worker thread(s); ` +
      `phase 1: ${options.rate} saves/s for ${options.duration} s; ` +
      (options.maxDuration > 0 ? `phase 2: ${options.writers} writers back to back for ${options.maxDuration} s` : 'phase 2: skipped') +
      (options.payloadBytes ? `; each object carries a ${options.payloadBytes}-byte string` : ''));

    const schema = await rest('POST', '/schemas/Tick',
      { className: 'Tick', fields: { n: { type: 'Number' }, sentAt: { type: 'Number' },
        ...(options.payloadBytes ? { pad: { type: 'String' } } : {}) } },
      { 'X-Parse-Master-Key': masterKey });
    if (schema.status !== 200 && schema.status !== 201) throw new Error(`creating Tick answered ${schema.status}: ${schema.body}`);

    // Clients, split across worker threads.
    const setupStart = now();
    const shares = split(options.clients, options.workers);
    let offset = 0;
    for (const count of shares) {
      workers.push(startWorker({ wsURL, appId, count, firstIndex: offset, clients: options.clients }));
      offset += count;
    }
    await within(Promise.all(workers.map((worker) => worker.next('ready'))), setupTimeoutMs,
      `${options.clients} clients to connect and subscribe`);
    console.log(`setup: ${options.clients} clients connected and subscribed in ${((now() - setupStart) / 1000).toFixed(2)} s; ` +
      `server RSS ${await procStatusMib(child.pid, 'VmRSS')} MiB`);

    const saves = []; // index n: {sentAt, respondedAt, status}
    const pad = 'x'.repeat(options.payloadBytes);
    const save = async (n) => {
      const sentAt = now();
      const record = { sentAt, respondedAt: NaN, status: 0 };
      saves[n] = record;
      const response = await rest('POST', '/classes/Tick', pad ? { n, sentAt, pad } : { n, sentAt }, {});
      record.respondedAt = now();
      record.status = response.status;
      if (response.status !== 201) throw new Error(`save ${n} answered ${response.status}: ${response.body}`);
    };
    const drainTimeoutMs = 30_000;
    const reportPhase = async (title, first, count, wall, usage) => {
      const settled = await settle(workers, first + count, drainTimeoutMs);
      const lastDeliveryAt = settled.lastDeliveryAt;
      const { parts, frameBytes } = await collect(workers);
      const result = analyse(saves, parts, first, count, options.clients);
      const answered = saves.slice(first, first + count).filter((s) => s.status === 201).length;
      const roundTrips = saves.slice(first, first + count).map((s) => s.respondedAt - s.sentAt);
      const lastResponse = Math.max(...saves.slice(first, first + count).map((s) => s.respondedAt));
      console.log(`\n${title}`);
      console.log(`  saves: ${count} sent, ${answered} answered 201 in ${(wall.seconds).toFixed(2)} s ` +
        `= ${(count / wall.seconds).toFixed(1)} saves/s achieved; save round trip ${fmtStats(roundTrips)}` +
        (wall.note ? `; ${wall.note}` : ''));
      console.log(`  deliveries: ${result.received} of ${result.expected} expected` +
        ` (missing ${result.expected - result.received}, duplicates ${result.duplicates},` +
        ` clients dropped so far ${settled.closed}, error frames so far ${settled.errors})` +
        `${settled.timedOut ? ` — gave up waiting ${drainTimeoutMs / 1000} s after the last save` : ''}; ` +
        `create frames ${result.received ? Math.round(frameBytes / result.received) : '?'} bytes on average, ` +
        `${(frameBytes / 1024 / 1024 / wall.seconds).toFixed(1)} MiB/s`);
      console.log(`  latency from save response, ms: ${fmtStats(result.fromResponse)}`);
      console.log(`  latency from save sent, ms:     ${fmtStats(result.fromSend)}`);
      console.log(`  spread first→last client per save, ms: ${fmtStats(result.spread)}`);
      console.log(`  last delivery ${Number.isFinite(lastDeliveryAt) ? (lastDeliveryAt - lastResponse).toFixed(1) : '?'} ms after the last save's response`);
      console.log(`  server: CPU ${usage.serverSeconds.toFixed(2)} s (${pct(usage.serverSeconds, usage.wallSeconds)} of one core), ` +
        `peak RSS (VmHWM) ${await procStatusMib(child.pid, 'VmHWM')} MiB, RSS now ${await procStatusMib(child.pid, 'VmRSS')} MiB`);
      console.log(`  machine CPU over the phase (${usage.wallSeconds.toFixed(2)} s, ${usage.cores} cores): busy ${pct(usage.busySeconds, usage.wallSeconds * usage.cores)}` +
        ` — server ${pct(usage.serverSeconds, usage.wallSeconds * usage.cores)}, benchmark ${pct(usage.benchSeconds, usage.wallSeconds * usage.cores)},` +
        ` other ${pct(Math.max(0, usage.busySeconds - usage.serverSeconds - usage.benchSeconds), usage.wallSeconds * usage.cores)}`);
      return result.expected === result.received && result.duplicates === 0;
    };

    // Phase 1: steady rate.
    const total1 = Math.round(options.rate * options.duration);
    const usage1 = startUsage(child.pid);
    const lags = [];
    const phase1Start = now();
    await new Promise((resolve, reject) => {
      let next = 0;
      let outstanding = 0;
      const interval = 1000 / options.rate;
      const tick = () => {
        const t = now();
        while (next < total1 && phase1Start + next * interval <= t) {
          lags.push(t - (phase1Start + next * interval));
          outstanding += 1;
          save(next).then(() => {
            outstanding -= 1;
            if (next === total1 && outstanding === 0) resolve();
          }, reject);
          next += 1;
        }
        if (next < total1) setTimeout(tick, Math.max(0, phase1Start + next * interval - now()));
      };
      tick();
    });
    const phase1Wall = (Math.max(...saves.slice(0, total1).map((s) => s.respondedAt)) - phase1Start) / 1000;
    const ok1 = await reportPhase(
      `phase 1 — steady rate: ${options.rate} saves/s for ${options.duration} s to ${options.clients} subscribers`,
      0, total1,
      { seconds: phase1Wall, note: `pacing lag (send − due) ${fmtStats(lags)}` },
      await usage1.stop());
    failed ||= !ok1;

    // Phase 2: as fast as W writers can save.
    if (options.maxDuration > 0) {
      const first = total1;
      let next = first;
      const usage2 = startUsage(child.pid);
      const phase2Start = now();
      const phase2End = phase2Start + options.maxDuration * 1000;
      await Promise.all(Array.from({ length: options.writers }, async () => {
        while (now() < phase2End) await save(next++);
      }));
      const count = next - first;
      const phase2Wall = (Math.max(...saves.slice(first, next).map((s) => s.respondedAt)) - phase2Start) / 1000;
      const ok2 = await reportPhase(
        `phase 2 — saturation: ${options.writers} writers back to back for ${options.maxDuration} s to ${options.clients} subscribers`,
        first, count, { seconds: phase2Wall }, await usage2.stop());
      failed ||= !ok2;
    }
    console.log(`\nserver totals: CPU ${(await serverCpuSeconds(child.pid)).toFixed(2)} s, peak RSS (VmHWM) ${await procStatusMib(child.pid, 'VmHWM')} MiB; ` +
      `"fell behind" warnings in its log: ${serverLog.fellBehind}; load average now ${loadavg().map((l) => l.toFixed(2)).join(' ')}`);
    agent.destroy();
  } catch (error) {
    failed = true;
    console.error(`benchmark failed: ${error.stack ?? error}`);
    if (serverLog.tail.length) console.error(`server stderr (last lines):\n${serverLog.tail.join('\n')}`);
  } finally {
    await Promise.all(workers.map((worker) => worker.stop()));
    child.kill('SIGTERM');
    await new Promise((resolve) => (child.exitCode === null && child.signalCode === null ? child.once('exit', resolve) : resolve()));
    await rm(dataDir, { recursive: true, force: true });
  }
  process.exitCode = failed ? 1 : 0;
}

function parseArgs(argv) {
  const dashes = argv.indexOf('--');
  const own = dashes === -1 ? argv : argv.slice(0, dashes);
  const serveArgs = dashes === -1 ? [] : argv.slice(dashes + 1);
  const env = process.env;
  const options = {
    clients: Number(env.LQ_CLIENTS ?? 1000),
    rate: Number(env.LQ_RATE ?? 100),
    duration: Number(env.LQ_DURATION ?? 10),
    writers: Number(env.LQ_WRITERS ?? 8),
    maxDuration: Number(env.LQ_MAX_DURATION ?? 5),
    workers: Number(env.LQ_WORKERS ?? 1),
    payloadBytes: Number(env.LQ_PAYLOAD_BYTES ?? 0),
  };
  const names = { '--clients': 'clients', '--rate': 'rate', '--duration': 'duration', '--writers': 'writers',
    '--max-duration': 'maxDuration', '--workers': 'workers', '--payload-bytes': 'payloadBytes' };
  for (let i = 0; i < own.length; i += 1) {
    const name = names[own[i]];
    if (!name) {
      throw new Error(`unknown argument ${own[i]}; usage: livequery.mjs [--clients N] [--rate R] [--duration S] ` +
        '[--writers W] [--max-duration S] [--workers K] [--payload-bytes B] [-- serve args]');
    }
    options[name] = Number(own[++i]);
  }
  for (const [name, value] of Object.entries(options)) {
    const positive = name === 'maxDuration' || name === 'payloadBytes' ? value >= 0 : value > 0;
    if (!Number.isFinite(value) || !positive) throw new Error(`${name} must be a positive number, got ${value}`);
  }
  for (const name of ['clients', 'writers', 'workers', 'payloadBytes']) {
    if (!Number.isInteger(options[name])) throw new Error(`${name} must be an integer`);
  }
  options.workers = Math.min(options.workers, options.clients);
  return { ...options, serveArgs };
}

/** Keeps the last lines of the server's stderr and counts the hub's "fell behind" warnings. */
function watchStderr(server) {
  const log = { tail: [], fellBehind: 0 };
  readline.createInterface({ input: server.stderr }).on('line', (line) => {
    if (line.includes('fell behind')) log.fellBehind += 1;
    log.tail.push(line);
    if (log.tail.length > 20) log.tail.shift();
  });
  return log;
}

function request(agent, target, headers, body) {
  const payload = body === undefined ? undefined : JSON.stringify(body);
  return new Promise((resolve, reject) => {
    const req = http.request({
      ...target,
      agent,
      headers: payload === undefined ? headers
        : { ...headers, 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(payload) },
    }, (response) => {
      let text = '';
      response.setEncoding('utf8');
      response.on('data', (chunk) => (text += chunk));
      response.on('end', () => resolve({ status: response.statusCode, body: text }));
      response.on('error', reject);
    });
    req.on('error', reject);
    req.end(payload);
  });
}

function within(promise, timeoutMs, what) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)), timeoutMs);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

function split(total, parts) {
  return Array.from({ length: parts }, (_, i) => Math.floor(total / parts) + (i < total % parts ? 1 : 0));
}

/** A worker thread holding `count` clients; `next(type)` waits for its next message of a type. */
function startWorker(data) {
  const worker = new Worker(new URL(import.meta.url), { workerData: data });
  const waiting = new Map(); // type -> [resolve, reject]
  const queued = new Map(); // type -> messages that arrived before anyone waited
  let failure = null;
  const fail = (error) => {
    failure = error;
    for (const [, [, reject]] of waiting) reject(error);
    waiting.clear();
  };
  worker.on('message', (message) => {
    if (message.type === 'fatal') return fail(new Error(`client worker: ${message.error}`));
    const waiter = waiting.get(message.type);
    if (waiter) {
      waiting.delete(message.type);
      waiter[0](message);
    } else {
      if (!queued.has(message.type)) queued.set(message.type, []);
      queued.get(message.type).push(message);
    }
  });
  worker.on('error', fail);
  const exited = new Promise((resolve) => worker.once('exit', resolve));
  return {
    send: (message) => worker.postMessage(message),
    next(type) {
      if (failure) return Promise.reject(failure);
      if (queued.get(type)?.length) return Promise.resolve(queued.get(type).shift());
      return new Promise((resolve, reject) => waiting.set(type, [resolve, reject]));
    },
    async stop() {
      worker.postMessage({ type: 'stop' });
      await within(exited, 10_000, 'a client worker to stop').catch(() => worker.terminate());
    },
  };
}

/** Waits until every client got `perClient` events in all (or closed), or the failure bound. */
async function settle(workers, perClient, timeoutMs) {
  for (const worker of workers) worker.send({ type: 'await', perClient });
  const answers = await Promise.race([
    Promise.all(workers.map((worker) => worker.next('settled'))),
    new Promise((resolve) => setTimeout(() => resolve(null), timeoutMs).unref()),
  ]);
  if (answers) {
    return {
      timedOut: false,
      lastDeliveryAt: Math.max(...answers.map((a) => a.lastDeliveryAt)),
      closed: answers.reduce((sum, a) => sum + a.closed, 0),
      errors: answers.reduce((sum, a) => sum + a.errors, 0),
    };
  }
  // Timed out: the report still counts whatever arrived; a late `settled` is dropped below.
  for (const worker of workers) worker.send({ type: 'cancel' });
  const late = await Promise.all(workers.map((worker) => worker.next('settled')));
  return {
    timedOut: true,
    lastDeliveryAt: Math.max(...late.map((a) => a.lastDeliveryAt)),
    closed: late.reduce((sum, a) => sum + a.closed, 0),
    errors: late.reduce((sum, a) => sum + a.errors, 0),
  };
}

/** Every delivery recorded since the last collect, as [n × clients + clientIndex, arrivedAt] pairs. */
async function collect(workers) {
  for (const worker of workers) worker.send({ type: 'collect' });
  const parts = await Promise.all(workers.map((worker) => worker.next('collected')));
  return {
    parts: parts.map((part) => new Float64Array(part.buffer, 0, part.length)),
    frameBytes: parts.reduce((sum, part) => sum + part.frameBytes, 0),
  };
}

function analyse(saves, parts, first, count, clients) {
  const expected = count * clients;
  const seen = new Uint8Array(expected);
  let received = 0;
  let fromResponse = new Float64Array(expected);
  let fromSend = new Float64Array(expected);
  const firstAt = new Float64Array(count).fill(Infinity);
  const lastAt = new Float64Array(count).fill(-Infinity);
  let duplicates = 0;
  for (const part of parts) {
    for (let i = 0; i < part.length; i += 2) {
      const key = part[i];
      const at = part[i + 1];
      const n = Math.floor(key / clients);
      const client = key - n * clients;
      if (n < first || n >= first + count) continue;
      const k = n - first;
      const slot = k * clients + client;
      if (seen[slot]) {
        duplicates += 1;
        continue;
      }
      seen[slot] = 1;
      fromResponse[received] = at - saves[n].respondedAt;
      fromSend[received] = at - saves[n].sentAt;
      received += 1;
      if (at < firstAt[k]) firstAt[k] = at;
      if (at > lastAt[k]) lastAt[k] = at;
    }
  }
  const spread = [];
  for (let k = 0; k < count; k += 1) if (Number.isFinite(firstAt[k])) spread.push(lastAt[k] - firstAt[k]);
  fromResponse = fromResponse.subarray(0, received);
  fromSend = fromSend.subarray(0, received);
  return { expected, received, duplicates, fromResponse, fromSend, spread };
}

function fmtStats(values) {
  if (!values.length) return 'no samples';
  const sorted = Float64Array.from(values).sort(); // a copy: typed arrays sort numerically
  const at = (q) => sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))];
  const f = (v) => v.toFixed(1);
  return `p50 ${f(at(0.5))} p90 ${f(at(0.9))} p99 ${f(at(0.99))} max ${f(sorted[sorted.length - 1])} (min ${f(sorted[0])}, n=${sorted.length})`;
}

function pct(part, whole) {
  return `${((100 * part) / whole).toFixed(0)}%`;
}

async function procStatusMib(pid, field) {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  const kib = Number(new RegExp(`^${field}:\\s+(\\d+) kB$`, 'm').exec(status)[1]);
  return Math.round(kib / 1024);
}

let clockTicks;
function ticksPerSecond() {
  if (clockTicks === undefined) {
    try {
      clockTicks = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
    } catch {
      clockTicks = 100;
    }
  }
  return clockTicks;
}

/** utime + stime of a process, in seconds. */
async function serverCpuSeconds(pid) {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' '); // fields[0] is field 3 (state)
  return (Number(fields[11]) + Number(fields[12])) / ticksPerSecond();
}

/** Busy and total CPU seconds of the whole machine (all cores) from /proc/stat. */
async function machineCpuSeconds() {
  const line = (await readFile('/proc/stat', 'utf8')).split('\n')[0];
  const values = line.trim().split(/\s+/).slice(1).map(Number);
  const [user, nice, system, idle, iowait, irq, softirq, steal] = values;
  return { busy: (user + nice + system + irq + softirq + steal) / ticksPerSecond(), idle: (idle + iowait) / ticksPerSecond() };
}

/** CPU use of the server, this process (all its threads) and the machine over a phase. */
function startUsage(pid) {
  const startWall = now();
  const startBench = process.cpuUsage();
  const started = Promise.all([serverCpuSeconds(pid), machineCpuSeconds()]);
  return {
    async stop() {
      const [serverStart, machineStart] = await started;
      const [serverEnd, machineEnd] = await Promise.all([serverCpuSeconds(pid), machineCpuSeconds()]);
      const bench = process.cpuUsage(startBench);
      return {
        wallSeconds: (now() - startWall) / 1000,
        cores: cpus().length,
        serverSeconds: serverEnd - serverStart,
        benchSeconds: (bench.user + bench.system) / 1e6,
        busySeconds: machineEnd.busy - machineStart.busy,
      };
    },
  };
}

// ---------------------------------------------------------------------------------------------
// Client worker: `count` WebSocket clients, each connected and subscribed to Tick with where {}.

async function clientWorker({ wsURL, appId, count, firstIndex, clients: clientsTotal }) {
  const { default: WebSocket } = await import('ws');
  const connectConcurrency = 100;
  const initialCapacity = 2 * 1024 * 1024;
  let deliveries = new Float64Array(initialCapacity);
  let length = 0;
  let errors = 0;
  let frameBytes = 0;
  let closedCount = 0;
  let lastDeliveryAt = -Infinity;
  let target = Infinity; // events per client awaited by the main thread
  let behind = 0; // open clients with fewer than `target` events
  let stopping = false;
  const clients = [];

  const record = (n, at, index) => {
    if (length + 2 > deliveries.length) {
      const grown = new Float64Array(deliveries.length * 2);
      grown.set(deliveries.subarray(0, length));
      deliveries = grown;
    }
    deliveries[length] = n * clientsTotal + index;
    deliveries[length + 1] = at;
    length += 2;
  };
  const settledMessage = () => ({ type: 'settled', lastDeliveryAt, closed: closedCount, errors });
  const maybeSettled = () => {
    if (behind === 0 && target !== Infinity) {
      target = Infinity;
      parentPort.postMessage(settledMessage());
    }
  };

  const open = (index) => new Promise((resolve, reject) => {
    const client = { socket: new WebSocket(wsURL, { perMessageDeflate: false }), events: 0, closed: false, subscribed: false };
    clients.push(client);
    const { socket } = client;
    socket.on('open', () => socket.send(JSON.stringify({ op: 'connect', applicationId: appId })));
    socket.on('message', (data) => {
      const at = now();
      const frame = JSON.parse(data);
      if (frame.op === 'create') {
        if (frame.requestId !== 1 || frame.object?.className !== 'Tick' || typeof frame.object.n !== 'number') {
          throw new Error(`unexpected create frame ${String(data)}`);
        }
        record(frame.object.n, at, index);
        frameBytes += data.length;
        if (at > lastDeliveryAt) lastDeliveryAt = at;
        client.events += 1;
        if (client.events === target) {
          behind -= 1;
          maybeSettled();
        }
      } else if (frame.op === 'connected') {
        socket.send(JSON.stringify({ op: 'subscribe', requestId: 1, query: { className: 'Tick', where: {} } }));
      } else if (frame.op === 'subscribed') {
        client.subscribed = true;
        resolve();
      } else if (frame.op === 'error') {
        errors += 1;
        if (!client.subscribed) reject(new Error(`client ${index}: ${String(data)}`));
      } else {
        throw new Error(`client ${index}: unexpected frame ${String(data)}`);
      }
    });
    socket.on('error', (error) => {
      if (!client.subscribed) reject(error);
    });
    socket.on('close', () => {
      client.closed = true;
      if (!client.subscribed) reject(new Error(`client ${index} closed before subscribing`));
      if (stopping) return;
      closedCount += 1;
      if (client.events < target) {
        behind -= 1;
        maybeSettled();
      }
    });
  });

  parentPort.on('message', (message) => {
    if (message.type === 'await') {
      target = message.perClient;
      behind = clients.filter((client) => !client.closed && client.events < target).length;
      maybeSettled();
    } else if (message.type === 'cancel') {
      target = Infinity;
      parentPort.postMessage(settledMessage());
    } else if (message.type === 'collect') {
      const { buffer } = deliveries;
      parentPort.postMessage({ type: 'collected', buffer, length, frameBytes }, [buffer]);
      deliveries = new Float64Array(initialCapacity);
      length = 0;
      frameBytes = 0;
    } else if (message.type === 'stop') {
      stopping = true;
      for (const client of clients) client.socket.terminate();
      parentPort.close();
    }
  });

  try {
    let nextIndex = 0;
    await Promise.all(Array.from({ length: Math.min(connectConcurrency, count) }, async () => {
      while (nextIndex < count) {
        const index = nextIndex++;
        await open(firstIndex + index);
      }
    }));
    parentPort.postMessage({ type: 'ready' });
  } catch (error) {
    parentPort.postMessage({ type: 'fatal', error: String(error?.stack ?? error) });
  }
}

// Last, so that every module-level binding above is initialised first.
if (isMainThread) {
  await main();
} else {
  await clientWorker(workerData);
}
