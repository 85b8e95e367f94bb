// Cloud Code fixture for tests/sdk/cloud.test.mjs, written the way a Parse Server 9 user writes
// cloud/main.js: CommonJS, the global `Parse`, `Parse.Cloud.define` with (async) handlers and
// validators. It must load unchanged in Parse Server (`cloud: '<path>/main.js'`) and in Basalt
// (`basalt serve --cloud <path>/main.js`).
//
// Class names always come in `request.params.className`: against an external server the tests
// add a random suffix to every class name.

const greetings = require('./lib/greet.js');
const data = require('./data.json');

const master = { useMasterKey: true };

// ---------------------------------------------------------------------------------------------
// Modules and plain values

Parse.Cloud.define('hello', () => 'Hello world!');

Parse.Cloud.define('greet', (request) => greetings.greet(request.params.name));

Parse.Cloud.define('fixtureInfo', () => ({
  data,
  sameModule: require('./lib/greet.js') === greetings,
  sameData: require('./data.json') === greetings.data,
  calls: [greetings.countCall(), greetings.countCall()],
}));

Parse.Cloud.define('echo', (request) => request.params);

Parse.Cloud.define('paramTypes', (request) => {
  const { when, item, list, nested } = request.params;
  return {
    whenIsDate: when instanceof Date,
    whenTime: when instanceof Date ? when.getTime() : null,
    itemIsObject: item instanceof Parse.Object,
    itemClass: item.className,
    itemId: item.id,
    listTypes: list.map((value) => (value === null ? 'null' : typeof value)),
    nestedWhenIsDate: nested.when instanceof Date,
  };
});

Parse.Cloud.define('value', (request) => {
  switch (request.params.kind) {
    case 'number':
      return 42.5;
    case 'string':
      return 'text';
    case 'boolean':
      return false;
    case 'null':
      return null;
    case 'undefined':
      return undefined;
    case 'array':
      return [1, 'two', { three: 3 }, [4]];
    case 'object':
      return { a: 1, b: { c: [true, null] } };
    case 'date':
      return new Date('2024-01-02T03:04:05.678Z');
    case 'dates':
      return { at: new Date('2024-01-02T03:04:05.678Z'), list: [new Date(0)] };
    default:
      throw new Parse.Error(Parse.Error.INVALID_QUERY, `unknown kind ${request.params.kind}`);
  }
});

Parse.Cloud.define('promised', (request) =>
  Promise.resolve(request.params.n).then((n) => n * 2));

Parse.Cloud.define('awaited', async (request) => {
  const doubled = await Promise.resolve(request.params.n * 2);
  const parts = await Promise.all([doubled, Promise.resolve('done')]);
  return { doubled: parts[0], status: parts[1] };
});

// ---------------------------------------------------------------------------------------------
// The request object

Parse.Cloud.define('requestInfo', (request) => {
  const { user } = request;
  return {
    user:
      user === undefined
        ? 'undefined'
        : user === null
          ? 'null'
          : {
              isParseUser: user instanceof Parse.User,
              className: user.className,
              id: user.id,
              username: user.get('username'),
              sessionToken: user.getSessionToken(),
              hasPassword: user.get('password') !== undefined,
              color: user.get('color'),
            },
    master: request.master,
    installationId: request.installationId === undefined ? 'undefined' : request.installationId,
    ip: request.ip,
    headers: request.headers,
    functionName: request.functionName,
  };
});

Parse.Cloud.define('me', (request) => request.user);

// `request` behaves as a plain object: its keys enumerate, and headers can be replaced.
Parse.Cloud.define('requestShape', (request) => {
  const keys = Object.keys(request).sort();
  const serialized = JSON.parse(JSON.stringify(request));
  request.headers = { replaced: 'yes' };
  return { keys, serializedHost: serialized.headers.host, replaced: request.headers.replaced };
});

// ---------------------------------------------------------------------------------------------
// Errors

