// Builds every program to plain JavaScript under dist/, with its runtime dependencies bundled, so
// that an installed package needs neither tsx nor node_modules:
//
//   dist/romanad.cjs, dist/romana.cjs, dist/romana-cni.cjs
//       the programs whose start time counts (the control plane, the CLI, the CNI plugin): one
//       minified CommonJS file each, no top-level await, and beside it dist/<name>.cjs.cache,
//       the V8 code cache of a warm-up run, which bin/launch.js hands to V8 (CommonJS, unlike
//       ES modules, can be compiled from a cache on Node 20). Modules loaded on demand (the
//       etcd client in romanad) stay in the file, unevaluated until used. The CNI plugin has a
//       shebang, so that the container runtime can run it from anywhere;
//   dist/advisor-worker.cjs
//       romanad's topology simulations run in worker threads of this script (src/advisor/
//       worker.ts), found beside dist/romanad.cjs; built with romanad, and counted among its
//       inputs (a change to the advisor makes romanad's build stale);
//   dist/romana-agent.js, romana-listener.js, romana-route-publisher.js
//       the other long-running programs: ES modules, with shared code in dist/chunks/;
//   dist/ui/index.html, app.js, app.css
//       the dashboard (src/ui), a browser bundle that romanad serves at /ui; its gzipped size is
//       printed and must stay under 150 KB;
//   dist/THIRD-PARTY-NOTICES.txt
//       the licenses of the bundled packages;
//   dist/build-inputs.json
//       the source files each program was built from, so that bin/ can tell, in a checkout,
//       that a program is older than its sources (see bin/launch.js).
//
// Usage: node scripts/build.mjs [PROGRAM...|ui]   (no argument: all of them)
import { spawnSync } from 'node:child_process';
import { chmodSync, copyFileSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { gzipSync } from 'node:zlib';
import { build } from 'esbuild';

const root = path.resolve(import.meta.dirname, '..');
const dist = path.join(root, 'dist');
const pkg = JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8'));

/** The programs built as ES modules, and the module whose `main(argv)` each runs. */
const SERVERS = {
  'romana-agent': 'src/agent/main.ts',
  'romana-listener': 'src/k8s/main.ts',
  'romana-route-publisher': 'src/bgp/main.ts',
};
/**
 * The programs built as CommonJS: their entry, and the run that warms the V8 code cache made
 * beside each (arguments, environment, stdin; a server is stopped once it prints `stopOn`).
 */
const COMMANDS = {
  romanad: {
    entry: 'romana-entry:cjs:src/server/main.ts',
    warm: {
      args: ['--store', 'memory:', '--port', '0', '--log-level', 'warn'],
      stopOn: 'listening',
    },
  },
  romana: {
    entry: 'romana-entry:cjs:src/cli/main.ts',
    // Both commands the start bench times: `--help`, and a `host list` whose request a
    // stand-in romanad in the warm-up process answers (so that the request, the answer's
    // parsing and the table are in the cache too).
    warm: {
      args: ['--help'],
      alsoServed: {
        args: ['-r', '{url}', 'host', 'list'],
        body: {
          hosts: [{ name: 'node-1', ip: '192.168.0.11', agent_port: 9604, tags: { zone: 'a' } }],
          revision: 1,
        },
      },
    },
  },
  'romana-cni': {
    entry: 'src/cni/entry.ts',
    warm: { args: [], env: { CNI_COMMAND: 'VERSION' }, input: '{"cniVersion":"1.1.0"}' },
  },
};

/** Worker-thread scripts, each built (CommonJS) with the program that runs it. */
const WORKERS = {
  'advisor-worker': { entry: 'src/advisor/worker.ts', program: 'romanad' },
};

const common = {
  bundle: true,
  platform: 'node',
  target: 'node20',
  legalComments: 'none',
  logLevel: 'warning',
  metafile: true,
  absWorkingDir: root, // metafile paths are relative to it
};

/** src/version.ts becomes the version as a literal: a built program reads no file for it. */
const versionPlugin = {
  name: 'romana-version',
  setup(b) {
    b.onLoad({ filter: /[\\/]src[\\/]version\.ts$/ }, () => ({
      contents: `export const VERSION = ${JSON.stringify(pkg.version)};`,
      loader: 'ts',
    }));
  },
};

/**
 * src/advisor/worker-script.ts finds the simulation worker among the sources and loads it with
 * tsx; in the romanad bundle it is dist/advisor-worker.cjs beside the bundle, loaded as is.
 */
const workerScriptPlugin = {
  name: 'romana-worker-script',
  setup(b) {
    b.onLoad({ filter: /[\\/]src[\\/]advisor[\\/]worker-script\.ts$/ }, () => ({
      contents: [
        "import path from 'node:path';",
        "export function workerScript() { return { script: path.join(__dirname, 'advisor-worker.cjs'), eval: false }; }",
      ].join('\n'),
      loader: 'js',
    }));
  },
};

/**
 * etcd3 reads its .proto files from beside its own sources at load time, which a bundle does
 * not have. Parse them now and hand proto-loader the parsed definition instead.
 */
const etcdProtoPlugin = {
  name: 'romana-etcd-proto',
  setup(b) {
    b.onLoad({ filter: /[\\/]etcd3[\\/]lib[\\/]connection-pool\.js$/ }, (args) => {
      const source = readFileSync(args.path, 'utf8');
      const call = '(0, proto_loader_1.loadSync)(`${__dirname}/../proto/rpc.proto`,';
      if (!source.includes(call)) {
        throw new Error(`${args.path}: the proto loading this build rewrites was not found`);
      }
      const req = createRequire(createRequire(args.path).resolve('@grpc/proto-loader'));
      const protobuf = req('protobufjs');
      const parsed = new protobuf.Root().loadSync(
        path.join(path.dirname(args.path), '../proto/rpc.proto'),
        { keepCase: true },
      );
      parsed.resolveAll();
      const json = JSON.stringify(parsed.toJSON());
      return {
        contents: source.replace(call, `(0, proto_loader_1.fromJSON)(${json},`),
        loader: 'js',
      };
    });
  },
};

/**
 * esbuild gives a split chunk holding a CommonJS package only a default export, so
 * `const { parse } = await import('yaml')` would find no `parse`. A package imported on demand
 * that Node can require goes through a small ES module naming each of its exports instead.
 */
const dynamicCjsPlugin = {
  name: 'romana-dynamic-cjs',
  setup(b) {
    b.onResolve({ filter: /^[^./]/ }, (args) => {
      if (args.kind !== 'dynamic-import' || args.path.startsWith('node:')) return undefined;
      let names;
      try {
        names = Object.keys(createRequire(path.join(args.resolveDir, 'x.js'))(args.path));
      } catch {
        return undefined; // an ES module, or not loadable here: esbuild's own handling
      }
      return {
        path: args.path,
        namespace: 'romana-dynamic-cjs',
        pluginData: { names, resolveDir: args.resolveDir },
      };
    });
    b.onLoad({ filter: /.*/, namespace: 'romana-dynamic-cjs' }, (args) => {
      const { names, resolveDir } = args.pluginData;
      const ids = names.filter((n) => /^[A-Za-z_$][\w$]*$/.test(n) && n !== 'default');
      return {
        contents: [
          `import __romanaCjs from ${JSON.stringify(args.path)};`,
          'export default __romanaCjs;',
          ...ids.map((n) => `export const ${n} = __romanaCjs.${n};`),
        ].join('\n'),
        resolveDir,
        loader: 'js',
      };
    });
  },
};

/**
 * In the CLI and the CNI plugin these built-in modules load when first used, not at start:
 * `romana --help` needs none of them, `romana host list` only net (its request goes over a
 * bare socket, src/client/lean-http.ts), the CNI VERSION command no crypto or child process.
 * A module required (commander requires child_process) becomes a
 * proxy; an imported one exports the same proxy as default and a wrapper per function. Any
 * other named import of them (a class, a constant) fails the build: no such export.
 */
const LAZY_BUILTINS = ['http', 'https', 'net', 'child_process', 'crypto', 'fs/promises'];
const lazyBuiltinPlugin = {
  name: 'romana-lazy-builtins',
  setup(b) {
    const filter = new RegExp(`^(node:)?(${LAZY_BUILTINS.join('|')})$`);
    b.onResolve({ filter }, (args) => {
      if (args.namespace === 'romana-lazy') return undefined; // the real one, for load()
      if (args.kind !== 'require-call' && args.kind !== 'import-statement') return undefined;
      return {
        path: args.path.replace(/^(node:)?/, 'node:'),
        namespace: 'romana-lazy',
        pluginData: args.kind,
      };
    });
    b.onLoad({ filter: /.*/, namespace: 'romana-lazy' }, (args) => {
      const real = createRequire(import.meta.url)(args.path);
      const functions = Object.keys(real).filter(
        (k) => /^[a-z][\w$]*$/.test(k) && typeof real[k] === 'function',
      );
      return {
        contents: [
          'let real;',
          `const load = () => (real ??= require(${JSON.stringify(args.path)}));`,
          'const lazy = new Proxy({}, {',
          '  get: (_, k) => load()[k],',
          '  has: (_, k) => k in load(),',
          '  ownKeys: () => Reflect.ownKeys(load()),',
          '  getOwnPropertyDescriptor: (_, k) => {',
          '    const d = Reflect.getOwnPropertyDescriptor(load(), k);',
          '    return d && { ...d, configurable: true };',
          '  },',
          '});',
          ...(args.pluginData === 'require-call'
            ? ['module.exports = lazy;']
            : [
                'export default lazy;',
                ...functions.map((f) => `export const ${f} = (...a) => load().${f}(...a);`),
              ]),
        ].join('\n'),
        loader: 'js',
      };
    });
  },
};

/**
 * `romana-entry:FORMAT:MODULE`: runs MODULE's `main(argv)` and exits with what it resolves to
 * (with top-level await in an ES module; CommonJS has none).
 */
const entryPlugin = {
  name: 'romana-entry',
  setup(b) {
    b.onResolve({ filter: /^romana-entry:/ }, (args) => ({
      path: args.path.slice('romana-entry:'.length),
      namespace: 'romana-entry',
    }));
    b.onLoad({ filter: /.*/, namespace: 'romana-entry' }, (args) => {
      const [format, module] = args.path.split(':');
      const name = JSON.stringify(`${path.basename(path.dirname(module))}: `);
      const main = `main(process.argv.slice(2))`;
      const done = "(code) => { if (typeof code === 'number') process.exitCode = code; }";
      const failed = `(err) => { process.stderr.write(${name} + (err instanceof Error && err.stack ? err.stack : String(err)) + '\\n'); process.exitCode = 1; }`;
      return {
        contents: [
          `import { main } from ${JSON.stringify(path.join(root, module))};`,
          format === 'esm'
            ? `await ${main}.then(${done}, ${failed});`
            : `${main}.then(${done}, ${failed});`,
        ].join('\n'),
        resolveDir: root,
        loader: 'js',
      };
    });
  },
};

// Bundled CommonJS dependencies call require() and read __dirname/__filename, which ES modules
// do not have: give every output file its own.
const ESM_BANNER = [
  '#!/usr/bin/env node',
  "import { createRequire as __romanaCreateRequire } from 'node:module';",
  "import { fileURLToPath as __romanaFileURLToPath } from 'node:url';",
  'const require = __romanaCreateRequire(import.meta.url);',
  'const __filename = __romanaFileURLToPath(import.meta.url);',
  "const __dirname = __romanaFileURLToPath(new URL('.', import.meta.url));",
].join('\n');

async function buildServers() {
  rmSync(path.join(dist, 'chunks'), { recursive: true, force: true });
  const result = await build({
    ...common,
    entryPoints: Object.entries(SERVERS).map(([name, module]) => ({
      in: `romana-entry:esm:${module}`,
      out: name,
    })),
    outdir: dist,
    format: 'esm',
    splitting: true,
    chunkNames: 'chunks/[name]-[hash]',
    minify: true,
    banner: { js: ESM_BANNER },
    plugins: [entryPlugin, versionPlugin, etcdProtoPlugin, dynamicCjsPlugin],
  });
  for (const name of Object.keys(SERVERS)) chmodSync(path.join(dist, `${name}.js`), 0o755);
  return result.metafile;
}

async function buildCommand(name) {
  const { entry, warm } = COMMANDS[name];
  const outfile = path.join(dist, `${name}.cjs`);
  const result = await build({
    ...common,
    entryPoints: [entry.startsWith('romana-entry:') ? entry : path.join(root, entry)],
    outfile,
    format: 'cjs',
    minify: true,
    banner: { js: '#!/usr/bin/env node' },
    plugins: [
      entryPlugin,
      versionPlugin,
      ...(name === 'romanad' ? [etcdProtoPlugin, workerScriptPlugin] : [lazyBuiltinPlugin]),
    ],
  });
  chmodSync(outfile, 0o755);
  codeCache(outfile, warm);
  return result.metafile;
}

/** A worker-thread script (WORKERS): one minified CommonJS file, dist/<name>.cjs. */
async function buildWorker(name) {
  const result = await build({
    ...common,
    entryPoints: [path.join(root, WORKERS[name].entry)],
    outfile: path.join(dist, `${name}.cjs`),
    format: 'cjs',
    minify: true,
    plugins: [versionPlugin],
  });
  return result.metafile;
}

/** The dashboard's files, and the most their gzipped sizes may add up to. */
const UI_FILES = ['index.html', 'app.js', 'app.css'];
const UI_GZIP_LIMIT = 150 * 1024;

/**
 * The dashboard (src/ui, preact and uPlot): one minified browser bundle with its stylesheet,
 * and the page that loads them, in dist/ui. Nothing is fetched from elsewhere at run time.
 */
async function buildUi() {
  const out = path.join(dist, 'ui');
  rmSync(out, { recursive: true, force: true });
  const result = await build({
    absWorkingDir: root,
    entryPoints: { app: 'src/ui/main.tsx' },
    outdir: out,
    bundle: true,
    platform: 'browser',
    format: 'esm',
    target: ['chrome111', 'firefox115', 'safari16'],
    jsx: 'automatic',
    jsxImportSource: 'preact',
    minify: true,
    legalComments: 'none',
    logLevel: 'warning',
    metafile: true,
  });
  copyFileSync(path.join(root, 'src/ui/index.html'), path.join(out, 'index.html'));
  const sizes = UI_FILES.map((f) => [f, gzipSync(readFileSync(path.join(out, f))).length]);
  const total = sizes.reduce((n, [, b]) => n + b, 0);
  const kb = (b) => `${(b / 1024).toFixed(1)} KB`;
  process.stderr.write(
    `ui: dist/ui is ${kb(total)} gzipped (${sizes.map(([f, b]) => `${f} ${kb(b)}`).join(', ')}; limit ${kb(UI_GZIP_LIMIT)})\n`,
  );
  if (total > UI_GZIP_LIMIT) {
    throw new Error(`dist/ui: ${kb(total)} gzipped is over the ${kb(UI_GZIP_LIMIT)} limit`);
  }
  return result.metafile;
}

/**
 * Writes `<file>.cache`, V8's code cache of `file` after one run (so that it holds the functions
 * a start needs), compiled the way bin/launch.js compiles it.
 */
function codeCache(file, warm) {
  rmSync(`${file}.cache`, { force: true });
  const script = [
    `const { compileCjs } = require(${JSON.stringify(path.join(root, 'bin/launch.js'))});`,
    `const file = ${JSON.stringify(file)};`,
    'const run = compileCjs(file);',
    `process.argv = [process.execPath, file, ...${JSON.stringify(warm.args)}];`,
    ...(warm.alsoServed === undefined ? [] : alsoServed(warm.alsoServed)),
    "process.on('exit', () => require('node:fs').writeFileSync(file + '.cache', run.script.createCachedData()));",
    ...(warm.stopOn === undefined
      ? []
      : [
          // A server: stop it (as SIGTERM does) once it says it serves.
          'const write = process.stdout.write.bind(process.stdout);',
          'process.stdout.write = (chunk, ...rest) => {',
          `  if (String(chunk).includes(${JSON.stringify(warm.stopOn)})) setImmediate(() => process.kill(process.pid, 'SIGTERM'));`,
          '  return write(chunk, ...rest);',
          '};',
        ]),
    'run();',
  ].join('\n');
  const r = spawnSync(process.execPath, ['-e', script], {
    env: { PATH: process.env.PATH, HOME: '/nonexistent', ...warm.env },
    input: warm.input ?? '',
    encoding: 'utf8',
  });
  if (r.status !== 0) {
    throw new Error(
      `${file}: the warm-up run for the code cache failed (${r.status}): ${r.stderr}`,
    );
  }
}

/**
 * Warm-up lines that run the program a second time, beside the first, with `args` ('{url}'
 * replaced) against an HTTP server in the warm-up process that answers every request with
 * `body` (JSON); the server does not keep the process alive once the program is done.
 */
function alsoServed({ args, body }) {
  return [
    "const server = require('node:http').createServer((req, res) => {",
    "  res.setHeader('content-type', 'application/json; charset=utf-8');",
    `  res.end(${JSON.stringify(JSON.stringify(body))});`,
    '});',
    "server.listen(0, '127.0.0.1', () => {",
    '  server.unref();',
    "  const url = 'http://127.0.0.1:' + server.address().port;",
    `  const argv = process.argv;`,
    `  process.argv = [process.execPath, file, ...${JSON.stringify(args)}.map((a) => (a === '{url}' ? url : a))];`,
    '  run();',
    '  process.argv = argv;',
    '});',
  ];
}

/**
 * The sources (under src/, and package.json) each program's file was built from, with the chunks
 * it imports, statically or on demand.
 */
function inputsByProgram(metafile) {
  const programs = [
    ...Object.keys(SERVERS).map((n) => `${n}.js`),
    ...Object.keys(COMMANDS).map((n) => `${n}.cjs`),
    ...Object.keys(WORKERS).map((n) => `${n}.cjs`),
  ];
  const out = {};
  for (const file of Object.keys(metafile.outputs)) {
    if (!programs.includes(path.basename(file))) continue;
    const seen = new Set();
    const inputs = new Set(['package.json']);
    const visit = (f) => {
      if (seen.has(f)) return;
      seen.add(f);
      const o = metafile.outputs[f];
      for (const i of Object.keys(o?.inputs ?? {})) if (i.startsWith('src/')) inputs.add(i);
      for (const imp of o?.imports ?? []) if (!imp.external) visit(imp.path);
    };
    visit(file);
    out[path.basename(file)] = [...inputs].sort();
  }
  return out;
}

/**
 * dist/THIRD-PARTY-NOTICES.txt: the name, version, license and license text of every package
 * bundled into a program, as their licenses ask of a copy.
 */
function writeNotices(metafiles) {
  const dirs = new Set();
  for (const m of metafiles) {
    for (const input of Object.keys(m.inputs)) {
      const hit = /^(.*node_modules\/(@[^/]+\/)?[^/]+)\//.exec(path.resolve(root, input));
      if (hit) dirs.add(hit[1]);
    }
  }
  const entries = [...dirs].map((dir) => {
    const pkg = JSON.parse(readFileSync(path.join(dir, 'package.json'), 'utf8'));
    const file = readdirSync(dir).find((f) => /^licen[cs]e(\.|$)/i.test(f));
    const text = file ? readFileSync(path.join(dir, file), 'utf8').trim() : '(no license file)';
    return `${pkg.name} ${pkg.version} (${pkg.license ?? 'see below'})\n\n${text}\n`;
  });
  const unique = [...new Set(entries)].sort();
  const rule = `\n${'-'.repeat(78)}\n\n`;
  writeFileSync(path.join(dist, 'THIRD-PARTY-NOTICES.txt'), unique.join(rule));
}

const wanted = process.argv.slice(2);
const known = [...Object.keys(SERVERS), ...Object.keys(COMMANDS), 'ui'];
const unknown = wanted.filter((w) => !known.includes(w));
if (unknown.length > 0) {
  process.stderr.write(
    `build: unknown program(s) ${unknown.join(', ')}; known: ${known.join(', ')}\n`,
  );
  process.exit(2);
}
const all = wanted.length === 0;
if (all) rmSync(dist, { recursive: true, force: true }); // no file of an older layout stays
const inputsFile = path.join(dist, 'build-inputs.json');
let inputs = {};
try {
  if (!all) inputs = JSON.parse(readFileSync(inputsFile, 'utf8'));
} catch {
  // none yet, or unreadable: the programs built now are listed below
}
const builds = [];
if (all || wanted.some((w) => w in SERVERS)) builds.push(buildServers());
for (const name of Object.keys(COMMANDS)) {
  if (all || wanted.includes(name)) builds.push(buildCommand(name));
}
for (const [name, { program }] of Object.entries(WORKERS)) {
  if (all || wanted.includes(program)) builds.push(buildWorker(name));
}
if (all || wanted.includes('ui')) builds.push(buildUi());
const metafiles = await Promise.all(builds);
for (const metafile of metafiles) Object.assign(inputs, inputsByProgram(metafile));
// A program is stale when a worker it runs is: its inputs count as the program's.
for (const [name, { program }] of Object.entries(WORKERS)) {
  const own = inputs[`${program}.cjs`];
  const worker = inputs[`${name}.cjs`];
  if (own && worker) inputs[`${program}.cjs`] = [...new Set([...own, ...worker])].sort();
}
if (all) writeNotices(metafiles);
writeFileSync(inputsFile, JSON.stringify(inputs, null, 1) + '\n');
