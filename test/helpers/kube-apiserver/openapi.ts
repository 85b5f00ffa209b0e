/**
 * Just enough OpenAPI v3 for kubectl: the root lists one document per group/version, and each
 * document declares, for every kind, a PATCH operation that takes `fieldValidation`. From that
 * kubectl concludes the server validates fields itself and skips its own schema download, so
 * `kubectl create -f` and `kubectl apply -f` work without `--validate=false`. No schemas are
 * served: kubectl then computes apply patches from its compiled-in types, as it does when a
 * real server's schemas are missing. /openapi/v2 stays 404.
 */
import { createHash } from 'node:crypto';
import { RESOURCES, type ResourceInfo } from './resources.ts';

/** "api/v1" or "apis/<group>/<version>": the key of a group/version in the v3 root. */
function gvPath(info: Pick<ResourceInfo, 'group' | 'version'>): string {
  return info.group === '' ? `api/${info.version}` : `apis/${info.group}/${info.version}`;
}

function itemPath(info: ResourceInfo): string {
  const ns = info.namespaced ? '/namespaces/{namespace}' : '';
  return `/${gvPath(info)}${ns}/${info.resource}/{name}`;
}

function gvDocument(key: string): Record<string, unknown> | undefined {
  const infos = RESOURCES.filter((r) => gvPath(r) === key);
  if (infos.length === 0) return undefined;
  const paths: Record<string, unknown> = {};
  for (const info of infos) {
    paths[itemPath(info)] = {
      patch: {
        operationId: `patch${info.kind}`,
        'x-kubernetes-action': 'patch',
        'x-kubernetes-group-version-kind': {
          group: info.group,
          version: info.version,
          kind: info.kind,
        },
        parameters: [
          { name: 'dryRun', in: 'query', schema: { type: 'string', uniqueItems: true } },
          { name: 'fieldManager', in: 'query', schema: { type: 'string', uniqueItems: true } },
          { name: 'fieldValidation', in: 'query', schema: { type: 'string', uniqueItems: true } },
        ],
        responses: { '200': { description: 'OK' } },
      },
    };
  }
  return {
    openapi: '3.0.0',
    info: { title: 'Kubernetes', version: 'v1.32.0' },
    paths,
  };
}

function hash(doc: unknown): string {
  return createHash('sha512').update(JSON.stringify(doc)).digest('hex').slice(0, 64).toUpperCase();
}

/** The document at an /openapi/v3 path, or undefined. */
export function openapiV3(path: string): unknown {
  if (path === '/openapi/v3' || path === '/openapi/v3/') {
    const keys = [...new Set(RESOURCES.map(gvPath))];
    const paths: Record<string, unknown> = {};
    for (const key of keys) {
      paths[key] = { serverRelativeURL: `/openapi/v3/${key}?hash=${hash(gvDocument(key))}` };
    }
    return { paths };
  }
  if (!path.startsWith('/openapi/v3/')) return undefined;
  return gvDocument(path.slice('/openapi/v3/'.length));
}
