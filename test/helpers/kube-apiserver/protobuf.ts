/**
 * The little protobuf kubectl's generators send (`kubectl create namespace|configmap|secret|
 * serviceaccount`): the `k8s\0` envelope (runtime.Unknown) around a typed object, decoded to
 * JSON for the kinds below. Any other kind stays 415, and kubectl's `create -f` / `apply -f`
 * send JSON anyway. Field numbers are those of the Kubernetes API's generated.proto.
 */

type FieldType =
  'string' | 'bytes' | 'stringMap' | 'bytesMap' | 'strings' | 'bool' | { message: Schema };
type Schema = Record<number, [string, FieldType]>;

const OBJECT_META: Schema = {
  1: ['name', 'string'],
  2: ['generateName', 'string'],
  3: ['namespace', 'string'],
  11: ['labels', 'stringMap'],
  12: ['annotations', 'stringMap'],
  14: ['finalizers', 'strings'],
};

const META: [string, FieldType] = ['metadata', { message: OBJECT_META }];

/** Kinds decoded, by "apiVersion/kind". */
const KINDS: Record<string, Schema> = {
  'v1/Namespace': { 1: META, 2: ['spec', { message: { 1: ['finalizers', 'strings'] } }] },
  'v1/ServiceAccount': { 1: META, 4: ['automountServiceAccountToken', 'bool'] },
  'v1/ConfigMap': { 1: META, 2: ['data', 'stringMap'], 3: ['binaryData', 'bytesMap'] },
  'v1/Secret': { 1: META, 2: ['data', 'bytesMap'], 3: ['type', 'string'] },
};

const UNKNOWN: Schema = {
  1: ['typeMeta', { message: { 1: ['apiVersion', 'string'], 2: ['kind', 'string'] } }],
  2: ['raw', 'bytes'],
};

const MAP_ENTRY_S: Schema = { 1: ['key', 'string'], 2: ['value', 'string'] };
const MAP_ENTRY_B: Schema = { 1: ['key', 'string'], 2: ['value', 'bytes'] };

class Reader {
  pos = 0;
  constructor(readonly buf: Buffer) {}
  varint(): number {
    let result = 0;
    let shift = 0;
    for (;;) {
      const b = this.buf[this.pos++];
      if (b === undefined) throw new Error('truncated varint');
      result += (b & 0x7f) * 2 ** shift;
      if ((b & 0x80) === 0) return result;
      shift += 7;
    }
  }
  bytes(): Buffer {
    const len = this.varint();
    if (this.pos + len > this.buf.length) throw new Error('truncated field');
    const out = this.buf.subarray(this.pos, this.pos + len);
    this.pos += len;
    return out;
  }
  skip(wire: number): void {
    if (wire === 0) this.varint();
    else if (wire === 1) this.pos += 8;
    else if (wire === 2) this.bytes();
    else if (wire === 5) this.pos += 4;
    else throw new Error(`unsupported wire type ${wire}`);
  }
}

function decodeField(out: Record<string, unknown>, r: Reader, name: string, type: FieldType): void {
  if (type === 'bool') out[name] = r.varint() !== 0;
  else if (type === 'string') {
    // Go writes empty strings too; JSON (omitempty) leaves them out.
    const v = r.bytes().toString('utf8');
    if (v !== '') out[name] = v;
  } else if (type === 'bytes') out[name] = Buffer.from(r.bytes());
  else if (type === 'strings') {
    out[name] = [...((out[name] as string[] | undefined) ?? []), r.bytes().toString('utf8')];
  } else if (type === 'stringMap' || type === 'bytesMap') {
    const entry = decode(r.bytes(), type === 'stringMap' ? MAP_ENTRY_S : MAP_ENTRY_B);
    const value = entry['value'];
    const map = (out[name] as Record<string, string> | undefined) ?? {};
    map[String(entry['key'] ?? '')] = Buffer.isBuffer(value)
      ? value.toString('base64')
      : String(value ?? '');
    out[name] = map;
  } else out[name] = decode(r.bytes(), type.message);
}

function decode(buf: Buffer, schema: Schema): Record<string, unknown> {
  const r = new Reader(buf);
  const out: Record<string, unknown> = {};
  while (r.pos < buf.length) {
    const key = r.varint();
    const field = schema[Math.floor(key / 8)];
    if (field === undefined) r.skip(key & 7);
    else decodeField(out, r, field[0], field[1]);
  }
  return out;
}

const MAGIC = Buffer.from([0x6b, 0x38, 0x73, 0x00]);

/** The JSON form of a protobuf request body, or undefined when this kind is not decoded. */
export function decodeProtobuf(body: Buffer): Record<string, unknown> | undefined {
  if (!body.subarray(0, 4).equals(MAGIC)) return undefined;
  const unknown = decode(body.subarray(4), UNKNOWN);
  const tm = (unknown['typeMeta'] ?? {}) as { apiVersion?: string; kind?: string };
  const schema = KINDS[`${tm.apiVersion ?? ''}/${tm.kind ?? ''}`];
  const raw = unknown['raw'];
  if (schema === undefined || !Buffer.isBuffer(raw)) return undefined;
  return { apiVersion: tm.apiVersion, kind: tm.kind, ...decode(raw, schema) };
}
