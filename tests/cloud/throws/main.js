// Fixture for tests/sdk/cloud.test.mjs: a throw at load time (line 5) must stop the start.
Parse.Cloud.define('fine', () => 'fine');

if (!Parse.Cloud.define.missingSetting) {
  throw new Error('cloud fixture refuses to load');
}
