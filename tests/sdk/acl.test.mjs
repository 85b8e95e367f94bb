// Object ACLs: public, user and role read/write enforced on get, find, count, include, sub-queries,
// relation queries, batch, update and delete — with paging and counts computed over the visible
// objects only. The master key sees and changes everything. Codes and shapes are Parse Server 9.10's.

import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { Parse, createClasses, expectParseError, startServer } from './harness.mjs';

let server;
let Item; // the objects under test
let Target; // pointer targets of Item
let alice;
let bob;
let staff; // a role with alice as its only member

const password = 'correct horse';
const unique = (base) => `${base}${randomBytes(4).toString('hex')}`;
const withToken = (token) => ({ headers: { 'X-Parse-Session-Token': token } });
const asAlice = () => ({ sessionToken: alice.getSessionToken() });
const asBob = () => ({ sessionToken: bob.getSessionToken() });
const useMasterKey = true;

async function signUp(base) {
  const user = new Parse.User({ username: unique(base), password });
  await user.signUp();
  return user;
}

/** ACL builder: `acl({ publicRead: true, read: [alice], write: [staff] })`; users or roles. */
function acl({ publicRead = false, publicWrite = false, read = [], write = [] } = {}) {
  const result = new Parse.ACL();
  result.setPublicReadAccess(publicRead);
  result.setPublicWriteAccess(publicWrite);
  for (const who of read) {
    if (who instanceof Parse.Role) result.setRoleReadAccess(who, true);
    else result.setReadAccess(who, true);
  }
  for (const who of write) {
    if (who instanceof Parse.Role) result.setRoleWriteAccess(who, true);
    else result.setWriteAccess(who, true);
  }
  return result;
}

/** Saves one object of `className` with the master key. */
async function seed(className, attrs, objectAcl) {
  const object = new Parse.Object(className, attrs);
  if (objectAcl) object.setACL(objectAcl);
  return object.save(null, { useMasterKey });
}

const names = (objects) => objects.map((object) => object.get('name')).sort();

before(async () => {
  server = await startServer();
  Item = server.className('Item');
  Target = server.className('Target');
  await createClasses(Item, Target);
  alice = await signUp('alice');
  bob = await signUp('bob');
  const roleAcl = new Parse.ACL();
  roleAcl.setPublicReadAccess(true);
  staff = new Parse.Role(unique('Staff'), roleAcl);
  staff.getUsers().add(alice);
  await staff.save(null, { useMasterKey });
});

after(() => server?.stop());

