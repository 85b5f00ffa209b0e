/**
 * Unknown fields. `kubernetes-models`' `validate()` checks types and required fields but lets an
 * unknown field through (its schemas allow additional properties), while kubectl 1.32 refuses
 * one (`--validate=strict`, the default). A misspelt field (`readOnlyRootFileSystem`) would
 * pass that validation and fail at `kubectl apply`, or, worse, be dropped silently by an older
 * server. So: every object, as a TypeScript object literal typed with the package's interface
 * for its kind, type-checked: an excess property is an error naming it.
 */
import assert from 'node:assert/strict';
import path from 'node:path';
import { before, describe, it } from 'node:test';
import ts from 'typescript';
import { kustomize, readObjects, ROOT, tokensSecret, type K8sObject } from './manifests.ts';

/** A file that does not exist on disk: only the compiler sees it. */
const VIRTUAL = path.join(ROOT, 'test/deploy/__manifest_fields__.ts');

/** The type-check problems of `objects`, each naming the object and the field. */
function fieldProblems(objects: K8sObject[]): string[] {
  const lines: string[] = [];
  objects.forEach((o, i) => {
    const mod = `kubernetes-models/${o.apiVersion}/${o.kind}`;
    lines.push(`import type { I${o.kind} as T${i} } from '${mod}';`);
    lines.push(`// ${o.kind} ${o.metadata.name}`);
    // null is "unset" to the API server (kubectl prints `creationTimestamp: null`).
    const literal = JSON.stringify(o, (_, v: unknown) => (v === null ? undefined : v));
    lines.push(`export const o${i}: T${i} = ${literal};`);
  });
  const text = lines.join('\n') + '\n';
  const options: ts.CompilerOptions = {
    strict: true,
    noEmit: true,
    skipLibCheck: true,
    module: ts.ModuleKind.NodeNext,
    moduleResolution: ts.ModuleResolutionKind.NodeNext,
    target: ts.ScriptTarget.ES2022,
    types: [],
  };
  const host = ts.createCompilerHost(options);
  const getSourceFile = host.getSourceFile.bind(host);
  const fileExists = host.fileExists.bind(host);
  host.getSourceFile = (f, lang, ...rest) =>
    f === VIRTUAL ? ts.createSourceFile(f, text, lang) : getSourceFile(f, lang, ...rest);
  host.fileExists = (f) => f === VIRTUAL || fileExists(f);
  const program = ts.createProgram([VIRTUAL], options, host);
  return ts.getPreEmitDiagnostics(program).map((d) => {
    const line =
      d.file && d.start !== undefined ? d.file.getLineAndCharacterOfPosition(d.start).line : -1;
    const where = line > 0 ? text.split('\n')[line - 1] : '';
    return `${where}: ${ts.flattenDiagnosticMessageText(d.messageText, ' ')}`;
  });
}

describe('no manifest has a field Kubernetes does not know', () => {
  let all: K8sObject[];
  before(() => {
    all = [
      ...readObjects('romana.yaml'),
      ...kustomize('overlays/etcd'),
      ...readObjects('uninstall-cni.yaml'),
      tokensSecret(),
    ];
  });

  it('romana.yaml, the etcd overlay, uninstall-cni.yaml and the token Secret', () => {
    // The same check finds a misspelt field: the proof that it can fail.
    const spoilt = structuredClone(all.find((o) => o.kind === 'DaemonSet')!) as K8sObject & {
      spec: { template: { spec: { containers: Record<string, unknown>[] } } };
    };
    spoilt.spec.template.spec.containers[0]!['imagePullPolicyy'] = 'Always';
    const problems = fieldProblems([...all, spoilt]);
    assert.equal(problems.length, 1, problems.join('\n'));
    assert.match(problems[0]!, /DaemonSet romana-agent: .*imagePullPolicyy.* does not exist/);
  });
});
