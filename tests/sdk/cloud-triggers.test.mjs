// Cloud Code save and delete triggers with the fixture tests/cloud/triggers/main.js:
// `Parse.Cloud.beforeSave` changing, removing or refusing a write (the SDK object sees the change
// right after `save()`), `request.original`, `_User` sign-ups, `afterSave` writing with the master
// key and its errors being only logged, `beforeDelete` refusing or allowing, `afterDelete`, saves
// made by cloud code and by another trigger, `request.user` / `request.master`, batches
// (`Parse.Object.saveAll` / `destroyAll`) and a trigger validator.
// What an after trigger wrote is waited for by querying again, at most `logAttemptsMax` times and
// without sleeping (Parse runs after triggers before it answers; a server may run them after).
// Expected codes, messages and shapes are Parse Server 9.10's.
//
// Against an external server, that server must load the same fixture (`cloud:
// '<repo>/tests/cloud/triggers/main.js'`). Triggers are bound to fixed class names when the
// fixture loads, so this file uses those names without a random suffix; reruns against one
// database do not collide because every test looks only at the objects it made (ids, markers).

import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { Parse, expectParseError, startServer } from './harness.mjs';

/** Command-line flag of `basalt serve` for cloud code: the one place to change if it is renamed. */
const CLOUD_FLAG = '--cloud';
const fixture = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', 'cloud', 'triggers', 'main.js');

// The classes of the fixture's triggers (fixed names, see above).
const Post = 'TriggerPost'; // every kind of trigger
const Log = 'TriggerLog'; // written by the after triggers, readable with the master key only
const Audit = 'TriggerAudit'; // records request.user and request.master
const Order = 'TriggerOrder'; // its beforeSave saves a TriggerPost
const Note = 'TriggerNote'; // its beforeSave has a validator

/**
 * Upper bound of queries made while waiting for an after trigger's log; only a failure bound.
 * Each attempt is one query round trip, without sleeping in between.
 */
const logAttemptsMax = 100;

let server;
let alice;

const password = 'correct horse';
const unique = (base) => `${base}${randomBytes(4).toString('hex')}`;
const useMasterKey = true;
const as = (user) => ({ sessionToken: user.getSessionToken() });
const newPost = (attrs) => new Parse.Object(Post, { marker: unique('m'), ...attrs });
const countWithMarker = (className, marker) => new Parse.Query(className).equalTo('marker', marker).count({ useMasterKey });

/** Creates the classes; against a reused external database they may exist already. */
async function ensureClasses(...classNames) {
  for (const className of classNames) {
    try {
      await new Parse.Schema(className).save();
    } catch (error) {
      if (!/already exists/.test(error.message)) throw error;
    }
  }
}

/**
 * The logs an after trigger wrote for `ref` and `event`, once there are `count` of them:
 * queried again (at most `logAttemptsMax` times) until they are all there.
 */
async function logsFor(ref, event, count = 1) {
  const query = new Parse.Query(Log).equalTo('ref', ref).equalTo('event', event);
  for (let attempt = 0; attempt < logAttemptsMax; attempt += 1) {
    const logs = await query.find({ useMasterKey });
    if (logs.length >= count) {
      assert.equal(logs.length, count, `${event} logs of ${ref}`);
      return logs;
    }
  }
  throw new Error(`fewer than ${count} ${event} log(s) for ${ref} after ${logAttemptsMax} queries`);
}

before(async () => {
  server = await startServer({ args: [CLOUD_FLAG, fixture] });
  await ensureClasses(Post, Log, Audit, Order, Note);
  alice = new Parse.User({ username: unique('alice'), password });
  await alice.signUp();
});

after(() => server?.stop());

