// request.context for tests/sdk/cloud-context.test.mjs: the client's context reaches the
// triggers, and what beforeSave adds to it reaches the afterSave of the same write.
const master = { useMasterKey: true };

Parse.Cloud.beforeSave('ContextNote', (request) => {
  request.object.set('seenBefore', request.context.source || 'none');
  request.context.fromBefore = 'set in beforeSave';
});

Parse.Cloud.afterSave('ContextNote', async (request) => {
  const log = new Parse.Object('ContextLog');
  log.set('noteId', request.object.id);
  log.set('context', request.context);
  await log.save(null, master);
});

Parse.Cloud.beforeDelete('ContextNote', (request) => {
  if (request.context.allowDelete !== true) throw new Parse.Error(Parse.Error.OPERATION_FORBIDDEN, 'Deleting needs context.');
});

Parse.Cloud.beforeFind('ContextNote', (request) => {
  if (request.context.onlyMine) request.query.equalTo('owner', request.context.onlyMine);
});

Parse.Cloud.define('saveWithContext', async (request) => {
  const note = new Parse.Object('ContextNote');
  await note.save({ owner: 'cloud' }, { useMasterKey: true, context: { source: 'cloud code' } });
  return note;
});
