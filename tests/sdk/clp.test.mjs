// Class-level permissions set through /schemas (Parse.Schema): per-operation denials,
// requiresAuthentication, user and role entries, pointer permissions, protected fields, client
// class creation and includes of a class the caller may not get. Codes are Parse Server 9.10's;
// their messages are sanitised to "Permission denied" there, so only the codes are pinned.
//
// Every test builds its own class, so one CLP never leaks into another test.

import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { Parse, expectParseError, startServer } from './harness.mjs';

let server;
let alice;
let bob;
let staff; // role: alice is a member through the inherited role `inner`
let inner; // role: alice is a direct member; its members inherit staff

const password = 'correct horse';
const useMasterKey = true;
const operations = ['find', 'get', 'count', 'create', 'update', 'delete', 'addField'];

const unique = (base) => `${base}${randomBytes(4).toString('hex')}`;
const withToken = (token) => ({ headers: { 'X-Parse-Session-Token': token } });
const asAlice = () => ({ sessionToken: alice.getSessionToken() });
const asBob = () => ({ sessionToken: bob.getSessionToken() });
const userPointer = (user) => ({ __type: 'Pointer', className: '_User', objectId: user.id });

/** Every operation open to the public, with `overrides` on top (a complete CLP, no defaults involved). */
function clp(overrides = {}) {
  return {
    ...Object.fromEntries(operations.map((operation) => [operation, { '*': true }])),
    protectedFields: {},
    ...overrides,
  };
}

/**
 * Creates a fresh class with fields n (Number), secret (String), owner (Pointer<_User>), editors
 * (Array) and the given CLP; seeds `rows` with the master key (public read/write ACLs).
 */
let classCounter = 0;
async function classWith(permissions, rows = [{ n: 1 }]) {
  classCounter += 1;
  const className = server.className(`Clp${classCounter}`);
  await new Parse.Schema(className)
    .addNumber('n')
    .addString('secret')
    .addPointer('owner', '_User')
    .addArray('editors')
    .setCLP(permissions)
    .save();
  const objects = await Parse.Object.saveAll(rows.map((row) => new Parse.Object(className, row)), { useMasterKey });
  return { className, objects };
}

async function signUp(base) {
  const user = new Parse.User({ username: unique(base), password });
  await user.signUp();
  return user;
}

before(async () => {
  server = await startServer();
  alice = await signUp('alice');
  bob = await signUp('bob');
  const roleAcl = new Parse.ACL();
  roleAcl.setPublicReadAccess(true);
  inner = new Parse.Role(unique('Inner'), roleAcl);
  inner.getUsers().add(alice);
  await inner.save(null, { useMasterKey });
  staff = new Parse.Role(unique('Staff'), roleAcl);
  staff.getRoles().add(inner);
  await staff.save(null, { useMasterKey });
});

after(() => server?.stop());

