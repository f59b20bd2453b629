#!/usr/bin/env node
// npm's prepare script: `npm install` in a clone builds libkshm.so and the
// TypeScript (npm run build). npm pack and npm publish run prepare too, after
// prepack has built exactly what ships (harness/pack-js.mjs strips the JS):
// building again there would overwrite it, so prepare does nothing then.
import { spawnSync } from 'node:child_process';

const command = process.env.npm_command;
if (command === 'pack' || command === 'publish') process.exit(0);
const r = spawnSync('npm', ['run', 'build'], { stdio: 'inherit' });
process.exit(r.status ?? 1);
