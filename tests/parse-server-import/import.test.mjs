// issue: "Importing an existing Parse Server PostgreSQL database … tested against a database
// written by a real Parse Server 9 installed from npm in the test."
//
// seed.mjs runs Parse Server 9.10 on a fresh PostgreSQL database and writes users, a role,
// objects of every type with ACLs, a relation, a session and Parse.Config. `basalt import
// --from postgres://…` then moves it into a new Basalt database — once into PostgreSQL, once into
// SQLite — and a Basalt server on each is used through the same Parse JS SDK: the user logs in
// with the password Parse Server hashed (bcrypt), her old session token still works, ACLs and the
// role still decide who reads what, the relation and every field read back.

import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import readline from 'node:readline';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

import Parse from 'parse/node';

const run = promisify(execFile);
const here = path.dirname(fileURLToPath(import.meta.url));
const bin = process.env.BASALT_BIN ?? path.join(here, '..', '..', 'target', 'debug', 'basalt');
const server = (process.env.BASALT_TEST_POSTGRES ?? 'postgres://postgres@127.0.0.1:5432').replace(/\/$/, '');
const suffix = `${process.pid}_${randomBytes(4).toString('hex')}`;
const prefix = process.env.BASALT_TEST_DATABASE_PREFIX ?? 'basalt_test_';
const parseDatabase = `${prefix}parse_source_${suffix}`;
const basaltDatabase = `${prefix}parse_target_${suffix}`;

async function psql(sql) {
  await run('psql', [`${server}/postgres`, '-qc', sql]);
}

/** Starts `basalt serve` with `args`; resolves with its URL and a stop function. */
async function startBasalt(args) {
  const child = spawn(bin, ['serve', '--port', '0', '--app-id', 'ps-app', '--master-key', 'ps-master', ...args],
    { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (chunk) => { stderr += chunk; });
  const lines = readline.createInterface({ input: child.stdout });
  const url = await new Promise((resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`basalt exited (${code}) before listening:\n${stderr}`)));
    lines.on('line', (line) => {
      const match = line.match(/^basalt listening on (\S+)$/);
      if (match) resolve(match[1]);
    });
  });
  return {
    url,
    stop: () => new Promise((resolve) => { child.once('exit', resolve); child.kill('SIGTERM'); }),
  };
}

let seeded;
let dataDir;

before(async () => {
  dataDir = await mkdtemp(path.join(tmpdir(), 'basalt-parse-import-'));
  await psql(`CREATE DATABASE "${parseDatabase}"`);
  // In the temporary directory: whatever Parse Server writes beside itself stays out of the repo.
  const { stdout } = await run(process.execPath, [path.join(here, 'seed.mjs'), `${server}/${parseDatabase}`],
    { timeout: 120_000, cwd: dataDir });
  seeded = JSON.parse(stdout.trim().split('\n').pop());
});

after(async () => {
  await psql(`DROP DATABASE IF EXISTS "${parseDatabase}" WITH (FORCE)`);
  await psql(`DROP DATABASE IF EXISTS "${basaltDatabase}" WITH (FORCE)`);
  if (dataDir) await rm(dataDir, { recursive: true, force: true });
});

/** What the test checks on a Basalt server holding the imported data. */
async function checkImported(url) {
  Parse.initialize('ps-app', undefined, 'ps-master');
  Parse.serverURL = url;
  Parse.User.enableUnsafeCurrentUser();

  // The password Parse Server hashed with bcrypt still logs her in.
  const ada = await Parse.User.logIn('ada', 'analytical engine');
  assert.equal(ada.id, seeded.userId);
  assert.equal(ada.get('email'), 'ada@example.com');
  await Parse.User.logOut();
  await assert.rejects(Parse.User.logIn('ada', 'wrong'), (error) => error.code === 101);

  // The session Parse Server issued is still valid.
  const again = await Parse.User.become(seeded.sessionToken);
  assert.equal(again.id, seeded.userId);

  // ACLs: she reads the items (her own entry and the Editors role); the public reads none.
  const mine = await new Parse.Query('Item').ascending('n').find({ sessionToken: seeded.sessionToken });
  assert.deepEqual(mine.map((item) => item.id).sort(), seeded.itemIds);
  await Parse.User.logOut();
  assert.equal((await new Parse.Query('Item').find()).length, 0);

  // Every field type reads back as Parse Server wrote it.
  const item = await new Parse.Query('Item').equalTo('n', 3).first({ useMasterKey: true });
  assert.equal(item.get('title'), 'item 3');
  assert.equal(item.get('half'), 1.5);
  assert.equal(item.get('done'), false);
  assert.deepEqual(item.get('tags'), ['a', 3, { deep: [3] }]);
  assert.deepEqual(item.get('meta'), { x: { y: 3 } });
  assert.equal(item.get('due').toISOString(), '2026-01-04T10:00:00.000Z');
  assert.equal(item.get('owner').id, seeded.userId);
  assert.equal(item.get('where').latitude, 10.5);
  assert.equal(item.get('where').longitude, 3);
  assert.deepEqual(item.get('area').coordinates.slice(0, 4), [[0, 0], [0, 1], [1, 1], [1, 0]]);
  assert.equal(item.get('picture').name(), 'abc_photo3.jpg');
  assert.ok(item.getACL().getRoleReadAccess('Editors'));

  // Queries that need the data in the right types and columns.
  const near = await new Parse.Query('Item')
    .withinKilometers('where', new Parse.GeoPoint(10.5, 2), 1).find({ useMasterKey: true });
  assert.deepEqual(near.map((found) => found.get('n')), [2]);
  const early = await new Parse.Query('Item')
    .lessThan('due', new Date(Date.UTC(2026, 0, 3))).ascending('n').find({ useMasterKey: true });
  assert.deepEqual(early.map((found) => found.get('n')), [0, 1]);

  // The relation and the role's members.
  const labels = await item.relation('labels').query().find({ useMasterKey: true });
  assert.deepEqual(labels.map((label) => label.id), [seeded.tagId]);
  const editors = await new Parse.Query(Parse.Role).equalTo('name', 'Editors').first({ useMasterKey: true });
  const members = await editors.getUsers().query().find({ useMasterKey: true });
  assert.deepEqual(members.map((member) => member.id), [seeded.userId]);

  // Parse.Config.
  const config = await Parse.Config.get();
  assert.equal(config.get('motd'), 'hello from Parse Server');
}

describe('basalt import --from a Parse Server database', () => {
  test('into PostgreSQL: users log in, sessions, ACLs, relations and every type carry over', async () => {
    const { stderr } = await run(bin, ['import', '--database-uri', `${server}/${basaltDatabase}`,
      '--from', `${server}/${parseDatabase}`]);
    assert.match(stderr, /imported and checked/);
    assert.match(stderr, /Item: 5 objects, 5 relation members/);
    const basalt = await startBasalt(['--data-dir', dataDir, '--database-uri', `${server}/${basaltDatabase}`]);
    try {
      await checkImported(basalt.url);
    } finally {
      await basalt.stop();
    }
  });

  test('into SQLite (the default store) the same', async () => {
    const sqliteDir = path.join(dataDir, 'sqlite');
    const { stderr } = await run(bin, ['import', '--data-dir', sqliteDir, '--from', `${server}/${parseDatabase}`]);
    assert.match(stderr, /imported and checked/);
    const basalt = await startBasalt(['--data-dir', sqliteDir]);
    try {
      await checkImported(basalt.url);
    } finally {
      await basalt.stop();
    }
  });
});
