// A real S3-compatible server for the file tests: moto's S3 server (PyPI `moto`, run as
// `moto_server`) on 127.0.0.1 with a free port, holding its buckets in memory for the life of the
// process. Tests start one per server under test, create one bucket in it and hand its endpoint
// to `basalt serve --s3-*`.
//
// Python is not part of the Node toolchain, so the server is found through
// `BASALT_TEST_S3_SERVER` (the path of a `moto_server` executable). `.ci/run` installs it into a
// virtualenv outside the repo and sets the variable; without it the S3 tests are skipped with
// `s3Skip` as the reason.

import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import readline from 'node:readline';

import { supervise } from './child.mjs';

/** Path of the `moto_server` executable, or undefined when this machine has none. */
const serverBin = process.env.BASALT_TEST_S3_SERVER || undefined;

/** Pinned versions of what `serverBin` needs, installed by .ci/run; see the skip reason. */
const requirementsFile = 'tests/sdk/s3-server-requirements.txt';

/** False when an S3 server can be started; otherwise why the S3 tests are skipped. */
export const s3Skip = !serverBin
  && `BASALT_TEST_S3_SERVER is not set: to run the S3 tests, python3 -m venv ~/.cache/basalt-ci/s3venv && `
    + `~/.cache/basalt-ci/s3venv/bin/pip install -r ${requirementsFile}, then `
    + 'export BASALT_TEST_S3_SERVER=~/.cache/basalt-ci/s3venv/bin/moto_server (.ci/run does this)';

/** Upper bound for the server to print its address; only a failure bound, never a wait. */
const startTimeoutMs = 20_000;
/** Lines of server output kept to explain a failure. */
const outputLinesMax = 50;

/**
 * Printed by werkzeug (moto's HTTP server) on stderr once its socket listens; with `-p 0` it
 * names the port the kernel picked.
 */
const listeningLine = /Running on (http:\/\/127\.0\.0\.1:\d+)/;

/**
 * Starts the server and creates a bucket in it.
 *
 * @returns {Promise<{endpoint: string, bucket: string, region: string, accessKeyId: string,
 *   secretAccessKey: string, keys: () => Promise<string[]>, stop: () => Promise<void>}>}
 *   `endpoint`: `http://127.0.0.1:PORT`; `keys()`: the object keys now in the bucket, sorted
 *   (moto lists a bucket without a signature, which lets tests look behind the server under
 *   test); moto accepts any credentials, these are the conventional `test`/`test`.
 */
export async function startS3Server() {
  if (!serverBin) throw new Error(s3Skip);
  const child = spawn(serverBin, ['-H', '127.0.0.1', '-p', '0'], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, PYTHONUNBUFFERED: '1' },
  });
  const { exited, stop } = supervise(child);

  const output = [];
  // Both streams are drained for the child's whole life (moto logs every request on stderr) so
  // it never blocks on a full pipe.
  const remember = (stream) => (line) => {
    output.push(`${stream}: ${line}`);
    if (output.length > outputLinesMax) output.shift();
    if (process.env.BASALT_LOG) process.stderr.write(`[s3 ${stream}] ${line}\n`);
  };
  const explain = (what) => new Error(`${what}\n${serverBin}\n--- last S3 server output ---\n${output.join('\n')}`);

  try {
    const endpoint = await new Promise((resolve, reject) => {
      const timer = setTimeout(
        () => reject(explain(`no "Running on" line within ${startTimeoutMs} ms`)),
        startTimeoutMs,
      );
      const settle = (fn, value) => {
        clearTimeout(timer);
        fn(value);
      };
      const watch = (stream) => (line) => {
        remember(stream)(line);
        const match = listeningLine.exec(line);
        if (match) settle(resolve, match[1]);
      };
      readline.createInterface({ input: child.stdout }).on('line', watch('stdout'));
      readline.createInterface({ input: child.stderr }).on('line', watch('stderr'));
      child.once('error', (error) =>
        settle(reject, explain(`cannot start the S3 server (${error.code ?? error.message}); see ${requirementsFile}`)));
      exited.then(({ code, signal }) =>
        settle(reject, explain(`the S3 server exited (code ${code}, signal ${signal}) before listening`)));
    });

    // The line comes after the socket listens, so the first request is the readiness check too.
    // moto creates a bucket on an unsigned PUT (in us-east-1, which needs no location body).
    const bucket = `basalt-${randomBytes(4).toString('hex')}`;
    const created = await fetch(`${endpoint}/${bucket}`, { method: 'PUT' });
    await created.arrayBuffer();
    if (created.status !== 200) throw explain(`creating bucket ${bucket} answered ${created.status}`);

    const keys = async () => {
      const response = await fetch(`${endpoint}/${bucket}?list-type=2`);
      const xml = await response.text();
      if (response.status !== 200) throw explain(`listing bucket ${bucket} answered ${response.status}: ${xml}`);
      if (/<IsTruncated>true<\/IsTruncated>/.test(xml)) throw new Error(`bucket ${bucket} lists more than one page`);
      return [...xml.matchAll(/<Key>([^<]*)<\/Key>/g)].map(([, key]) => unescapeXml(key)).sort();
    };

    return {
      endpoint,
      bucket,
      region: 'us-east-1',
      accessKeyId: 'test',
      secretAccessKey: 'test',
      keys,
      stop,
    };
  } catch (error) {
    await stop();
    throw error;
  }
}

/** The `basalt serve` flags that store files in `s3`'s bucket. */
export function s3Args(s3) {
  return [
    '--s3-bucket', s3.bucket,
    '--s3-endpoint', s3.endpoint,
    '--s3-region', s3.region,
    '--s3-access-key-id', s3.accessKeyId,
    '--s3-secret-access-key', s3.secretAccessKey,
  ];
}

function unescapeXml(text) {
  return text
    .replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>')
    .replace(/&quot;/g, '"')
    .replace(/&apos;/g, "'")
    .replace(/&amp;/g, '&');
}
