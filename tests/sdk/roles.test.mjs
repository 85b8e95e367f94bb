// Roles (`_Role`, `/roles`): creation rules, the users and roles relations, inherited roles in
// ACLs (to depth 3, and through a cycle), and role-based write access. Codes are Parse Server 9.10's.
//
// Role names and usernames carry a random suffix: against an external server every run shares
// one `_Role` and one `_User` table.

import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { Parse, createClasses, expectParseError, startServer } from './harness.mjs';

let server;
let Doc;

const password = 'correct horse';
const unique = (base) => `${base}${randomBytes(4).toString('hex')}`;
const withToken = (token) => ({ headers: { 'X-Parse-Session-Token': token } });

async function signUp(base = 'user') {
  const user = new Parse.User({ username: unique(base), password });
  await user.signUp();
  return user;
}

/** A publicly readable role, saved with the master key, with the given member users and roles. */
async function createRole(base, { users = [], roles = [] } = {}) {
  const acl = new Parse.ACL();
  acl.setPublicReadAccess(true);
  const role = new Parse.Role(unique(base), acl);
  if (users.length) role.getUsers().add(users);
  if (roles.length) role.getRoles().add(roles);
  return role.save(null, { useMasterKey: true });
}

/** A Doc readable (and writable, if asked) only through the given ACL entries. */
async function docWithAcl(acl, attrs = {}) {
  const doc = new Parse.Object(Doc, attrs);
  doc.setACL(acl);
  return doc.save(null, { useMasterKey: true });
}

function roleAcl(role, { read = true, write = false } = {}) {
  const acl = new Parse.ACL();
  acl.setRoleReadAccess(role, read);
  acl.setRoleWriteAccess(role, write);
  return acl;
}

before(async () => {
  server = await startServer();
  Doc = server.className('Doc');
  await createClasses(Doc);
});

after(() => server?.stop());

describe('creating roles', () => {
  test('a client creates a role with users and roles relations', async () => {
    const owner = await signUp('owner');
    const member = await signUp('member');
    const child = await createRole('Child');
    const acl = new Parse.ACL(owner);
    acl.setPublicReadAccess(true);
    const role = new Parse.Role(unique('Parent'), acl);
    role.getUsers().add([owner, member]);
    role.getRoles().add(child);
    await role.save(null, { sessionToken: owner.getSessionToken() });
    assert.match(role.id, /^[0-9A-Za-z]{10}$/);

    const fetched = await new Parse.Query(Parse.Role).get(role.id);
    assert.ok(fetched instanceof Parse.Role);
    assert.equal(fetched.getName(), role.getName());
    assert.deepEqual(fetched.getACL().toJSON(), { '*': { read: true }, [owner.id]: { read: true, write: true } });
    const users = await fetched.getUsers().query().find({ useMasterKey: true });
    assert.deepEqual(users.map((user) => user.id).sort(), [owner.id, member.id].sort());
    const roles = await fetched.getRoles().query().find();
    assert.deepEqual(roles.map((r) => r.id), [child.id]);
  });

  test('POST /roles answers 201 {objectId, createdAt}, Location /classes/_Role/<id>; GET shows relations', async () => {
    const name = unique('Rest');
    const { status, headers, body } = await server.rest('POST', 'roles', {
      body: { name, ACL: { '*': { read: true } } },
    });
    assert.equal(status, 201);
    assert.deepEqual(Object.keys(body).sort(), ['createdAt', 'objectId']);
    assert.equal(headers.location, `${server.serverURL}/classes/_Role/${body.objectId}`);
    const fetched = await server.rest('GET', `roles/${body.objectId}`);
    assert.deepEqual(fetched.body, {
      objectId: body.objectId,
      createdAt: body.createdAt,
      updatedAt: body.createdAt,
      name,
      users: { __type: 'Relation', className: '_User' },
      roles: { __type: 'Relation', className: '_Role' },
      ACL: { '*': { read: true } },
    });
  });

  test('/classes/_Role is the same collection as /roles', async () => {
    const role = await createRole('Same');
    const { status, body } = await server.rest('GET', `classes/_Role/${role.id}`);
    assert.equal(status, 200);
    assert.equal(body.name, role.getName());
  });

  test('a role without an ACL fails with 111 "ACL is required."', async () => {
    const role = new Parse.Role();
    role.set('name', unique('NoAcl'));
    const error = await expectParseError(role.save(), Parse.Error.INCORRECT_TYPE);
    assert.equal(error.message, 'ACL is required.');
  });

  test('a role without a name fails with 111 "name is required."', async () => {
    const { status, body } = await server.rest('POST', 'roles', { body: { ACL: { '*': { read: true } } } });
    assert.equal(status, 400);
    assert.deepEqual(body, { code: 111, error: 'name is required.' });
  });

  test('a second role with the same name fails with 137', async () => {
    const role = await createRole('Dup');
    const copy = new Parse.Role(role.getName(), new Parse.ACL());
    const error = await expectParseError(copy.save(null, { useMasterKey: true }), Parse.Error.DUPLICATE_VALUE);
    assert.equal(error.message, 'A duplicate value for a field with unique values was provided');
  });

  test('the SDK refuses a role name outside [0-9a-zA-Z_- ] before sending it', () => {
    assert.throws(() => new Parse.Role('bad!name', new Parse.ACL()), (error) =>
      error.code === Parse.Error.OTHER_CAUSE && /alphanumeric/.test(error.message));
  });

  test('the SDK refuses to rename a saved role', async () => {
    const role = await createRole('Fixed');
    assert.throws(() => role.setName(unique('Renamed')), (error) =>
      error.code === Parse.Error.OTHER_CAUSE
        && error.message === "A role's name can only be set before it has been saved.");
    const fetched = await new Parse.Query(Parse.Role).get(role.id);
    assert.equal(fetched.getName(), role.getName());
  });

  test('a user without write access to a role cannot add itself to it (101)', async () => {
    const role = await createRole('Closed');
    const intruder = await signUp('intruder');
    role.getUsers().add(intruder);
    await expectParseError(role.save(null, { sessionToken: intruder.getSessionToken() }), Parse.Error.OBJECT_NOT_FOUND);
    const members = await role.getUsers().query().find({ useMasterKey: true });
    assert.deepEqual(members, []);
  });
});

