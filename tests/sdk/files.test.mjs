// Files (`/files`): uploads through `Parse.File` (byte arrays and base64 go as the SDK's JSON
// form, Node Buffers as a raw body in stream mode), the names and URLs the server gives them, files
// on objects, downloads with ranges and caching headers, deletion, who may upload and what is
// refused. Codes and messages are Parse Server 9's.
//
// `describeFiles` runs the same tests on the default local storage and on S3 (moto's S3 server
// from s3.mjs, skipped without one). Each describe starts its own server. Against an external
// server the suite is skipped: storage and upload flags are set where that server runs.

import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import http from 'node:http';
import { after, before, describe, test } from 'node:test';
import { Parse, createClasses, expectParseError, isExternalServer, startServer } from './harness.mjs';
import { s3Args, s3Skip, startS3Server } from './s3.mjs';

const externalSkip = isExternalServer && 'needs its own servers started with file storage and upload flags';

const password = 'correct horse';

const unique = (base) => `${base}${randomBytes(4).toString('hex')}`;
const sha256 = (bytes) => createHash('sha256').update(bytes).digest('hex');

/** Escapes `text` for use inside a RegExp. */
const literal = (text) => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/** The name the server gives an upload called `original`: 32 hex digits, `_`, the original. */
const storedName = (original) => new RegExp(`^[0-9a-f]{32}_${literal(original)}$`);

/** Signs up a fresh user; returns its session token. */
async function signUpToken() {
  const user = new Parse.User({ username: unique('filer'), password });
  await user.signUp();
  return user.getSessionToken();
}

/** Logs in a fresh anonymous user (`authData.anonymous`); returns its session token. */
async function anonymousToken() {
  const user = await Parse.AnonymousUtils.logIn();
  return user.getSessionToken();
}

/**
 * POSTs `body` raw to `/files/<name>` (the name URL-encoded), with the JavaScript key and, when
 * given, a session token or the master key.
 *
 * @returns {Promise<{status: number, headers: Headers, body: any}>} `body`: the parsed JSON, or the
 *   text when it is not JSON.
 */
async function upload(server, name, body, { contentType = 'application/octet-stream', token, master = false } = {}) {
  const headers = {
    'X-Parse-Application-Id': server.appId,
    'X-Parse-Javascript-Key': server.javascriptKey,
    'Content-Type': contentType,
    ...(token ? { 'X-Parse-Session-Token': token } : {}),
    ...(master ? { 'X-Parse-Master-Key': server.masterKey } : {}),
  };
  const response = await fetch(`${server.serverURL}/files/${encodeURIComponent(name)}`, { method: 'POST', headers, body });
  return { status: response.status, headers: response.headers, body: parseBody(await response.text()) };
}

/** GETs `url` without any Parse header, as a browser or an `<img>` tag would. */
async function download(url, headers = {}) {
  const response = await fetch(url, { headers });
  return { status: response.status, headers: response.headers, bytes: Buffer.from(await response.arrayBuffer()) };
}

/** DELETEs `/files/<name>` with the JavaScript key, and the master key when `master`. */
async function deleteRaw(server, name, { master = false, token } = {}) {
  const headers = {
    'X-Parse-Application-Id': server.appId,
    'X-Parse-Javascript-Key': server.javascriptKey,
    ...(token ? { 'X-Parse-Session-Token': token } : {}),
    ...(master ? { 'X-Parse-Master-Key': server.masterKey } : {}),
  };
  const response = await fetch(`${server.serverURL}/files/${encodeURIComponent(name)}`, { method: 'DELETE', headers });
  return { status: response.status, body: parseBody(await response.text()) };
}

