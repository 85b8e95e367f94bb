// Batches through the SDK: saveAll/destroyAll in chunks, per-item errors, transactions.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { Parse, expectParseError, startServer } from './harness.mjs';

let server;
let Row;

before(async () => {
  server = await startServer();
  Row = server.className('Row');
  // `n` is typed up front so that a String value is a per-item error (111).
  await new Parse.Schema(Row).addNumber('n').addString('label').save();
});

after(() => server?.stop());

/** Records the size of every /batch request the SDK sends while `body` runs. */
async function recordBatches(body) {
  const controller = Parse.CoreManager.getRESTController();
  const sizes = [];
  Parse.CoreManager.setRESTController({
    ...controller,
    request(method, path, data, options) {
      if (path === 'batch') sizes.push(data.requests.length);
      return controller.request(method, path, data, options);
    },
  });
  try {
    await body();
  } finally {
    Parse.CoreManager.setRESTController(controller);
  }
  return sizes;
}

function rows(label, count, n = (i) => i) {
  return Array.from({ length: count }, (_, i) => new Parse.Object(Row, { label, n: n(i) }));
}

/**
 * When the /batch request itself fails, saveAll rejects with an array holding one Parse error per
 * object of that batch, each with code 111 (the SDK wraps any failed batch request so).
 */
async function expectBatchRequestFailure(promise, objectCount) {
  const rejection = await promise.then(
    (value) => assert.fail(`expected the batch to fail, got ${JSON.stringify(value)}`),
    (error) => error,
  );
  assert.ok(Array.isArray(rejection), `expected an array of errors, got ${rejection}`);
  assert.equal(rejection.length, objectCount);
  assert.deepEqual(rejection.map((e) => e.code), Array(objectCount).fill(Parse.Error.INCORRECT_TYPE));
}

async function countLabel(label) {
  return new Parse.Query(Row).equalTo('label', label).count();
}

describe('saveAll and destroyAll', () => {
  test('saveAll of 45 objects sends batches of 20 and saves every object', async () => {
    const objects = rows('bulk', 45);
    const sizes = await recordBatches(() => Parse.Object.saveAll(objects));

    assert.deepEqual(sizes, [20, 20, 5]);
    assert.ok(objects.every((o) => /^[A-Za-z0-9]{10}$/.test(o.id)));
    assert.equal(new Set(objects.map((o) => o.id)).size, 45);
    const stored = await new Parse.Query(Row).equalTo('label', 'bulk').ascending('n').limit(100).find();
    assert.deepEqual(stored.map((o) => o.get('n')), objects.map((o) => o.get('n')));
    assert.deepEqual(stored.map((o) => o.id), objects.map((o) => o.id));
  });

  test('saveAll updates existing objects and creates new ones in one call', async () => {
    const [existing] = await Parse.Object.saveAll(rows('mixed', 1));
    existing.set('n', 100);
    existing.increment('n', 1);
    const fresh = new Parse.Object(Row, { label: 'mixed', n: 7 });
    await Parse.Object.saveAll([existing, fresh]);

    const stored = await new Parse.Query(Row).equalTo('label', 'mixed').ascending('n').find();
    assert.deepEqual(stored.map((o) => [o.id, o.get('n')]), [[fresh.id, 7], [existing.id, 101]]);
  });

  test('destroyAll of 45 objects sends batches of 20 and deletes every object', async () => {
    const objects = await Parse.Object.saveAll(rows('doomed', 45));
    const sizes = await recordBatches(() => Parse.Object.destroyAll(objects));

    assert.deepEqual(sizes, [20, 20, 5]);
    assert.equal(await countLabel('doomed'), 0);
  });
});

