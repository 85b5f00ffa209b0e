#!/usr/bin/env node
/* global require */ /* eslint-disable @typescript-eslint/no-require-imports -- CommonJS (bin/package.json) */
require('./launch.js').launch('romanad', 'romanad.cjs', 'src/server/main.ts');
