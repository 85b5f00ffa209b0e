#!/usr/bin/env node
import { launch } from './launch.js';

await launch('romana-agent', 'romana-agent.js', 'src/agent/main.ts');