Parse.Cloud.define('throwParseError', (request) => {
  throw new Parse.Error(request.params.code, request.params.message);
});

Parse.Cloud.define('throwString', () => {
  throw 'a plain string';
});

Parse.Cloud.define('throwError', () => {
  throw new Error('an Error object');
});

Parse.Cloud.define('throwTypeError', () => {
  const nothing = undefined;
  return nothing.property;
});

Parse.Cloud.define('throwObjectWithCode', () => {
  // Not a Parse.Error: only its message is kept, the code becomes 141.
  throw { code: 137, message: 'object with a code' };
});

Parse.Cloud.define('rejectAfterAwait', async () => {
  await Promise.resolve();
  throw new Parse.Error(Parse.Error.DUPLICATE_VALUE, 'rejected after an await');
});

Parse.Cloud.define('rejectedPromise', () => Promise.reject(new Error('a rejected promise')));

// ---------------------------------------------------------------------------------------------
// Validators

Parse.Cloud.define('needsUser', (request) => request.user.get('username'), { requireUser: true });

Parse.Cloud.define('needsMaster', (request) => request.master, { requireMaster: true });

Parse.Cloud.define('needsFields', (request) => request.params, {
  fields: {
    name: { required: true, type: String },
    count: { type: Number, default: 10 },
    color: { options: ['red', 'green'] },
    size: { type: Number, options: (size) => size < 10, error: 'size must be below 10' },
    tags: { type: Array },
  },
});

Parse.Cloud.define('needsFieldList', (request) => Object.keys(request.params).sort(), {
  fields: ['first', 'second'],
});

Parse.Cloud.define('needsUserAndField', () => 'ok', {
  requireUser: true,
  fields: { name: { required: true } },
});

Parse.Cloud.define('customValidator', () => 'passed', (request) => {
  if (request.params.mode === 'string') throw 'custom validator said no';
  if (request.params.mode === 'error') throw new Error('custom validator Error');
  if (request.params.mode === 'parse') throw new Parse.Error(Parse.Error.INVALID_JSON, 'custom validator Parse.Error');
});

// ---------------------------------------------------------------------------------------------
// Logging

Parse.Cloud.define('logLines', (request) => {
  const { marker } = request.params;
  console.log(`${marker}-log`, 42);
  console.warn(`${marker}-warn`);
  console.error(`${marker}-error`);
  return 'logged';
});

// ---------------------------------------------------------------------------------------------
// Parse.Object and Parse.Query inside a function

const itemClass = (className) =>
  Parse.Object.extend(className, {
    label() {
      return `${this.get('name')} x${this.get('count')}`;
    },
  });

Parse.Cloud.define('createItem', async (request) => {
  const { className, name, count } = request.params;
  const Item = itemClass(className);
  const item = new Item({ name });
  item.set('count', count);
  await item.save(null, master);
  return item;
});

Parse.Cloud.define('itemLifecycle', async (request) => {
  const Item = itemClass(request.params.className);
  const item = new Item();
  item.set({ name: 'lamp', count: 1 });
  await item.save(null, master);
  item.increment('count');
  item.increment('count', 5);
  await item.save(null, master);
  const afterIncrement = item.get('count');

  const copy = Item.createWithoutData(item.id);
  await copy.fetch(master);
  const queried = await new Parse.Query(Item).get(item.id, master);

  await item.destroy(master);
  let afterDestroy;
  try {
    await new Parse.Query(Item).get(item.id, master);
    afterDestroy = 'still there';
  } catch (error) {
    afterDestroy = { code: error.code, message: error.message };
  }
  return {
    id: item.id,
    afterIncrement,
    fetchedName: copy.get('name'),
    fetchedCount: copy.get('count'),
    label: queried.label(),
    queriedIsItem: queried instanceof Item,
    afterDestroy,
  };
});

Parse.Cloud.define('bumpItem', async (request) => {
  const { className, id, by } = request.params;
  const item = itemClass(className).createWithoutData(id);
  item.increment('count', by);
  await item.save(null, master);
  return item.get('count');
});