describe('reading', () => {
  let group;
  const objects = {};

  before(async () => {
    group = unique('read');
    const rows = [
      ['noAcl', undefined],
      ['public', acl({ publicRead: true })],
      ['alice', acl({ read: [alice] })],
      ['bob', acl({ read: [bob] })],
      ['staff', acl({ read: [staff] })],
      ['nobody', acl()],
      ['aliceWriteOnly', acl({ write: [alice] })],
    ];
    for (const [name, objectAcl] of rows) objects[name] = await seed(Item, { group, name }, objectAcl);
  });

  const inGroup = () => new Parse.Query(Item).equalTo('group', group);

  test('find returns only the objects the caller may read', async () => {
    assert.deepEqual(names(await inGroup().find()), ['noAcl', 'public']);
    assert.deepEqual(names(await inGroup().find(asAlice())), ['alice', 'noAcl', 'public', 'staff']);
    assert.deepEqual(names(await inGroup().find(asBob())), ['bob', 'noAcl', 'public']);
  });

  test('count counts only readable objects', async () => {
    assert.equal(await inGroup().count(), 2);
    assert.equal(await inGroup().count(asAlice()), 4);
    assert.equal(await inGroup().count(asBob()), 3);
  });

  test('the master key finds and counts every object', async () => {
    assert.deepEqual(names(await inGroup().find({ useMasterKey })),
      ['alice', 'aliceWriteOnly', 'bob', 'noAcl', 'nobody', 'public', 'staff']);
    assert.equal(await inGroup().count({ useMasterKey }), 7);
  });

  test('get of an object the caller cannot read answers 404 {"code":101,"error":"Object not found."}', async () => {
    for (const name of ['bob', 'nobody', 'aliceWriteOnly']) {
      const { status, body } = await server.rest('GET', `classes/${Item}/${objects[name].id}`,
        withToken(alice.getSessionToken()));
      assert.equal(status, 404, name);
      assert.deepEqual(body, { code: 101, error: 'Object not found.' }, name);
    }
    await expectParseError(new Parse.Query(Item).get(objects.alice.id), Parse.Error.OBJECT_NOT_FOUND);
  });

  test('get succeeds through user and role read access', async () => {
    assert.equal((await new Parse.Query(Item).get(objects.alice.id, asAlice())).get('name'), 'alice');
    assert.equal((await new Parse.Query(Item).get(objects.staff.id, asAlice())).get('name'), 'staff');
  });

  test('a readable object comes back with its ACL', async () => {
    const fetched = await new Parse.Query(Item).get(objects.staff.id, asAlice());
    assert.deepEqual(fetched.getACL().toJSON(), { [`role:${staff.getName()}`]: { read: true } });
  });

  test('fetch of an unreadable object fails with 101', async () => {
    const copy = Parse.Object.extend(Item).createWithoutData(objects.nobody.id);
    await expectParseError(copy.fetch(asBob()), Parse.Error.OBJECT_NOT_FOUND);
  });

  test('containedIn on objectIds cannot reach hidden objects', async () => {
    const ids = Object.values(objects).map((object) => object.id);
    const found = await new Parse.Query(Item).containedIn('objectId', ids).find(asBob());
    assert.deepEqual(names(found), ['bob', 'noAcl', 'public']);
  });
});

describe('paging over hidden objects', () => {
  let group;

  before(async () => {
    group = unique('page');
    // 30 objects, n = 0..29; every third one (n = 0, 3, … 27) is public, the rest master-only.
    const objects = [];
    for (let n = 0; n < 30; n += 1) {
      const object = new Parse.Object(Item, { group, n });
      object.setACL(acl({ publicRead: n % 3 === 0 }));
      objects.push(object);
    }
    await Parse.Object.saveAll(objects, { useMasterKey });
  });

  const page = () => new Parse.Query(Item).equalTo('group', group).ascending('n');

  test('limit 5 returns the first 5 visible objects, not fewer', async () => {
    const found = await page().limit(5).find();
    assert.deepEqual(found.map((object) => object.get('n')), [0, 3, 6, 9, 12]);
  });

  test('skip counts visible objects only', async () => {
    const found = await page().skip(5).limit(5).find();
    assert.deepEqual(found.map((object) => object.get('n')), [15, 18, 21, 24, 27]);
  });

  test('count with limit 0 reports all 10 visible objects', async () => {
    assert.equal(await page().limit(0).count(), 10);
    const { body } = await server.rest('GET', `classes/${Item}`, {
      query: { where: { group }, count: 1, limit: 2, order: 'n' },
    });
    assert.equal(body.count, 10);
    assert.deepEqual(body.results.map((row) => row.n), [0, 3]);
  });

  test('first returns the first visible object', async () => {
    assert.equal((await page().greaterThan('n', 0).first()).get('n'), 3);
  });

  test('the master key pages over all 30', async () => {
    const found = await page().skip(5).limit(3).find({ useMasterKey });
    assert.deepEqual(found.map((object) => object.get('n')), [5, 6, 7]);
    assert.equal(await page().count({ useMasterKey }), 30);
  });
});