function parseBody(text) {
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

/** The URL a file called `name` is served at (Parse encodes the name with encodeURIComponent). */
const fileURL = (server, name) => `${server.serverURL}/files/${server.appId}/${encodeURIComponent(name)}`;

/**
 * The storage-independent tests, on a server started with the flags `storage()` gives.
 *
 * @param {string} name
 * @param {{skip?: string | false, inspectable?: boolean, storage: () => Promise<{args: string[],
 *   keys?: () => Promise<string[]>, stop: () => Promise<void>}>}} options `inspectable`: the
 *   storage gives `keys()`, the names it holds, so tests can check that uploads land there.
 */
function describeFiles(name, { skip, inspectable = false, storage: startStorage }) {
  describe(`files on ${name}`, { skip: externalSkip || skip }, () => {
    let storage;
    let server;
    let token; // a logged-in user's

    before(async () => {
      storage = await startStorage();
      try {
        server = await startServer({ args: storage.args });
      } catch (error) {
        await storage.stop();
        throw error;
      }
      token = await signUpToken();
    });

    after(async () => {
      await server?.stop();
      await storage?.stop();
    });

    test('a file saved from a byte array gets a unique name and a URL under the app', async () => {
      const bytes = [0xbe, 0xef, 0xca, 0xfe, 0x00, 0xff];
      const first = await new Parse.File('hello.bin', bytes).save({ sessionToken: token });
      const second = await new Parse.File('hello.bin', bytes).save({ sessionToken: token });

      assert.match(first.name(), storedName('hello.bin'));
      assert.match(second.name(), storedName('hello.bin'));
      assert.notEqual(first.name(), second.name());
      assert.equal(first.url(), fileURL(server, first.name()));

      const { status, bytes: body } = await download(first.url());
      assert.equal(status, 200);
      assert.deepEqual([...body], bytes);
    });

    test('a file saved from base64 downloads as the same bytes', async () => {
      const content = randomBytes(3000);
      const file = await new Parse.File('photo.png', { base64: content.toString('base64') }).save({ sessionToken: token });

      assert.match(file.name(), storedName('photo.png'));
      const { status, bytes } = await download(file.url());
      assert.equal(status, 200);
      assert.ok(bytes.equals(content), 'downloaded bytes differ from the uploaded ones');
    });

    test('a file saved from a data: URL stores the decoded bytes and serves them by its extension', async () => {
      const content = Buffer.from('%PDF-1.4 not really');
      const file = await new Parse.File('doc.pdf', { base64: `data:application/pdf;base64,${content.toString('base64')}` })
        .save({ sessionToken: token });

      const { status, headers, bytes } = await download(file.url());
      assert.equal(status, 200);
      assert.equal(headers.get('content-type'), 'application/pdf');
      assert.ok(bytes.equals(content));
    });

    test('a file saved from a Buffer goes as a raw body in stream mode and downloads as the same bytes', async () => {
      const content = Buffer.concat([Buffer.from(Array.from({ length: 256 }, (_, i) => i)), randomBytes(5000)]);
      const file = await new Parse.File('blob.bin', content).save({ sessionToken: token });

      assert.match(file.name(), storedName('blob.bin'));
      assert.equal(file.url(), fileURL(server, file.name()));
      const { status, bytes } = await download(file.url());
      assert.equal(status, 200);
      assert.ok(bytes.equals(content), 'downloaded bytes differ from the uploaded ones');
    });

    test('a Buffer typed text/plain is stored raw, not read as the JSON upload form', async () => {
      // Parse compat: the JSON form is recognised by the app id inside the body; the SDK's stream
      // mode names the app in a header and may send any Content-Type, text/plain included.
      const content = Buffer.from('{"base64":"AAAA","note":"plain text that looks like JSON"}');
      const file = await new Parse.File('note.txt', content, 'text/plain').save({ sessionToken: token });

      const { status, bytes } = await download(file.url());
      assert.equal(status, 200);
      assert.equal(bytes.toString(), content.toString());
    });

    test('a raw upload answers 201 with the name, the URL and a Location header', async () => {
      const { status, headers, body } = await upload(server, 'raw.bin', randomBytes(100), { token });

      assert.equal(status, 201);
      assert.deepEqual(Object.keys(body).sort(), ['name', 'url']);
      assert.match(body.name, storedName('raw.bin'));
      assert.equal(body.url, fileURL(server, body.name));
      assert.equal(headers.get('location'), body.url);
    });

    test('a name without an extension gets one from the content type', async () => {
      // Parse compat: FilesController appends the content type's extension to a bare name.
      const file = await new Parse.File('notes', { base64: Buffer.from('some notes').toString('base64') }, 'text/plain')
        .save({ sessionToken: token });

      assert.match(file.name(), storedName('notes.txt'));
    });

    test('a multi-megabyte Buffer upload round-trips byte for byte', async () => {
      const content = randomBytes(5 * 1024 * 1024 + 7);
      const file = await new Parse.File('large.bin', content).save({ sessionToken: token });

      const { status, headers, bytes } = await download(file.url());
      assert.equal(status, 200);
      assert.equal(headers.get('content-length'), String(content.length));
      assert.equal(sha256(bytes), sha256(content));
    });

    test('the upload is stored under its name and deleting it removes it from storage', { skip: !inspectable && 'this storage is not looked into from outside the server' }, async () => {
      const file = await new Parse.File('stored.bin', [1, 2, 3]).save({ sessionToken: token });
      assert.ok((await storage.keys()).includes(file.name()), `${file.name()} not in ${await storage.keys()}`);

      await file.destroy({ useMasterKey: true });
      assert.ok(!(await storage.keys()).includes(file.name()), `${file.name()} still stored after the delete`);
    });

    test('an object keeps its file as {__type: File, name, url} and the file comes back from a query', async () => {
      const className = server.className(unique('FileHolder'));
      await createClasses(className);
      const content = Buffer.from('attached content');
      const file = await new Parse.File('attached.txt', [...content]).save({ sessionToken: token });

      const holder = new Parse.Object(className);
      holder.set('doc', file);
      await holder.save(null, { useMasterKey: true });

      const found = await new Parse.Query(className).get(holder.id, { useMasterKey: true });
      const back = found.get('doc');
      assert.ok(back instanceof Parse.File, `doc came back as ${JSON.stringify(back)}`);
      assert.equal(back.name(), file.name());
      assert.equal(back.url(), file.url());

      const { status, body } = await server.rest('GET', `classes/${className}/${holder.id}`, { master: true });
      assert.equal(status, 200);
      assert.deepEqual(body.doc, { __type: 'File', name: file.name(), url: file.url() });

      const downloaded = await download(back.url());
      assert.equal(downloaded.status, 200);
      assert.ok(downloaded.bytes.equals(content));
    });

    test('a query on a file field matches the object holding that file', async () => {
      const className = server.className(unique('FileHolder'));
      await createClasses(className);
      const file = await new Parse.File('wanted.txt', [1]).save({ sessionToken: token });
      const other = await new Parse.File('other.txt', [2]).save({ sessionToken: token });
      const holder = await new Parse.Object(className, { doc: file }).save(null, { useMasterKey: true });
      await new Parse.Object(className, { doc: other }).save(null, { useMasterKey: true });

      const found = await new Parse.Query(className).equalTo('doc', file).find({ useMasterKey: true });
      assert.deepEqual(found.map((object) => object.id), [holder.id]);
    });

    describe('downloads', () => {
      const content = randomBytes(1000);
      let file;

      before(async () => {
        file = await new Parse.File('data.png', [...content]).save({ sessionToken: token });
      });

      test('GET of the URL serves the bytes with type, length, accept-ranges and caching headers', async () => {
        const { status, headers, bytes } = await download(file.url());

        assert.equal(status, 200);
        assert.ok(bytes.equals(content));
        assert.equal(headers.get('content-type'), 'image/png');
        assert.equal(headers.get('content-length'), String(content.length));
        assert.equal(headers.get('accept-ranges'), 'bytes');
        assert.match(headers.get('cache-control') ?? '', /\S/, 'no Cache-Control');
        assert.match(headers.get('etag') ?? '', /^(W\/)?"[^"]+"$/, 'no ETag');
      });

      test('HEAD of the URL answers 200 with the headers of a GET and no body', async () => {
        const response = await fetch(file.url(), { method: 'HEAD' });

        assert.equal(response.status, 200);
        assert.equal(response.headers.get('content-type'), 'image/png');
        assert.equal(response.headers.get('content-length'), String(content.length));
        assert.equal(response.headers.get('accept-ranges'), 'bytes');
        assert.equal((await response.arrayBuffer()).byteLength, 0);
      });

      test('the ETag stays the same between downloads of one file', async () => {
        const first = await download(file.url());
        const second = await download(file.url());
        assert.equal(second.headers.get('etag'), first.headers.get('etag'));
      });

      test('a bounded range answers 206 with that slice of the file', async () => {
        const { status, headers, bytes } = await download(file.url(), { Range: 'bytes=100-199' });

        assert.equal(status, 206);
        assert.equal(headers.get('content-range'), `bytes 100-199/${content.length}`);
        assert.equal(headers.get('content-length'), '100');
        assert.ok(bytes.equals(content.subarray(100, 200)));
      });

      test('an open-ended range answers 206 with the rest of the file', async () => {
        const { status, headers, bytes } = await download(file.url(), { Range: 'bytes=900-' });

        assert.equal(status, 206);
        assert.equal(headers.get('content-range'), `bytes 900-999/${content.length}`);
        assert.ok(bytes.equals(content.subarray(900)));
      });

      test('a suffix range answers 206 with the last bytes', async () => {
        const { status, headers, bytes } = await download(file.url(), { Range: 'bytes=-10' });

        assert.equal(status, 206);
        assert.equal(headers.get('content-range'), `bytes 990-999/${content.length}`);
        assert.ok(bytes.equals(content.subarray(990)));
      });

      test('a range past the end answers 416 with the size', async () => {
        const { status, headers } = await download(file.url(), { Range: `bytes=${content.length}-${content.length + 10}` });

        assert.equal(status, 416);
        assert.equal(headers.get('content-range'), `bytes */${content.length}`);
      });

      test('an unknown file name answers 404', async () => {
        const { status } = await download(fileURL(server, `${'0'.repeat(32)}_missing.png`));
        assert.equal(status, 404);
      });

      test('a name climbing out of the storage is never served', async () => {
        // The data dir holds the database next to the files; nothing outside storage may leak.
        for (const encoded of ['..%2Fbasalt.sqlite3', '..%2F..%2Fbasalt.sqlite3', '%2E%2E%2Fbasalt.sqlite3', '..%5Cbasalt.sqlite3']) {
          const { status, bytes } = await download(`${server.serverURL}/files/${server.appId}/${encoded}`);
          assert.ok([400, 404].includes(status), `${encoded} answered ${status}`);
          assert.ok(!bytes.toString('latin1').startsWith('SQLite format 3'), `${encoded} served the database`);
        }
      });
    });

    describe('deletion', () => {
      test('the master key deletes a file and its URL then answers 404', async () => {
        const file = await new Parse.File('doomed.txt', [1, 2, 3]).save({ sessionToken: token });
        assert.equal((await download(file.url())).status, 200);

        await file.destroy({ useMasterKey: true });
        assert.equal((await download(file.url())).status, 404);
      });

      test('a raw delete with the master key answers 200', async () => {
        const file = await new Parse.File('doomed2.txt', [1]).save({ sessionToken: token });

        const { status } = await deleteRaw(server, file.name(), { master: true });
        assert.equal(status, 200);
        assert.equal((await download(file.url())).status, 404);
      });

      test('a delete without the master key answers 403 and keeps the file', async () => {
        const file = await new Parse.File('kept.txt', [4, 5, 6]).save({ sessionToken: token });

        const { status, body } = await deleteRaw(server, file.name(), { token });
        assert.equal(status, 403);
        assert.deepEqual(body, { error: 'unauthorized: master key is required' });

        // The SDK's delete sends the app id but no client key, so with a JavaScript key
        // configured the server refuses it before looking for the master key, as Parse does.
        const sdkError = await file.destroy({ useMasterKey: false }).then(
          () => assert.fail('the SDK delete without the master key succeeded'),
          (error) => error,
        );
        assert.equal(sdkError.message, 'unauthorized');

        const { status: keptStatus, bytes } = await download(file.url());
        assert.equal(keptStatus, 200);
        assert.deepEqual([...bytes], [4, 5, 6]);
      });
    });

    describe('who may upload (defaults)', () => {
      test('an upload without a user is refused with 130', async () => {
        const error = await expectParseError(new Parse.File('public.txt', [1]).save(), Parse.Error.FILE_SAVE_ERROR);
        assert.equal(error.message, 'File upload by public is disabled.');

        const { status, body } = await upload(server, 'public.bin', Buffer.from([1]));
        assert.equal(status, 400);
        assert.deepEqual(body, { code: 130, error: 'File upload by public is disabled.' });
      });

      test('an anonymous user\'s upload is refused with 130', async () => {
        const anonymous = await anonymousToken();
        const error = await expectParseError(
          new Parse.File('anon.txt', [1]).save({ sessionToken: anonymous }),
          Parse.Error.FILE_SAVE_ERROR,
        );
        assert.equal(error.message, 'File upload by anonymous user is disabled.');
      });

      test('a logged-in user\'s upload answers 201', async () => {
        const { status } = await upload(server, 'member.bin', Buffer.from([1]), { token });
        assert.equal(status, 201);
      });

      test('the master key uploads without a user', async () => {
        const file = await new Parse.File('master.txt', [1]).save({ useMasterKey: true });
        assert.match(file.name(), storedName('master.txt'));
      });

      test('an unknown session token is refused with 209', async () => {
        const { status, body } = await upload(server, 'ghost.bin', Buffer.from([1]), { token: 'r:0000000000000000' });
        assert.equal(status, 400);
        assert.deepEqual(body, { code: 209, error: 'Invalid session token' });
      });
    });

    describe('refused uploads', () => {
      test('names with characters outside [a-zA-Z0-9@. ~_-] are refused with 122', async () => {
        const answers = {};
        const expected = {};
        for (const name of ['a$b.txt', 'sub/dir.txt', '../escape.txt', '.hidden', '-dash.txt', 'tab\tname.txt', 'caf\u00e9.txt', 'a\\b.txt']) {
          const { status, body } = await upload(server, name, Buffer.from([1]), { token });
          answers[name] = { status, body };
          expected[name] = { status: 400, body: { code: 122, error: 'Filename contains invalid characters.' } };
        }
        assert.deepEqual(answers, expected);
      });

      test('a 128-character name is accepted and a 129-character one refused with 122', async () => {
        const ok = await upload(server, `${'a'.repeat(124)}.bin`, Buffer.from([1]), { token });
        assert.equal(ok.status, 201);

        const { status, body } = await upload(server, `${'a'.repeat(125)}.bin`, Buffer.from([1]), { token });
        assert.equal(status, 400);
        assert.deepEqual(body, { code: 122, error: 'Filename too long.' });
      });

      test('names that only look odd but match the pattern are stored, and served at an encoded URL', async () => {
        for (const name of ['_under.txt', 'with space.txt', 'mail@host~1.txt', 'a..b.txt']) {
          const { status, body } = await upload(server, name, Buffer.from(name), { token });
          assert.equal(status, 201, `${JSON.stringify(name)} answered ${status} ${JSON.stringify(body)}`);
          assert.match(body.name, storedName(name));
          assert.equal(body.url, fileURL(server, body.name));

          const downloaded = await download(body.url);
          assert.equal(downloaded.status, 200, `${body.url} answered ${downloaded.status}`);
          assert.equal(downloaded.bytes.toString(), name);
        }
      });

      test('files a browser would run as a page are refused with 130', async () => {
        // Parse 9's default fileUpload.fileExtensions: every HTML, SVG and XML flavour, any case.
        const extensions = ['html', 'htm', 'xhtml', 'shtml', 'xht', 'svg', 'svgz', 'xml', 'xsl', 'xslt', 'xsd',
          'rng', 'rdf', 'owl', 'mathml', 'HTML', 'Svg'];
        const answers = {};
        const expected = {};
        for (const extension of extensions) {
          const { status, body } = await upload(server, `page.${extension}`, Buffer.from('<p>hi</p>'), { token, contentType: 'text/html' });
          answers[extension] = { status, body };
          expected[extension] = { status: 400, body: { code: 130, error: `File upload of extension ${extension} is disabled.` } };
        }
        assert.deepEqual(answers, expected);
      });

      test('a bare name sent as text/html is refused by its content type with 130', async () => {
        const { status, body } = await upload(server, 'page', Buffer.from('<p>hi</p>'), { token, contentType: 'text/html' });
        assert.equal(status, 400);
        assert.deepEqual(body, { code: 130, error: 'File upload of extension html is disabled.' });
      });

      test('the master key may still upload an html file', async () => {
        // Parse compat: the extension check applies to everyone but the master key.
        const { status, body } = await upload(server, 'page.html', Buffer.from('<p>hi</p>'), { master: true, contentType: 'text/html' });
        assert.equal(status, 201);
        assert.match(body.name, storedName('page.html'));
      });

      test('an empty upload is refused with 130', async () => {
        const { status, body } = await upload(server, 'empty.bin', Buffer.alloc(0), { token });
        assert.equal(status, 400);
        assert.deepEqual(body, { code: 130, error: 'Invalid file upload.' });
      });
    });
  });
}

/** Local storage: the default under the data dir; nothing to start. */
const localStorage = async () => ({ args: [], stop: async () => {} });

/** S3 storage: a fresh moto server and bucket for this describe. */
async function s3Storage() {
  const s3 = await startS3Server();
  return { args: s3Args(s3), keys: s3.keys, stop: s3.stop };
}

describeFiles('the local disk', { storage: localStorage });
describeFiles('S3 (moto)', { skip: s3Skip, inspectable: true, storage: s3Storage });

describe('upload size limit', { skip: externalSkip }, () => {
  let server;
  let token;

  before(async () => {
    server = await startServer({ args: ['--max-upload-size', '1kb'] });
    token = await signUpToken();
  });

  after(async () => {
    await server?.stop();
  });

  test('a 2 KiB raw upload over a 1kb limit answers 413 with code 130', async () => {
    const { status, body } = await upload(server, 'big.bin', randomBytes(2048), { token });
    assert.equal(status, 413);
    assert.equal(body.code, 130);
  });

  test('a 2 KiB SDK upload over a 1kb limit fails with 130', async () => {
    await expectParseError(new Parse.File('big.bin', [...randomBytes(2048)]).save({ sessionToken: token }), 130);
  });

  test('a chunked upload without Content-Length is answered 413 with code 130 once it passes the 1kb limit', { timeout: 5_000 }, async () => {
    // The limit must hold while streaming, not only against a declared length. The client sends
    // 1400 bytes in two chunks and then waits, body unfinished, for the answer: only a server that
    // counts as it reads can answer now. (Sending more would race the server's early close.)
    const url = new URL(`${server.serverURL}/files/chunked.bin`);
    const { status, body } = await new Promise((resolve, reject) => {
      const request = http.request(url, {
        method: 'POST',
        agent: false,
        headers: {
          'X-Parse-Application-Id': server.appId,
          'X-Parse-Javascript-Key': server.javascriptKey,
          'X-Parse-Session-Token': token,
          'Content-Type': 'application/octet-stream',
          'Transfer-Encoding': 'chunked',
        },
      }, (response) => {
        let text = '';
        response.setEncoding('utf8');
        response.on('data', (chunk) => (text += chunk));
        response.on('end', () => {
          resolve({ status: response.statusCode, body: parseBody(text) });
          request.destroy();
        });
        response.on('error', reject);
      });
      request.on('error', reject);
      request.write(randomBytes(700));
      request.write(randomBytes(700));
    });
    assert.equal(status, 413);
    assert.equal(body.code, 130);
  });

  test('a 512-byte raw upload under a 1kb limit answers 201 and round-trips', async () => {
    const content = randomBytes(512);
    const { status, body } = await upload(server, 'small.bin', content, { token });
    assert.equal(status, 201);

    const { bytes } = await download(body.url);
    assert.ok(bytes.equals(content));
  });
});

describe('upload permission flags', { skip: externalSkip }, () => {
  let server;

  before(async () => {
    server = await startServer({
      args: [
        '--file-upload-enable-for-public',
        '--file-upload-enable-for-anonymous-user=true',
        '--file-upload-enable-for-authenticated-user=false',
      ],
    });
  });

  after(async () => {
    await server?.stop();
  });

  test('--file-upload-enable-for-public lets a request without a user upload', async () => {
    const file = await new Parse.File('public.txt', [1, 2]).save();
    assert.match(file.name(), storedName('public.txt'));
  });

  test('--file-upload-enable-for-anonymous-user lets an anonymous user upload', async () => {
    const file = await new Parse.File('anon.txt', [1, 2]).save({ sessionToken: await anonymousToken() });
    assert.match(file.name(), storedName('anon.txt'));
  });

  test('--file-upload-enable-for-authenticated-user=false refuses a logged-in user with 130', async () => {
    const token = await signUpToken();
    const error = await expectParseError(new Parse.File('member.txt', [1]).save({ sessionToken: token }), 130);
    assert.equal(error.message, 'File upload by authenticated user is disabled.');
  });

  test('the master key uploads whatever the flags say', async () => {
    const { status } = await upload(server, 'master.bin', Buffer.from([1]), { master: true });
    assert.equal(status, 201);
  });
});

describe('file URLs with --public-server-url', { skip: externalSkip }, () => {
  const publicURL = 'https://files.example.com/api';
  let server;

  before(async () => {
    server = await startServer({ args: ['--public-server-url', publicURL] });
  });

  after(async () => {
    await server?.stop();
  });

  test('uploads and objects name files by the public URL', async () => {
    const className = unique('PublicFiles');
    await createClasses(className);
    const file = await new Parse.File('public.txt', [1]).save({ useMasterKey: true });
    assert.equal(file.url(), `${publicURL}/files/${server.appId}/${file.name()}`);

    const holder = await new Parse.Object(className, { doc: file }).save(null, { useMasterKey: true });
    const { body } = await server.rest('GET', `classes/${className}/${holder.id}`, { master: true });
    assert.deepEqual(body.doc, { __type: 'File', name: file.name(), url: file.url() });

    // The file is still served where the server listens.
    const { status, bytes } = await download(fileURL(server, file.name()));
    assert.equal(status, 200);
    assert.deepEqual([...bytes], [1]);
  });
});
