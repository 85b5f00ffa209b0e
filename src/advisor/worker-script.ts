/**
 * How to start the simulation worker. From the sources (romanad under tsx, tests): a small
 * script that registers tsx in the worker thread and imports src/advisor/worker.ts. In the
 * romanad bundle this whole file is replaced (scripts/build.mjs, `workerScriptPlugin`) by one
 * that names dist/advisor-worker.cjs beside the running bundle.
 */
export interface WorkerScript {
  /** The script: an absolute path, or source code when `eval` is true. */
  script: string;
  eval: boolean;
}

export function workerScript(): WorkerScript {
  // tsx resolved from here, so that the worker finds it whatever romanad's working directory.
  const api = import.meta.resolve('tsx/esm/api');
  const worker = new URL('./worker.ts', import.meta.url).href;
  return {
    script: [
      `import(${JSON.stringify(api)})`,
      `  .then(({ register }) => { register(); return import(${JSON.stringify(worker)}); })`,
      '  .catch((err) => { process.nextTick(() => { throw err; }); });',
    ].join('\n'),
    eval: true,
  };
}
