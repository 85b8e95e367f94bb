// Cloud Code fixture for tests/sdk/cloud-triggers.test.mjs: save and delete triggers written the
// way a Parse Server 9 user writes cloud/main.js (CommonJS, the global `Parse`). It must load
// unchanged in Parse Server (`cloud: '<path>/triggers/main.js'`) and in Basalt
// (`basalt serve --cloud <path>/triggers/main.js`).
//
// Triggers are bound to class names when this file loads, so the class names are fixed here (the
// test file uses them without the random suffix it gives other classes against an external server).

const master = { useMasterKey: true };

/** Trims a title, collapses its inner whitespace and capitalises its first letter. */
const normaliseTitle = (title) => {
  const trimmed = String(title).trim().replace(/\s+/g, ' ');
  return trimmed.charAt(0).toUpperCase() + trimmed.slice(1);
};

/** Written by the after triggers with the master key; no ACL entry, so only the master key reads it. */
const writeLog = async (fields) => {
  const log = new Parse.Object('TriggerLog');
  log.set(fields);
  log.setACL(new Parse.ACL());
  await log.save(null, master);
  return log;
};

// ---------------------------------------------------------------------------------------------
// TriggerPost: every kind of trigger

Parse.Cloud.beforeSave('TriggerPost', (request) => {
  const post = request.object;
  if (post.dirty('title')) {
    const title = normaliseTitle(post.get('title'));
    if (/forbidden/i.test(title)) {
      throw new Parse.Error(Parse.Error.VALIDATION_ERROR, `The title "${title}" is not allowed`);
    }
    if (/refuse quietly/i.test(title)) {
      throw 'Refused by a thrown string';
    }
    post.set('title', title);
  }
  // A published post keeps no draft note.
  if (post.get('published') === true && post.get('draftNote') !== undefined) post.unset('draftNote');
  // get() sees the stored values too, not only the fields of this write.
  post.set('seenTitle', post.get('title'));
  post.set('hadOriginal', request.original !== undefined);
  if (request.original) post.set('originalTitle', request.original.get('title'));
});

Parse.Cloud.afterSave('TriggerPost', async (request) => {
  const post = request.object;
  await writeLog({
    event: 'afterSave',
    ref: post.id,
    title: post.get('title'),
    hadOriginal: request.original !== undefined,
  });
  if (/explode/i.test(post.get('title'))) throw new Error('afterSave exploded');
});

Parse.Cloud.beforeDelete('TriggerPost', (request) => {
  if (request.object.get('locked') === true) {
    throw new Parse.Error(Parse.Error.OPERATION_FORBIDDEN, `Post "${request.object.get('title')}" is locked`);
  }
});

Parse.Cloud.afterDelete('TriggerPost', async (request) => {
  await writeLog({ event: 'afterDelete', ref: request.object.id, title: request.object.get('title') });
});

// ---------------------------------------------------------------------------------------------
// Users: a default field on sign-up, one refused username, a log (registered with the subclass)

Parse.Cloud.beforeSave(Parse.User, (request) => {
  const user = request.object;
  if (/^banned/.test(user.get('username'))) {
    throw new Parse.Error(Parse.Error.VALIDATION_ERROR, 'This username is not allowed');
  }
  if (!request.original) user.set('plan', 'free');
});

Parse.Cloud.afterSave(Parse.User, async (request) => {
  await writeLog({
    event: 'afterSave',
    ref: request.object.id,
    title: request.object.get('username'),
    hadOriginal: request.original !== undefined,
  });
});

// ---------------------------------------------------------------------------------------------
// TriggerAudit: who saves (request.user, request.master)

Parse.Cloud.beforeSave('TriggerAudit', (request) => {
  const { user } = request;
  request.object.set({
    byUsername: user ? user.get('username') : 'nobody',
    byId: user ? user.id : 'none',
    user: user === undefined ? 'undefined' : user === null ? 'null' : user instanceof Parse.User ? 'Parse.User' : typeof user,
    master: request.master,
  });
});

// ---------------------------------------------------------------------------------------------
// TriggerOrder: a beforeSave that saves a TriggerPost, which has triggers of its own

Parse.Cloud.beforeSave('TriggerOrder', async (request) => {
  const order = request.object;
  if (request.original) return;
  const post = new Parse.Object('TriggerPost');
  post.set('title', order.get('item'));
  await post.save(null, master);
  order.set('post', post);
  order.set('postTitle', post.get('title'));
});

// ---------------------------------------------------------------------------------------------
// TriggerNote: a trigger with an object validator

Parse.Cloud.beforeSave(
  'TriggerNote',
  (request) => {
    request.object.set('checked', true);
  },
  { requireUser: true, fields: { text: { required: true, type: String } } },
);

// ---------------------------------------------------------------------------------------------
// Saves made by cloud code

Parse.Cloud.define('savePost', async (request) => {
  const post = new Parse.Object('TriggerPost');
  post.set(request.params.fields);
  await post.save(null, master);
  return post;
});

Parse.Cloud.define('saveAudit', async (request) => {
  const audit = new Parse.Object('TriggerAudit');
  audit.set('marker', request.params.marker);
  const options = request.params.mode === 'session' ? { sessionToken: request.user.getSessionToken() } : master;
  await audit.save(null, options);
  return audit;
});
