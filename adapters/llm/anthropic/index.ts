/**
 * `parley-chat/anthropic`: the LLM provider for Anthropic's Messages API (Claude), spoken natively:
 * streamed text, tool use, usage.
 */
export { AnthropicProvider, type AnthropicProviderOptions } from './anthropic-provider.js';
