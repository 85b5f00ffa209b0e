#!/usr/bin/env node
import { launch } from './launch.js';

await launch('romanad', 'romanad.js', 'src/server/main.ts');
