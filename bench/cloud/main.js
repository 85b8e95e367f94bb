// Cloud functions for bench/cloud-functions.sh: one that does nothing, one that runs a query.
Parse.Cloud.define('constant', () => 'ok');
Parse.Cloud.define('oneQuery', async () => {
  const item = await new Parse.Query('Item').equalTo('n', 7).first();
  return item ? item.get('n') : null;
});
