#!/usr/bin/env node
/* global require */ /* eslint-disable @typescript-eslint/no-require-imports -- CommonJS (bin/package.json) */
require('./launch.js').launch('romana-agent', 'romana-agent.js', 'src/agent/main.ts');
