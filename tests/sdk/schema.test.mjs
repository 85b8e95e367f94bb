// Parse.Schema (always sent with the master key) and how the schema limits client writes.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { Parse, createClasses, expectParseError, startServer } from './harness.mjs';

let server;

before(async () => {
  server = await startServer();
});

after(() => server?.stop());

/** The `fields` of a schema without the four every class has. */
function ownFields(schema) {
  const { objectId, createdAt, updatedAt, ACL, ...rest } = schema.fields;
  return rest;
}

describe('class lifecycle with the master key', () => {
  test('save creates a class with typed fields, and get returns them', async () => {
    const className = server.className('Typed');
    const created = await new Parse.Schema(className)
      .addString('title')
      .addNumber('score')
      .addBoolean('done')
      .addDate('due')
      .addArray('tags')
      .addObject('meta')
      .addGeoPoint('place')
      .addPolygon('area')
      .addFile('attachment')
      .addBytes('blob')
      .addPointer('owner', '_User')
      .addRelation('fans', '_User')
      .save();
    assert.equal(created.className, className);

    const schema = await new Parse.Schema(className).get();
    assert.equal(schema.className, className);
    assert.deepEqual(
      {
        objectId: schema.fields.objectId,
        createdAt: schema.fields.createdAt,
        updatedAt: schema.fields.updatedAt,
        ACL: schema.fields.ACL,
      },
      {
        objectId: { type: 'String' },
        createdAt: { type: 'Date' },
        updatedAt: { type: 'Date' },
        ACL: { type: 'ACL' },
      },
    );
    assert.deepEqual(ownFields(schema), {
      title: { type: 'String' },
      score: { type: 'Number' },
      done: { type: 'Boolean' },
      due: { type: 'Date' },
      tags: { type: 'Array' },
      meta: { type: 'Object' },
      place: { type: 'GeoPoint' },
      area: { type: 'Polygon' },
      attachment: { type: 'File' },
      blob: { type: 'Bytes' },
      owner: { type: 'Pointer', targetClass: '_User' },
      fans: { type: 'Relation', targetClass: '_User' },
    });
    assert.deepEqual(schema.classLevelPermissions.find, { '*': true });
    assert.deepEqual(schema.classLevelPermissions.create, { '*': true });
    assert.deepEqual(schema.classLevelPermissions.addField, { '*': true });
  });

  test('Parse.Schema.all lists the created class', async () => {
    const className = server.className('Listed');
    await createClasses(className);

    const all = await Parse.Schema.all();
    const listed = all.find((schema) => schema.className === className);
    assert.ok(listed, `${className} missing from ${all.map((s) => s.className)}`);
    assert.deepEqual(ownFields(listed), {});
  });

  test('creating a class that exists fails with 103', async () => {
    const className = server.className('Twice');
    await createClasses(className);
    await expectParseError(new Parse.Schema(className).save(), Parse.Error.INVALID_CLASS_NAME);
  });

  test('get of a class that does not exist fails with 103', async () => {
    await expectParseError(new Parse.Schema(server.className('Missing')).get(), Parse.Error.INVALID_CLASS_NAME);
  });

  test('an invalid class name fails with 103', async () => {
    await expectParseError(new Parse.Schema('1nvalid').save(), Parse.Error.INVALID_CLASS_NAME);
  });

  test('update adds a field, deletes a field and adds an index', async () => {
    const className = server.className('Evolving');
    await new Parse.Schema(className).addString('name').addNumber('old').save();
    await new Parse.Object(className, { name: 'x', old: 1 }).save(null, { useMasterKey: true });

    const schema = new Parse.Schema(className);
    schema.addNumber('added').deleteField('old').addIndex('name_index', { name: 1 });
    const updated = await schema.update();
    assert.deepEqual(ownFields(updated), { name: { type: 'String' }, added: { type: 'Number' } });

    const fetched = await new Parse.Schema(className).get();
    assert.deepEqual(ownFields(fetched), { name: { type: 'String' }, added: { type: 'Number' } });
    assert.deepEqual(fetched.indexes.name_index, { name: 1 });

    // Deleting a field deletes its values, and the name can then be reused with another type.
    const [object] = await new Parse.Query(className).find();
    assert.equal(object.has('old'), false);
    assert.equal(object.get('name'), 'x');
    await new Parse.Schema(className).addString('old').update();
    assert.deepEqual((await new Parse.Schema(className).get()).fields.old, { type: 'String' });
  });

  test('deleteIndex removes the index', async () => {
    const className = server.className('Indexed');
    await new Parse.Schema(className).addString('name').addIndex('by_name', { name: 1 }).save();
    assert.deepEqual((await new Parse.Schema(className).get()).indexes.by_name, { name: 1 });

    await new Parse.Schema(className).deleteIndex('by_name').update();
    assert.equal((await new Parse.Schema(className).get()).indexes?.by_name, undefined);
  });

  test('adding a field that exists with another type fails with 255', async () => {
    const className = server.className('Dup');
    await new Parse.Schema(className).addString('name').save();
    await expectParseError(
      new Parse.Schema(className).addNumber('name').update(),
      Parse.Error.INVALID_SCHEMA_OPERATION,
    );
  });

  test('adding a field that exists with the same type changes nothing', async () => {
    // Parse 9 checks only for a type change here, although its message speaks of existence.
    const className = server.className('Same');
    await new Parse.Schema(className).addString('name').save();
    const updated = await new Parse.Schema(className).addString('name').update();
    assert.deepEqual(ownFields(updated), { name: { type: 'String' } });
  });

  test('deleting a field that does not exist fails with 255', async () => {
    const className = server.className('NoField');
    await createClasses(className);
    await expectParseError(
      new Parse.Schema(className).deleteField('nope').update(),
      Parse.Error.INVALID_SCHEMA_OPERATION,
    );
  });

  test('delete removes an empty class', async () => {
    const className = server.className('Dropped');
    await createClasses(className);
    await new Parse.Schema(className).delete();

    await expectParseError(new Parse.Schema(className).get(), Parse.Error.INVALID_CLASS_NAME);
  });

  test('delete of a class that still has objects fails with 255', async () => {
    const className = server.className('Full');
    await new Parse.Object(className, { n: 1 }).save(null, { useMasterKey: true });
    await expectParseError(new Parse.Schema(className).delete(), Parse.Error.INVALID_SCHEMA_OPERATION);
  });

  test('purge deletes every object but keeps the class and its fields', async () => {
    const className = server.className('Purged');
    await Parse.Object.saveAll(
      [1, 2, 3].map((n) => new Parse.Object(className, { n })),
      { useMasterKey: true },
    );
    await new Parse.Schema(className).purge();

    assert.equal(await new Parse.Query(className).count(), 0);
    assert.deepEqual(ownFields(await new Parse.Schema(className).get()), { n: { type: 'Number' } });
    // Once purged, the class can be deleted.
    await new Parse.Schema(className).delete();
  });
});