describe('include', () => {
  let visible;
  let hidden;
  let item;

  before(async () => {
    visible = await seed(Target, { label: 'visible' }, acl({ publicRead: true }));
    hidden = await seed(Target, { label: 'hidden' }, acl({ read: [bob] }));
    item = await seed(Item, {
      name: unique('include'),
      seen: visible,
      unseen: hidden,
      list: [hidden, visible, hidden],
    }, acl({ publicRead: true }));
  });

  test('without include, pointers to unreadable objects stay plain pointers', async () => {
    const { body } = await server.rest('GET', `classes/${Item}/${item.id}`);
    assert.deepEqual(body.unseen, { __type: 'Pointer', className: Target, objectId: hidden.id });
    assert.equal(body.list.length, 3);
  });

  test('an included pointer the caller cannot read is dropped from the object', async () => {
    const { status, body } = await server.rest('GET', `classes/${Item}/${item.id}`, {
      query: { include: 'seen,unseen' },
    });
    assert.equal(status, 200);
    assert.equal('unseen' in body, false);
    assert.deepEqual(body.seen, {
      __type: 'Object',
      className: Target,
      objectId: visible.id,
      createdAt: visible.createdAt.toISOString(),
      updatedAt: visible.updatedAt.toISOString(),
      label: 'visible',
      ACL: { '*': { read: true } },
    });
  });

  test('unreadable elements of an included array of pointers are removed, readable ones kept in order', async () => {
    const { body } = await server.rest('GET', `classes/${Item}`, {
      query: { where: { objectId: item.id }, include: 'list' },
    });
    const [row] = body.results;
    assert.deepEqual(row.list.map((entry) => [entry.__type, entry.objectId]), [['Object', visible.id]]);
  });

  test('through the SDK the unreadable include is simply absent, and present for a reader', async () => {
    const query = new Parse.Query(Item).equalTo('objectId', item.id).include(['seen', 'unseen', 'list']);
    const [asPublic] = await query.find();
    assert.equal(asPublic.get('seen').get('label'), 'visible');
    assert.equal(asPublic.has('unseen'), false);
    assert.deepEqual(asPublic.get('list').map((target) => target.id), [visible.id]);

    const [asReader] = await query.find(asBob());
    assert.equal(asReader.get('unseen').get('label'), 'hidden');
    assert.deepEqual(asReader.get('list').map((target) => target.get('label')), ['hidden', 'visible', 'hidden']);
  });

  test('the object itself still counts and is found when its include is unreadable', async () => {
    const query = new Parse.Query(Item).equalTo('objectId', item.id).include('unseen');
    assert.equal((await query.find()).length, 1);
    assert.equal(await query.count(), 1);
  });

  test('an included private user is dropped for other users', async () => {
    const author = await signUp('author');
    const post = await seed(Item, { name: unique('post'), author }, acl({ publicRead: true }));
    const [seenByBob] = await new Parse.Query(Item).equalTo('objectId', post.id).include('author').find(asBob());
    assert.equal(seenByBob.has('author'), false);
    const [seenByAuthor] = await new Parse.Query(Item).equalTo('objectId', post.id).include('author')
      .find({ sessionToken: author.getSessionToken() });
    assert.equal(seenByAuthor.get('author').getUsername(), author.getUsername());
  });
});

