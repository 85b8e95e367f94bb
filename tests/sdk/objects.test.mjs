// Objects through the SDK: create, fetch, update, destroy, every field type, update operators.
// All calls run as a client (JavaScript key, no master key) unless a test says otherwise.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { Parse, createClasses, expectParseError, startServer } from './harness.mjs';

let server;
let Item; // the class under test
let Target; // pointer and relation targets

before(async () => {
  server = await startServer();
  Item = server.className('Item');
  Target = server.className('Target');
  await createClasses(Item, Target);
});

after(() => server?.stop());

async function refetch(object) {
  return new Parse.Query(object.className).get(object.id);
}

function sortedJson(values) {
  return values.map((value) => JSON.stringify(value)).sort();
}

/** A second, independent local copy of a saved object (the SDK in Node keeps no single instance). */
function copyOf(className, objectId) {
  return Parse.Object.extend(className).createWithoutData(objectId);
}

describe('create, fetch, update, destroy', () => {
  test('save assigns an objectId and createdAt, and get returns the saved fields', async () => {
    const item = new Parse.Object(Item, { title: 'first', score: 7 });
    await item.save();

    assert.match(item.id, /^[A-Za-z0-9]{10}$/);
    assert.ok(item.createdAt instanceof Date);
    assert.equal(item.updatedAt.getTime(), item.createdAt.getTime());

    const fetched = await refetch(item);
    assert.equal(fetched.get('title'), 'first');
    assert.equal(fetched.get('score'), 7);
    assert.equal(fetched.createdAt.toISOString(), item.createdAt.toISOString());
  });

  test('fetch refreshes a stale copy with the server state', async () => {
    const item = await new Parse.Object(Item, { title: 'old' }).save();
    const other = copyOf(Item, item.id);
    other.set('title', 'new');
    await other.save();

    await item.fetch();
    assert.equal(item.get('title'), 'new');
  });

  test('saving changes returns the server updatedAt', async () => {
    const item = await new Parse.Object(Item, { title: 'v1' }).save();
    item.set('title', 'v2');
    await item.save();

    const fetched = await refetch(item);
    assert.equal(fetched.get('title'), 'v2');
    assert.equal(item.updatedAt.toISOString(), fetched.updatedAt.toISOString());
    assert.ok(fetched.updatedAt >= fetched.createdAt);

    // The SDK keeps its old updatedAt when the response lacks one, so check the wire too.
    const { status, body } = await server.rest('PUT', `classes/${Item}/${item.id}`, { body: { title: 'v3' } });
    assert.equal(status, 200);
    assert.deepEqual(Object.keys(body), ['updatedAt']);
    assert.match(body.updatedAt, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
  });

  test('create over REST answers 201 with objectId, createdAt and a Location header', async () => {
    const { status, headers, body } = await server.rest('POST', `classes/${Item}`, { body: { title: 'rest' } });
    assert.equal(status, 201);
    assert.deepEqual(Object.keys(body).sort(), ['createdAt', 'objectId']);
    assert.equal(headers.location, `${server.serverURL}/classes/${Item}/${body.objectId}`);
  });

  test('destroy removes the object, and fetching it afterwards fails with 101', async () => {
    const item = await new Parse.Object(Item, { title: 'doomed' }).save();
    await item.destroy();

    await expectParseError(refetch(item), Parse.Error.OBJECT_NOT_FOUND);
    await expectParseError(item.fetch(), Parse.Error.OBJECT_NOT_FOUND);
  });

  test('updating a deleted object fails with 101', async () => {
    const item = await new Parse.Object(Item, { title: 'gone' }).save();
    await copyOf(Item, item.id).destroy();

    item.set('title', 'still here?');
    await expectParseError(item.save(), Parse.Error.OBJECT_NOT_FOUND);
  });

  test('get of an objectId that never existed fails with 101', async () => {
    await expectParseError(new Parse.Query(Item).get('doesNotExi'), Parse.Error.OBJECT_NOT_FOUND);
  });
});

describe('field types round-trip', () => {
  test('String, Number, Boolean and Date come back with the same values and types', async () => {
    const when = new Date('2024-02-03T04:05:06.789Z');
    const item = await new Parse.Object(Item, {
      text: 'héllo wörld ✓',
      empty: '',
      integer: 42,
      negative: -17,
      float: 3.25,
      big: 2 ** 40,
      yes: true,
      no: false,
      when,
    }).save();

    const fetched = await refetch(item);
    assert.equal(fetched.get('text'), 'héllo wörld ✓');
    assert.equal(fetched.get('empty'), '');
    assert.equal(fetched.get('integer'), 42);
    assert.equal(fetched.get('negative'), -17);
    assert.equal(fetched.get('float'), 3.25);
    assert.equal(fetched.get('big'), 2 ** 40);
    assert.equal(fetched.get('yes'), true);
    assert.equal(fetched.get('no'), false);
    assert.ok(fetched.get('when') instanceof Date);
    assert.equal(fetched.get('when').toISOString(), '2024-02-03T04:05:06.789Z');
  });

  test('Object fields keep nesting, and a Date nested in an Object stays a Date', async () => {
    const value = {
      a: 1,
      nested: { b: 'c', list: [1, 2, { d: null }] },
      when: new Date('2023-01-01T00:00:00.000Z'),
    };
    const item = await new Parse.Object(Item, { data: value }).save();

    const fetched = (await refetch(item)).get('data');
    assert.equal(fetched.a, 1);
    assert.deepEqual(fetched.nested, { b: 'c', list: [1, 2, { d: null }] });
    assert.ok(fetched.when instanceof Date);
    assert.equal(fetched.when.toISOString(), '2023-01-01T00:00:00.000Z');
  });

  test('Array fields keep order, mixed values and pointers', async () => {
    const target = await new Parse.Object(Target, { name: 't' }).save();
    const item = await new Parse.Object(Item, { list: [1, 'two', { three: 3 }, [4], true, target] }).save();

    const list = (await refetch(item)).get('list');
    assert.deepEqual(list.slice(0, 5), [1, 'two', { three: 3 }, [4], true]);
    assert.ok(list[5] instanceof Parse.Object);
    assert.equal(list[5].className, Target);
    assert.equal(list[5].id, target.id);
  });

  test('a Pointer comes back as an unfetched object of the target class', async () => {
    const target = await new Parse.Object(Target, { name: 'pointee' }).save();
    const item = await new Parse.Object(Item, { owner: target }).save();

    const owner = (await refetch(item)).get('owner');
    assert.ok(owner instanceof Parse.Object);
    assert.equal(owner.className, Target);
    assert.equal(owner.id, target.id);
    assert.equal(owner.isDataAvailable(), false);
    await owner.fetch();
    assert.equal(owner.get('name'), 'pointee');
  });

  test('GeoPoint and Polygon round-trip with the same coordinates', async () => {
    const item = await new Parse.Object(Item, {
      location: new Parse.GeoPoint(40.5, -73.25),
      area: new Parse.Polygon([[0, 0], [0, 1], [1, 1], [1, 0]]),
    }).save();

    const fetched = await refetch(item);
    const location = fetched.get('location');
    assert.ok(location instanceof Parse.GeoPoint);
    assert.deepEqual([location.latitude, location.longitude], [40.5, -73.25]);
    const area = fetched.get('area');
    assert.ok(area instanceof Parse.Polygon);
    // Parse closes the ring: the first point is repeated at the end.
    assert.deepEqual(area.coordinates, [[0, 0], [0, 1], [1, 1], [1, 0], [0, 0]]);
  });

  test('a File reference round-trips over REST and gets a url ending with its name', async () => {
    const created = await server.rest('POST', `classes/${Item}`, {
      body: { attachment: { __type: 'File', name: 'x.txt' } },
    });
    assert.equal(created.status, 201);

    const { status, body } = await server.rest('GET', `classes/${Item}/${created.body.objectId}`);
    assert.equal(status, 200);
    assert.equal(body.attachment.__type, 'File');
    assert.equal(body.attachment.name, 'x.txt');
    assert.match(body.attachment.url, /\/x\.txt$/);

    const file = (await new Parse.Query(Item).get(created.body.objectId)).get('attachment');
    assert.ok(file instanceof Parse.File);
    assert.equal(file.name(), 'x.txt');
    assert.match(file.url(), /\/x\.txt$/);
  });

  test('Bytes round-trip over REST with the same base64', async () => {
    const bytes = { __type: 'Bytes', base64: Buffer.from('hello\u0000bytes').toString('base64') };
    const created = await server.rest('POST', `classes/${Item}`, { body: { blob: bytes } });
    assert.equal(created.status, 201);

    const { body } = await server.rest('GET', `classes/${Item}/${created.body.objectId}`);
    assert.deepEqual(body.blob, bytes);
  });

  test('a field saved as null reads back as null or absent', async () => {
    const item = await new Parse.Object(Item, { nothing: null, something: 1 }).save();

    const fetched = await refetch(item);
    // Parse on Mongo returns the null, Parse on Postgres omits the field: both read as no value.
    assert.equal(fetched.get('nothing') ?? null, null);
    assert.equal(fetched.get('something'), 1);
  });

  test('unset removes the field from the stored object', async () => {
    const item = await new Parse.Object(Item, { keep: 1, drop: 'x' }).save();
    item.unset('drop');
    await item.save();

    const fetched = await refetch(item);
    assert.equal(fetched.has('drop'), false);
    assert.equal(fetched.get('keep'), 1);
  });
});

describe('relations', () => {
  test('relation add and remove change what relation.query() finds', async () => {
    const [a, b, c] = await Parse.Object.saveAll(
      ['a', 'b', 'c'].map((name) => new Parse.Object(Target, { name })),
    );
    const item = new Parse.Object(Item, { title: 'with relation' });
    item.relation('members').add([a, b, c]);
    await item.save();

    const names = async () =>
      (await item.relation('members').query().ascending('name').find()).map((o) => o.get('name'));
    assert.deepEqual(await names(), ['a', 'b', 'c']);

    item.relation('members').remove(b);
    await item.save();
    assert.deepEqual(await names(), ['a', 'c']);

    const relation = (await refetch(item)).get('members');
    assert.ok(relation instanceof Parse.Relation);
    assert.equal(relation.targetClassName, Target);
  });

  test('a relation reached from a freshly fetched object queries the same members', async () => {
    const target = await new Parse.Object(Target, { name: 'only' }).save();
    const item = new Parse.Object(Item);
    item.relation('fans').add(target);
    await item.save();

    const fetched = await refetch(item);
    const members = await fetched.relation('fans').query().find();
    assert.deepEqual(members.map((o) => o.id), [target.id]);
  });
});

describe('update operators', () => {
  test('increment adds positive, negative and fractional amounts', async () => {
    const item = await new Parse.Object(Item, { counter: 10 }).save();
    item.increment('counter');
    await item.save();
    item.increment('counter', -3);
    await item.save();
    item.increment('counter', 0.5);
    await item.save();

    assert.equal(item.get('counter'), 8.5);
    assert.equal((await refetch(item)).get('counter'), 8.5);
  });

  test('increment on a missing field starts from zero', async () => {
    const item = await new Parse.Object(Item).save();
    item.increment('fresh', 4);
    await item.save();

    assert.equal((await refetch(item)).get('fresh'), 4);
  });

  test('the save response of an increment carries the server value to a stale copy', async () => {
    const item = await new Parse.Object(Item, { counter: 100 }).save();
    const stale = copyOf(Item, item.id);
    stale.increment('counter', 5);
    await stale.save();

    assert.equal(stale.get('counter'), 105);
  });

  test('concurrent increments from separate copies never lose an update', async () => {
    const item = await new Parse.Object(Item, { hits: 0 }).save();
    const writers = Array.from({ length: 20 }, () => {
      const copy = copyOf(Item, item.id);
      copy.increment('hits');
      return copy.save();
    });
    await Promise.all(writers);

    assert.equal((await refetch(item)).get('hits'), 20);
  });

  test('add appends to an array, duplicates included', async () => {
    const item = await new Parse.Object(Item, { tags: ['a'] }).save();
    item.add('tags', 'b');
    await item.save();
    item.addAll('tags', ['a', 'c']);
    await item.save();

    assert.deepEqual((await refetch(item)).get('tags'), ['a', 'b', 'a', 'c']);
  });

  test('add on a missing field creates the array', async () => {
    const item = await new Parse.Object(Item).save();
    item.add('freshList', 1);
    await item.save();

    assert.deepEqual((await refetch(item)).get('freshList'), [1]);
  });

  test('addUnique appends only values not already present, objects compared by value', async () => {
    const item = await new Parse.Object(Item, { tags: ['a', { k: 1 }] }).save();
    item.addAllUnique('tags', ['a', 'b', { k: 1 }, { k: 2 }]);
    await item.save();

    // Parse on Mongo keeps insertion order (['a', {k:1}, 'b', {k:2}]); Parse on Postgres returns
    // the same elements in another order. Only the set of elements is common to both.
    const tags = (await refetch(item)).get('tags');
    assert.deepEqual(sortedJson(tags), sortedJson(['a', { k: 1 }, 'b', { k: 2 }]));
    assert.deepEqual(sortedJson(item.get('tags')), sortedJson(tags));
  });

  test('addUnique of a pointer already present by id does not duplicate it', async () => {
    const target = await new Parse.Object(Target).save();
    const item = await new Parse.Object(Item, { refs: [target] }).save();
    const stale = copyOf(Item, item.id);
    stale.addUnique('refs', copyOf(Target, target.id));
    await stale.save();

    const refs = (await refetch(item)).get('refs');
    assert.deepEqual(refs.map((r) => r.id), [target.id]);
  });

  test('remove deletes every occurrence of each given value', async () => {
    const item = await new Parse.Object(Item, { tags: ['a', 'b', 'a', 'c', 1, 1] }).save();
    item.removeAll('tags', ['a', 1, 'missing']);
    await item.save();

    assert.deepEqual((await refetch(item)).get('tags'), ['b', 'c']);
  });

  test('the save response of an add carries the whole server array to a stale copy', async () => {
    const item = await new Parse.Object(Item, { tags: ['x', 'y'] }).save();
    const stale = copyOf(Item, item.id);
    stale.add('tags', 'z');
    await stale.save();

    assert.deepEqual(stale.get('tags'), ['x', 'y', 'z']);
  });
});

describe('validation errors', () => {
  test('saving a value of another type into an existing field fails with 111', async () => {
    await new Parse.Object(Item, { typedNumber: 1 }).save();
    const error = await expectParseError(
      new Parse.Object(Item, { typedNumber: 'not a number' }).save(),
      Parse.Error.INCORRECT_TYPE,
    );
    assert.match(error.message, /typedNumber/);
  });

  test('incrementing a String field fails with 111', async () => {
    const item = await new Parse.Object(Item, { typedString: 'text' }).save();
    // A copy that has not seen the value, or the SDK refuses the increment locally.
    const stale = copyOf(Item, item.id);
    stale.increment('typedString');
    await expectParseError(stale.save(), Parse.Error.INCORRECT_TYPE);
  });

  test('a pointer to another class than the field holds fails with 111', async () => {
    const target = await new Parse.Object(Target).save();
    const item = await new Parse.Object(Item).save();
    await new Parse.Object(Item, { typedPointer: target }).save();

    await expectParseError(new Parse.Object(Item, { typedPointer: item }).save(), Parse.Error.INCORRECT_TYPE);
  });

  test('a field name starting with an underscore fails with 105', async () => {
    await expectParseError(new Parse.Object(Item, { _secret: 1 }).save(), Parse.Error.INVALID_KEY_NAME);
  });

  test('field names the SDK would refuse fail with 105 over REST', async () => {
    for (const body of [{ '1abc': 1 }, { 'a-b': 1 }, { objectId: 'abcdefghij' }]) {
      const { status, body: error } = await server.rest('POST', `classes/${Item}`, { body });
      assert.equal(status, 400, JSON.stringify(body));
      assert.equal(error.code, Parse.Error.INVALID_KEY_NAME, JSON.stringify(body));
    }
  });
});