describe('beforeSave changes the write', () => {
  test('a field beforeSave normalises is stored, and the SDK object has it right after save()', async () => {
    const post = newPost({ title: '  the   quick fox  ' });
    await post.save();
    assert.equal(post.get('title'), 'The quick fox');
    assert.equal(post.get('seenTitle'), 'The quick fox');
    assert.equal(post.get('hadOriginal'), false);
    assert.equal(post.dirty(), false, 'the trigger\'s values are server data, not pending changes');
    const stored = await new Parse.Query(Post).get(post.id);
    assert.equal(stored.get('title'), 'The quick fox');
    assert.equal(stored.get('hadOriginal'), false);
  });

  test('the save response echoes the fields whose value the trigger set or changed, no others', async () => {
    const created = await server.rest('POST', `classes/${Post}`, { body: { title: ' rest  title', marker: unique('m') } });
    assert.equal(created.status, 201);
    const { createdAt, objectId, ...createEcho } = created.body;
    assert.match(objectId, /^[0-9A-Za-z]{10}$/);
    assert.equal(typeof createdAt, 'string');
    assert.deepEqual(createEcho, { title: 'Rest title', seenTitle: 'Rest title', hadOriginal: false });

    // views is written as sent, so it is not echoed.
    const updated = await server.rest('PUT', `classes/${Post}/${objectId}`, { body: { views: 1 } });
    assert.equal(updated.status, 200);
    const { updatedAt, ...updateEcho } = updated.body;
    assert.equal(typeof updatedAt, 'string');
    assert.deepEqual(updateEcho, { seenTitle: 'Rest title', hadOriginal: true, originalTitle: 'Rest title' });

    // A title the trigger sets to the value sent is not echoed either.
    const unchanged = await server.rest('POST', `classes/${Post}`, { body: { title: 'Already normal', marker: unique('m') } });
    assert.equal(unchanged.status, 201);
    assert.deepEqual(Object.keys(unchanged.body).sort(), ['createdAt', 'hadOriginal', 'objectId', 'seenTitle']);
  });

  test('request.original is the stored object on update and undefined on create; get() sees stored fields', async () => {
    const post = newPost({ title: 'first draft' });
    await post.save();
    assert.equal(post.get('hadOriginal'), false);
    assert.equal(post.get('originalTitle'), undefined);

    post.set('title', 'second  draft');
    await post.save();
    assert.equal(post.get('title'), 'Second draft');
    assert.equal(post.get('hadOriginal'), true);
    assert.equal(post.get('originalTitle'), 'First draft');

    // The write has views only: the trigger's get('title') is the stored title.
    post.set('views', 3);
    await post.save();
    assert.equal(post.get('seenTitle'), 'Second draft');
    assert.equal(post.get('originalTitle'), 'Second draft');

    const stored = await new Parse.Query(Post).get(post.id);
    assert.deepEqual(
      ['title', 'seenTitle', 'originalTitle', 'hadOriginal', 'views'].map((key) => stored.get(key)),
      ['Second draft', 'Second draft', 'Second draft', true, 3],
    );
  });
});

describe('beforeSave removes a field', () => {
  test('a field the trigger unsets is not stored, and the SDK object drops it right after save()', async () => {
    const post = newPost({ title: 'draft', draftNote: 'check the intro' });
    await post.save();
    assert.equal(post.get('draftNote'), 'check the intro');

    // On update: the stored note goes.
    post.set('published', true);
    await post.save();
    assert.equal(post.get('draftNote'), undefined);
    assert.equal(post.has('draftNote'), false);
    assert.equal((await new Parse.Query(Post).get(post.id)).get('draftNote'), undefined);

    // On create: the written note is dropped.
    const published = newPost({ title: 'published', draftNote: 'never stored', published: true });
    await published.save();
    assert.equal(published.get('draftNote'), undefined);
    assert.equal((await new Parse.Query(Post).get(published.id)).get('draftNote'), undefined);
  });

  test('the save response echoes the removal as a Delete op', async () => {
    const created = await server.rest('POST', `classes/${Post}`, {
      body: { title: 'Echoed removal', draftNote: 'gone', published: true, marker: unique('m') },
    });
    assert.equal(created.status, 201);
    assert.deepEqual(created.body.draftNote, { __op: 'Delete' });
  });
});

describe('beforeSave refuses the write', () => {
  test('a thrown Parse.Error(142, message) keeps its code and message; nothing is saved', async () => {
    const post = newPost({ title: 'a forbidden  word' });
    const error = await expectParseError(post.save(), Parse.Error.VALIDATION_ERROR);
    assert.equal(error.message, 'The title "A forbidden word" is not allowed');
    assert.equal(post.id, undefined);
    assert.equal(await countWithMarker(Post, post.get('marker')), 0);

    const response = await server.rest('POST', `classes/${Post}`, { body: { title: 'forbidden' } });
    assert.equal(response.status, 400);
    assert.deepEqual(response.body, { code: 142, error: 'The title "Forbidden" is not allowed' });
  });

  test('a thrown string refuses with 141 and the string; nothing is saved', async () => {
    const post = newPost({ title: 'please refuse quietly' });
    const error = await expectParseError(post.save(), Parse.Error.SCRIPT_FAILED);
    assert.equal(error.message, 'Refused by a thrown string');
    assert.equal(post.id, undefined);
    assert.equal(await countWithMarker(Post, post.get('marker')), 0);
  });

  test('a refused update leaves the stored object as it was', async () => {
    const post = newPost({ title: 'kept title' });
    await post.save();
    post.set({ title: 'forbidden title', views: 9 });
    await expectParseError(post.save(), Parse.Error.VALIDATION_ERROR);
    const stored = await new Parse.Query(Post).get(post.id);
    assert.equal(stored.get('title'), 'Kept title');
    assert.equal(stored.get('views'), undefined);
  });
});