describe('operation permissions', () => {
  test('Parse.Schema stores the CLP and returns it on get', async () => {
    const permissions = clp({ find: { [alice.id]: true }, delete: {}, protectedFields: { '*': ['secret'] } });
    const { className } = await classWith(permissions);
    const schema = await new Parse.Schema(className).get();
    assert.deepEqual(schema.classLevelPermissions, permissions);
  });

  test('find: {} refuses find with 119 while get still works', async () => {
    const { className, objects } = await classWith(clp({ find: {} }));
    await expectParseError(new Parse.Query(className).find(), Parse.Error.OPERATION_FORBIDDEN);
    await expectParseError(new Parse.Query(className).find(asAlice()), Parse.Error.OPERATION_FORBIDDEN);
    assert.equal((await new Parse.Query(className).get(objects[0].id)).get('n'), 1);
  });

  test('get: {} refuses get with 119 while find still works', async () => {
    const { className, objects } = await classWith(clp({ get: {} }));
    await expectParseError(new Parse.Query(className).get(objects[0].id), Parse.Error.OPERATION_FORBIDDEN);
    assert.equal((await new Parse.Query(className).find()).length, 1);
  });

  test('count: {} refuses count with 119 while find still works', async () => {
    const { className } = await classWith(clp({ count: {} }), [{ n: 1 }, { n: 2 }]);
    await expectParseError(new Parse.Query(className).count(), Parse.Error.OPERATION_FORBIDDEN);
    const { status, body } = await server.rest('GET', `classes/${className}`, { query: { count: 1, limit: 1 } });
    assert.equal(status, 400);
    assert.equal(body.code, 119);
    assert.equal((await new Parse.Query(className).find()).length, 2);
  });

  test('create: {} refuses create with 119', async () => {
    const { className } = await classWith(clp({ create: {} }));
    await expectParseError(new Parse.Object(className, { n: 2 }).save(null, asAlice()),
      Parse.Error.OPERATION_FORBIDDEN);
    const { status, body } = await server.rest('POST', `classes/${className}`, { body: { n: 2 } });
    assert.equal(status, 400);
    assert.equal(body.code, 119);
  });

  test('update: {} refuses update with 119 and changes nothing', async () => {
    const { className, objects } = await classWith(clp({ update: {} }));
    objects[0].set('n', 5);
    await expectParseError(objects[0].save(), Parse.Error.OPERATION_FORBIDDEN);
    assert.equal((await new Parse.Query(className).get(objects[0].id)).get('n'), 1);
  });

  test('delete: {} refuses delete with 119 and keeps the object', async () => {
    const { className, objects } = await classWith(clp({ delete: {} }));
    await expectParseError(objects[0].destroy(), Parse.Error.OPERATION_FORBIDDEN);
    assert.equal(await new Parse.Query(className).count(), 1);
  });

  test('addField: {} refuses new fields on create and update with 119; known fields still save', async () => {
    const { className, objects } = await classWith(clp({ addField: {} }));
    await expectParseError(new Parse.Object(className, { n: 2, brandNew: 1 }).save(), Parse.Error.OPERATION_FORBIDDEN);
    objects[0].set('alsoNew', true);
    await expectParseError(objects[0].save(), Parse.Error.OPERATION_FORBIDDEN);
    await new Parse.Object(className, { n: 3, secret: 's' }).save();
    const schema = await new Parse.Schema(className).get();
    assert.equal('brandNew' in schema.fields, false);
    assert.equal('alsoNew' in schema.fields, false);
  });

  test('the master key ignores a CLP that refuses everything', async () => {
    const { className, objects } = await classWith(clp(Object.fromEntries(operations.map((op) => [op, {}]))));
    assert.equal((await new Parse.Query(className).find({ useMasterKey })).length, 1);
    // A constraint keeps Parse on Postgres from answering a master count with the planner's estimate.
    assert.equal(await new Parse.Query(className).equalTo('n', 1).count({ useMasterKey }), 1);
    const created = await new Parse.Object(className, { n: 2, extra: 'new field' }).save(null, { useMasterKey });
    objects[0].set('n', 9);
    await objects[0].save(null, { useMasterKey });
    await created.destroy({ useMasterKey });
  });

  test('requiresAuthentication refuses anonymous callers with 404 code 101 and admits logged-in users', async () => {
    const permissions = Object.fromEntries(operations.map((op) => [op, { requiresAuthentication: true }]));
    const { className, objects } = await classWith(clp(permissions));
    const requests = [
      ['GET', `classes/${className}`],
      ['GET', `classes/${className}/${objects[0].id}`],
      ['GET', `classes/${className}`, undefined, { count: 1, limit: 0 }],
      ['POST', `classes/${className}`, { n: 2 }],
      ['PUT', `classes/${className}/${objects[0].id}`, { n: 2 }],
      ['DELETE', `classes/${className}/${objects[0].id}`],
    ];
    for (const [method, route, body, query] of requests) {
      const response = await server.rest(method, route, { body, query });
      assert.equal(response.status, 404, `${method} ${route}`);
      assert.equal(response.body.code, 101, `${method} ${route}`);
    }
    assert.equal((await new Parse.Query(className).find(asBob())).length, 1);
    assert.equal(await new Parse.Query(className).count(asBob()), 1);
    const created = await new Parse.Object(className, { n: 2 }).save(null, asBob());
    created.set('n', 3);
    await created.save(null, asBob());
    await created.destroy(asBob());
  });

  test('a user entry admits that user only; others get 119', async () => {
    const { className, objects } = await classWith(clp({ find: { [alice.id]: true }, update: { [alice.id]: true } }));
    assert.equal((await new Parse.Query(className).find(asAlice())).length, 1);
    await expectParseError(new Parse.Query(className).find(asBob()), Parse.Error.OPERATION_FORBIDDEN);
    await expectParseError(new Parse.Query(className).find(), Parse.Error.OPERATION_FORBIDDEN);
    objects[0].set('n', 2);
    await expectParseError(objects[0].save(null, asBob()), Parse.Error.OPERATION_FORBIDDEN);
    await objects[0].save(null, asAlice());
  });

  test('a role entry built with Parse.CLP admits members, also through an inherited role', async () => {
    const permissions = new Parse.CLP();
    permissions.setPublicGetAccess(true);
    permissions.setRoleFindAccess(staff, true);
    permissions.setRoleCreateAccess(staff, true);
    const { className } = await classWith(permissions);
    const schema = await new Parse.Schema(className).get();
    assert.deepEqual(schema.classLevelPermissions.find, { [`role:${staff.getName()}`]: true });
    assert.deepEqual(schema.classLevelPermissions.update, {});

    assert.equal((await new Parse.Query(className).find(asAlice())).length, 1);
    await new Parse.Object(className, { n: 2 }).save(null, asAlice());
    await expectParseError(new Parse.Query(className).find(asBob()), Parse.Error.OPERATION_FORBIDDEN);
    await expectParseError(new Parse.Object(className, { n: 2 }).save(null, asBob()), Parse.Error.OPERATION_FORBIDDEN);
  });

  test('a CLP update that names only some operations makes the others master-only', async () => {
    const { className } = await classWith(clp());
    const response = await server.rest('PUT', `schemas/${className}`, {
      master: true,
      body: { classLevelPermissions: { find: { '*': true } } },
    });
    assert.equal(response.status, 200);
    assert.deepEqual(response.body.classLevelPermissions, {
      find: { '*': true }, get: {}, count: {}, create: {}, update: {}, delete: {}, addField: {}, protectedFields: {},
    });
    assert.equal((await new Parse.Query(className).find()).length, 1);
    await expectParseError(new Parse.Object(className, { n: 2 }).save(), Parse.Error.OPERATION_FORBIDDEN);
  });

  test('an invalid CLP fails with 107 and a message naming the problem', async () => {
    const { className } = await classWith(clp());
    const cases = [
      [{ frob: {} }, 'frob is not a valid operation for class level permissions'],
      [{ find: { 'bad key': true } }, "'bad key' is not a valid key for class level permissions"],
      [{ readUserFields: ['n'] }, "'n' is not a valid column for class level pointer permissions readUserFields"],
    ];
    for (const [classLevelPermissions, error] of cases) {
      const response = await server.rest('PUT', `schemas/${className}`, {
        master: true,
        body: { classLevelPermissions },
      });
      assert.equal(response.status, 400);
      assert.deepEqual(response.body, { code: 107, error });
    }
  });
});

