#!/usr/bin/env node
import { launch } from './launch.js';

await launch('../src/k8s/main.ts');
