#!/usr/bin/env node
import { launch } from './launch.js';

await launch('romana-listener', 'romana-listener.js', 'src/k8s/main.ts');
