#!/usr/bin/env node
// channel-distill CLI: runs lib/cli/main.ts through tsx (a dependency) in this same process.
'use strict';
const path = require('path');
const { register } = require('tsx/cjs/api');
register();
const { main } = require(path.join(__dirname, '..', 'lib', 'cli', 'main.ts'));
main(process.argv.slice(2)).then((code) => {
  process.exitCode = code;
});