describe('pointer permissions', () => {
  test('pointerFields: a user finds, counts and gets only objects whose owner points to it', async () => {
    const readOwn = { pointerFields: ['owner'] };
    const { className, objects } = await classWith(clp({ find: readOwn, get: readOwn, count: readOwn }), [
      { n: 1, owner: alice }, { n: 2, owner: bob }, { n: 3, owner: alice }, { n: 4 },
    ]);
    const found = await new Parse.Query(className).ascending('n').find(asAlice());
    assert.deepEqual(found.map((object) => object.get('n')), [1, 3]);
    assert.equal(await new Parse.Query(className).count(asAlice()), 2);
    assert.equal(await new Parse.Query(className).count(asBob()), 1);
    assert.equal((await new Parse.Query(className).get(objects[0].id, asAlice())).get('n'), 1);
    await expectParseError(new Parse.Query(className).get(objects[1].id, asAlice()), Parse.Error.OBJECT_NOT_FOUND);
    assert.deepEqual(await new Parse.Query(className).find(), []);
    assert.equal((await new Parse.Query(className).find({ useMasterKey })).length, 4);
  });

  test('pointerFields on update and delete refuse non-owners with 101', async () => {
    const own = { pointerFields: ['owner'] };
    const { className, objects } = await classWith(clp({ update: own, delete: own }), [{ n: 1, owner: alice }]);
    const [object] = objects;
    const update = await server.rest('PUT', `classes/${className}/${object.id}`, {
      body: { n: 2 },
      ...withToken(bob.getSessionToken()),
    });
    assert.equal(update.status, 404);
    assert.deepEqual(update.body, { code: 101, error: 'Object not found.' });
    await expectParseError(object.destroy(asBob()), Parse.Error.OBJECT_NOT_FOUND);
    object.set('n', 3);
    await object.save(null, asAlice());
    await object.destroy(asAlice());
  });

  test('pointerFields never grant create (119)', async () => {
    const { className } = await classWith(clp({ create: { pointerFields: ['owner'] } }));
    await expectParseError(new Parse.Object(className, { n: 2, owner: alice }).save(null, asAlice()),
      Parse.Error.OPERATION_FORBIDDEN);
  });

  test('readUserFields admit owner and editors to read; writeUserFields admit only the owner to write', async () => {
    const closed = Object.fromEntries(operations.map((op) => [op, {}]));
    const { className, objects } = await classWith(
      clp({ ...closed, create: { '*': true }, readUserFields: ['owner', 'editors'], writeUserFields: ['owner'] }),
      [
        { n: 1, owner: alice },
        { n: 2, owner: bob, editors: [userPointer(alice)] },
        { n: 3, owner: bob },
      ],
    );
    const seen = async (options) =>
      (await new Parse.Query(className).ascending('n').find(options)).map((object) => object.get('n'));
    assert.deepEqual(await seen(asAlice()), [1, 2]);
    assert.deepEqual(await seen(asBob()), [2, 3]);
    assert.deepEqual(await seen(), []);
    assert.equal(await new Parse.Query(className).count(asAlice()), 2);

    const [own, edited] = objects;
    edited.set('n', 20);
    await expectParseError(edited.save(null, asAlice()), Parse.Error.OBJECT_NOT_FOUND);
    own.set('n', 10);
    await own.save(null, asAlice());
    assert.deepEqual(await seen({ useMasterKey }), [2, 3, 10]);
  });
});

