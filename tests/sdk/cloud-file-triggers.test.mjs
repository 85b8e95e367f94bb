// File triggers: Parse.Cloud.beforeSave(Parse.File) may refuse an upload (by name or declared
// size) or store another file instead; afterSave sees the stored file; beforeDeleteFile may refuse
// a delete and afterDeleteFile runs after it; beforeFind/afterFind(Parse.File) run for GET and HEAD
// of a file and may refuse it. Runs against Basalt (the fixture needs --cloud).
import assert from 'node:assert/strict';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';

import Parse from 'parse/node';

import { expectParseError, isExternalServer, startServer } from './harness.mjs';

const fixture = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'cloud', 'files', 'main.js');
const useMasterKey = true;
let server;

before(async () => {
  if (isExternalServer) return;
  server = await startServer({ args: ['--cloud', fixture] });
});

after(() => server?.stop());

const base64 = (text) => Buffer.from(text).toString('base64');

async function log(event, name) {
  return new Parse.Query('FileLog').equalTo('event', event).equalTo('name', name).first({ useMasterKey });
}

async function download(file) {
  return (await fetch(file.url())).text();
}

describe('file triggers', { skip: isExternalServer && 'needs Basalt with the file trigger fixture' }, () => {
  test('a save runs afterSave with the stored name and size', async () => {
    const file = await new Parse.File('hello.txt', { base64: base64('hello') }).save({ useMasterKey });
    assert.match(file.name(), /_hello\.txt$/);
    const entry = await log('saved', file.name());
    assert.equal(entry.get('size'), 5);
    assert.equal(await download(file), 'hello');
  });

  test('beforeSave throwing an Error refuses the upload with 130 and its message', async () => {
    const error = await expectParseError(
      new Parse.File('blocked.txt', { base64: base64('no') }).save({ useMasterKey }),
      Parse.Error.FILE_SAVE_ERROR,
    );
    assert.equal(error.message, 'This file is not allowed.');
  });

  test('beforeSave sees the declared size of a raw upload', async () => {
    const response = await fetch(`${server.serverURL}/files/big.bin`, {
      method: 'POST',
      headers: {
        'X-Parse-Application-Id': server.appId,
        'X-Parse-Master-Key': server.masterKey,
        'Content-Type': 'application/octet-stream',
      },
      body: Buffer.alloc(2000, 1),
    });
    assert.equal(response.status, 400);
    assert.deepEqual(await response.json(), { code: Parse.Error.FILE_SAVE_ERROR, error: 'Too big for this app.' });
  });

  test('beforeSave may store another file: new data, or the same bytes under another name', async () => {
    const replaced = await new Parse.File('replace-me.txt', { base64: base64('original') }).save({ useMasterKey });
    assert.match(replaced.name(), /_replaced\.txt$/);
    assert.equal(await download(replaced), 'replaced');
    const renamed = await new Parse.File('rename-me.txt', { base64: base64('same bytes') }).save({ useMasterKey });
    assert.match(renamed.name(), /_renamed\.txt$/);
    assert.equal(await download(renamed), 'same bytes');
  });

  test('beforeDeleteFile may refuse a delete (153), afterDeleteFile runs after one', async () => {
    const kept = await new Parse.File('keep.txt', { base64: base64('kept') }).save({ useMasterKey });
    const error = await expectParseError(kept.destroy({ useMasterKey }), Parse.Error.FILE_DELETE_ERROR);
    assert.equal(error.message, 'This file stays.');
    assert.equal(await download(kept), 'kept');
    const gone = await new Parse.File('gone.txt', { base64: base64('gone') }).save({ useMasterKey });
    await gone.destroy({ useMasterKey });
    assert.ok(await log('deleted', gone.name()));
    assert.equal((await fetch(gone.url())).status, 404);
  });

  test('beforeFind refuses a download (GET and HEAD) with 403 and its error; a session passes', async () => {
    const user = await Parse.User.signUp('downloader', 'pass word');
    const file = await new Parse.File('secret.txt', { base64: base64('top secret') }).save({ useMasterKey });
    for (const method of ['GET', 'HEAD']) {
      const refused = await fetch(file.url(), { method });
      assert.equal(refused.status, 403, method);
      if (method === 'GET') {
        assert.deepEqual(await refused.json(), {
          code: Parse.Error.OPERATION_FORBIDDEN,
          error: 'Log in to download this file.',
        });
      }
      const served = await fetch(file.url(), { method, headers: { 'X-Parse-Session-Token': user.getSessionToken() } });
      assert.equal(served.status, 200, method);
      if (method === 'GET') assert.equal(await served.text(), 'top secret');
    }
    await Parse.User.logOut();
  });

  test('afterFind may refuse a found file, or serve it as an attachment with headers of its own', async () => {
    const expired = await new Parse.File('expired.txt', { base64: base64('old') }).save({ useMasterKey });
    const refused = await fetch(expired.url());
    assert.equal(refused.status, 403);
    assert.deepEqual(await refused.json(), { code: Parse.Error.SCRIPT_FAILED, error: 'This file has expired.' });
    const report = await new Parse.File('report.txt', { base64: base64('numbers') }).save({ useMasterKey });
    const served = await fetch(report.url());
    assert.equal(served.status, 200);
    assert.equal(served.headers.get('content-disposition'), `attachment;filename=${report.name()}`);
    assert.equal(served.headers.get('x-app-header'), 'reports');
    assert.equal(await served.text(), 'numbers');
  });
});
