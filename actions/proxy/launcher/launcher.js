'use strict';
// Brisk nodejs launcher, started by the action proxy once per container as
//   node launcher.js <entry> <actionDir> <text|archive>
// It loads the action and reports {"ok":true} or {"error":...} on fd 3.
// Then every stdin line is one request, served at once (activations
// overlap: there is no queue):
//   {"id":N,"value":...,"env":{...}}  run one activation
//   {"id":N,"cancel":true}            the proxy gave up on activation N
// and each is answered with exactly one line on fd 3, "id" first:
//   {"id":N,"result":<object or array>}            the activation's result
//   {"id":N,"error":"<message>","status":502}      a developer error
//   {"id":N,"error":...,"status":502,"fatal":true} the proxy must refuse more runs
//   {"id":N,"cancelled":true}                      the answer to a cancel
// stdout and stderr belong to the user code. Node writes to pipes
// asynchronously once a pipe is full, so both are switched to blocking mode
// below: everything the action printed is written before the reply.
//
// Log tags: each activation runs in an AsyncLocalStorage context. Text the
// activation writes to process.stdout or process.stderr (console.* included)
// goes out line by line as "\x01<activation id>\x02<line>\n"; a trailing
// partial line waits for its end or for the end of the activation. When an
// activation ends (reply or cancel) the launcher writes its remaining partial
// lines, then the sentinel on both streams (tagged), then the fd 3 line, so
// the activation's every line precedes its sentinel. Writes outside any
// activation, or by an activation that has already ended, go out untagged.
// process.env is one per process: each activation sets its __OW_* variables
// when it starts, so with overlapping activations the last one to start wins
// (upstream's nodejs runtime behaves the same).

const fs = require('fs');
const path = require('path');
const vm = require('vm');
const readline = require('readline');
const Module = require('module');
const { AsyncLocalStorage } = require('async_hooks');

const REPLY_FD = 3;
const SENTINEL = 'XXX_THE_END_OF_A_WHISK_ACTIVATION_XXX';
const TAG_START = '\x01';
const TAG_END = '\x02';
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

// The streams' own write methods, before patching; index 0 is stdout, 1 stderr.
const streams = [process.stdout, process.stderr];
const origWrite = streams.map((s) => s.write.bind(s));
const als = new AsyncLocalStorage();
const NEWLINE = 10;
const NEWLINE_BUF = Buffer.from('\n');
// atLineStart says whether the last thing written to a stream ended a line.
const atLineStart = [true, true];

// writeLines writes whole lines (tagged lines, sentinels), first ending a
// line left unfinished by an untagged write, so that a tag always starts a
// line.
function writeLines(i, buf) {
  origWrite[i](atLineStart[i] ? buf : Buffer.concat([NEWLINE_BUF, buf]));
  atLineStart[i] = true;
}

// passThrough writes untagged output as it comes.
function passThrough(i, chunk, encoding, cb) {
  if (typeof chunk === 'string' && (typeof encoding !== 'string' || /^utf-?8$/i.test(encoding))) {
    if (chunk.length > 0) atLineStart[i] = chunk.charCodeAt(chunk.length - 1) === NEWLINE;
  } else {
    const data = toBuffer(chunk, encoding);
    if (data !== null && data.length > 0) atLineStart[i] = data[data.length - 1] === NEWLINE;
  }
  return origWrite[i](chunk, encoding, cb);
}

// tagFor returns the log tag for an activation id, or null when the id cannot
// tag (missing, empty, or holding control characters): the proxy applies the
// same rule to the sentinels it writes itself.
function tagFor(id) {
  if (typeof id !== 'string' || id === '' || /[\x00-\x1f]/.test(id)) return null;
  return Buffer.from(TAG_START + id + TAG_END, 'utf8');
}

// Activation is one run in progress: its tag, its partial lines per stream,
// and whether it has ended (replied or been cancelled).
class Activation {
  constructor(id, tag) {
    this.id = id;
    this.tag = tag;
    this.partial = [null, null];
    this.ended = false;
  }

  // write splits data into lines and writes the complete ones tagged.
  write(i, data) {
    let buf = this.partial[i] ? Buffer.concat([this.partial[i], data]) : data;
    const out = [];
    for (let nl = buf.indexOf(NEWLINE); nl >= 0; nl = buf.indexOf(NEWLINE)) {
      out.push(this.tag, buf.subarray(0, nl + 1));
      buf = buf.subarray(nl + 1);
    }
    this.partial[i] = buf.length > 0 ? Buffer.from(buf) : null;
    if (out.length > 0) writeLines(i, Buffer.concat(out));
  }

  // flush writes the partial lines, completed with a newline.
  flush() {
    for (let i = 0; i < 2; i++) {
      if (this.partial[i]) writeLines(i, Buffer.concat([this.tag, this.partial[i], NEWLINE_BUF]));
      this.partial[i] = null;
    }
  }

