// request.context: a client's `context` option (the SDK's `_context` body key, or the
// X-Parse-Cloud-Context header) reaches beforeSave, afterSave, beforeDelete and beforeFind, and
// what beforeSave adds to it reaches the afterSave. Runs against Basalt (needs --cloud).
import assert from 'node:assert/strict';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';

import Parse from 'parse/node';

import { createClasses, expectParseError, isExternalServer, startServer } from './harness.mjs';

const fixture = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'cloud', 'context', 'main.js');
let server;

before(async () => {
  if (isExternalServer) return;
  server = await startServer({ args: ['--cloud', fixture] });
  await createClasses('ContextNote');
});

after(() => server?.stop());

/** The afterSave's log for a note (the response waits for the afterSave). */
async function loggedContext(noteId) {
  const log = await new Parse.Query('ContextLog').equalTo('noteId', noteId).first({ useMasterKey: true });
  return log.get('context');
}

describe('request.context', { skip: isExternalServer && 'needs Basalt with the context fixture' }, () => {
  test('a save with context: beforeSave sees it, afterSave sees it with beforeSave\'s additions', async () => {
    const note = new Parse.Object('ContextNote');
    await note.save({ owner: 'alice' }, { context: { source: 'sdk' } });
    assert.equal(note.get('seenBefore'), 'sdk');
    assert.deepEqual(await loggedContext(note.id), { source: 'sdk', fromBefore: 'set in beforeSave' });
  });

  test('without a context the triggers get an empty one', async () => {
    const note = await new Parse.Object('ContextNote').save({ owner: 'bob' });
    assert.equal(note.get('seenBefore'), 'none');
    assert.deepEqual(await loggedContext(note.id), { fromBefore: 'set in beforeSave' });
  });

  test('saveAll passes the context to every object of the batch', async () => {
    const notes = [new Parse.Object('ContextNote', { owner: 'batch' }), new Parse.Object('ContextNote', { owner: 'batch' })];
    await Parse.Object.saveAll(notes, { context: { source: 'batch' } });
    assert.deepEqual(notes.map((note) => note.get('seenBefore')), ['batch', 'batch']);
  });

  test('beforeDelete decides on the context', async () => {
    const note = await new Parse.Object('ContextNote').save({ owner: 'carol' });
    await expectParseError(note.destroy(), Parse.Error.OPERATION_FORBIDDEN);
    await note.destroy({ context: { allowDelete: true } });
    await expectParseError(new Parse.Query('ContextNote').get(note.id), Parse.Error.OBJECT_NOT_FOUND);
  });

  test('beforeFind narrows a query by the context', async () => {
    await new Parse.Object('ContextNote').save({ owner: 'dave' });
    const found = await new Parse.Query('ContextNote').find({ context: { onlyMine: 'dave' } });
    assert.deepEqual([...new Set(found.map((note) => note.get('owner')))], ['dave']);
  });

  test('the X-Parse-Cloud-Context header works for REST clients', async () => {
    const { status, body } = await server.rest('POST', 'classes/ContextNote', {
      body: { owner: 'rest' },
      headers: { 'X-Parse-Cloud-Context': JSON.stringify({ source: 'header' }) },
    });
    assert.equal(status, 201);
    assert.equal(body.seenBefore, 'header');
  });

  test('a context that is not an object is refused with 107', async () => {
    const { status, body } = await server.rest('POST', 'classes/ContextNote', {
      body: { owner: 'rest' },
      headers: { 'X-Parse-Cloud-Context': '[1,2]' },
    });
    assert.equal(status, 400);
    assert.equal(body.code, Parse.Error.INVALID_JSON);
  });

  test('cloud code passes a context with save(null, { context })', async () => {
    const note = await Parse.Cloud.run('saveWithContext');
    assert.equal(note.get('seenBefore'), 'cloud code');
    assert.deepEqual(await loggedContext(note.id), { source: 'cloud code', fromBefore: 'set in beforeSave' });
  });
});
