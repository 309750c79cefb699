#!/usr/bin/env node
// First: the modules below load through V8's code cache.
import './code-cache';
import { runCli } from '../cli';

// `iommutop` is `iommutrace top` with the same flags.
void runCli(['top', ...process.argv.slice(2)]);