  // end flushes the activation's output and writes its sentinels; later
  // writes from its context go out untagged.
  end() {
    this.ended = true;
    if (this.tag) this.flush();
    const sentinel = Buffer.from(SENTINEL + '\n');
    for (let i = 0; i < 2; i++) writeLines(i, this.tag ? Buffer.concat([this.tag, sentinel]) : sentinel);
  }
}

function toBuffer(chunk, encoding) {
  if (typeof chunk === 'string') return Buffer.from(chunk, typeof encoding === 'string' && Buffer.isEncoding(encoding) ? encoding : 'utf8');
  if (Buffer.isBuffer(chunk)) return chunk;
  if (ArrayBuffer.isView(chunk)) return Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
  return null;
}

// Route the streams' writes through the current activation.
streams.forEach((stream, i) => {
  stream.write = function write(chunk, encoding, cb) {
    const act = als.getStore();
    if (!act || act.ended || !act.tag) return passThrough(i, chunk, encoding, cb);
    const data = toBuffer(chunk, encoding);
    if (data === null) return origWrite[i](chunk, encoding, cb); // let node report the bad argument
    if (typeof encoding === 'function') cb = encoding;
    act.write(i, data);
    if (typeof cb === 'function') process.nextTick(cb);
    return true;
  };
});

// active maps the proxy's request ids to the activations in progress.
const active = new Map();

// A process.exit() in the middle of activations keeps their partial lines.
process.on('exit', () => {
  for (const act of active.values()) {
    if (!act.ended && act.tag) act.flush();
  }
});

// reply ends act (unless a cancel already did) and writes its fd 3 line;
// body is the reply's JSON text without the braces' "id" member.
function reply(act, body) {
  if (act.ended) return;
  act.end();
  active.delete(act.id);
  writeLine('{"id":' + JSON.stringify(act.id) + (body ? ',' + body : '') + '}');
  maybeExit();
}

function replyObject(act, obj) {
  const text = JSON.stringify(obj);
  reply(act, text.slice(1, -1));
}

function finish(act, value) {
  if (value === null || typeof value !== 'object') {
    console.error(`Result must be of type object but has type "${value === null ? 'null' : typeof value}":`, value);
    replyObject(act, { error: 'The action did not return a dictionary.', status: 502 });
    return;
  }
  let text;
  try {
    text = JSON.stringify(value);
  } catch (e) {
    replyObject(act, { error: 'The action result cannot be serialized to JSON: ' + e.message, status: 502 });
    return;
  }
  if (text === undefined) {
    replyObject(act, { error: 'The action did not return a dictionary.', status: 502 });
    return;
  }
  reply(act, '"result":' + text);
}

// runOne starts one activation in its own log context.
function runOne(entry, msg) {
  const env = msg.env && typeof msg.env === 'object' ? msg.env : {};
  const act = new Activation(msg.id, tagFor(env.__OW_ACTIVATION_ID));
  active.set(msg.id, act);
  als.run(act, () => {
    applyEnv(env);
    let result;
    try {
      result = entry(msg.value);
    } catch (e) {
      console.error(e);
      replyObject(act, { error: 'An error has occurred: ' + String(e), status: 502, fatal: true });
      return;
    }
    Promise.resolve(result).then(
      (v) => finish(act, v === undefined ? {} : v),
      (err) => finish(act, { error: serializeError(err) }));
  });
}

// cancel ends an activation the proxy no longer waits for. Its code may go
// on running; what it writes from now on is untagged.
function cancel(id) {
  const act = active.get(id);
  if (act && !act.ended) {
    act.end();
    active.delete(id);
  }
  writeLine('{"id":' + JSON.stringify(id) + ',"cancelled":true}');
  maybeExit();
}

let inputClosed = false;

// maybeExit ends the launcher once stdin is closed and no activation runs.
function maybeExit() {
  if (inputClosed && active.size === 0) process.exit(0);
}

function serve(entry, line) {
  let msg;
  try {
    msg = JSON.parse(line);
  } catch (e) {
    report({ error: 'Internal system error: invalid activation message: ' + e.message, status: 502 });
    return;
  }
  if (msg === null || typeof msg !== 'object' || typeof msg.id !== 'number') {
    report({ error: 'Internal system error: the activation message has no id.', status: 502 });
    return;
  }
  if (msg.cancel === true) cancel(msg.id);
  else runOne(entry, msg);
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

  const rl = readline.createInterface({ input: process.stdin, crlfDelay: Infinity });
  rl.on('line', (line) => serve(entry, line));
  rl.on('close', () => {
    inputClosed = true;
    maybeExit();
  });
}

start();
