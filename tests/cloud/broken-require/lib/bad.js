// Syntax error on line 3.

const value = 1 + * 2;

module.exports = { value };