describe('beforeSave on _User', () => {
  test('Parse.User.signUp runs it: the field it adds is on the user right after signUp() and stored', async () => {
    const user = new Parse.User({ username: unique('signup'), password });
    await user.signUp();
    assert.equal(user.get('plan'), 'free');
    assert.equal(typeof user.getSessionToken(), 'string');
    const stored = await new Parse.Query(Parse.User).get(user.id, { useMasterKey });
    assert.equal(stored.get('plan'), 'free');
    const loggedIn = await Parse.User.logIn(user.getUsername(), password);
    assert.equal(loggedIn.get('plan'), 'free');
    assert.equal(alice.get('plan'), 'free');
  });

  test('afterSave runs for a sign-up, with the new user', async () => {
    const user = new Parse.User({ username: unique('logged'), password });
    await user.signUp();
    const [log] = await logsFor(user.id, 'afterSave');
    assert.equal(log.get('title'), user.getUsername());
    assert.equal(log.get('hadOriginal'), false);

    // And for an update of the user, with request.original.
    user.set('color', 'green');
    await user.save(null, as(user));
    const logs = await logsFor(user.id, 'afterSave', 2);
    assert.deepEqual(logs.map((entry) => entry.get('hadOriginal')).sort(), [false, true]);
  });

  test('a refused sign-up creates no user and no session', async () => {
    const username = unique('banned');
    const user = new Parse.User({ username, password });
    const error = await expectParseError(user.signUp(), Parse.Error.VALIDATION_ERROR);
    assert.equal(error.message, 'This username is not allowed');
    assert.equal(user.id, undefined);
    assert.equal(user.getSessionToken(), undefined);
    assert.equal(await new Parse.Query(Parse.User).equalTo('username', username).count({ useMasterKey }), 0);
    await expectParseError(Parse.User.logIn(username, password), Parse.Error.OBJECT_NOT_FOUND);
  });
});

describe('afterSave', () => {
  test('it runs after the write and saves a log with the master key', async () => {
    const post = newPost({ title: 'log me' });
    await post.save();
    const [log] = await logsFor(post.id, 'afterSave');
    assert.equal(log.get('title'), 'Log me');
    assert.equal(log.get('hadOriginal'), false);
    assert.deepEqual(log.getACL().toJSON(), {});
    // Only the master key reads it.
    assert.deepEqual(await new Parse.Query(Log).equalTo('ref', post.id).find(), []);

    post.set('title', 'log me again');
    await post.save();
    const logs = await logsFor(post.id, 'afterSave', 2);
    assert.deepEqual(
      logs.map((entry) => [entry.get('title'), entry.get('hadOriginal')]).sort(),
      [['Log me again', true], ['Log me', false]],
    );

    // request.object is the whole saved object, not only the fields of the write.
    post.set('views', 7);
    await post.save();
    const third = await logsFor(post.id, 'afterSave', 3);
    assert.deepEqual(
      third.map((entry) => [entry.get('title'), entry.get('hadOriginal')]).sort(),
      [['Log me again', true], ['Log me again', true], ['Log me', false]],
    );
  });

  test('an error thrown by afterSave does not fail the save', async () => {
    const post = newPost({ title: 'please explode' });
    await post.save();
    assert.match(post.id, /^[0-9A-Za-z]{10}$/);
    assert.equal(post.get('title'), 'Please explode');
    const stored = await new Parse.Query(Post).get(post.id);
    assert.equal(stored.get('title'), 'Please explode');
    // The trigger ran (it logs before throwing).
    await logsFor(post.id, 'afterSave');

    post.set('views', 1);
    await post.save();
    assert.equal((await new Parse.Query(Post).get(post.id)).get('views'), 1);
  });
});

