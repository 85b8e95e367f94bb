// File triggers for tests/sdk/cloud-file-triggers.test.mjs. The trigger decides by the name the
// client gave; the bytes stream past it.
const master = { useMasterKey: true };

Parse.Cloud.beforeSave(Parse.File, (request) => {
  const name = request.file.name();
  if (name.startsWith('blocked')) throw new Error('This file is not allowed.');
  if (request.fileSize !== null && request.fileSize > 1000) {
    throw new Parse.Error(Parse.Error.FILE_SAVE_ERROR, 'Too big for this app.');
  }
  if (name.startsWith('replace')) return new Parse.File('replaced.txt', { base64: Buffer64.encode('replaced') });
  if (name.startsWith('rename')) return new Parse.File('renamed.txt');
  return undefined;
});

Parse.Cloud.afterSave(Parse.File, async (request) => {
  await new Parse.Object('FileLog').save({ event: 'saved', name: request.file.name(), size: request.fileSize }, master);
});

Parse.Cloud.beforeDeleteFile((request) => {
  if (request.file.name().includes('keep')) throw new Error('This file stays.');
});

Parse.Cloud.afterDeleteFile(async (request) => {
  await new Parse.Object('FileLog').save({ event: 'deleted', name: request.file.name() }, master);
});

// Downloads (GET and HEAD): a "secret" file only for logged-in users; a "report" file as an
// attachment with a header of the app's; an "expired" file refused after it was found.
Parse.Cloud.beforeFind(Parse.File, (request) => {
  if (request.file.name().includes('secret') && !request.user) {
    throw new Parse.Error(Parse.Error.OPERATION_FORBIDDEN, 'Log in to download this file.');
  }
});

Parse.Cloud.afterFind(Parse.File, (request) => {
  const name = request.file.name();
  if (name.includes('expired')) throw new Error('This file has expired.');
  if (name.includes('report')) {
    request.forceDownload = true;
    request.responseHeaders['X-App-Header'] = 'reports';
  }
});

// QuickJS has no Buffer: the one encoding the fixture needs.
const Buffer64 = {
  encode(text) {
    const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
    let out = '';
    for (let i = 0; i < text.length; i += 3) {
      const [a, b, c] = [text.charCodeAt(i), text.charCodeAt(i + 1), text.charCodeAt(i + 2)];
      out += alphabet[a >> 2] + alphabet[((a & 3) << 4) | ((b || 0) >> 4)];
      out += Number.isNaN(b) ? '=' : alphabet[((b & 15) << 2) | ((c || 0) >> 6)];
      out += Number.isNaN(c) ? '=' : alphabet[c & 63];
    }
    return out;
  },
};
