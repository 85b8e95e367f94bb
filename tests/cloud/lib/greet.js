// A helper module required by main.js. It requires a JSON file one directory up, so the path is
// resolved against this file's directory, not main.js's.
const data = require('../data.json');

function greet(name) {
  return `${data.greeting}, ${name}!`;
}

// Module-level state: one instance per server, shared by every require() of this file.
let calls = 0;

module.exports = {
  greet,
  data,
  countCall() {
    calls += 1;
    return calls;
  },
};
