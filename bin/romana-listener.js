#!/usr/bin/env node
/* global require */ /* eslint-disable @typescript-eslint/no-require-imports -- CommonJS (bin/package.json) */
require('./launch.js').launch('romana-listener', 'romana-listener.js', 'src/k8s/main.ts');
