/**
 * Project-local tslab launcher (the kernelspec's `argv`: `node {resource_dir}/start.cjs {connection_file}`;
 * `npm run kernel` writes the kernel.json beside it). Runs the tslab kernel from the project's node_modules
 * with the working directory at the project root, so notebooks import the library as './lib' (tslab only
 * compiles files under its working directory) and write figures under runs/.
 *
 * It patches tslab 1.0.22 in memory (never the files in node_modules) in five places, and refuses to
 * start if the code it patches is not found (a different tslab version):
 * 1. dist/executor.js, its module loader, tried `./x.js` only, so `export * from './distill'` (a folder)
 *    in lib/index.ts failed; it now also tries `./x/index.js`;
 * 2. dist/converter.js, its TypeScript watch host, allowed one pending timer and threw "Unexpected
 *    pending rebuildTimer" in the cell after one that wrote a file under the project; it now queues them;
 * 3. dist/converter.js again: its bundled TypeScript 5.0.4 type-checked every imported library file and
 *    rejected constructs the project's TypeScript 5.9 accepts; it now reports the errors of the cells
 *    (and of imported files outside lib/), while lib/ is type-checked by `npx tsc --noEmit -p .`;
 * 4. dist/executor.js and dist/jupyter.js: a failing cell reached Jupyter as a bare error status (clients
 *    showed an empty "<Error>:", the message was stderr text); the error's name, message and stack (or
 *    the cell's TypeScript diagnostics) now go into the execute_reply's ename / evalue / traceback and
 *    an iopub `error` output, as IPython sends them (patch "5." below).
 * 6. dist/jupyter.js: every message was sent with `sock.send(...)` without waiting for the previous send on
 *    that socket; zeromq 6 allows one send in progress per socket and throws "Socket is busy writing"
 *    (EBUSY) otherwise, which killed the kernel when a cell printed fast (a training log). Sends are now
 *    queued per socket, in order, and the iopub publisher has no high-water mark (it dropped stream
 *    messages silently beyond 1000 waiting ones) (patch "6." below).
 * Besides, tslab only logs an unhandled promise rejection or uncaught exception (an un-awaited async
 * throw in a cell) to the kernel's stderr; the launcher also records it in $CWD_NB_REJECTIONS, and
 * scripts/run-notebooks.ts fails the notebook.
 */
'use strict';
const fs = require('fs');
const path = require('path');
const Module = require('module');

const root = path.resolve(__dirname, '..', '..', '..');
process.chdir(root);
const tslabLink = path.join(root, 'node_modules', 'tslab');
if (!fs.existsSync(tslabLink)) {
  console.error('[channel-distill kernel] ' + tslabLink + ' is missing: run \'npm ci\' in ' + root);
  process.exit(1);
}
// the real path: Node caches modules under it, so a symlinked node_modules must not bypass the patches
const tslabDir = fs.realpathSync(tslabLink);

// In-memory patches of tslab 1.0.22 (the files on disk are untouched); each refuses to start
// the kernel if the code it patches is not found, rather than failing later in a confusing way.
function patchModule(file, replacements) {
  let source = fs.readFileSync(file, 'utf8');
  for (const [needle, replacement, why] of replacements) {
    if (!source.includes(needle)) {
      console.error('[channel-distill kernel] unexpected tslab version: ' + file + ' lacks the code to patch (' + why +
        '): ' + JSON.stringify(needle.slice(0, 80)) + '; pin tslab 1.0.22 or update jupyter/kernels/channel-distill/start.cjs');
      process.exit(1);
    }
    source = source.split(needle).join(replacement);
  }
  const m = new Module(file, module);
  m.filename = file;
  m.paths = Module._nodeModulePaths(path.dirname(file));
  m._compile(source, file);
  m.loaded = true;
  require.cache[file] = m;
}

// 1. tslab compiles local .ts imports into in-memory modules but resolves './x' only as './x.js';
//    also try './x/index.js' so that folder imports (export * from './distill') work in notebooks.
patchModule(path.join(tslabDir, 'dist', 'executor.js'), [[
  'filename += ".js";',
  'filename = (!sideOutputs.has(filename + ".js") && sideOutputs.has(filename + "/index.js")) ? filename + "/index.js" : filename + ".js";',
  'folder imports',
], [
  // 5. (below) the executor records a failing cell's error instead of printing it to stderr
  '            printDiagnostics(converted.diagnostics);\n            return false;',
  '            globalThis.__cwdCellError = { diagnostics: converted.diagnostics.map(globalThis.__cwdFormatDiagnostic) };\n            return false;',
  'type errors of a cell',
], [
  '            console.error(e);\n            return false;',
  '            globalThis.__cwdCellError = { error: e };\n            return false;',
  'a synchronous throw',
], [
  '                console.error(e);\n                return false;',
  '                globalThis.__cwdCellError = { error: e };\n                return false;',
  'an async throw (top-level await)',
]]);