describe('beforeDelete and afterDelete', () => {
  test('a refusing beforeDelete keeps the object and no afterDelete runs', async () => {
    const post = newPost({ title: 'locked post', locked: true });
    await post.save();
    const error = await expectParseError(post.destroy(), Parse.Error.OPERATION_FORBIDDEN);
    assert.equal(error.message, 'Post "Locked post" is locked');
    const stored = await new Parse.Query(Post).get(post.id);
    assert.equal(stored.get('locked'), true);

    const response = await server.rest('DELETE', `classes/${Post}/${post.id}`);
    assert.equal(response.status, 400);
    assert.deepEqual(response.body, { code: 119, error: 'Post "Locked post" is locked' });

    // Unlocked, it is deleted: the one afterDelete log is this delete's.
    post.set('locked', false);
    await post.save();
    await post.destroy();
    await logsFor(post.id, 'afterDelete', 1);
  });

  test('an allowing beforeDelete lets the delete through; afterDelete sees the deleted object', async () => {
    const post = newPost({ title: 'short lived' });
    await post.save();
    await post.destroy();
    await expectParseError(new Parse.Query(Post).get(post.id), Parse.Error.OBJECT_NOT_FOUND);
    const [log] = await logsFor(post.id, 'afterDelete');
    assert.equal(log.get('title'), 'Short lived');
  });
});

describe('saves made by cloud code', () => {
  test('a save inside a cloud function runs the class\'s beforeSave and afterSave', async () => {
    const marker = unique('m');
    const post = await Parse.Cloud.run('savePost', { fields: { title: '  from   cloud ', marker } });
    assert.ok(post instanceof Parse.Object);
    assert.equal(post.className, Post);
    assert.equal(post.get('title'), 'From cloud');
    assert.equal(post.get('hadOriginal'), false);
    const stored = await new Parse.Query(Post).get(post.id);
    assert.equal(stored.get('title'), 'From cloud');
    assert.equal(stored.get('marker'), marker);
    await logsFor(post.id, 'afterSave');
  });

  test('a refusal inside a cloud function fails the function with the trigger\'s error', async () => {
    const marker = unique('m');
    const error = await expectParseError(
      Parse.Cloud.run('savePost', { fields: { title: 'forbidden in cloud', marker } }),
      Parse.Error.VALIDATION_ERROR,
    );
    assert.equal(error.message, 'The title "Forbidden in cloud" is not allowed');
    assert.equal(await countWithMarker(Post, marker), 0);
  });

  test('the trigger sees the function\'s options: the session token\'s user, or the master key', async () => {
    const withSession = await Parse.Cloud.run('saveAudit', { marker: unique('m'), mode: 'session' }, as(alice));
    assert.equal(withSession.get('byId'), alice.id);
    assert.equal(withSession.get('master'), false);
    const withMaster = await Parse.Cloud.run('saveAudit', { marker: unique('m'), mode: 'master' });
    assert.equal(withMaster.get('byId'), 'none');
    assert.equal(withMaster.get('master'), true);
  });

  test('a beforeSave that saves an object of a class with its own triggers (nested triggers)', async () => {
    const order = new Parse.Object(Order, { item: '  nested   order ', marker: unique('m') });
    await order.save();
    assert.equal(order.get('postTitle'), 'Nested order');
    const post = order.get('post');
    assert.ok(post instanceof Parse.Object);
    assert.equal(post.className, Post);
    assert.match(post.id, /^[0-9A-Za-z]{10}$/);
    await post.fetch();
    assert.equal(post.get('title'), 'Nested order');
    assert.equal(post.get('hadOriginal'), false);
    const stored = await new Parse.Query(Order).get(order.id);
    assert.equal(stored.get('post').id, post.id);
    assert.equal(stored.get('postTitle'), 'Nested order');
    // The inner save's afterSave ran as well.
    const [log] = await logsFor(post.id, 'afterSave');
    assert.equal(log.get('title'), 'Nested order');
  });
});

describe('request.user and request.master', () => {
  const audit = async (options) => {
    const object = new Parse.Object(Audit, { marker: unique('m') });
    await object.save(null, options);
    const stored = await new Parse.Query(Audit).get(object.id, { useMasterKey });
    const fields = ['user', 'byUsername', 'byId', 'master'];
    assert.deepEqual(fields.map((key) => stored.get(key)), fields.map((key) => object.get(key)), 'echoed = stored');
    return Object.fromEntries(fields.map((key) => [key, object.get(key)]));
  };

  test('with a session, request.user is the saving Parse.User and request.master false', async () => {
    assert.deepEqual(await audit(as(alice)), {
      user: 'Parse.User',
      byUsername: alice.getUsername(),
      byId: alice.id,
      master: false,
    });
  });

  test('without a session, request.user is undefined', async () => {
    assert.deepEqual(await audit(), { user: 'undefined', byUsername: 'nobody', byId: 'none', master: false });
  });

  test('with the master key, request.master is true and request.user undefined', async () => {
    assert.deepEqual(await audit({ useMasterKey }), { user: 'undefined', byUsername: 'nobody', byId: 'none', master: true });
  });
});