describe('protected fields', () => {
  let className;
  let objects;

  before(async () => {
    ({ className, objects } = await classWith(
      clp({ protectedFields: { '*': ['secret'], [`role:${staff.getName()}`]: [] } }),
      [{ n: 1, secret: 's1' }, { n: 2, secret: 's2' }],
    ));
  });

  test('a protected field is hidden from the public and from users outside the granted role', async () => {
    for (const options of [{}, asBob()]) {
      const found = await new Parse.Query(className).ascending('n').find(options);
      assert.deepEqual(found.map((object) => [object.get('n'), object.has('secret')]), [[1, false], [2, false]]);
    }
    const { body } = await server.rest('GET', `classes/${className}/${objects[0].id}`);
    assert.deepEqual(Object.keys(body).sort(), ['createdAt', 'n', 'objectId', 'updatedAt']);
  });

  test('members of the granted role (here through an inherited role) and the master key see it', async () => {
    const found = await new Parse.Query(className).ascending('n').find(asAlice());
    assert.deepEqual(found.map((object) => object.get('secret')), ['s1', 's2']);
    assert.equal((await new Parse.Query(className).get(objects[1].id, { useMasterKey })).get('secret'), 's2');
  });

  test('a where or an order on a protected field fails with 119 for those who cannot see it', async () => {
    await expectParseError(new Parse.Query(className).equalTo('secret', 's1').find(asBob()),
      Parse.Error.OPERATION_FORBIDDEN);
    await expectParseError(new Parse.Query(className).ascending('secret').find(asBob()),
      Parse.Error.OPERATION_FORBIDDEN);
    const orQuery = Parse.Query.or(
      new Parse.Query(className).equalTo('n', 1),
      new Parse.Query(className).equalTo('secret', 's2'),
    );
    await expectParseError(orQuery.find(asBob()), Parse.Error.OPERATION_FORBIDDEN);
    const allowed = await new Parse.Query(className).equalTo('secret', 's1').find(asAlice());
    assert.deepEqual(allowed.map((object) => object.get('n')), [1]);
  });

  test('asking for a protected field with keys returns the objects without it', async () => {
    const found = await new Parse.Query(className).select('secret').ascending('createdAt').find(asBob());
    assert.equal(found.length, 2);
    for (const object of found) assert.equal(object.has('secret'), false);
  });

  test('an included object of the class hides the protected field too', async () => {
    const Holder = server.className('Holder');
    const holder = await new Parse.Object(Holder, { ref: objects[0] }).save(null, { useMasterKey });
    const [seen] = await new Parse.Query(Holder).equalTo('objectId', holder.id).include('ref').find(asBob());
    assert.equal(seen.get('ref').get('n'), 1);
    assert.equal(seen.get('ref').has('secret'), false);
  });

  test('_User email is protected by default: others do not see it, the user does', async () => {
    const carol = await signUp('carol');
    carol.setEmail(`${carol.getUsername()}@example.com`);
    const acl = new Parse.ACL(carol);
    acl.setPublicReadAccess(true);
    carol.setACL(acl);
    await carol.save(null, { sessionToken: carol.getSessionToken() });
    const byBob = await new Parse.Query(Parse.User).get(carol.id, asBob());
    assert.equal(byBob.getUsername(), carol.getUsername());
    assert.equal(byBob.has('email'), false);
    const byCarol = await new Parse.Query(Parse.User).get(carol.id, { sessionToken: carol.getSessionToken() });
    assert.equal(byCarol.getEmail(), carol.getEmail());
  });
});