// 2. TypeScript's watch host runs two debounce timers (failed-lookup invalidation, program update);
//    tslab allows only one and throws "Unexpected pending rebuildTimer" when a cell runs after a
//    previous cell wrote a file under the project (e.g. a figure under runs/). Keep a queue of
//    timers and run them all when tslab flushes.
const timerBlockStart = '    let rebuildTimer = null;';
const timerBlockEnd = '    sys.readFile = function (path, encoding) {';
const converterPath = path.join(tslabDir, 'dist', 'converter.js');
const converterSource = fs.readFileSync(converterPath, 'utf8');
const a = converterSource.indexOf(timerBlockStart);
const b = converterSource.indexOf(timerBlockEnd);
const timerBlock = a >= 0 && b > a ? converterSource.slice(a, b) : '(missing)';
patchModule(converterPath, [[
  timerBlock,
  [
    '    const pendingTimers = [];',
    '    sys.setTimeout = (callback) => { const t = { run: callback }; pendingTimers.push(t); return t; };',
    '    sys.clearTimeout = (t) => { const i = pendingTimers.indexOf(t); if (i >= 0) pendingTimers.splice(i, 1); };',
    '    const rebuildTimer = { callback: () => {',
    '        for (let guard = 0; pendingTimers.length; guard++) {',
    '            if (guard > 100) throw new Error("tslab timers keep rescheduling (channel-distill patch)");',
    '            pendingTimers.shift().run();',
    '        }',
    '    } };',
    '',
  ].join('\n'),
  'single rebuild timer',
], [
  // 3. tslab type-checks every imported file with its bundled TypeScript 5.0.4; the library (lib/) is
  //    type-checked by the project's pinned TypeScript (npx tsc --noEmit -p .), and the two versions
  //    disagree on a few valid constructs. Report only the diagnostics of the notebook cell and of
  //    imported files outside lib/ (e.g. notebooks/common.ts); a type error in a cell still fails it.
  '        if (dep !== sourceFile.fileName) {\n            files.push(builder.getSourceFile(dep));',
  '        if (dep !== sourceFile.fileName && !dep.startsWith(require("path").join(process.cwd(), "lib") + "/")) {\n            files.push(builder.getSourceFile(dep));',
  'diagnostics of library files',
]]);

// 4. tslab only logs an unhandled promise rejection or an uncaught exception (an un-awaited async
//    throw in a cell) to the kernel's own stderr, and the notebook passes. Record each one in the
//    file named by CWD_NB_REJECTIONS (set by scripts/run-notebooks.ts), which fails the notebook.
function recordAsyncError(kind, reason) {
  const text = reason && reason.stack ? String(reason.stack) : String(reason);
  process.stderr.write('[channel-distill kernel] ' + kind + ': ' + text + '\n');
  const file = process.env.CWD_NB_REJECTIONS;
  if (file) {
    try { fs.appendFileSync(file, JSON.stringify({ kind: kind, at: new Date().toISOString(), error: text }) + '\n'); } catch (e) { /* the stderr line above remains */ }
  }
}
process.on('unhandledRejection', (reason) => recordAsyncError('unhandled promise rejection', reason));
process.on('uncaughtException', (error) => recordAsyncError('uncaught exception', error));

