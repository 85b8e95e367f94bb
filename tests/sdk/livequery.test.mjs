// LiveQuery: the SDK's WebSocket client (`query.subscribe()`, `Parse.LiveQueryClient`) against the
// server's LiveQuery endpoint on the API port — the open event, create / update / enter / leave /
// delete with `object` and `original`, `keys` (query.select) and `watch`, ACLs and session tokens,
// unsubscribe, several subscriptions per client, error frames. Expected frames, codes and messages
// are Parse Server 9.10's (LiveQuery enabled for every class, no keyPairs).
//
// Nothing here sleeps: every wait is for an event or a frame, with a timeout only as the failure
// bound. "Never arrives" is shown by saving the hidden write first and a visible marker second, and
// asserting that the first thing to arrive is the marker.
//
// Basalt serves LiveQuery only when asked: `--live-query-classes '*'`.

import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, afterEach, before, describe, test } from 'node:test';
import { Parse, createClasses, startServer } from './harness.mjs';

let server;
let wsURL; // ws://host:port/parse, what the SDK derives from serverURL
let defaultClient; // the SDK's default LiveQuery client, used by query.subscribe()
let alice;
let bob;

const password = 'correct horse';
const useMasterKey = true;
/** Failure bound for one awaited event or frame; never a wait in a passing run. */
const eventTimeoutMs = 3000;
const eventTypes = ['create', 'enter', 'update', 'leave', 'delete'];
const uuidPattern = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

const unique = (base) => `${base}${randomBytes(4).toString('hex')}`;