describe('classes and includes', () => {
  test('a client cannot create a class by saving into it (119), logged in or not', async () => {
    const className = server.className('NotCreatedByClients');
    await expectParseError(new Parse.Object(className, { n: 1 }).save(), Parse.Error.OPERATION_FORBIDDEN);
    await expectParseError(new Parse.Object(className, { n: 1 }).save(null, asAlice()),
      Parse.Error.OPERATION_FORBIDDEN);
    await expectParseError(new Parse.Schema(className).get(), Parse.Error.INVALID_CLASS_NAME);
  });

  test('an include of a class whose CLP denies get fails the whole query with 119', async () => {
    const { objects: targets } = await classWith(clp({ get: {} }));
    const Holder = server.className('GetDeniedHolder');
    await new Parse.Object(Holder, { ref: targets[0] }).save(null, { useMasterKey });
    await expectParseError(new Parse.Query(Holder).include('ref').find(), Parse.Error.OPERATION_FORBIDDEN);
    const plain = await new Parse.Query(Holder).find();
    assert.equal(plain[0].get('ref').id, targets[0].id);
  });

  test('an include needs get, not find, on the target class', async () => {
    const { objects: targets } = await classWith(clp({ find: {} }));
    const Holder = server.className('FindDeniedHolder');
    await new Parse.Object(Holder, { ref: targets[0] }).save(null, { useMasterKey });
    const [holder] = await new Parse.Query(Holder).include('ref').find();
    assert.equal(holder.get('ref').get('n'), 1);
  });
});