describe('schema rules for clients', () => {
  test('a client saving into a class that does not exist fails with 119', async () => {
    const className = server.className('ClientMade');
    await expectParseError(new Parse.Object(className, { n: 1 }).save(), Parse.Error.OPERATION_FORBIDDEN);
    await expectParseError(new Parse.Schema(className).get(), Parse.Error.INVALID_CLASS_NAME);
  });

  test('the master key may create a class by saving into it', async () => {
    const className = server.className('MasterMade');
    await new Parse.Object(className, { n: 1 }).save(null, { useMasterKey: true });
    assert.deepEqual(ownFields(await new Parse.Schema(className).get()), { n: { type: 'Number' } });
  });

  test('a client may add a new field to an existing class by saving', async () => {
    const className = server.className('Open');
    await new Parse.Schema(className).addString('name').save();
    const object = await new Parse.Object(className, { name: 'x', extra: 5, when: new Date(0) }).save();

    assert.ok(object.id);
    assert.deepEqual(ownFields(await new Parse.Schema(className).get()), {
      name: { type: 'String' },
      extra: { type: 'Number' },
      when: { type: 'Date' },
    });
  });

  test('a required field missing on create fails with 142, a default value is filled in', async () => {
    const className = server.className('Strict');
    await new Parse.Schema(className)
      .addString('name', { required: true })
      .addNumber('level', { defaultValue: 3 })
      .save();

    await expectParseError(new Parse.Object(className, { level: 1 }).save(), Parse.Error.VALIDATION_ERROR);
    const object = await new Parse.Object(className, { name: 'x' }).save();
    assert.equal(object.get('level'), 3);
    assert.equal((await new Parse.Query(className).get(object.id)).get('level'), 3);
  });

  test('the schemas route without the master key is refused with 403', async () => {
    const { status, body } = await server.rest('GET', 'schemas');
    assert.equal(status, 403);
    assert.equal(typeof body.error, 'string');
  });
});