/** Resolves like `promise`, or rejects after the failure bound naming what did not happen. */
function within(promise, what) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${eventTimeoutMs} ms waiting for ${what}`)), eventTimeoutMs);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/** A queue fed by `subscribe(push)`; `next(what)` takes the oldest entry or waits for the next. */
function queue(subscribe) {
  const items = [];
  const waiters = [];
  subscribe((item) => (waiters.length ? waiters.shift()(item) : items.push(item)));
  return {
    next(what = 'the next item') {
      if (items.length) return Promise.resolve(items.shift());
      let waiter;
      const arrived = new Promise((resolve) => {
        waiter = resolve;
        waiters.push(waiter);
      });
      return within(arrived, what).finally(() => {
        const index = waiters.indexOf(waiter);
        if (index >= 0) waiters.splice(index, 1);
      });
    },
    /** Entries received and not yet taken. */
    pending: () => [...items],
  };
}

/**
 * Every event of a subscription in arrival order, as `{type, object, original, response}`.
 * The SDK calls update/enter/leave listeners with (object, original, response) when the frame
 * has an `original`, and with (object, response) when it has none; `original` is null then.
 */
function recordEvents(subscription) {
  return queue((push) => {
    for (const type of eventTypes) {
      subscription.on(type, (...args) =>
        push({ type, object: args[0], original: args.length === 3 ? args[1] : null, response: args.at(-1) }));
    }
  });
}

/** Every JSON frame the server sends on a `ws` socket (the SDK's own socket or a raw one). */
function recordFrames(socket) {
  return queue((push) => socket.on('message', (data) => {
    const text = data.toString();
    try {
      push(JSON.parse(text));
    } catch {
      push({ notJSON: text });
    }
  }));
}

const clients = []; // SDK clients opened by a test, closed after it
const sockets = []; // raw sockets opened by a test, closed after it

/**
 * A `Parse.LiveQueryClient` (no master key), opened; resolves once the server sent `connected`.
 * `frames` records the raw frames after `connected`.
 */
async function openClient({ url = wsURL, ...options } = {}) {
  const client = new Parse.LiveQueryClient({
    applicationId: server.appId,
    javascriptKey: server.javascriptKey,
    serverURL: url,
    ...options,
  });
  clients.push(client);
  const opened = new Promise((resolve, reject) => {
    client.on('open', resolve);
    client.on('error', (error) => reject(new Error(`LiveQuery client error: ${error?.message ?? error}`)));
  });
  client.open();
  const frames = recordFrames(client.socket);
  await within(opened, `the open event of a LiveQuery client on ${url}`);
  // The SDK's connect frame has no installationId unless one was given, so neither has the answer.
  const connected = await frames.next('connected');
  const expected = { op: 'connected', clientId: client.id };
  if (options.installationId) expected.installationId = options.installationId;
  assert.deepEqual(connected, expected);
  return { client, frames };
}

/** Closes an SDK client for good: the SDK's close() leaves a pending reconnect timer armed. */
async function closeClient(client) {
  clearTimeout(client.reconnectHandle);
  const closed = client.close();
  clearTimeout(client.reconnectHandle);
  await within(Promise.resolve(closed), 'a LiveQuery client to close').catch(() => client.socket?.terminate?.());
}

/** A raw WebSocket (the `ws` class the SDK itself uses in Node), for frames the SDK cannot send. */
async function rawSocket(url = wsURL) {
  const WebSocket = Parse.CoreManager.getWebSocketController();
  const socket = new WebSocket(url);
  sockets.push(socket);
  const frames = recordFrames(socket);
  await within(new Promise((resolve, reject) => {
    socket.once('open', resolve);
    socket.once('error', (error) => reject(new Error(`no LiveQuery endpoint at ${url}: ${error.message}`)));
  }), `a WebSocket connection to ${url}`);
  return {
    send: (message) => socket.send(typeof message === 'string' ? message : JSON.stringify(message)),
    next: frames.next,
  };
}

/** Subscribes on an explicit client and waits for `subscribed`. */
async function subscribeOn(client, query, sessionToken) {
  const subscription = client.subscribe(query, sessionToken);
  await within(subscription.subscribePromise, `the subscribed frame for ${JSON.stringify(query.toJSON().where)}`);
  return subscription;
}

/** `query.subscribe(token)` on the default client, waiting for `subscribed`. */
async function subscribe(query, sessionToken) {
  return within(query.subscribe(sessionToken), `the subscribed frame for ${JSON.stringify(query.toJSON().where)}`);
}

/** Creates a class for one test (suffixed against an external server) and returns its name. */
async function freshClass(base) {
  const className = server.className(base);
  await createClasses(className);
  return className;
}

/** Saves a new object of `className` with the master key, with `objectAcl` if given. */
async function seed(className, attrs, objectAcl) {
  const object = new Parse.Object(className, attrs);
  if (objectAcl) object.setACL(objectAcl);
  return object.save(null, { useMasterKey });
}

/** ACL readable (and writable) by exactly these users. */
function readableBy(...users) {
  const acl = new Parse.ACL();
  for (const user of users) {
    acl.setReadAccess(user, true);
    acl.setWriteAccess(user, true);
  }
  return acl;
}

async function signUp(base) {
  const user = new Parse.User({ username: unique(base), password });
  await user.signUp();
  return user;
}

before(async () => {
  server = await startServer({ args: ['--live-query-classes', '*'] });
  wsURL = server.serverURL.replace(/^http/, 'ws');
  // Fail every test at once, with the reason, when there is no LiveQuery endpoint, rather than
  // each one after its timeout.
  const probe = await rawSocket();
  probe.send({ op: 'connect', applicationId: server.appId, javascriptKey: server.javascriptKey });
  assert.equal((await probe.next('connected')).op, 'connected');
  for (const socket of sockets.splice(0)) socket.terminate();

  alice = await signUp('alice');
  bob = await signUp('bob');
  // The harness initialises the SDK with the master key (for schema calls), and the default
  // LiveQuery client copies Parse.masterKey into its connect frame. A real client app has no
  // master key, and whether a LiveQuery server honours one is configuration (Parse 9 ignores it
  // without keyPairs), so the default client is built the way an app would get it: without one.
  const masterKey = Parse.masterKey;
  Parse.masterKey = undefined;
  try {
    defaultClient = await Parse.CoreManager.getLiveQueryController().getDefaultLiveQueryClient();
  } finally {
    Parse.masterKey = masterKey;
  }
});

afterEach(async () => {
  await Promise.all(clients.splice(0).map(closeClient));
  for (const socket of sockets.splice(0)) socket.terminate();
});

after(async () => {
  for (const socket of sockets.splice(0)) socket.terminate();
  if (defaultClient) await closeClient(defaultClient);
  await server?.stop();
});

describe('connection', () => {
  test('query.subscribe() opens the default client at ws://host:port/parse: open events and the subscription response', async () => {
    const className = await freshClass('LqOpen');
    const liveQueryOpened = new Promise((resolve) => Parse.LiveQuery.on('open', resolve));
    const subscription = await subscribe(new Parse.Query(className));
    await within(liveQueryOpened, 'Parse.LiveQuery open');
    assert.equal(Parse.CoreManager.get('LIVEQUERY_SERVER_URL'), wsURL);
    assert.match(wsURL, /^ws:\/\/127\.0\.0\.1:\d+\/parse$/);
    assert.equal(defaultClient.state, 'connected');
    assert.match(defaultClient.id, uuidPattern);

    // The subscription's open event (the SDK emits it 200 ms after `subscribed`) carries the
    // connection's clientId and the installationId the client sent on connect.
    const response = await within(new Promise((resolve) => subscription.on('open', resolve)), 'the subscription open event');
    const installationId = await Parse.CoreManager.getInstallationController().currentInstallationId();
    assert.deepEqual(response, { clientId: defaultClient.id, installationId });
    assert.equal(subscription.subscribed, true);

    const events = recordEvents(subscription);
    const saved = await seed(className, { n: 1 });
    const event = await events.next('create');
    assert.equal(event.type, 'create');
    assert.equal(event.object.id, saved.id);
    assert.deepEqual(event.response, { clientId: defaultClient.id, installationId });
  });

  test('the endpoint also answers at / on the same port', async () => {
    const className = await freshClass('LqRoot');
    const { client } = await openClient({ url: `${new URL(wsURL).origin}/` });
    const events = recordEvents(await subscribeOn(client, new Parse.Query(className)));
    const saved = await seed(className, { n: 1 });
    const event = await events.next('create');
    assert.equal(event.type, 'create');
    assert.equal(event.object.id, saved.id);
  });
});

describe('events', () => {
  test('score > 10: create 20, update 20→30, leave 30→5, enter 5→15, delete, each with object and original', async () => {
    const className = await freshClass('LqScore');
    const subscription = await subscribe(new Parse.Query(className).greaterThan('score', 10));
    const events = recordEvents(subscription);

    // A create that does not match is not sent: the first event is the matching create.
    const low = await seed(className, { score: 1, tag: 'low' });
    const object = await seed(className, { score: 20, tag: 'x' });
    let event = await events.next('create of score 20');
    assert.equal(event.type, 'create');
    assert.deepEqual(event.object.toJSON(), object.toJSON());
    assert.equal(event.original, null);
    assert.equal(event.object.className, className);
    assert.ok(event.object.createdAt instanceof Date);
    assert.deepEqual(event.response, { clientId: defaultClient.id, installationId: defaultClient.installationId });

    // update: still matches. `object` is the new state (with `tag` unset), `original` the old one.
    let before = object.toJSON();
    object.set('score', 30);
    object.unset('tag');
    await object.save();
    event = await events.next('update 20→30');
    assert.equal(event.type, 'update');
    assert.deepEqual(event.object.toJSON(), object.toJSON());
    assert.equal(event.object.get('score'), 30);
    assert.equal(event.object.get('tag'), undefined);
    assert.deepEqual(event.original.toJSON(), before);
    assert.equal(event.original.get('tag'), 'x');
    assert.ok(event.object.updatedAt > event.original.updatedAt);

    // leave: no longer matches. `object` is the new (non-matching) state, `original` the old one.
    before = object.toJSON();
    object.set('score', 5);
    await object.save();
    event = await events.next('leave 30→5');
    assert.equal(event.type, 'leave');
    assert.deepEqual(event.object.toJSON(), object.toJSON());
    assert.deepEqual(event.original.toJSON(), before);

    // A change while outside the query sends nothing; enter: matches again, with the old state.
    object.set('tag', 'outside');
    await object.save();
    before = object.toJSON();
    object.set('score', 15);
    await object.save();
    event = await events.next('enter 5→15');
    assert.equal(event.type, 'enter');
    assert.deepEqual(event.object.toJSON(), object.toJSON());
    assert.deepEqual(event.original.toJSON(), before);
    assert.equal(event.original.get('score'), 5);

    // Deleting a non-matching object sends nothing; delete: the last state, no original.
    await low.destroy({ useMasterKey });
    const last = object.toJSON();
    await object.destroy();
    event = await events.next('delete');
    assert.equal(event.type, 'delete');
    assert.deepEqual(event.object.toJSON(), last);
    assert.equal(event.original, null);
  });

  test('keys (query.select): only the selected fields and the object metadata arrive', async () => {
    const className = await freshClass('LqKeys');
    const { client, frames } = await openClient();
    const query = new Parse.Query(className).greaterThan('score', 10).select('score');
    const events = recordEvents(await subscribeOn(client, query));
    assert.deepEqual(await frames.next('subscribed'), { op: 'subscribed', clientId: client.id, requestId: 1 });

    const object = await seed(className, { score: 20, name: 'secret', tags: ['a'] });
    let event = await events.next('create');
    assert.equal(event.type, 'create');
    assert.equal(event.object.id, object.id);
    assert.equal(event.object.get('score'), 20);
    assert.equal(event.object.has('name'), false);
    assert.equal(event.object.has('tags'), false);
    const createFrame = await frames.next('create frame');
    assert.deepEqual(createFrame.object, {
      className,
      objectId: object.id,
      createdAt: object.createdAt.toISOString(),
      updatedAt: object.updatedAt.toISOString(),
      score: 20,
    });

    object.set({ score: 21, name: 'other' });
    await object.save(null, { useMasterKey });
    event = await events.next('update');
    assert.equal(event.type, 'update');
    assert.equal(event.object.get('score'), 21);
    assert.equal(event.original.get('score'), 20);
    assert.equal(event.object.has('name'), false);
    assert.equal(event.original.has('name'), false);
    const updateFrame = await frames.next('update frame');
    assert.deepEqual(Object.keys(updateFrame.object).sort(), ['className', 'createdAt', 'objectId', 'score', 'updatedAt']);
    assert.deepEqual(Object.keys(updateFrame.original).sort(), ['className', 'createdAt', 'objectId', 'score', 'updatedAt']);
  });

  test('watch: a create or update is sent only when a watched field changed; delete always is', async () => {
    const className = await freshClass('LqWatch');
    const events = recordEvents(await subscribe(new Parse.Query(className).watch('status')));

    // A create without the watched field counts as no change (Parse compares with undefined).
    await seed(className, { n: 0 });
    const object = await seed(className, { status: 'new', n: 1 });
    let event = await events.next('create with status');
    assert.equal(event.type, 'create');
    assert.equal(event.object.id, object.id);

    object.set('n', 2); // not watched: no event
    await object.save();
    object.set('status', 'done');
    await object.save();
    event = await events.next('update of status');
    assert.equal(event.type, 'update');
    assert.equal(event.object.get('status'), 'done');
    assert.equal(event.original.get('status'), 'new');
    assert.equal(event.original.get('n'), 2); // the unwatched update happened, unannounced

    await object.destroy();
    event = await events.next('delete');
    assert.equal(event.type, 'delete');
    assert.equal(event.object.id, object.id);
  });

  test('two subscriptions on one client each get their own events, identical queries both get them', async () => {
    const className = await freshClass('LqTwo');
    const { client } = await openClient();
    const red = recordEvents(await subscribeOn(client, new Parse.Query(className).equalTo('color', 'red')));
    const blue = recordEvents(await subscribeOn(client, new Parse.Query(className).equalTo('color', 'blue')));
    const blueAgain = recordEvents(await subscribeOn(client, new Parse.Query(className).equalTo('color', 'blue')));

    const red1 = await seed(className, { color: 'red' });
    const blue1 = await seed(className, { color: 'blue' });
    const red2 = await seed(className, { color: 'red' });
    assert.deepEqual([(await red.next('red 1')).object.id, (await red.next('red 2')).object.id], [red1.id, red2.id]);
    assert.equal((await blue.next('blue 1')).object.id, blue1.id);
    assert.equal((await blueAgain.next('blue 1 again')).object.id, blue1.id);

    // red1 turning blue leaves red and enters both blue subscriptions, each under its own request.
    red1.set('color', 'blue');
    await red1.save(null, { useMasterKey });
    const leave = await red.next('leave');
    const enter = await blue.next('enter');
    const enterAgain = await blueAgain.next('enter again');
    assert.deepEqual([leave.type, enter.type, enterAgain.type], ['leave', 'enter', 'enter']);
    assert.deepEqual([leave.object.id, enter.object.id, enterAgain.object.id], [red1.id, red1.id, red1.id]);
    assert.deepEqual([red.pending(), blue.pending(), blueAgain.pending()], [[], [], []]);
  });

  test('after unsubscribe no frame arrives for that request; other subscriptions go on', async () => {
    const className = await freshClass('LqUnsub');
    const { client, frames } = await openClient();
    const subscription = await subscribeOn(client, new Parse.Query(className).equalTo('kind', 'watched'));
    const markers = recordEvents(await subscribeOn(client, new Parse.Query(className).equalTo('kind', 'marker')));
    assert.deepEqual(await frames.next('subscribed 1'), { op: 'subscribed', clientId: client.id, requestId: 1 });
    assert.deepEqual(await frames.next('subscribed 2'), { op: 'subscribed', clientId: client.id, requestId: 2 });

    await within(client.unsubscribe(subscription), 'the unsubscribed frame');
    assert.deepEqual(await frames.next('unsubscribed'), { op: 'unsubscribed', clientId: client.id, requestId: 1 });
    assert.equal(subscription.subscribed, false);

    await seed(className, { kind: 'watched' });
    const marker = await seed(className, { kind: 'marker' });
    const frame = await frames.next('the marker create frame');
    assert.equal(frame.op, 'create');
    assert.equal(frame.requestId, 2);
    assert.equal(frame.object.objectId, marker.id);
    assert.equal((await markers.next('marker event')).object.id, marker.id);
  });
});

describe('security', () => {
  test('an object the subscriber cannot read never arrives; one it can read does', async () => {
    const className = await freshClass('LqAcl');
    const events = recordEvents(await subscribe(new Parse.Query(className), alice.getSessionToken()));

    await seed(className, { n: 1 }, readableBy(bob));
    await seed(className, { n: 2 }, new Parse.ACL()); // nobody but the master key
    const visible = await seed(className, { n: 3 }, readableBy(alice));
    const event = await events.next('the object alice can read');
    assert.equal(event.type, 'create');
    assert.equal(event.object.id, visible.id);
    assert.deepEqual(event.object.getACL().toJSON(), { [alice.id]: { read: true, write: true } });
  });

  test('without a session token only publicly readable objects arrive', async () => {
    const className = await freshClass('LqAnon');
    const events = recordEvents(await subscribe(new Parse.Query(className)));
    await seed(className, { n: 1 }, readableBy(alice));
    const publicAcl = new Parse.ACL();
    publicAcl.setPublicReadAccess(true);
    const visible = await seed(className, { n: 2 }, publicAcl);
    const event = await events.next('the public object');
    assert.equal(event.object.id, visible.id);
  });

  test('each subscription uses its own session token: query.subscribe(sessionToken)', async () => {
    const className = await freshClass('LqTokens');
    const asAlice = recordEvents(await subscribe(new Parse.Query(className), alice.getSessionToken()));
    const asBob = recordEvents(await subscribe(new Parse.Query(className), bob.getSessionToken()));

    const forAlice = await seed(className, { n: 1 }, readableBy(alice));
    const forBob = await seed(className, { n: 2 }, readableBy(bob));
    const forBoth = await seed(className, { n: 3 }, readableBy(alice, bob));
    assert.deepEqual(
      [(await asAlice.next('alice 1')).object.id, (await asAlice.next('alice 2')).object.id],
      [forAlice.id, forBoth.id],
    );
    assert.deepEqual(
      [(await asBob.next('bob 1')).object.id, (await asBob.next('bob 2')).object.id],
      [forBob.id, forBoth.id],
    );
  });

  test('a client connected with a session token sees that user\'s objects without a per-subscription token', async () => {
    const className = await freshClass('LqConnToken');
    const { client } = await openClient({ sessionToken: bob.getSessionToken() });
    const events = recordEvents(await subscribeOn(client, new Parse.Query(className)));
    await seed(className, { n: 1 }, readableBy(alice));
    const visible = await seed(className, { n: 2 }, readableBy(bob));
    assert.equal((await events.next('bob\'s object')).object.id, visible.id);
  });

  test('losing read access is a leave carrying the last readable state; regaining it an enter without original', async () => {
    const className = await freshClass('LqAclChange');
    const events = recordEvents(await subscribe(new Parse.Query(className), alice.getSessionToken()));
    const object = await seed(className, { score: 20 }, readableBy(alice));
    assert.equal((await events.next('create')).type, 'create');
    const readable = object.toJSON();

    object.set('score', 25);
    object.setACL(readableBy(bob));
    await object.save(null, { useMasterKey });
    let event = await events.next('leave by ACL');
    assert.equal(event.type, 'leave');
    // What alice receives is the state she could read, not the one she lost access to.
    assert.deepEqual(event.object.toJSON(), readable);
    assert.deepEqual(event.original.toJSON(), readable);

    object.set('score', 30);
    object.setACL(readableBy(alice, bob));
    await object.save(null, { useMasterKey });
    event = await events.next('enter by ACL');
    assert.equal(event.type, 'enter');
    assert.deepEqual(event.object.toJSON(), object.toJSON());
    assert.equal(event.original, null); // she could not read the state before
  });
});

describe('errors', () => {
  test('a subscription with an invalid query is rejected with 102 and gets an error event', async () => {
    const className = await freshClass('LqBadQuery');
    const { client, frames } = await openClient();
    const subscription = client.subscribe(new Parse.Query(className).matches('name', '('));
    const errorEvent = new Promise((resolve) => subscription.on('error', resolve));
    const error = await within(subscription.subscribePromise.then(
      () => assert.fail('subscribing succeeded'),
      (reason) => reason,
    ), 'the subscription to fail');
    assert.ok(error instanceof Parse.Error);
    assert.equal(error.code, Parse.Error.INVALID_QUERY);
    assert.match(error.message, /^Invalid regular expression: /);
    assert.equal(await within(errorEvent, 'the subscription error event'), error.message);

    const frame = await frames.next('error frame');
    assert.deepEqual(frame, { op: 'error', error: error.message, code: 102, reconnect: false, requestId: 1 });

    // The connection stays usable: the next subscription on it works.
    const events = recordEvents(await subscribeOn(client, new Parse.Query(className)));
    const saved = await seed(className, { name: 'ok' });
    assert.equal((await events.next('create after the error')).object.id, saved.id);
  });

  test('query.subscribe() rejects with the Parse error for an invalid query', async () => {
    const className = await freshClass('LqBadQuery2');
    const query = new Parse.Query(className).matches('name', '[');
    await assert.rejects(within(query.subscribe(), 'the subscription to fail'), (error) => {
      assert.equal(error.code, Parse.Error.INVALID_QUERY);
      assert.match(error.message, /^Invalid regular expression: /);
      return true;
    });
  });
});

describe('protocol frames', () => {
  test('connected, subscribed, create, update, delete and unsubscribed frames have exactly these fields', async () => {
    const className = await freshClass('LqFrames');
    const ws = await rawSocket();
    ws.send({ op: 'connect', applicationId: server.appId, javascriptKey: server.javascriptKey, installationId: 'inst-1' });
    const connected = await ws.next('connected');
    assert.match(connected.clientId, uuidPattern);
    assert.deepEqual(connected, { op: 'connected', clientId: connected.clientId, installationId: 'inst-1' });
    const ids = { clientId: connected.clientId, installationId: 'inst-1' };

    ws.send({ op: 'subscribe', requestId: 7, query: { className, where: { score: { $gt: 10 } } } });
    assert.deepEqual(await ws.next('subscribed'), { op: 'subscribed', ...ids, requestId: 7 });

    const object = await seed(className, { score: 20, name: 'a' });
    const created = {
      className,
      objectId: object.id,
      createdAt: object.createdAt.toISOString(),
      updatedAt: object.updatedAt.toISOString(),
      score: 20,
      name: 'a',
    };
    assert.deepEqual(await ws.next('create'), { op: 'create', ...ids, requestId: 7, object: created });

    object.set('score', 30);
    await object.save();
    const updated = { ...created, score: 30, updatedAt: object.updatedAt.toISOString() };
    assert.deepEqual(await ws.next('update'), { op: 'update', ...ids, requestId: 7, object: updated, original: created });

    await object.destroy();
    assert.deepEqual(await ws.next('delete'), { op: 'delete', ...ids, requestId: 7, object: updated });

    ws.send({ op: 'unsubscribe', requestId: 7 });
    assert.deepEqual(await ws.next('unsubscribed'), { op: 'unsubscribed', ...ids, requestId: 7 });
  });

  test('without an installationId the frames carry none', async () => {
    const className = await freshClass('LqNoInstallation');
    const ws = await rawSocket();
    ws.send({ op: 'connect', applicationId: server.appId, javascriptKey: server.javascriptKey });
    const { clientId } = await ws.next('connected');
    ws.send({ op: 'subscribe', requestId: 1, query: { className, where: {} } });
    assert.deepEqual(await ws.next('subscribed'), { op: 'subscribed', clientId, requestId: 1 });
  });

  test('update replaces the query of a subscription and answers subscribed again', async () => {
    const className = await freshClass('LqUpdateOp');
    const ws = await rawSocket();
    ws.send({ op: 'connect', applicationId: server.appId, javascriptKey: server.javascriptKey });
    const { clientId } = await ws.next('connected');
    ws.send({ op: 'subscribe', requestId: 1, query: { className, where: { score: { $gt: 10 } } } });
    await ws.next('subscribed');
    ws.send({ op: 'update', requestId: 1, query: { className, where: { score: { $lt: 0 } } } });
    assert.deepEqual(await ws.next('subscribed again'), { op: 'subscribed', clientId, requestId: 1 });

    await seed(className, { score: 20 }); // matched the old query only
    const negative = await seed(className, { score: -1 });
    const frame = await ws.next('create under the new query');
    assert.deepEqual([frame.op, frame.requestId, frame.object.objectId], ['create', 1, negative.id]);
  });

  test('error frames: schema violations (code 1), no connect / unknown subscription (code 2), bad queries (102)', async () => {
    const className = await freshClass('LqErrors');
    const ws = await rawSocket();

    ws.send({ op: 'subscribe', requestId: 1, query: { className, where: {} } });
    assert.deepEqual(await ws.next('subscribe before connect'), {
      op: 'error',
      error: 'Can not find this client, make sure you connect to server before subscribing',
      code: 2,
      reconnect: true,
      requestId: null,
    });
    ws.send({ op: 'unsubscribe', requestId: 1 });
    assert.deepEqual(await ws.next('unsubscribe before connect'), {
      op: 'error',
      error: 'Can not find this client, make sure you connect to server before unsubscribing',
      code: 2,
      reconnect: true,
      requestId: null,
    });

    // An unparseable frame is ignored: nothing comes back, and the next frame is answered.
    ws.send('this is not JSON');
    // The SDK drops `installationId` from later connects when it sees exactly this message.
    ws.send({ op: 'connect', applicationId: server.appId, javascriptKey: server.javascriptKey, unexpected: true });
    assert.deepEqual(await ws.next('connect with an extra property'), {
      op: 'error',
      error: 'Additional properties not allowed',
      code: 1,
      reconnect: true,
      requestId: null,
    });

    // Other schema violations: code 1, reconnect true, requestId null (messages are the
    // validator's wording, e.g. 'Missing required property: applicationId').
    for (const message of [
      { op: 'connect' },
      { op: 'frobnicate' },
      { op: 'connect', applicationId: 5 },
    ]) {
      ws.send(message);
      const frame = await ws.next(`error for ${JSON.stringify(message)}`);
      assert.equal(typeof frame.error, 'string', JSON.stringify(frame));
      assert.deepEqual({ ...frame, error: '' }, { op: 'error', error: '', code: 1, reconnect: true, requestId: null });
    }

    ws.send({ op: 'connect', applicationId: server.appId, javascriptKey: server.javascriptKey });
    const { clientId } = await ws.next('connected');

    for (const message of [
      { op: 'subscribe', requestId: '2', query: { className, where: {} } }, // requestId not a number
      { op: 'subscribe', requestId: 2, query: { className } }, // no where
      { op: 'subscribe', requestId: 2, query: { className, where: {}, keys: [] } }, // empty keys
      { op: 'subscribe', requestId: 2, query: { className, where: {} }, extra: 1 },
    ]) {
      ws.send(message);
      const frame = await ws.next(`error for ${JSON.stringify(message)}`);
      assert.equal(typeof frame.error, 'string', JSON.stringify(frame));
      assert.deepEqual({ ...frame, error: '' }, { op: 'error', error: '', code: 1, reconnect: true, requestId: null });
    }

    ws.send({ op: 'unsubscribe', requestId: 99 });
    assert.deepEqual(await ws.next('unsubscribe of an unknown request'), {
      op: 'error',
      error: `Cannot find subscription with clientId ${clientId} subscriptionId 99. `
        + 'Make sure you subscribe to live query server before unsubscribing.',
      code: 2,
      reconnect: true,
      requestId: null,
    });

    ws.send({ op: 'subscribe', requestId: 3, query: { className, where: { $or: 5 } } });
    assert.deepEqual(await ws.next('$or not an array'), {
      op: 'error', error: '$or must be an array', code: 102, reconnect: false, requestId: 3,
    });
    ws.send({ op: 'subscribe', requestId: 4, query: { className, where: { name: { $regex: '(' } } } });
    const regexError = await ws.next('invalid regex');
    assert.match(regexError.error, /^Invalid regular expression: /);
    assert.deepEqual({ ...regexError, error: '' }, { op: 'error', error: '', code: 102, reconnect: false, requestId: 4 });

    // After all that the connection still works.
    ws.send({ op: 'subscribe', requestId: 5, query: { className, where: {} } });
    assert.deepEqual(await ws.next('subscribed'), { op: 'subscribed', clientId, requestId: 5 });
  });
});
