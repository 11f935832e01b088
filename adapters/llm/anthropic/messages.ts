import type { LlmMessage, LlmTool } from '../../../src/ports/llm.js';
import { isRecord, tryJson } from '../shared/sse-request.js';

type Block = Record<string, unknown>;
interface AnthropicMessage {
  role: 'user' | 'assistant';
  content: Block[];
}

/**
 * The port's messages in the Messages API's shape: system prompts joined into `system`; assistant
 * tool calls as `tool_use` blocks; results as `tool_result` blocks of a user turn. Turns of the same
 * role are merged (results of parallel calls must share one user turn), and empty text is dropped
 * (the API refuses empty text blocks).
 */
export function toAnthropicMessages(messages: readonly LlmMessage[]): { system: string | undefined; messages: AnthropicMessage[] } {
  const system: string[] = [];
  const out: AnthropicMessage[] = [];
  const push = (role: AnthropicMessage['role'], blocks: Block[]): void => {
    if (blocks.length === 0) return;
    const last = out.at(-1);
    if (last?.role === role) last.content.push(...blocks);
    else out.push({ role, content: blocks });
  };
  for (const message of messages) {
    switch (message.role) {
      case 'system':
        if (message.content !== '') system.push(message.content);
        break;
      case 'user':
        // No name field in the Messages API: the author goes in the text.
        push('user', text(message.name === undefined ? message.content : `[${message.name}]: ${message.content}`));
        break;
      case 'assistant':
        push('assistant', [
          ...text(message.content),
          ...(message.toolCalls ?? []).map((call) => ({ type: 'tool_use', id: call.id, name: call.name, input: toolInput(call.arguments) })),
        ]);
        break;
      case 'tool':
        push('user', [{ type: 'tool_result', tool_use_id: message.toolCallId, content: message.content, ...(message.isError && { is_error: true }) }]);
        break;
    }
  }
  return { system: system.length > 0 ? system.join('\n\n') : undefined, messages: out };
}

export function toAnthropicTools(tools: readonly LlmTool[]): Block[] {
  return tools.map((tool) => ({ name: tool.name, ...(tool.description !== undefined && { description: tool.description }), input_schema: tool.inputSchema }));
}

function text(content: string): Block[] {
  return content === '' ? [] : [{ type: 'text', text: content }];
}

/** `tool_use.input` must be an object: the model's JSON text, or `{}` when it is empty or not an object. */
function toolInput(args: string): Record<string, unknown> {
  const parsed = args.trim() === '' ? {} : tryJson(args);
  return isRecord(parsed) ? parsed : {};
}