describe('inherited roles', () => {
  let member; // in Low only
  let outsider; // in no role
  let low;
  let mid;
  let top;

  before(async () => {
    member = await signUp('member');
    outsider = await signUp('outsider');
    // Members of a role in R.roles inherit R's permissions: Low ⊂ Mid ⊂ Top.
    low = await createRole('Low', { users: [member] });
    mid = await createRole('Mid', { roles: [low] });
    top = await createRole('Top', { roles: [mid] });
  });

  test('a role three levels up grants read through role:<name>', async () => {
    const doc = await docWithAcl(roleAcl(top), { level: 'top' });
    const seen = await new Parse.Query(Doc).get(doc.id, { sessionToken: member.getSessionToken() });
    assert.equal(seen.get('level'), 'top');
  });

  test('find and count include objects readable through any inherited role', async () => {
    const tag = unique('tag');
    for (const role of [low, mid, top]) await docWithAcl(roleAcl(role), { tag, level: role.getName() });
    await docWithAcl(new Parse.ACL(), { tag, level: 'master only' });
    const query = new Parse.Query(Doc).equalTo('tag', tag);
    const found = await query.find({ sessionToken: member.getSessionToken() });
    assert.deepEqual(found.map((doc) => doc.get('level')).sort(),
      [low.getName(), mid.getName(), top.getName()].sort());
    assert.equal(await query.count({ sessionToken: member.getSessionToken() }), 3);
  });

  test('a user in no role sees none of them (get fails with 101)', async () => {
    const doc = await docWithAcl(roleAcl(top));
    await expectParseError(new Parse.Query(Doc).get(doc.id, { sessionToken: outsider.getSessionToken() }),
      Parse.Error.OBJECT_NOT_FOUND);
  });

  test('inheritance goes down only: a member of Top does not get Low\'s permissions', async () => {
    const boss = await signUp('boss');
    const bossRole = await createRole('Boss', { users: [boss] });
    const team = await createRole('Team', { roles: [bossRole] }); // Boss members inherit Team
    const teamDoc = await docWithAcl(roleAcl(team));
    const bossDoc = await docWithAcl(roleAcl(bossRole));
    const teamMember = await signUp('teammember');
    team.getUsers().add(teamMember);
    await team.save(null, { useMasterKey: true });

    assert.equal((await new Parse.Query(Doc).get(teamDoc.id, { sessionToken: boss.getSessionToken() })).id, teamDoc.id);
    await expectParseError(new Parse.Query(Doc).get(bossDoc.id, { sessionToken: teamMember.getSessionToken() }),
      Parse.Error.OBJECT_NOT_FOUND);
  });

  test('removing the user from its role takes the access away at once', async () => {
    const user = await signUp('leaver');
    const role = await createRole('Leave', { users: [user] });
    const doc = await docWithAcl(roleAcl(role));
    assert.equal((await new Parse.Query(Doc).get(doc.id, { sessionToken: user.getSessionToken() })).id, doc.id);
    role.getUsers().remove(user);
    await role.save(null, { useMasterKey: true });
    await expectParseError(new Parse.Query(Doc).get(doc.id, { sessionToken: user.getSessionToken() }),
      Parse.Error.OBJECT_NOT_FOUND);
  });

  test('a cycle of roles does not hang queries and still grants each role in it', async () => {
    const user = await signUp('cyclist');
    const a = await createRole('CycleA', { users: [user] });
    const b = await createRole('CycleB', { roles: [a] });
    const c = await createRole('CycleC', { roles: [b] });
    a.getRoles().add(c); // C's members inherit A, closing A → B → C → A
    await a.save(null, { useMasterKey: true });
    const unrelated = await createRole('Unrelated');

    const tag = unique('cycle');
    for (const role of [a, b, c, unrelated]) await docWithAcl(roleAcl(role), { tag, role: role.getName() });
    const found = await new Parse.Query(Doc).equalTo('tag', tag).find({ sessionToken: user.getSessionToken() });
    assert.deepEqual(found.map((doc) => doc.get('role')).sort(), [a.getName(), b.getName(), c.getName()].sort());
  });
});

