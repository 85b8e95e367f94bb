// beforeFind may narrow or refuse a query and afterFind may change the results, for finds, counts
// and gets alike. Runs against Basalt (the fixture needs --cloud).
import assert from 'node:assert/strict';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';

import Parse from 'parse/node';

import { expectParseError, isExternalServer, startServer } from './harness.mjs';

const fixture = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'cloud', 'find', 'main.js');
let server;
let notes;

before(async () => {
  if (isExternalServer) return;
  server = await startServer({ args: ['--cloud', fixture] });
  notes = await Parse.Object.saveAll([
    new Parse.Object('FindNote', { title: 'draft', published: false, n: 1 }),
    new Parse.Object('FindNote', { title: 'news', published: true, n: 2 }),
    new Parse.Object('FindNote', { title: 'hidden', published: true, n: 3 }),
  ], { useMasterKey: true });
});

after(() => server?.stop());

describe('find triggers', { skip: isExternalServer && 'needs Basalt with the find-trigger fixture' }, () => {
  test('beforeFind narrows a client query and afterFind changes and filters the results', async () => {
    const found = await new Parse.Query('FindNote').ascending('n').find();
    assert.deepEqual(found.map((note) => [note.get('n'), note.get('title')]), [[2, 'NEWS']]);
  });

  test('the master key query is not narrowed but still goes through afterFind', async () => {
    const found = await new Parse.Query('FindNote').ascending('n').find({ useMasterKey: true });
    assert.deepEqual(found.map((note) => note.get('title')), ['DRAFT', 'NEWS']);
  });

  test('counts are narrowed by beforeFind too', async () => {
    assert.equal(await new Parse.Query('FindNote').count(), 2);
  });

  test('a get of an object beforeFind excludes answers 101', async () => {
    await expectParseError(new Parse.Query('FindNote').get(notes[0].id), Parse.Error.OBJECT_NOT_FOUND);
    const { status, body } = await server.rest('GET', `classes/FindNote/${notes[1].id}`);
    assert.equal(status, 200);
    assert.equal(body.title, 'NEWS');
  });

  test('beforeFind refusing a query answers its error', async () => {
    await expectParseError(new Parse.Query('FindNote').equalTo('secret', 1).find(), Parse.Error.OPERATION_FORBIDDEN);
  });
});
