#!/usr/bin/env node
// First: the modules below load through V8's code cache.
import './code-cache';
import { runCli } from '../cli';

void runCli(process.argv.slice(2));