// 5. tslab reports a failing cell to Jupyter as a bare `status: "error"` execute_reply (no ename,
//    evalue or traceback, and no iopub `error` message), so clients show an empty "<Error>:" and the
//    message only appears as stderr text. The executor now records the exception (or the cell's
//    TypeScript diagnostics) instead of printing it; the kernel fills ename / evalue / traceback (the
//    stack) into the execute_reply and publishes the same as an iopub `error` output, as IPython does.
//    (Module cells, `//%module`, still print their diagnostics to stderr: they do not fail.)
globalThis.__cwdCellError = null;
globalThis.__cwdErrorContent = function errorContent() {
  const captured = globalThis.__cwdCellError;
  globalThis.__cwdCellError = null;
  if (!captured) return { ename: 'Error', evalue: 'the cell failed (the kernel captured no error object)', traceback: [] };
  if (captured.diagnostics) {
    const n = captured.diagnostics.length;
    return { ename: 'TypeScriptError', evalue: captured.diagnostics[0] + (n > 1 ? ' (and ' + (n - 1) + ' more)' : ''), traceback: captured.diagnostics };
  }
  const e = captured.error;
  if (e && typeof e === 'object' && 'message' in e) {
    const ename = String(e.name || (e.constructor && e.constructor.name) || 'Error');
    const evalue = String(e.message);
    const stack = typeof e.stack === 'string' && e.stack ? e.stack : ename + ': ' + evalue;
    // the kernel's own frames (node:vm, tslab's executor and message loop) say nothing about the cell
    const traceback = stack.split('\n').filter((l) => !/^\s+at .*(node:vm:|[\\/]tslab[\\/]dist[\\/]|sigintHandlersWrap)/.test(l));
    if (e.cause !== undefined) traceback.push('[cause] ' + (e.cause && e.cause.stack ? e.cause.stack : String(e.cause)));
    return { ename, evalue, traceback };
  }
  // `throw 'text'`, `throw 42`, ...
  return { ename: 'thrown ' + (e === null ? 'null' : typeof e), evalue: String(e), traceback: ['Uncaught ' + (typeof e === 'string' ? JSON.stringify(e) : String(e))] };
};
function formatDiagnostic(d) {
  const text = typeof d.messageText === 'string' ? d.messageText : (d.messageText && d.messageText.messageText) || String(d.messageText);
  return (d.fileName ? d.fileName + ' ' : '') + (d.start ? (d.start.line + 1) + ':' + (d.start.character + 1) + ' - ' : '') + text;
}
globalThis.__cwdFormatDiagnostic = formatDiagnostic;
// 6. tslab calls zeromq's `sock.send` for every message without waiting for the previous one; zeromq 6
//    throws EBUSY ("Socket is busy writing; only one send operation may be in progress at any time") when a
//    send is still in progress, which happens when a cell writes output fast, and the kernel died of it.
//    Queue the sends of each socket: each waits for the previous one, in order. A failed send is reported
//    on the kernel's own stderr file descriptor (not through the iopub socket that failed).
const sendQueues = new WeakMap(); // zeromq sockets are not extensible: the queue of each lives here
globalThis.__cwdQueuedSend = function queuedSend(sock, frames) {
  const next = (sendQueues.get(sock) || Promise.resolve()).then(() => sock.send(frames)).catch((e) => {
    if (e && /Socket is closed/.test(String(e.message))) return; // the kernel is shutting down
    try { fs.writeSync(2, '[channel-distill kernel] a message could not be sent: ' + (e && e.message ? e.message : String(e)) + '\n'); } catch (_) { /* nothing left to report to */ }
  });
  sendQueues.set(sock, next);
};
patchModule(path.join(tslabDir, 'dist', 'jupyter.js'), [[
  '    async handleExecute(req, writeStream, writeDisplayData) {\n        let status = "ok";',
  '    async handleExecute(req, writeStream, writeDisplayData) {\n        globalThis.__cwdCellError = null;\n        let status = "ok";',
  'reset the recorded error',
], [
  '        return {\n            status: status,\n            execution_count: count ? count.count : undefined,\n        };',
  '        const content = { status: status, execution_count: count ? count.count : undefined };\n' +
  '        if (status === "error") Object.assign(content, globalThis.__cwdErrorContent());\n' +
  '        return content;',
  'ename/evalue/traceback in execute_reply',
], [
  '        const content = await this.handler.handleExecute(msg.content, writeStream, writeDisplayData);\n        reply.content = content;',
  '        const content = await this.handler.handleExecute(msg.content, writeStream, writeDisplayData);\n' +
  '        if (content.status === "error" && content.ename !== undefined) {\n' +
  '            const err = msg.createReply();\n' +
  '            err.header.msg_type = "error";\n' +
  '            err.content = { ename: content.ename, evalue: content.evalue, traceback: content.traceback };\n' +
  '            err.signAndSend(this.connInfo.key, this.iopub);\n' +
  '        }\n' +
  '        reply.content = content;',
  'iopub error message',
], [
  '        sock.send(heads.concat(bodies));',
  '        globalThis.__cwdQueuedSend(sock, heads.concat(bodies));',
  'queued sends (zeromq 6 EBUSY)',
], [
  // a publisher drops messages silently once 1000 wait for a subscriber: unbounded, so fast output is kept
  '        this.iopub = new zmq.Publisher();',
  '        this.iopub = new zmq.Publisher({ sendHighWaterMark: 0 });',
  'iopub without a high-water mark',
]]);

const connectionFile = process.argv[2];
process.argv = [process.argv[0], path.join(tslabDir, 'bin', 'tslab'), 'kernel', '--config-path', connectionFile];
require(path.join(tslabDir, 'dist', 'main.js')).main();
