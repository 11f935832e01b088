/**
 * `parley-chat/openai`: the LLM provider for OpenAI and every server that speaks its streaming Chat Completions
 * protocol (Azure OpenAI, vLLM, Ollama's `/v1`, llama.cpp server, LM Studio).
 */
export { OpenAICompatibleProvider, type OpenAICompatibleProviderOptions } from './openai-compatible-provider.js';
