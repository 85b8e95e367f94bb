// beforeFind and afterFind, written as on Parse Server.
Parse.Cloud.beforeFind('FindNote', (request) => {
  // Clients see published notes only; the master key sees everything.
  if (!request.master) request.query.equalTo('published', true);
  if (request.query.toJSON().where.secret !== undefined) {
    throw new Parse.Error(Parse.Error.OPERATION_FORBIDDEN, 'querying secret is not allowed');
  }
});

Parse.Cloud.afterFind('FindNote', (request) => {
  for (const note of request.objects) note.set('title', String(note.get('title')).toUpperCase());
  return request.objects.filter((note) => note.get('title') !== 'HIDDEN');
});
