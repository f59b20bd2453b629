#!/usr/bin/env node
// SPDX-License-Identifier: MIT
// The kshm command (package bin). Everything is in main.ts.
import { main } from './main.js';

process.exitCode = await main(process.argv.slice(2));