describe('sub-queries and relations', () => {
  test('matchesQuery on a pointer only matches through targets the caller can read', async () => {
    const tag = unique('sub');
    const open = await seed(Target, { tag }, acl({ publicRead: true }));
    const closed = await seed(Target, { tag }, acl({ read: [bob] }));
    await seed(Item, { tag, name: 'toOpen', target: open }, acl({ publicRead: true }));
    await seed(Item, { tag, name: 'toClosed', target: closed }, acl({ publicRead: true }));
    const query = new Parse.Query(Item).matchesQuery('target', new Parse.Query(Target).equalTo('tag', tag));
    assert.deepEqual(names(await query.find()), ['toOpen']);
    assert.deepEqual(names(await query.find(asBob())), ['toClosed', 'toOpen']);
  });

  test('a relation query returns and counts only readable members', async () => {
    const parent = await seed(Item, { name: unique('parent') }, acl({ publicRead: true }));
    const members = [
      await seed(Target, { label: 'public' }, acl({ publicRead: true })),
      await seed(Target, { label: 'alice' }, acl({ read: [alice] })),
      await seed(Target, { label: 'staff' }, acl({ read: [staff] })),
      await seed(Target, { label: 'nobody' }, acl()),
    ];
    parent.relation('members').add(members);
    await parent.save(null, { useMasterKey });

    const labels = async (options) =>
      (await parent.relation('members').query().find(options)).map((target) => target.get('label')).sort();
    assert.deepEqual(await labels(), ['public']);
    assert.deepEqual(await labels(asAlice()), ['alice', 'public', 'staff']);
    assert.deepEqual(await labels({ useMasterKey }), ['alice', 'nobody', 'public', 'staff']);
    assert.equal(await parent.relation('members').query().count(asAlice()), 3);
  });
});

describe('writing', () => {
  test('update of an object the caller cannot write answers 404 {"code":101,"error":"Object not found."}', async () => {
    const object = await seed(Item, { name: 'readonly', n: 1 }, acl({ publicRead: true, write: [alice] }));
    const { status, body } = await server.rest('PUT', `classes/${Item}/${object.id}`, {
      body: { n: 2 },
      ...withToken(bob.getSessionToken()),
    });
    assert.equal(status, 404);
    assert.deepEqual(body, { code: 101, error: 'Object not found.' });
    object.set('n', 3);
    await expectParseError(object.save(null, asBob()), Parse.Error.OBJECT_NOT_FOUND);
    await expectParseError(object.save(), Parse.Error.OBJECT_NOT_FOUND);
    assert.equal((await new Parse.Query(Item).get(object.id)).get('n'), 1);
  });

  test('delete of an object the caller cannot write answers 404 with code 101 and keeps it', async () => {
    const object = await seed(Item, { name: 'keep' }, acl({ publicRead: true, write: [alice] }));
    const { status, body } = await server.rest('DELETE', `classes/${Item}/${object.id}`,
      withToken(bob.getSessionToken()));
    assert.equal(status, 404);
    assert.deepEqual(body, { code: 101, error: 'Object not found.' });
    await expectParseError(object.destroy(), Parse.Error.OBJECT_NOT_FOUND);
    assert.equal((await new Parse.Query(Item).get(object.id)).id, object.id);
  });

  test('user and role write access allow update and delete', async () => {
    const byUser = await seed(Item, { name: 'byUser' }, acl({ publicRead: true, write: [alice] }));
    const byRole = await seed(Item, { name: 'byRole' }, acl({ publicRead: true, write: [staff] }));
    for (const object of [byUser, byRole]) {
      object.set('n', 10);
      await object.save(null, asAlice());
      await object.destroy(asAlice());
    }
    const left = new Parse.Query(Item).containedIn('objectId', [byUser.id, byRole.id]);
    assert.equal(await left.count({ useMasterKey }), 0);
  });

  test('public write lets anyone update', async () => {
    const object = await seed(Item, { name: 'wiki' }, acl({ publicRead: true, publicWrite: true }));
    object.set('n', 5);
    await object.save();
    assert.equal((await new Parse.Query(Item).get(object.id)).get('n'), 5);
  });

  test('changing the ACL needs write access', async () => {
    const object = await seed(Item, { name: 'locked' }, acl({ publicRead: true, write: [alice] }));
    const { status } = await server.rest('PUT', `classes/${Item}/${object.id}`, {
      body: { ACL: { '*': { read: true, write: true } } },
      ...withToken(bob.getSessionToken()),
    });
    assert.equal(status, 404);
    const fetched = await new Parse.Query(Item).get(object.id, { useMasterKey });
    assert.deepEqual(fetched.getACL().toJSON(), { '*': { read: true }, [alice.id]: { write: true } });
  });

  test('a client may create an object it cannot read back itself', async () => {
    const object = new Parse.Object(Item, { name: 'blind' });
    object.setACL(acl({ read: [bob] }));
    await object.save(null, asAlice());
    assert.match(object.id, /^[0-9A-Za-z]{10}$/);
    await expectParseError(new Parse.Query(Item).get(object.id, asAlice()), Parse.Error.OBJECT_NOT_FOUND);
  });

  test('the master key updates and deletes objects no one else can write', async () => {
    const object = await seed(Item, { name: 'sealed' }, acl());
    object.set('n', 1);
    await object.save(null, { useMasterKey });
    await object.destroy({ useMasterKey });
    await expectParseError(new Parse.Query(Item).get(object.id, { useMasterKey }), Parse.Error.OBJECT_NOT_FOUND);
  });
});

