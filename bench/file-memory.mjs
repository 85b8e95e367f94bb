// Measures how much memory the server needs to stream a large file both ways (issue 6: uploading
// or downloading a 1 GiB file keeps the server's memory flat). Not part of the test suite.
//
//   cargo build --release -p basalt && node bench/file-memory.mjs [--size-mib 1024] [-- extra serve args]
//
// Starts `target/release/basalt serve` (or BASALT_BIN) on a fresh data dir with
// `--max-upload-size 2gb`, uploads a file of pseudo-random bytes generated on the fly (AES-CTR
// keystream, so nothing large lives in this process either) as a raw body with Content-Length,
// then downloads it while hashing, and compares the SHA-256 of both directions. The server's peak
// resident set comes from VmHWM in /proc/<pid>/status; it is reset between the phases by writing 5
// to /proc/<pid>/clear_refs (Linux, as root or the same user), so each phase reports its own peak.
// Uses only Node's standard library, so it runs from any directory without npm.

import { spawn } from 'node:child_process';
import { createCipheriv, createHash, randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import http from 'node:http';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';

import { listening } from './server.mjs';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const mib = 1024 * 1024;
const chunkBytes = mib;
const startTimeoutMs = 20_000;
const appId = 'bench-app';
const masterKey = 'bench-master';

const { sizeMib, serveArgs } = parseArgs(process.argv.slice(2));
const size = sizeMib * mib;
const bin = process.env.BASALT_BIN ?? path.join(repoRoot, 'target', 'release', 'basalt');

const dataDir = await mkdtemp(path.join(tmpdir(), 'basalt-file-memory-'));
const child = spawn(
  bin,
  ['serve', '--port', '0', '--data-dir', dataDir, '--app-id', appId, '--master-key', masterKey,
    '--max-upload-size', '2gb', ...serveArgs],
  { stdio: ['ignore', 'pipe', 'inherit'] },
);
process.on('exit', () => child.kill('SIGKILL'));

try {
  const serverURL = await listening(child, startTimeoutMs);
  console.log(`server: ${bin} (pid ${child.pid}) at ${serverURL}`);
  console.log(`file: ${sizeMib} MiB of pseudo-random bytes`);
  console.log(`baseline peak RSS: ${await peakRssMib(child.pid)} MiB`);

  resetPeak(child.pid);
  const uploadStart = performance.now();
  const { status, body, sha256: sent } = await uploadFile(serverURL, size);
  const uploadSeconds = (performance.now() - uploadStart) / 1000;
  if (status !== 201) throw new Error(`upload answered ${status}: ${body}`);
  const { url } = JSON.parse(body);
  console.log(`upload: ${rate(uploadSeconds)}, peak RSS: ${await peakRssMib(child.pid)} MiB`);

  const peakWasReset = await resetPeak(child.pid);
  const downloadStart = performance.now();
  const received = await downloadFile(url);
  const downloadSeconds = (performance.now() - downloadStart) / 1000;
  console.log(`download: ${rate(downloadSeconds)}, peak RSS: ${await peakRssMib(child.pid)} MiB${
    peakWasReset ? '' : ' (VmHWM could not be reset: this is the peak since start)'}`);

  if (received.bytes !== size) throw new Error(`downloaded ${received.bytes} bytes, uploaded ${size}`);
  if (received.sha256 !== sent) throw new Error(`download SHA-256 ${received.sha256} differs from upload's ${sent}`);
  console.log(`sha256 of both directions: ${sent}`);
} finally {
  child.kill('SIGTERM');
  await new Promise((resolve) => (child.exitCode === null ? child.once('exit', resolve) : resolve()));
  await rm(dataDir, { recursive: true, force: true });
}

function parseArgs(argv) {
  const dashes = argv.indexOf('--');
  const own = dashes === -1 ? argv : argv.slice(0, dashes);
  const serveArgs = dashes === -1 ? [] : argv.slice(dashes + 1);
  let sizeMib = 1024;
  for (let i = 0; i < own.length; i += 1) {
    if (own[i] === '--size-mib') sizeMib = Number(own[++i]);
    else throw new Error(`unknown argument ${own[i]}; usage: file-memory.mjs [--size-mib N] [-- serve args]`);
  }
  if (!Number.isInteger(sizeMib) || sizeMib <= 0) throw new Error('--size-mib needs a positive integer');
  return { sizeMib, serveArgs };
}

/** VmHWM (peak resident set since start or the last reset) of `pid`, in MiB. */
async function peakRssMib(pid) {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  const kib = Number(/^VmHWM:\s+(\d+) kB$/m.exec(status)[1]);
  return Math.round(kib / 1024);
}

/** Resets VmHWM to the current RSS; false when the kernel or permissions do not allow it. */
async function resetPeak(pid) {
  try {
    await writeFile(`/proc/${pid}/clear_refs`, '5');
    return true;
  } catch {
    return false;
  }
}

/** A stream of `total` pseudo-random bytes, hashed as they go; `digest()` once it has ended. */
function randomSource(total) {
  const cipher = createCipheriv('aes-128-ctr', randomBytes(16), randomBytes(16));
  const zeros = Buffer.alloc(chunkBytes);
  const hash = createHash('sha256');
  let left = total;
  const stream = new Readable({
    highWaterMark: 4 * chunkBytes,
    read() {
      if (left === 0) {
        this.push(null);
        return;
      }
      const length = Math.min(chunkBytes, left);
      const chunk = cipher.update(zeros.subarray(0, length));
      left -= length;
      hash.update(chunk);
      this.push(chunk);
    },
  });
  return { stream, digest: () => hash.digest('hex') };
}

function uploadFile(serverURL, total) {
  const source = randomSource(total);
  return new Promise((resolve, reject) => {
    const request = http.request(`${serverURL}/files/big.bin`, {
      method: 'POST',
      headers: {
        'X-Parse-Application-Id': appId,
        'X-Parse-Master-Key': masterKey,
        'Content-Type': 'application/octet-stream',
        'Content-Length': String(total),
      },
    }, (response) => {
      let body = '';
      response.setEncoding('utf8');
      response.on('data', (text) => (body += text));
      response.on('end', () => resolve({ status: response.statusCode, body, sha256: source.digest() }));
      response.on('error', reject);
    });
    request.on('error', reject);
    source.stream.pipe(request);
  });
}

function downloadFile(url) {
  return new Promise((resolve, reject) => {
    http.get(url, (response) => {
      if (response.statusCode !== 200) {
        reject(new Error(`download answered ${response.statusCode}`));
        response.resume();
        return;
      }
      const hash = createHash('sha256');
      let bytes = 0;
      response.on('data', (chunk) => {
        bytes += chunk.length;
        hash.update(chunk);
      });
      response.on('end', () => resolve({ bytes, sha256: hash.digest('hex') }));
      response.on('error', reject);
    }).on('error', reject);
  });
}

function rate(seconds) {
  return `${seconds.toFixed(1)} s (${Math.round(sizeMib / seconds)} MiB/s)`;
}
