// Log-in triggers for tests/sdk/cloud-login-triggers.test.mjs.
Parse.Cloud.beforeLogin((request) => {
  if (request.object.get('banned')) throw new Error('Access denied, you have been banned.');
  if (request.object.get('username') === 'mustUseCode') {
    throw new Parse.Error(Parse.Error.OPERATION_FORBIDDEN, 'Log in with a code instead.');
  }
});

Parse.Cloud.afterLogin(async (request) => {
  const event = new Parse.Object('LoginEvent');
  event.set('userId', request.object.id);
  event.set('requestUserId', request.user && request.user.id);
  event.set('hasToken', typeof request.object.getSessionToken() === 'string');
  await event.save(null, { useMasterKey: true });
});

Parse.Cloud.afterLogout(async (request) => {
  const event = new Parse.Object('LogoutEvent');
  event.set('sessionClass', request.object.className);
  event.set('userId', request.object.get('user') && request.object.get('user').id);
  event.set('sessionToken', request.object.get('sessionToken'));
  await event.save(null, { useMasterKey: true });
});

Parse.Cloud.beforePasswordResetRequest((request) => {
  if (request.object.get('noReset')) throw new Parse.Error(Parse.Error.OPERATION_FORBIDDEN, 'Resets are off for this account.');
});