Parse.Cloud.define('queryItems', async (request) => {
  const { className, id } = request.params;
  const query = () => new Parse.Query(className);
  const bigger = await query().greaterThan('n', 2).ascending('n').find(master);
  const firstEven = await query().equalTo('tag', 'even').descending('n').first(master);
  const missing = await query().equalTo('n', 99).first(master);
  const got = await query().get(id, master);
  const counted = await query().containedIn('n', [1, 3, 5, 7]).count(master);
  const limited = await query()
    .lessThanOrEqualTo('n', 4)
    .notEqualTo('n', 2)
    .descending('n')
    .limit(2)
    .find(master);
  return {
    bigger: bigger.map((item) => item.get('n')),
    firstEven: firstEven.get('n'),
    missing: missing === undefined ? 'undefined' : missing,
    got: got.get('n'),
    counted,
    limited: limited.map((item) => item.get('n')),
  };
});

Parse.Cloud.define('summarizeItems', async (request) => {
  const { className } = request.params;
  const tags = (await new Parse.Query(className).distinct('tag')).sort();
  const evens = await new Parse.Query(className).equalTo('tag', 'even').distinct('n');
  const grouped = await new Parse.Query(className).aggregate([{ $group: { _id: '$tag', total: { $sum: '$n' } } }]);
  let refused = null;
  try {
    await new Parse.Query(className).distinct('tag', { useMasterKey: false });
  } catch (error) {
    refused = error.code;
  }
  return {
    tags,
    evens: evens.sort((a, b) => a - b),
    grouped: grouped.map((group) => [group.objectId, group.total]).sort(),
    refused,
  };
});

Parse.Cloud.define('configRoundTrip', async (request) => {
  await Parse.Config.save({ cloudGreeting: request.params.greeting, cloudSecret: 's3cret' }, { cloudSecret: true });
  const publicView = await Parse.Config.get();
  const masterView = await Parse.Config.get({ useMasterKey: true });
  return {
    greeting: publicView.get('cloudGreeting'),
    publicSecret: publicView.get('cloudSecret') === undefined ? 'hidden' : 'visible',
    masterSecret: masterView.get('cloudSecret'),
  };
});

Parse.Cloud.define('fileRoundTrip', async (request) => {
  const { className, base64 } = request.params;
  const file = new Parse.File('hello.txt', { base64 }, 'text/plain');
  await file.save(master);
  const item = new Parse.Object(className);
  item.set('attachment', file);
  item.set('bytes', await new Parse.File('bytes.bin', [104, 105]).save(master));
  await item.save(null, master);
  const fetched = await new Parse.Query(className).get(item.id, master);
  const stored = fetched.get('attachment');
  let publicUpload = null;
  try {
    await new Parse.File('public.txt', { base64 }).save();
  } catch (error) {
    publicUpload = error.code;
  }
  return {
    id: item.id,
    isFile: stored instanceof Parse.File,
    name: stored.name(),
    url: stored.url(),
    data: await stored.getData(),
    bytesData: await fetched.get('bytes').getData(),
    publicUpload,
  };
});

Parse.Cloud.define('fileDestroy', async (request) => {
  const item = new Parse.Object(request.params.className);
  item.set('attachment', await new Parse.File('gone.txt', { base64: 'Z29uZQ==' }).save(master));
  await item.save(null, master);
  const fetched = await new Parse.Query(request.params.className).get(item.id, master);
  await fetched.get('attachment').destroy();
  try {
    await fetched.get('attachment').getData();
    return 'still there';
  } catch (error) {
    return error.code;
  }
});

