import { z } from 'zod';
import type { LlmTool } from '../ports/llm.js';

/** What a tool's `execute` is told about the answer it serves. */
export interface ToolContext {
  sessionId: string;
  /** The member who asked for the answer: the tool acts as this user. */
  userId: string;
  streamId: string;
  agentId: string | null;
  /** Aborted when the answer is stopped (or the engine closes) and when the tool times out. */
  signal: AbortSignal;
}

/** A tool an agent may call. Build one with {@link defineTool}. */
export interface Tool<Input = any, Output = unknown> {
  description: string;
  /** The input's schema: validated before `execute`, and sent upstream as JSON Schema. */
  input: z.ZodType<Input>;
  /** Returns the result the model sees: anything `JSON.stringify` accepts, 32 KB at most. */
  execute(input: Input, context: ToolContext): Output | Promise<Output>;
}

/**
 * A tool for an agent's `tools`. The model sees `description` and the JSON Schema of `input` (zod's
 * own `z.toJSONSchema`); the arguments it writes are validated by `input` before `execute` runs, as
 * the member who asked (`context.userId`). Invalid arguments, a throw, a timeout (the agent's
 * `toolTimeoutMs`) or a result over 32 KB become an error result the model sees, never a failed
 * answer. See docs/agents.md.
 *
 * ```ts
 * const lookupOrder = defineTool({
 *   description: 'Order status by id',
 *   input: z.object({ orderId: z.string() }),
 *   execute: async ({ orderId }, { userId, signal }) => orders.status(orderId, { userId, signal }),
 * });
 * new ChatEngine({ storage, llm, agents: { assistant: { tools: { lookupOrder }, maxSteps: 5 } } });
 * ```
 */
export function defineTool<Schema extends z.ZodType<Record<string, unknown>>, Output>(tool: {
  description: string;
  input: Schema;
  execute(input: z.output<Schema>, context: ToolContext): Output | Promise<Output>;
}): Tool<z.output<Schema>, Output> {
  if (typeof tool.description !== 'string') throw new TypeError('defineTool: `description` must be a string');
  if (typeof tool.execute !== 'function') throw new TypeError('defineTool: `execute` must be a function');
  jsonSchemaOf(tool.input); // fails now, not at the first answer, when the schema cannot be sent
  return tool as unknown as Tool<z.output<Schema>, Output>;
}

/** Tool names both OpenAI and Anthropic accept. */
const TOOL_NAME = /^[a-zA-Z0-9_-]{1,64}$/;
const schemas = new WeakMap<z.ZodType, Record<string, unknown>>();

/** The tools as the provider port sends them; throws on a name or schema the upstreams refuse. */
export function toolDefinitions(tools: Readonly<Record<string, Tool>>): LlmTool[] {
  return Object.entries(tools).map(([name, tool]) => {
    if (!TOOL_NAME.test(name)) throw new TypeError(`tool name ${JSON.stringify(name)}: use 1 to 64 letters, digits, _ or -`);
    return { name, description: tool.description, inputSchema: jsonSchemaOf(tool.input) };
  });
}

function jsonSchemaOf(schema: z.ZodType): Record<string, unknown> {
  let json = schemas.get(schema);
  if (json) return json;
  // Checked by shape, not instanceof: the host's zod 4 may be another copy than ours.
  if (typeof (schema as { safeParseAsync?: unknown } | null)?.safeParseAsync !== 'function' || !('_zod' in schema)) {
    throw new TypeError('defineTool: `input` must be a zod 4 schema');
  }
  // What the model writes is the schema's input (before defaults and transforms).
  const { $schema: _, ...rest } = z.toJSONSchema(schema, { io: 'input', unrepresentable: 'any' }) as Record<string, unknown>;
  if (rest.type !== 'object') throw new TypeError('defineTool: `input` must be a z.object(...) schema (tool input is an object)');
  json = rest;
  schemas.set(schema, json);
  return json;
}
