// Fixture for tests/sdk/cloud.test.mjs: main.js is fine, the module it requires has a syntax error.
Parse.Cloud.define('fine', () => 'fine');

require('./lib/bad.js');