Parse.Cloud.define('relationRoundTrip', async (request) => {
  const { className } = request.params;
  const members = ['a', 'b', 'c'].map((name) => new Parse.Object(className, { name }));
  await Parse.Object.saveAll(members, master);
  const owner = new Parse.Object(className, { name: 'owner' });
  owner.relation('members').add(members);
  owner.add('tags', members[0]);
  await owner.save(null, master);
  const names = async (query) => (await query.ascending('name').find(master)).map((item) => item.get('name'));
  const all = await names(owner.relation('members').query());
  const fetched = await new Parse.Query(className).get(owner.id, master);
  const relation = fetched.get('members');
  relation.remove(members[1]);
  await fetched.save(null, master);
  // An object known by id only: the target class is unknown, so the server redirects the query.
  const bare = Parse.Object.extend(className).createWithoutData(owner.id);
  const redirected = await names(bare.relation('members').query());
  const tag = fetched.get('tags')[0];
  return {
    all,
    isRelation: relation instanceof Parse.Relation,
    target: relation.targetClassName,
    redirected,
    tagIsPointer: tag instanceof Parse.Object && tag.id === members[0].id,
  };
});

// Rate limits (requests from 127.0.0.1 count only with includeInternalRequests, as on Parse Server).
Parse.Cloud.define('limited', () => 'ok', {
  rateLimit: { requestTimeWindow: 3600000, requestCount: 2, includeInternalRequests: true, errorResponseMessage: 'Slow down.' },
});

Parse.Cloud.define('limitedPerUser', () => 'ok', {
  rateLimit: { requestTimeWindow: 3600000, requestCount: 1, includeInternalRequests: true, zone: 'user' },
});

Parse.Cloud.define('limitedNotLocal', () => 'ok', { rateLimit: { requestTimeWindow: 3600000, requestCount: 1 } });

Parse.Cloud.beforeSave('RateLimitedPost', () => {}, {
  rateLimit: { requestTimeWindow: 3600000, requestCount: 1, includeInternalRequests: true },
});

Parse.Cloud.define('anyRole', () => 'ok', { requireAnyUserRoles: ['cloudEditors', 'cloudAdmins'] });
Parse.Cloud.define('allRoles', () => 'ok', { requireAllUserRoles: async () => ['cloudEditors', 'cloudAdmins'] });
Parse.Cloud.define('needsColor', (request) => request.user.get('color'), { requireUserKeys: ['color'] });

Parse.Cloud.define('findItems', async (request) => {
  const items = await new Parse.Query(request.params.className).ascending('n').find(master);
  return { count: items.length, items };
});

/** `mode`: 'master' ({useMasterKey}), 'session' (the caller's session token) or 'none' (no option). */
const optionsFor = (request) => {
  switch (request.params.mode) {
    case 'master':
      return { useMasterKey: true };
    case 'session':
      return { sessionToken: request.user.getSessionToken() };
    default:
      return {};
  }
};

Parse.Cloud.define('listAs', async (request) => {
  const options = optionsFor(request);
  // exists(): with the master key and no constraint at all, Parse on Postgres answers count()
  // from the table statistics (an estimate, 0 on a fresh table), not by counting.
  const query = new Parse.Query(request.params.className).exists('name').ascending('name');
  const names = (await query.find(options)).map((item) => item.get('name'));
  const count = await query.count(options);
  return { names, count };
});

Parse.Cloud.define('renameAs', async (request) => {
  const { className, id, name } = request.params;
  const item = Parse.Object.extend(className).createWithoutData(id);
  item.set('name', name);
  await item.save(null, optionsFor(request));
  return item.get('name');
});

// ---------------------------------------------------------------------------------------------
// Runaway code (only called against Basalt, which bounds CPU time and memory per invocation)

Parse.Cloud.define('spin', () => {
  while (true) {
    // never ends
  }
});

Parse.Cloud.define('spinCaught', () => {
  try {
    while (true) {
      // never ends
    }
  } catch (error) {
    return 'escaped the limit';
  }
});

Parse.Cloud.define('spinAfterAwait', async (request) => {
  await new Parse.Query(request.params.className).count(master);
  while (true) {
    // never ends
  }
});

Parse.Cloud.define('bomb', () => {
  const arrays = [];
  while (true) arrays.push(new Array(1e6).fill(1));
});
