// LiveQuery triggers for tests/sdk/cloud-livequery-triggers.test.mjs.
Parse.Cloud.beforeConnect((request) => {
  if (request.installationId === 'banned-device') {
    throw new Parse.Error(Parse.Error.OPERATION_FORBIDDEN, 'This device may not connect.');
  }
});

Parse.Cloud.beforeSubscribe('LqNote', (request) => {
  if (request.query._where.secret !== undefined) throw new Error('No subscribing to secrets.');
  // Clients only ever hear of published notes, and only their titles.
  request.query.equalTo('published', true);
  request.query.select('title');
});

Parse.Cloud.afterLiveQueryEvent('LqEvent', (request) => {
  if (request.object.get('muted')) {
    request.sendEvent = false;
    return;
  }
  request.object.set('heard', `${request.event} by trigger`);
});
