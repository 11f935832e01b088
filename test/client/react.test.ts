// @vitest-environment happy-dom
import { act, cleanup, fireEvent, render, screen, waitFor } from '@testing-library/react';
import { createElement, useState } from 'react';
import { ChatProvider, useChatClient, useSession, useSessions } from 'parley-chat/react';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { clientFor, closeClients, TestServer } from './harness.js';

const h = createElement;
/** An element's text (the tests type-check without the DOM library). */
const text = (element: unknown) => (element as { textContent: string | null }).textContent;

let server: TestServer;
beforeAll(async () => {
  server = await new TestServer().start();
  // The page is served by the chat server itself, as the reference page is: same origin, no CORS.
  (globalThis as unknown as { window: { happyDOM: { setURL(url: string): void } } }).window.happyDOM.setURL(server.url);
});
afterEach(() => {
  cleanup();
  closeClients();
});
afterAll(async () => {
  await server.dispose();
});

function Sidebar() {
  const { status, userId, sessions } = useSessions();
  return h(
    'aside',
    null,
    h('p', { 'data-testid': 'status' }, `${userId ?? '?'} ${status}`),
    sessions.map((s) => h('p', { key: s.id, 'data-testid': `unread-${s.id}` }, `${s.title}: ${s.unreadCount}`)),
  );
}

function Room({ id }: { id: string }) {
  const { messages, send, markSeen, state } = useSession(id);
  const [text, setText] = useState('');
  const last = messages.at(-1);
  return h(
    'main',
    null,
    h('p', { 'data-testid': 'state' }, state),
    h(
      'ul',
      null,
      messages.map((m) => h('li', { key: m.clientMessageId ?? m.id }, `${m.userId}: ${m.content} (${m.status})`)),
    ),
    h('input', { 'aria-label': 'message', value: text, onChange: (e: { target: { value: string } }) => setText(e.target.value) }),
    h('button', { onClick: () => void send(text).then(() => setText('')) }, 'Send'),
    h('button', { onClick: () => last?.seq && void markSeen(last.id) }, 'Mark read'),
  );
}

function UserId() {
  return h('p', null, `client of ${useChatClient().getSnapshot().userId ?? 'nobody yet'}`);
}

describe('parley-chat/react', () => {
  it('renders a session from the store, sends from the UI, and keeps the sidebar’s unread count', async () => {
    const { id: sessionId } = await server.engine.createSession({ createdBy: 'alice', title: 'Support', memberIds: ['bob'] });
    await server.engine.createMessage({ sessionId, userId: 'alice', content: 'Welcome, Bob' });
    const bob = clientFor(server, 'bob');
    render(h(ChatProvider, { client: bob }, h(Sidebar), h(Room, { id: sessionId }), h(UserId)));

    await waitFor(() => expect(text(screen.getByTestId('status'))).toBe('bob online'));
    await waitFor(() => expect(screen.getByText('alice: Welcome, Bob (sent)')).toBeTruthy());
    await waitFor(() => expect(text(screen.getByTestId(`unread-${sessionId}`))).toBe('Support: 1'));

    fireEvent.change(screen.getByLabelText('message'), { target: { value: 'Thanks!' } });
    fireEvent.click(screen.getByText('Send'));
    await waitFor(() => expect(screen.getByText('bob: Thanks! (sent)')).toBeTruthy());

    // Alice writes from elsewhere: it appears live and counts as unread once.
    await act(async () => {
      await server.engine.createMessage({ sessionId, userId: 'alice', content: 'You are welcome' });
    });
    await waitFor(() => expect(screen.getByText('alice: You are welcome (sent)')).toBeTruthy());
    await waitFor(() => expect(text(screen.getByTestId(`unread-${sessionId}`))).toBe('Support: 2'));

    fireEvent.click(screen.getByText('Mark read'));
    await waitFor(() => expect(text(screen.getByTestId(`unread-${sessionId}`))).toBe('Support: 0'));
    expect(screen.getAllByRole('listitem').map((li) => text(li))).toEqual(['alice: Welcome, Bob (sent)', 'bob: Thanks! (sent)', 'alice: You are welcome (sent)']);
  });

  it("persistence: 'local' keeps the cursor in the page's localStorage, for the next page load", async () => {
    const { id: sessionId } = await server.engine.createSession({ createdBy: 'carol' });
    await server.engine.createMessage({ sessionId, userId: 'carol', content: 'note to self' });
    const storage = (globalThis as unknown as { localStorage: { getItem(key: string): string | null } }).localStorage;
    const carol = clientFor(server, 'carol', { persistence: 'local' });
    render(h(ChatProvider, { client: carol }, h(Room, { id: sessionId })));
    await waitFor(() => expect(screen.getByText('carol: note to self (sent)')).toBeTruthy());
    await waitFor(() => expect(storage.getItem(`parley:${server.url}:cursor:carol:${sessionId}`)).toBe(String(1)));
  });

  it('useChatClient outside a ChatProvider says what is missing', () => {
    expect(() => render(h(UserId))).toThrow(/ChatProvider/);
  });
});
