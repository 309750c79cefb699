#!/usr/bin/env node
import { runCli } from '../cli';

// `iommutop` is `iommutrace top` with the same flags.
void runCli(['top', ...process.argv.slice(2)]);