describe('per-item errors without a transaction', () => {
  test('saveAll rejects with the failing item\'s error and keeps the others', async () => {
    const [good1, bad, good2] = [
      new Parse.Object(Row, { label: 'partial', n: 1 }),
      new Parse.Object(Row, { label: 'partial', n: 'not a number' }),
      new Parse.Object(Row, { label: 'partial', n: 3 }),
    ];
    await expectParseError(Parse.Object.saveAll([good1, bad, good2]), Parse.Error.INCORRECT_TYPE);

    assert.equal(bad.id, undefined);
    const stored = await new Parse.Query(Row).equalTo('label', 'partial').ascending('n').find();
    assert.deepEqual(stored.map((o) => o.get('n')), [1, 3]);
    assert.deepEqual(stored.map((o) => o.id), [good1.id, good2.id]);
  });

  test('a raw batch answers 200 with success or error per item, in request order', async () => {
    const base = new URL(server.serverURL).pathname;
    const { status, body } = await server.rest('POST', 'batch', {
      body: {
        requests: [
          { method: 'POST', path: `${base}/classes/${Row}`, body: { label: 'raw', n: 1 } },
          { method: 'POST', path: `${base}/classes/${Row}`, body: { label: 'raw', n: 'x' } },
          { method: 'GET', path: `${base}/classes/${Row}/doesNotExi` },
          { method: 'POST', path: `${base}/classes/${Row}`, body: { label: 'raw', n: 2 } },
        ],
      },
    });

    assert.equal(status, 200);
    assert.equal(body.length, 4);
    assert.deepEqual(Object.keys(body[0].success).sort(), ['createdAt', 'objectId']);
    assert.equal(body[1].error.code, Parse.Error.INCORRECT_TYPE);
    assert.equal(body[2].error.code, Parse.Error.OBJECT_NOT_FOUND);
    assert.deepEqual(Object.keys(body[3].success).sort(), ['createdAt', 'objectId']);
    assert.equal(await countLabel('raw'), 2);
  });

  test('destroyAll reports missing objects in an aggregate error and deletes the rest', async () => {
    const [kept, gone] = await Parse.Object.saveAll(rows('destroy-partial', 2));
    await Parse.Object.extend(Row).createWithoutData(gone.id).destroy();

    const error = await expectParseError(Parse.Object.destroyAll([kept, gone]), Parse.Error.AGGREGATE_ERROR);
    assert.deepEqual(error.errors.map((e) => [e.code, e.object.id]), [[Parse.Error.OBJECT_NOT_FOUND, gone.id]]);
    assert.equal(await countLabel('destroy-partial'), 0);
  });
});

describe('transactions', () => {
  test('saveAll with transaction sends one batch, even past 20 objects, and saves all', async () => {
    const objects = rows('tx-ok', 25);
    const sizes = await recordBatches(() => Parse.Object.saveAll(objects, { transaction: true }));

    assert.deepEqual(sizes, [25]);
    assert.equal(await countLabel('tx-ok'), 25);
  });

  test('saveAll with transaction saves nothing when one object fails', async () => {
    const objects = rows('tx-fail', 5, (i) => (i === 3 ? 'not a number' : i));
    // Parse 9 answers a failed transaction with HTTP 500 {"code":1} (which the SDK retries by
    // default); an HTTP 400 carrying the item's error looks the same to the caller, as the SDK
    // reports any failed batch request as 111 on every object of the batch.
    await expectBatchRequestFailure(Parse.Object.saveAll(objects, { transaction: true }), 5);

    assert.equal(await countLabel('tx-fail'), 0);
  });

  test('a transaction that updates and creates keeps the old values when one item fails', async () => {
    const [existing] = await Parse.Object.saveAll(rows('tx-update', 1, () => 10));
    existing.set('n', 11);
    const bad = new Parse.Object(Row, { label: 'tx-update', n: 'x' });
    await expectBatchRequestFailure(Parse.Object.saveAll([existing, bad], { transaction: true }), 2);

    const stored = await new Parse.Query(Row).equalTo('label', 'tx-update').find();
    assert.deepEqual(stored.map((o) => [o.id, o.get('n')]), [[existing.id, 10]]);
  });
});
