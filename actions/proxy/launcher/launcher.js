'use strict';
// Brisk nodejs launcher, started by the action proxy once per container as
//   node launcher.js <entry> <actionDir> <text|archive>
// It loads the action, reports {"ok":true} or {"error":...} on fd 3, then
// serves one activation per stdin line ({"value":...,"env":{...}}) and
// answers each with exactly one line on fd 3:
//   {"result":<object or array>}            the activation's result
//   {"error":"<message>","status":502}      a developer error
//   {"error":..., "status":502, "fatal":true} the proxy must refuse more runs
// stdout and stderr belong to the user code. Node writes to pipes
// asynchronously once a pipe is full, so both are switched to blocking mode
// below: everything the action printed is written before the reply.

const fs = require('fs');
const path = require('path');
const vm = require('vm');
const readline = require('readline');
const Module = require('module');

const REPLY_FD = 3;
for (const stream of [process.stdout, process.stderr]) {
  if (stream._handle && typeof stream._handle.setBlocking === 'function') stream._handle.setBlocking(true);
}
// Without arguments the launcher was prestarted: the first stdin line says
// what to load ({"entry","dir","mode","env"}), read synchronously so that
// the line reader below sees only activations.
let [, , entryName, actionDir, mode] = process.argv;
if (entryName === undefined) {
  const init = JSON.parse(readFirstLine());
  entryName = init.entry;
  actionDir = init.dir;
  mode = init.mode;
  Object.assign(process.env, init.env || {});
}

function readFirstLine() {
  const bytes = [];
  const one = Buffer.alloc(1);
  for (;;) {
    let n;
    try {
      n = fs.readSync(0, one, 0, 1, null);
    } catch (e) {
      if (e.code === 'EAGAIN') { sleepMs(1); continue; }
      throw e;
    }
    if (n === 0 || one[0] === 10) return Buffer.from(bytes).toString('utf8');
    bytes.push(one[0]);
  }
}

