import { z } from 'zod';

/**
 * Builds the OpenAPI 3.1 document from the zod schemas the routers validate with, so the
 * documentation cannot drift from what the API accepts. OpenAPI 3.1 schemas are JSON
 * Schema 2020-12, which zod emits itself.
 */

export interface Operation {
  method: 'get' | 'post' | 'put' | 'patch' | 'delete';
  /** OpenAPI path, `{param}` style. */
  path: string;
  summary: string;
  description?: string;
  tag: string;
  auth: 'server' | 'admin' | 'none';
  params?: z.ZodObject;
  query?: z.ZodObject;
  body?: z.ZodType;
  /** Media type of the body (default application/json). */
  bodyType?: string;
  /** The body may be left out (every field optional). */
  bodyOptional?: boolean;
  /** Request headers the operation reads (beyond Authorization). */
  headers?: Array<{ name: string; description: string }>;
  /** status → description and body schema (none: empty body). */
  responses: Record<number, { description: string; body?: z.ZodType }>;
}

type Json = Record<string, unknown>;

/** The schema as JSON Schema, its `$defs` moved into `defs` under unique names. */
function jsonSchema(schema: z.ZodType, name: string, defs: Json): Json {
  const out = z.toJSONSchema(schema, { target: 'draft-2020-12', io: 'input', unrepresentable: 'any' }) as Json;
  delete out['$schema'];
  const local = (out['$defs'] ?? {}) as Json;
  delete out['$defs'];
  const renamed = new Map(Object.keys(local).map((k) => [k, `${name}_${k.replace(/^__/, '')}`]));
  const rewrite = (node: unknown): unknown => {
    if (Array.isArray(node)) return node.map(rewrite);
    if (node === null || typeof node !== 'object') return node;
    const copy: Json = {};
    for (const [k, v] of Object.entries(node)) {
      const target = k === '$ref' && typeof v === 'string' ? renamed.get(v.replace('#/$defs/', '')) : undefined;
      copy[k] = target ? `#/components/schemas/${target}` : rewrite(v);
    }
    return copy;
  };
  for (const [k, v] of Object.entries(local)) defs[renamed.get(k)!] = rewrite(v);
  return rewrite(out) as Json;
}

function parametersOf(schema: z.ZodObject | undefined, where: 'path' | 'query', name: string, defs: Json): Json[] {
  if (!schema) return [];
  const json = jsonSchema(schema, name, defs);
  const props = (json['properties'] ?? {}) as Record<string, Json>;
  const required = new Set((json['required'] ?? []) as string[]);
  return Object.entries(props).map(([param, s]) => ({ name: param, in: where, required: where === 'path' || required.has(param), schema: s }));
}

export function openApiDocument(operations: readonly Operation[], info: { version: string; errorSchema: z.ZodType }): Json {
  const defs: Json = {};
  defs['Error'] = jsonSchema(info.errorSchema, 'Error', defs);
  const paths: Record<string, Json> = {};
  for (const op of operations) {
    const id = `${op.method}${op.path.replace(/[{}]/g, '').replace(/[^A-Za-z0-9]+(.)?/g, (_m, c: string | undefined) => (c ?? '').toUpperCase())}`;
    const responses: Json = {};
    for (const [status, r] of Object.entries(op.responses)) {
      responses[status] = r.body ? { description: r.description, content: { 'application/json': { schema: jsonSchema(r.body, `${id}_${status}`, defs) } } } : { description: r.description };
    }
    responses['default'] = { description: 'An error of the catalog (docs/errors.md).', content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } } };
    const operation: Json = {
      operationId: id,
      summary: op.summary,
      tags: [op.tag],
      parameters: [
        ...parametersOf(op.params, 'path', `${id}_params`, defs),
        ...parametersOf(op.query, 'query', `${id}_query`, defs),
        ...(op.headers ?? []).map((h) => ({ name: h.name, in: 'header', required: false, description: h.description, schema: { type: 'string' } })),
      ],
      responses,
      security: op.auth === 'none' ? [] : [{ [op.auth === 'admin' ? 'adminToken' : 'serverSecret']: [] }],
    };
    if (op.description) operation['description'] = op.description;
    if (op.body) operation['requestBody'] = { required: !op.bodyOptional, content: { [op.bodyType ?? 'application/json']: { schema: jsonSchema(op.body, `${id}_body`, defs) } } };
    (paths[op.path] ??= {})[op.method] = operation;
  }
  return {
    openapi: '3.1.0',
    info: {
      title: 'Petrel push API',
      version: info.version,
      description: 'Send push messages to devices and manage them. App servers authenticate with `Authorization: Bearer <serverSecret>`; operators use the admin token under /v1/admin.',
    },
    paths,
    components: {
      schemas: defs,
      securitySchemes: {
        serverSecret: { type: 'http', scheme: 'bearer', description: 'A server secret of the app.' },
        adminToken: { type: 'http', scheme: 'bearer', description: 'The operator admin token (PETREL_ADMIN_TOKEN).' },
      },
    },
  };
}

/**
 * Routes a router serves that the document does not describe. Checked when the HTTP app
 * is built, so an endpoint cannot ship undocumented: every test that starts the API fails.
 */
export function undocumentedRoutes(router: { stack: unknown[] }, document: { paths?: Record<string, Record<string, unknown>> }, mountedAt = ''): string[] {
  const missing: string[] = [];
  for (const layer of router.stack as Array<{ route?: { path: string; methods: Record<string, boolean> } }>) {
    if (!layer.route) continue;
    const path = mountedAt + layer.route.path.replace(/:(\w+)/g, '{$1}');
    for (const method of Object.keys(layer.route.methods)) {
      if (!document.paths?.[path]?.[method]) missing.push(`${method.toUpperCase()} ${path}`);
    }
  }
  return missing;
}
