/**
 * What romanad keeps of Kubernetes (docs/api.md, "Pods and namespaces"): the pod an address
 * belongs to, with its labels and named ports, and namespaces with their labels.
 */
import { sendJsonText } from './ipam.ts';
import {
  AddressParams,
  NamespaceBody,
  NamespaceParams,
  NamespacePutParams,
  PodBody,
} from './schemas.ts';
import type { RouteContext, TypedApp } from './types.ts';

export function k8sRoutes(app: TypedApp, ctx: RouteContext): void {
  const { service } = ctx;
  const read = { access: 'read-only' } as const;
  const node = { access: 'node' } as const;

  app.put(
    '/addresses/:name/pod',
    { config: node, schema: { params: AddressParams, body: PodBody } },
    async (req) => {
      const address = await service.setAddressPod(req.params.name, req.body);
      req.log.info({ address: address.name, pod: address.pod }, 'address linked to its pod');
      return address;
    },
  );

  app.delete(
    '/addresses/:name/pod',
    { config: node, schema: { params: AddressParams } },
    async (req) => {
      const address = await service.clearAddressPod(req.params.name);
      req.log.info({ address: address.name }, 'pod link of address removed');
      return address;
    },
  );

  app.get('/namespaces', { config: read }, async () => service.listNamespaces());

  app.get('/namespaces/:name', { config: read, schema: { params: NamespaceParams } }, async (req) =>
    service.getNamespace(req.params.name),
  );

  app.put(
    '/namespaces/:name',
    { config: node, schema: { params: NamespacePutParams, body: NamespaceBody } },
    async (req) => service.putNamespace(req.params.name, req.body.labels ?? {}),
  );

  app.delete(
    '/namespaces/:name',
    { config: node, schema: { params: NamespaceParams } },
    async (req, reply) => {
      await service.deleteNamespace(req.params.name);
      req.log.info({ namespace: req.params.name }, 'namespace deleted');
      return sendJsonText(reply, 'null');
    },
  );
}
