/**
 * parley-chat/react — React bindings for parley-chat/client, on `useSyncExternalStore`: the stores
 * do the work, these hooks only subscribe. `react` (18 or later) is an optional peer dependency.
 *
 * ```tsx
 * const client = createChatClient({ url, token: getToken, persistence: 'local' });
 * <ChatProvider client={client}><Room id="support" /></ChatProvider>
 *
 * function Room({ id }: { id: string }) {
 *   const { messages, send } = useSession(id);
 *   return <>{messages.map((m) => <p key={m.clientMessageId ?? m.id}>{m.content}</p>)}<button onClick={() => send('hi')}>Send</button></>;
 * }
 * ```
 */
import { createContext, createElement, useContext, useMemo, useSyncExternalStore, type ReactNode } from 'react';
import type { ChatClient } from '../core/chat-client.js';
import type { AskOptions, ChatSession, SendOptions } from '../core/session-store.js';
import type { ClientSnapshot, SessionSnapshot } from '../core/types.js';
import type { Message } from '../../src/model.js';

const ClientContext = createContext<ChatClient | null>(null);

export interface ChatProviderProps {
  client: ChatClient;
  children?: ReactNode;
}

/** Makes `client` available to the hooks below it. The client is yours to create and `close()`. */
export function ChatProvider({ client, children }: ChatProviderProps): ReactNode {
  return createElement(ClientContext.Provider, { value: client }, children);
}

/** The client of the nearest `ChatProvider`. */
export function useChatClient(): ChatClient {
  const client = useContext(ClientContext);
  if (!client) throw new Error('useChatClient: no <ChatProvider client={…}> above this component');
  return client;
}

/** The connection status, the user and their sessions with unread counts. */
export function useSessions(): ClientSnapshot {
  const client = useChatClient();
  return useSyncExternalStore(client.subscribe, client.getSnapshot, client.getSnapshot);
}

/**
 * A session's snapshot and its actions. Everything in the snapshot keeps its name, so the action
 * that shows you typing is `setTyping` (`typing` lists who is typing).
 */
export interface UseSessionResult extends SessionSnapshot {
  send(content: string, options?: SendOptions): Promise<Message>;
  edit(messageId: string, content: string): Promise<Message>;
  /** Deletes a message (`delete` is a reserved word for a destructured name). */
  remove(messageId: string): Promise<void>;
  react(messageId: string, emoji: string, action?: 'add' | 'remove' | 'toggle'): Promise<void>;
  ask(prompt: string, options?: AskOptions): Promise<string>;
  stop(streamId: string): Promise<void>;
  loadOlder(limit?: number): Promise<boolean>;
  markSeen(messageId: string): Promise<void>;
  /** Shows that you are typing (`typing` is the snapshot's list of who is). */
  setTyping(active: boolean): void;
  retry(clientMessageId: string): Promise<Message>;
  discard(clientMessageId: string): Promise<void>;
}

/** Joins session `sessionId` (once per client) and re-renders when it changes. */
export function useSession(sessionId: string): UseSessionResult {
  const client = useChatClient();
  const store = useMemo(() => client.session(sessionId), [client, sessionId]);
  const snapshot = useSyncExternalStore(store.subscribe, store.getSnapshot, store.getSnapshot);
  const actions = useMemo(() => actionsOf(store), [store]);
  return useMemo(() => ({ ...snapshot, ...actions }), [snapshot, actions]);
}

function actionsOf(store: ChatSession) {
  return {
    send: (content: string, options?: SendOptions) => store.send(content, options),
    edit: (messageId: string, content: string) => store.edit(messageId, content),
    remove: (messageId: string) => store.delete(messageId),
    react: (messageId: string, emoji: string, action?: 'add' | 'remove' | 'toggle') => store.react(messageId, emoji, action),
    ask: (prompt: string, options?: AskOptions) => store.ask(prompt, options),
    stop: (streamId: string) => store.stop(streamId),
    loadOlder: (limit?: number) => store.loadOlder(limit),
    markSeen: (messageId: string) => store.markSeen(messageId),
    setTyping: (active: boolean) => store.typing(active),
    retry: (clientMessageId: string) => store.retry(clientMessageId),
    discard: (clientMessageId: string) => store.discard(clientMessageId),
  };
}