describe('batches', () => {
  test('Parse.Object.saveAll runs beforeSave and afterSave for each object, creates and updates', async () => {
    const existing = newPost({ title: 'old title' });
    await existing.save();
    existing.set('title', '  new   title');
    const created = [newPost({ title: ' batch one' }), newPost({ title: 'batch   two ' })];
    await Parse.Object.saveAll([...created, existing]);
    assert.deepEqual(created.map((post) => post.get('title')), ['Batch one', 'Batch two']);
    assert.deepEqual(created.map((post) => post.get('hadOriginal')), [false, false]);
    assert.equal(existing.get('title'), 'New title');
    assert.equal(existing.get('originalTitle'), 'Old title');
    assert.equal(existing.get('hadOriginal'), true);
    const stored = await new Parse.Query(Post).containedIn('objectId', created.map((post) => post.id)).ascending('title').find();
    assert.deepEqual(stored.map((post) => post.get('title')), ['Batch one', 'Batch two']);
    for (const post of created) await logsFor(post.id, 'afterSave');
    await logsFor(existing.id, 'afterSave', 2);
  });

  test('a refusal in a batch fails that object only', async () => {
    const good = newPost({ title: 'fine  batch' });
    const bad = newPost({ title: 'forbidden batch' });
    const error = await expectParseError(Parse.Object.saveAll([good, bad]), Parse.Error.VALIDATION_ERROR);
    assert.equal(error.message, 'The title "Forbidden batch" is not allowed');
    assert.equal(await countWithMarker(Post, bad.get('marker')), 0);
    assert.equal(await countWithMarker(Post, good.get('marker')), 1);
  });

  test('Parse.Object.destroyAll runs beforeDelete and afterDelete for each object', async () => {
    const posts = [newPost({ title: 'gone one' }), newPost({ title: 'gone two' })];
    await Parse.Object.saveAll(posts);
    await Parse.Object.destroyAll(posts);
    assert.equal(await new Parse.Query(Post).containedIn('objectId', posts.map((post) => post.id)).count(), 0);
    const titles = [];
    for (const post of posts) titles.push((await logsFor(post.id, 'afterDelete'))[0].get('title'));
    assert.deepEqual(titles, ['Gone one', 'Gone two']);

    const unlocked = newPost({ title: 'free' });
    const locked = newPost({ title: 'stuck', locked: true });
    await Parse.Object.saveAll([unlocked, locked]);
    const refused = await expectParseError(Parse.Object.destroyAll([unlocked, locked]), Parse.Error.AGGREGATE_ERROR);
    assert.deepEqual(refused.errors.map((inner) => [inner.code, inner.message, inner.object.id]),
      [[119, 'Post "Stuck" is locked', locked.id]]);
    await expectParseError(new Parse.Query(Post).get(unlocked.id), Parse.Error.OBJECT_NOT_FOUND);
    assert.equal((await new Parse.Query(Post).get(locked.id)).get('title'), 'Stuck');
  });
});

describe('a trigger validator', () => {
  test('runs before the handler: requireUser and fields answer 142 with Parse\'s messages', async () => {
    const note = (attrs) => new Parse.Object(Note, attrs);
    let error = await expectParseError(note({ text: 'hi' }).save(), Parse.Error.VALIDATION_ERROR);
    assert.equal(error.message, 'Validation failed. Please login to continue.');
    error = await expectParseError(note({}).save(null, as(alice)), Parse.Error.VALIDATION_ERROR);
    assert.equal(error.message, 'Validation failed. Please specify data for text.');
    error = await expectParseError(note({ text: 5 }).save(null, as(alice)), Parse.Error.VALIDATION_ERROR);
    assert.equal(error.message, 'Validation failed. Invalid type for text. Expected: string');
    const saved = note({ text: 'hello' });
    await saved.save(null, as(alice));
    assert.equal(saved.get('checked'), true);
  });
});
