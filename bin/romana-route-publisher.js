#!/usr/bin/env node
/* global require */ /* eslint-disable @typescript-eslint/no-require-imports -- CommonJS (bin/package.json) */
require('./launch.js').launch(
  'romana-route-publisher',
  'romana-route-publisher.js',
  'src/bgp/main.ts',
);
