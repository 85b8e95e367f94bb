// Fixture for tests/sdk/cloud.test.mjs: a syntax error on line 4 must stop the start.
Parse.Cloud.define('fine', () => 'fine');

const = 1;

Parse.Cloud.define('never', () => 'never');
