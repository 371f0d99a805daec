import { NODE_ID_PATTERN } from '../../peers/envelope.js';

/**
 * The schema of every path parameter, by name: the OpenAPI document declares each
 * `{name}` of a route template with this schema (a route using a name that is not here
 * fails the document's build). A new route reuses these names or adds its own here.
 */
export const PATH_PARAMETERS: Record<string, { description: string; schema: { type: 'string'; pattern: string; format?: string; example: string } }> = {
  code: {
    description: 'The institution code (4-digit Zengin code)',
    schema: { type: 'string', pattern: '^[0-9]{4}$', example: '0005' },
  },
  id: {
    description: "The resource's id",
    schema: {
      type: 'string',
      format: 'uuid',
      pattern: '^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$',
      example: '0b7a3f52-5a43-4c1e-9d0e-6a1f3c2b9e11',
    },
  },
  nodeId: {
    description: "The peer node's id",
    schema: { type: 'string', pattern: NODE_ID_PATTERN.source, example: 'node-osaka-1' },
  },
};
