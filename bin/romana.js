#!/usr/bin/env node
import { launch } from './launch.js';

await launch('romana', 'romana.js', 'src/cli/main.ts');
