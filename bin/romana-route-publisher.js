#!/usr/bin/env node
import { launch } from './launch.js';

await launch('romana-route-publisher', 'romana-route-publisher.js', 'src/bgp/main.ts');