describe('role-based write access', () => {
  let editor;
  let reader;
  let editors;

  before(async () => {
    editor = await signUp('editor');
    reader = await signUp('reader');
    editors = await createRole('Editors', { users: [editor] });
  });

  function publicReadEditorsWrite() {
    const acl = new Parse.ACL();
    acl.setPublicReadAccess(true);
    acl.setRoleWriteAccess(editors, true);
    return acl;
  }

  test('a member of the role updates the object', async () => {
    const doc = await docWithAcl(publicReadEditorsWrite(), { title: 'draft' });
    doc.set('title', 'edited');
    await doc.save(null, { sessionToken: editor.getSessionToken() });
    assert.equal((await new Parse.Query(Doc).get(doc.id)).get('title'), 'edited');
  });

  test('a non-member\'s update fails with 101 and changes nothing', async () => {
    const doc = await docWithAcl(publicReadEditorsWrite(), { title: 'draft' });
    doc.set('title', 'vandalised');
    await expectParseError(doc.save(null, { sessionToken: reader.getSessionToken() }), Parse.Error.OBJECT_NOT_FOUND);
    assert.equal((await new Parse.Query(Doc).get(doc.id)).get('title'), 'draft');
  });

  test('a non-member\'s delete answers 404 with code 101; a member\'s succeeds', async () => {
    const doc = await docWithAcl(publicReadEditorsWrite());
    const denied = await server.rest('DELETE', `classes/${Doc}/${doc.id}`, withToken(reader.getSessionToken()));
    assert.equal(denied.status, 404);
    assert.deepEqual(denied.body, { code: 101, error: 'Object not found.' });
    await doc.destroy({ sessionToken: editor.getSessionToken() });
    await expectParseError(new Parse.Query(Doc).get(doc.id, { useMasterKey: true }), Parse.Error.OBJECT_NOT_FOUND);
  });

  test('write through a role does not imply read', async () => {
    const doc = await docWithAcl(roleAcl(editors, { read: false, write: true }), { title: 'hidden' });
    await expectParseError(new Parse.Query(Doc).get(doc.id, { sessionToken: editor.getSessionToken() }),
      Parse.Error.OBJECT_NOT_FOUND);
    const { status } = await server.rest('PUT', `classes/${Doc}/${doc.id}`, {
      body: { title: 'blind edit' },
      ...withToken(editor.getSessionToken()),
    });
    assert.equal(status, 200);
  });

  test('role write access granted through an inherited role works too', async () => {
    const chief = await signUp('chief');
    const chiefs = await createRole('Chiefs', { users: [chief] });
    editors.getRoles().add(chiefs); // Chiefs' members inherit Editors
    await editors.save(null, { useMasterKey: true });
    const doc = await docWithAcl(publicReadEditorsWrite(), { title: 'draft' });
    doc.set('title', 'by chief');
    await doc.save(null, { sessionToken: chief.getSessionToken() });
    assert.equal((await new Parse.Query(Doc).get(doc.id)).get('title'), 'by chief');
  });
});
