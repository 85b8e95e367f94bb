// Cloud code jobs: POST /jobs/:name with the master key starts a job in the background and
// answers at once with its _JobStatus id in X-Parse-Job-Status-Id; the status records the
// outcome. Runs against Basalt only (the fixture needs --cloud).
import assert from 'node:assert/strict';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';

import Parse from 'parse/node';

import { isExternalServer, startServer } from './harness.mjs';

const fixture = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'cloud', 'jobs', 'main.js');
let server;

before(async () => {
  if (isExternalServer) return;
  server = await startServer({ args: ['--cloud', fixture] });
});

after(() => server?.stop());

/** Reads a job's status until it has finished (bounded: a failure, not a hang). */
async function finished(jobStatusId) {
  for (let attempt = 0; attempt < 200; attempt += 1) {
    const status = await new Parse.Query('_JobStatus').get(jobStatusId, { useMasterKey: true });
    if (status.get('status') !== 'running') return status;
  }
  throw new Error(`job ${jobStatusId} still running after 200 reads`);
}

describe('jobs', { skip: isExternalServer && 'needs Basalt with the jobs fixture' }, () => {
  test('a started job answers at once with its status id, then records success and its message', async () => {
    await new Parse.Object('JobPost', { n: 1 }).save(null, { useMasterKey: true });
    const jobStatusId = await Parse.Cloud.startJob('countPosts', { tag: 'nightly' });
    assert.match(jobStatusId, /^[0-9A-Za-z]{10}$/);
    const status = await finished(jobStatusId);
    assert.equal(status.get('jobName'), 'countPosts');
    assert.equal(status.get('source'), 'api');
    assert.equal(status.get('status'), 'succeeded');
    assert.equal(status.get('message'), 'counted 1 with tag nightly');
    assert.deepEqual(JSON.parse(status.get('params')), { tag: 'nightly' });
    assert.ok(status.get('finishedAt') instanceof Date);
  });

  test('a job that throws is recorded as failed with the error message', async () => {
    const status = await finished(await Parse.Cloud.startJob('explode', {}));
    assert.equal(status.get('status'), 'failed');
    assert.equal(status.get('message'), 'the job failed on purpose');
  });

  test('an unknown job answers 141 "Invalid job."', async () => {
    await assert.rejects(Parse.Cloud.startJob('nope', {}), (error) => error.code === 141 && error.message === 'Invalid job.');
  });

  test('starting a job without the master key is refused with 403', async () => {
    const { status } = await server.rest('POST', 'jobs/countPosts', { body: {} });
    assert.equal(status, 403);
  });
});
