// Background jobs, written as on Parse Server.
Parse.Cloud.job('countPosts', async (request) => {
  request.message('counting');
  const count = await new Parse.Query('JobPost').count({ useMasterKey: true });
  return `counted ${count} with tag ${request.params.tag}`;
});

Parse.Cloud.job('explode', () => {
  throw new Error('the job failed on purpose');
});