describe('batch', () => {
  test('a batch answers per item: success for writable objects, 101 for the others', async () => {
    const writable = await seed(Item, { name: 'w', n: 0 }, acl({ publicRead: true, write: [alice] }));
    const locked = await seed(Item, { name: 'l', n: 0 }, acl({ publicRead: true, write: [bob] }));
    const mount = new URL(server.serverURL).pathname;
    const { status, body } = await server.rest('POST', 'batch', {
      body: {
        requests: [
          { method: 'PUT', path: `${mount}/classes/${Item}/${writable.id}`, body: { n: 1 } },
          { method: 'PUT', path: `${mount}/classes/${Item}/${locked.id}`, body: { n: 1 } },
          { method: 'DELETE', path: `${mount}/classes/${Item}/${locked.id}` },
        ],
      },
      ...withToken(alice.getSessionToken()),
    });
    assert.equal(status, 200);
    assert.equal(typeof body[0].success.updatedAt, 'string');
    assert.deepEqual(body.slice(1), [
      { error: { code: 101, error: 'Object not found.' } },
      { error: { code: 101, error: 'Object not found.' } },
    ]);
    const after = await new Parse.Query(Item).containedIn('objectId', [writable.id, locked.id])
      .ascending('name').find();
    assert.deepEqual(after.map((object) => [object.get('name'), object.get('n')]), [['l', 0], ['w', 1]]);
  });

  test('saveAll rejects with 101 for an unwritable object and keeps the writable one saved', async () => {
    const writable = await seed(Item, { name: 'w2', n: 0 }, acl({ publicRead: true, write: [alice] }));
    const locked = await seed(Item, { name: 'l2', n: 0 }, acl({ publicRead: true, write: [bob] }));
    writable.set('n', 7);
    locked.set('n', 7);
    await expectParseError(Parse.Object.saveAll([writable, locked], asAlice()), Parse.Error.OBJECT_NOT_FOUND);
    assert.equal((await new Parse.Query(Item).get(writable.id)).get('n'), 7);
    assert.equal((await new Parse.Query(Item).get(locked.id)).get('n'), 0);
  });

  test('destroyAll reports 101 per unwritable object inside an aggregate error (600)', async () => {
    const writable = await seed(Item, { name: 'w3' }, acl({ publicRead: true, write: [alice] }));
    const locked = await seed(Item, { name: 'l3' }, acl({ publicRead: true, write: [bob] }));
    const error = await expectParseError(Parse.Object.destroyAll([writable, locked], asAlice()),
      Parse.Error.AGGREGATE_ERROR);
    assert.deepEqual(error.errors.map((e) => [e.code, e.object.id]), [[Parse.Error.OBJECT_NOT_FOUND, locked.id]]);
    const left = await new Parse.Query(Item).containedIn('objectId', [writable.id, locked.id]).find();
    assert.deepEqual(left.map((object) => object.id), [locked.id]);
  });
});