function sleepMs(ms) {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

function writeLine(text) {
  const buf = Buffer.from(text + '\n', 'utf8');
  let off = 0;
  while (off < buf.length) {
    try {
      off += fs.writeSync(REPLY_FD, buf, off, buf.length - off);
    } catch (e) {
      if (e.code !== 'EAGAIN') throw e;
      sleepMs(2);
    }
  }
}

function report(obj) {
  writeLine(JSON.stringify(obj));
}

// userStack drops the stack frames that belong to this launcher or to node
// itself, so errors point at the action's code only.
function userStack(stack) {
  const self = __filename;
  return String(stack).split('\n').filter((line) => !(/^\s+at /.test(line) &&
    (line.includes(self) || line.includes('(node:') || /^\s+at node:/.test(line)))).join('\n');
}

function describe(e) {
  if (e && typeof e === 'object' && e.stack) return userStack(e.stack);
  return String(e);
}

// walk follows a dotted name ("a.b.c") through nested properties.
function walk(root, dotted) {
  let v = root;
  for (const part of dotted.split('.')) {
    if (v === null || v === undefined) return undefined;
    v = v[part];
  }
  return v;
}

const PARAMS = ['exports', 'require', 'module', '__filename', '__dirname'];

// loadText evaluates plain-source code as the body of a CommonJS-style
// function, so `require`, `exports` and `module` work, and a top-level
// `function main` is found as well as `exports.main`.
function loadText() {
  const file = path.join(actionDir, 'index.js');
  const source = fs.readFileSync(file, 'utf8');
  const mod = new Module(file, null);
  mod.filename = file;
  const req = Module.createRequire(file);
  let fn;
  if (/^[A-Za-z_$][A-Za-z0-9_$]*$/.test(entryName)) {
    const probe = `\n;return typeof ${entryName} === 'function' ? ${entryName} : undefined;`;
    try {
      fn = vm.compileFunction(source + probe, PARAMS, { filename: file });
    } catch (e) {
      fn = undefined; // the probe may clash with a reserved word; retry bare
    }
  }
  if (!fn) fn = vm.compileFunction(source, PARAMS, { filename: file });
  const found = fn.call(mod.exports, mod.exports, req, mod, file, actionDir);
  if (typeof found === 'function') return found;
  return walk(mod.exports, entryName);
}

// loadArchive requires the extracted directory (package.json "main" or
// index.js) and looks the entry point up in its exports; "file.fn" also
// finds fn exported by file.js.
function loadArchive() {
  const exported = require(actionDir);
  const found = walk(exported, entryName);
  if (typeof found === 'function') return found;
  const dot = entryName.indexOf('.');
  if (dot > 0) {
    const file = path.join(actionDir, entryName.slice(0, dot));
    if (fs.existsSync(file + '.js') || fs.existsSync(file)) {
      return walk(require(file), entryName.slice(dot + 1));
    }
  }
  return found;
}

function serializeError(err) {
  if (!err) return {};
  if (err instanceof Error || (typeof err === 'object' && typeof err.message === 'string' && typeof err.stack === 'string')) {
    const out = {};
    for (const k of Object.keys(err)) out[k] = err[k];
    out.name = err.name;
    out.message = err.message;
    out.stack = err.stack;
    try {
      JSON.stringify(out);
      return out;
    } catch (e) {
      return { name: err.name, message: err.message, stack: err.stack };
    }
  }
  return err;
}

function finish(value) {
  if (value === null || typeof value !== 'object') {
    console.error(`Result must be of type object but has type "${value === null ? 'null' : typeof value}":`, value);
    report({ error: 'The action did not return a dictionary.', status: 502 });
    return;
  }
  let text;
  try {
    text = JSON.stringify(value);
  } catch (e) {
    report({ error: 'The action result cannot be serialized to JSON: ' + e.message, status: 502 });
    return;
  }
  if (text === undefined) {
    report({ error: 'The action did not return a dictionary.', status: 502 });
    return;
  }
  writeLine('{"result":' + text + '}');
}

const baseEnv = Object.assign({}, process.env);
let runEnvKeys = [];

// applyEnv sets this activation's __OW_* variables and restores those a
// previous activation set but this one does not.
function applyEnv(env) {
  for (const k of runEnvKeys) {
    if (Object.prototype.hasOwnProperty.call(env, k)) continue;
    if (Object.prototype.hasOwnProperty.call(baseEnv, k)) process.env[k] = baseEnv[k];
    else delete process.env[k];
  }
  for (const [k, v] of Object.entries(env)) process.env[k] = String(v);
  runEnvKeys = Object.keys(env);
}

function runOne(entry, line) {
  let msg;
  try {
    msg = JSON.parse(line);
  } catch (e) {
    report({ error: 'Internal system error: invalid activation message: ' + e.message, status: 502 });
    return undefined;
  }
  applyEnv(msg.env || {});
  let result;
  try {
    result = entry(msg.value);
  } catch (e) {
    console.error(e);
    report({ error: 'An error has occurred: ' + String(e), status: 502, fatal: true });
    return undefined;
  }
  return Promise.resolve(result).then(
    (v) => finish(v === undefined ? {} : v),
    (err) => finish({ error: serializeError(err) }));
}

function start() {
  let entry;
  try {
    process.chdir(actionDir);
    entry = mode === 'archive' ? loadArchive() : loadText();
    if (typeof entry !== 'function') {
      throw `Action entrypoint '${entryName}' is not a function.`;
    }
  } catch (e) {
    console.error('Error during initialization:', describe(e));
    report({ error: describe(e) });
    process.exit(1);
  }
  report({ ok: true });

  let queue = Promise.resolve();
  const rl = readline.createInterface({ input: process.stdin, crlfDelay: Infinity });
  rl.on('line', (line) => {
    queue = queue.then(() => runOne(entry, line));
  });
  rl.on('close', () => {
    queue.then(() => process.exit(0));
  });
}

start();
