#!/usr/bin/env node
// The CNI plugin: runs dist/romana-cni.cjs, the one file a node should install as the plugin
// (see bin/launch.js for a checkout without a current build).
import { launch } from './launch.js';

await launch('romana-cni', 'romana-cni.cjs', 'src/cni/main.ts');
