import type { LlmToolCall, LlmToolCallDelta } from '../ports/llm.js';
import type { Tool, ToolContext } from './define-tool.js';

/** The largest tool result sent back to the model, in bytes of JSON. */
export const MAX_TOOL_RESULT_BYTES = 32 * 1024;

/** One executed tool call: its JSON result as the model sees it. */
export interface ToolResult {
  call: LlmToolCall;
  /** The parsed input (undefined when the arguments were not valid JSON). */
  input: unknown;
  /** The tool's result, or `{ error }` for an error result. */
  output: unknown;
  /** `output` as JSON text: what goes upstream. */
  content: string;
  isError: boolean;
  /** What members may see of an error (no tool's own message: it may hold internals). */
  publicError?: string;
  durationMs: number;
}

/** Builds whole tool calls from a step's streamed pieces. */
export class ToolCallPieces {
  private readonly calls: LlmToolCall[] = [];

  add(piece: LlmToolCallDelta): void {
    const call = (this.calls[piece.index] ??= { id: '', name: '', arguments: '' });
    if (piece.id) call.id = piece.id;
    if (piece.name) call.name = piece.name;
    if (piece.argumentsDelta) call.arguments += piece.argumentsDelta;
  }

  /** The calls, in order; a call the upstream gave no id gets one (the next request must name it). */
  finish(step: number): LlmToolCall[] {
    return this.calls.filter(Boolean).map((call, i) => (call.id ? call : { ...call, id: `call_${step}_${i}` }));
  }
}

/**
 * Runs one step's tool calls concurrently. Each is parsed, validated by its tool's schema, then
 * executed with a signal that aborts on `signal` (the answer stopped) or after `timeoutMs`. A
 * failure of any kind is an error result; this never rejects. A tool that ignores its signal is
 * not waited for: its result is dropped.
 */
export function runToolCalls(
  calls: readonly LlmToolCall[],
  tools: Readonly<Record<string, Tool>>,
  context: Omit<ToolContext, 'signal'> & { signal: AbortSignal },
  timeoutMs: number,
  onThrow: (error: unknown, call: LlmToolCall) => void,
): Promise<ToolResult[]> {
  return Promise.all(calls.map((call) => runOne(call, tools, context, timeoutMs, onThrow)));
}

async function runOne(
  call: LlmToolCall,
  tools: Readonly<Record<string, Tool>>,
  context: ToolContext,
  timeoutMs: number,
  onThrow: (error: unknown, call: LlmToolCall) => void,
): Promise<ToolResult> {
  const started = performance.now();
  const result = (output: unknown, input: unknown, publicError?: string): ToolResult => {
    const durationMs = performance.now() - started;
    if (publicError !== undefined) return { call, input, output, content: JSON.stringify(output), isError: true, publicError, durationMs };
    return { call, input, output, content: JSON.stringify(output), isError: false, durationMs };
  };
  const tool = Object.hasOwn(tools, call.name) ? tools[call.name] : undefined;
  if (!tool) return result({ error: `Unknown tool ${JSON.stringify(call.name)}` }, undefined, 'Unknown tool');
  let args: unknown;
  try {
    args = call.arguments.trim() === '' ? {} : JSON.parse(call.arguments);
  } catch {
    return result({ error: 'The arguments are not valid JSON' }, undefined, 'Invalid input');
  }
  const parsed = await tool.input.safeParseAsync(args);
  if (!parsed.success) {
    const issues = parsed.error.issues.map((issue) => `${issue.path.join('.') || '(input)'}: ${issue.message}`);
    return result({ error: 'Invalid input', issues }, args, 'Invalid input');
  }

  const controller = new AbortController();
  const onAbort = () => controller.abort(context.signal.reason);
  context.signal.addEventListener('abort', onAbort, { once: true });
  if (context.signal.aborted) controller.abort(context.signal.reason);
  let timer: NodeJS.Timeout | undefined;
  const cut = new Promise<'timeout' | 'aborted'>((resolve) => {
    timer = setTimeout(() => {
      resolve('timeout'); // first: aborting resolves 'aborted' at once
      controller.abort(new Error(`timed out after ${timeoutMs} ms`));
    }, timeoutMs);
    controller.signal.addEventListener('abort', () => resolve('aborted'), { once: true });
  });
  try {
    const outcome = await Promise.race([
      Promise.resolve()
        .then(() => tool.execute(parsed.data, { ...context, signal: controller.signal }))
        .then((value) => ({ value })),
      cut,
    ]);
    if (outcome === 'timeout') return result({ error: `The tool timed out after ${timeoutMs} ms` }, args, 'Timed out');
    if (outcome === 'aborted') return result({ error: 'The answer was stopped' }, args, 'Stopped');
    const output = outcome.value === undefined ? null : outcome.value;
    let json: string | undefined;
    try {
      json = JSON.stringify(output);
    } catch {
      json = undefined;
    }
    if (json === undefined) return result({ error: 'The tool returned a result that is not JSON' }, args, 'The tool failed');
    if (Buffer.byteLength(json) > MAX_TOOL_RESULT_BYTES) {
      return result({ error: `The result is larger than ${MAX_TOOL_RESULT_BYTES} bytes` }, args, 'Result too large');
    }
    return { call, input: args, output, content: json, isError: false, durationMs: performance.now() - started };
  } catch (error) {
    if (controller.signal.aborted && context.signal.aborted) return result({ error: 'The answer was stopped' }, args, 'Stopped');
    onThrow(error, call);
    const message = error instanceof Error ? error.message : String(error);
    return result({ error: message || 'The tool failed' }, args, 'The tool failed');
  } finally {
    clearTimeout(timer);
    context.signal.removeEventListener('abort', onAbort);
  }
}
