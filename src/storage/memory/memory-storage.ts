import { ChatError } from '../../errors.js';
import type {
  Attachment,
  JsonObject,
  MemberRole,
  Message,
  MessagePage,
  MessagePart,
  SearchPage,
  Reaction,
  Session,
  SessionMember,
  SessionSummary,
  StreamRecord,
  StreamStatus,
  UserProfile,
} from '../../model.js';
import { assertSessionAccess } from '../../ports/storage.js';
import type {
  HistoryQuery,
  SearchQuery,
  InsertedMessage,
  MessagePatch,
  NewAttachment,
  NewMessage,
  NewSession,
  NewStream,
  ReactionChange,
  ReactionResult,
  SessionAccess,
  StorageAdapter,
  StreamFlush,
  StreamPatch,
} from '../../ports/storage.js';

/** A stored message without its joined parts; `content` is kept even for a deleted one and blanked on read. */
type StoredMessage = Omit<Message, 'attachments' | 'reactions'>;

interface MessageRecord {
  message: StoredMessage;
  attachmentIds: string[];
  /** In the order the reactions were made. */
  reactions: ReactionRecord[];
  /** Direct replies, in seq order. */
  replies: MessageRecord[];
  /** Search words of the current content; computed on first search, dropped when the content changes. */
  words: Set<string> | null;
}

interface ReactionRecord {
  id: string;
  userId: string;
  emoji: string;
  createdAt: string;
}

interface SessionRecord {
  session: Session;
  /** Map iteration order is insertion order, which is join order. */
  members: Map<string, SessionMember>;
  /** Every message of the session, in seq order (appended as seqs are assigned). */
  messages: MessageRecord[];
  /** Top-level messages only, in seq order: a history page never scans replies or other sessions. */
  topLevel: MessageRecord[];
  /** The session's LLM streams, in the order they were created. */
  streams: StreamRecord[];
}

/** What pass 1 of an insert decided for one input message. */
type InsertPlan = { kind: 'existing'; record: MessageRecord } | { kind: 'firstInBatch'; index: number } | { kind: 'create' };

/**
 * The reference {@link StorageAdapter}: everything in plain Maps, nothing survives the process.
 * For tests, demos and single-process prototypes. Every method runs to completion without awaiting,
 * so each call is atomic; returned objects are copies, never live state.
 *
 * @example
 * ```ts
 * import { ChatEngine, MemoryStorage } from 'parley-chat';
 *
 * const engine = new ChatEngine({ storage: new MemoryStorage() });
 * await engine.init();
 * ```
 */
export class MemoryStorage implements StorageAdapter {
  readonly name = 'memory';

  private readonly sessions = new Map<string, SessionRecord>();
  private readonly messages = new Map<string, MessageRecord>();
  private readonly attachments = new Map<string, Attachment>();
  /** `clientKey(session, user, clientMessageId)` → message id. */
  private readonly clientIds = new Map<string, string>();
  /** userId → ids of the sessions they are a member of, so listSessions does not scan every session. */
  private readonly memberships = new Map<string, Set<string>>();
  private readonly streams = new Map<string, StreamRecord>();
  /** Ids of the streams still pending or streaming, so listStaleStreams does not scan finished ones. */
  private readonly runningStreams = new Set<string>();
  private readonly users = new Map<string, UserProfile>();

  async init(): Promise<void> {}

  /** Keeps the data: a closed MemoryStorage owns no connection, and tests may still inspect it. */
  async close(): Promise<void> {}

  // ---- sessions and members ---------------------------------------------------------------

  async createSession(input: NewSession): Promise<Session> {
    if (this.sessions.has(input.id)) throw new ChatError('CONFLICT', `Session ${input.id} already exists`);
    const createdAt = input.at.toISOString();
    const session: Session = {
      id: input.id,
      title: input.title,
      createdBy: input.createdBy,
      metadata: cloneJson(input.metadata),
      lastSeq: 0,
      messageCount: 0,
      createdAt,
    };
    const record: SessionRecord = { session, members: new Map(), messages: [], topLevel: [], streams: [] };
    this.sessions.set(session.id, record);
    this.join(record, input.createdBy, 'owner', createdAt);
    for (const userId of input.memberIds) {
      if (!record.members.has(userId)) this.join(record, userId, 'member', createdAt);
    }
    return { ...session, metadata: cloneJson(session.metadata) };
  }

  async getSession(sessionId: string): Promise<Session | null> {
    const record = this.sessions.get(sessionId);
    return record ? copySession(record.session) : null;
  }

  async getSessionAccess(sessionId: string, userId: string): Promise<SessionAccess | null> {
    const record = this.sessions.get(sessionId);
    if (!record) return null;
    const member = record.members.get(userId);
    return { session: copySession(record.session), member: member ? { ...member } : null };
  }

  async getMember(sessionId: string, userId: string): Promise<SessionMember | null> {
    const member = this.sessions.get(sessionId)?.members.get(userId);
    return member ? { ...member } : null;
  }

  async listMembers(sessionId: string): Promise<SessionMember[]> {
    const record = this.sessions.get(sessionId);
    return record ? [...record.members.values()].map((m) => ({ ...m })) : [];
  }

  async addMember(sessionId: string, userId: string, role: MemberRole, at: Date): Promise<{ member: SessionMember; added: boolean }> {
    const record = this.requireSession(sessionId);
    const existing = record.members.get(userId);
    if (existing) return { member: { ...existing }, added: false };
    return { member: { ...this.join(record, userId, role, at.toISOString()) }, added: true };
  }

  async removeMember(sessionId: string, userId: string): Promise<boolean> {
    const record = this.sessions.get(sessionId);
    if (!record?.members.delete(userId)) return false;
    const sessionIds = this.memberships.get(userId);
    sessionIds?.delete(sessionId);
    if (sessionIds?.size === 0) this.memberships.delete(userId);
    return true;
  }

  async listSessions(userId: string): Promise<SessionSummary[]> {
    const summaries: SessionSummary[] = [];
    for (const sessionId of this.memberships.get(userId) ?? []) {
      const record = this.sessions.get(sessionId);
      const member = record?.members.get(userId);
      if (!record || !member) continue;
      summaries.push({
        ...copySession(record.session),
        role: member.role,
        lastReadSeq: member.lastReadSeq,
        unreadCount: unreadCount(record, userId, member.lastReadSeq),
      });
    }
    // Most recently active first; the id only makes ties deterministic.
    return summaries.sort(
      (a, b) => b.lastSeq - a.lastSeq || compareStrings(b.createdAt, a.createdAt) || compareStrings(a.id, b.id),
    );
  }

  async setReadCursor(sessionId: string, userId: string, seq: number, at: Date): Promise<SessionMember | null> {
    const member = this.sessions.get(sessionId)?.members.get(userId);
    if (!member) return null;
    if (seq > member.lastReadSeq) member.lastReadSeq = seq;
    member.lastSeenAt = at.toISOString();
    return { ...member };
  }

  async setDeliveredCursor(sessionId: string, userId: string, seq: number): Promise<void> {
    const member = this.sessions.get(sessionId)?.members.get(userId);
    if (member && seq > member.lastDeliveredSeq) member.lastDeliveredSeq = seq;
  }

  // ---- user profiles ----------------------------------------------------------------------

  async saveUser(profile: UserProfile, _at: Date): Promise<void> {
    this.users.set(profile.id, { id: profile.id, name: profile.name, avatarUrl: profile.avatarUrl });
  }

  async getUsers(ids: readonly string[]): Promise<UserProfile[]> {
    const found: UserProfile[] = [];
    for (const id of new Set(ids)) {
      const user = this.users.get(id);
      if (user) found.push({ ...user });
    }
    return found;
  }

  // ---- messages ---------------------------------------------------------------------------

  async insertMessages(batch: readonly NewMessage[]): Promise<InsertedMessage[]> {
    return this.applyInsert(batch, this.planInsert(batch));
  }

  /** Pass 1 of an insert: decides and validates everything, writes nothing (so a batch that throws leaves no trace). */
  private planInsert(batch: readonly NewMessage[]): InsertPlan[] {
    const plans: InsertPlan[] = [];
    const batchClientKeys = new Map<string, number>();
    const newMessageIds = new Set<string>();
    const newAttachmentIds = new Set<string>();
    const batchParents = new Map<string, string>(); // id of a message created in this batch → its session

    for (const [index, item] of batch.entries()) {
      // A sender without an id ('') is never a member.
      assertReader(item.sessionId, this.sessions.get(item.sessionId), item.requireMembership ? (item.userId ?? '') : null);
      if (item.clientMessageId !== null) {
        const key = clientKey(item.sessionId, item.userId, item.clientMessageId);
        const storedId = this.clientIds.get(key);
        const stored = storedId === undefined ? undefined : this.messages.get(storedId);
        if (stored) {
          plans.push({ kind: 'existing', record: stored });
          continue;
        }
        const first = batchClientKeys.get(key);
        if (first !== undefined) {
          plans.push({ kind: 'firstInBatch', index: first });
          continue;
        }
        batchClientKeys.set(key, index);
      }
      if (this.messages.has(item.id) || newMessageIds.has(item.id)) throw new ChatError('CONFLICT', `Message ${item.id} already exists`);
      if (item.parentMessageId !== null) {
        const parentSession = this.messages.get(item.parentMessageId)?.message.sessionId ?? batchParents.get(item.parentMessageId);
        if (parentSession !== item.sessionId) throw new ChatError('NOT_FOUND', `Parent message ${item.parentMessageId} not found in session ${item.sessionId}`);
      }
      for (const file of item.attachments) {
        if (this.attachments.has(file.id) || newAttachmentIds.has(file.id)) throw new ChatError('CONFLICT', `Attachment ${file.id} already exists`);
        newAttachmentIds.add(file.id);
      }
      newMessageIds.add(item.id);
      batchParents.set(item.id, item.sessionId);
      plans.push({ kind: 'create' });
    }
    return plans;
  }

  /** Pass 2 of an insert: writes what `planInsert` decided. Never throws. */
  private applyInsert(batch: readonly NewMessage[], plans: readonly InsertPlan[]): InsertedMessage[] {
    const records: MessageRecord[] = [];
    for (const [index, item] of batch.entries()) {
      const plan = plans[index];
      const record =
        plan?.kind === 'existing' ? plan.record : plan?.kind === 'firstInBatch' ? records[plan.index] : this.create(item);
      if (record === undefined) throw new Error('unreachable: a duplicate always follows its first');
      records.push(record);
    }
    // Results are read after the whole batch, as a transaction's final reads would be: a reply later
    // in the batch has already raised its parent's replyCount.
    return records.map((record, index) => ({ message: this.toMessage(record), created: plans[index]?.kind === 'create' }));
  }

  async getMessage(messageId: string): Promise<Message | null> {
    const record = this.messages.get(messageId);
    return record ? this.toMessage(record) : null;
  }

  async updateMessage(messageId: string, patch: MessagePatch, options: { bumpSeq: boolean }): Promise<Message | null> {
    return this.patchMessage(messageId, patch, options.bumpSeq);
  }

  /** The one implementation of a message update (updateMessage, updateStream). */
  private patchMessage(messageId: string, patch: MessagePatch, bumpSeq: boolean): Message | null {
    const record = this.messages.get(messageId);
    if (!record) return null;
    const message = record.message;
    if (patch.content !== undefined && patch.content !== message.content) {
      message.content = patch.content;
      record.words = null;
    }
    if (patch.metadata !== undefined) message.metadata = cloneJson(patch.metadata);
    if (patch.parts !== undefined) setParts(message, patch.parts);
    if (patch.tokens !== undefined) message.tokens = patch.tokens;
    if (patch.isEdited !== undefined) message.isEdited = patch.isEdited;
    if (patch.editedAt !== undefined) message.editedAt = patch.editedAt?.toISOString() ?? null;
    if (patch.isDeleted !== undefined) message.isDeleted = patch.isDeleted;
    if (patch.deletedAt !== undefined) message.deletedAt = patch.deletedAt?.toISOString() ?? null;
    message.updatedAt = patch.at.toISOString();
    if (bumpSeq) this.bump(record);
    return this.toMessage(record);
  }

  async getHistory(sessionId: string, query: HistoryQuery): Promise<MessagePage> {
    const session = this.sessions.get(sessionId);
    if (query.authorize) assertReader(sessionId, session, query.authorize.memberId);
    if (!session) return { messages: [], total: 0 };
    let selection: readonly MessageRecord[];
    if (query.parentMessageId === null) selection = session.topLevel;
    else {
      const parent = this.messages.get(query.parentMessageId);
      selection = parent && parent.message.sessionId === sessionId ? parent.replies : [];
    }
    const limit = Math.max(0, query.limit);
    const offset = Math.max(0, query.offset);
    // The selection is in seq order, so each cursor is a binary search rather than a filter.
    const lo = query.after === undefined ? 0 : firstIndexAbove(selection, query.after);
    const hi = query.before === undefined ? selection.length : firstIndexAbove(selection, query.before - 1);
    let page: readonly MessageRecord[];
    if (query.after !== undefined) {
      // `after` pages forward from the oldest (a `before` given with it only bounds the window).
      const start = lo + offset;
      page = start < hi ? selection.slice(start, Math.min(hi, start + limit)) : [];
    } else {
      // Without a cursor, or with `before`: the latest page first, offset counted from the newest.
      const end = hi - offset;
      page = end > lo ? selection.slice(Math.max(lo, end - limit), end) : [];
    }
    return { messages: page.map((r) => this.toMessage(r)), total: selection.length };
  }

  async searchMessages(sessionId: string, terms: readonly string[], page: SearchQuery): Promise<SearchPage> {
    const session = this.sessions.get(sessionId);
    if (page.authorize) assertReader(sessionId, session, page.authorize.memberId);
    if (!session || terms.length === 0) return { messages: [], total: 0, totalExact: true };
    const matches: MessageRecord[] = [];
    for (let i = session.messages.length - 1; i >= 0; i--) {
      const record = session.messages[i] as MessageRecord;
      if (record.message.isDeleted) continue;
      record.words ??= new Set(searchWords(record.message.content));
      const words = record.words;
      if (terms.every((term) => words.has(term))) matches.push(record);
    }
    const offset = Math.max(0, page.offset);
    const slice = matches.slice(offset, offset + Math.max(0, page.limit));
    // Counted whole here (a scan finds them all anyway), reported as a database would: capped.
    const totalExact = matches.length <= page.maxCount;
    return { messages: slice.map((r) => this.toMessage(r)), total: totalExact ? matches.length : page.maxCount, totalExact };
  }

  async getChangesSince(sessionId: string, afterSeq: number, limit: number): Promise<Message[]> {
    const session = this.sessions.get(sessionId);
    if (!session) return [];
    return session.messages
      .filter((r) => r.message.changeSeq > afterSeq)
      .sort((a, b) => a.message.changeSeq - b.message.changeSeq)
      .slice(0, Math.max(0, limit))
      .map((r) => this.toMessage(r));
  }

  // ---- reactions and attachments ----------------------------------------------------------

  async setReaction(input: ReactionChange): Promise<ReactionResult | null> {
    const record = this.messages.get(input.messageId);
    if (!record) return null;
    const index = record.reactions.findIndex((r) => r.userId === input.userId && r.emoji === input.emoji);
    const present = index !== -1;
    const want = input.action === 'add' ? true : input.action === 'remove' ? false : !present;
    const changed = want !== present;
    if (changed) {
      if (want) record.reactions.push({ id: input.id, userId: input.userId, emoji: input.emoji, createdAt: input.at.toISOString() });
      else record.reactions.splice(index, 1);
      // A reaction is other people's annotation, not an edit: it takes a seq but leaves updatedAt alone.
      this.bump(record);
    }
    const message = this.toMessage(record);
    return { added: want, changed, reactions: message.reactions.map(copyReaction), message };
  }

  async getReactions(messageId: string): Promise<Reaction[]> {
    const record = this.messages.get(messageId);
    return record ? groupReactions(record.reactions) : [];
  }

  async addAttachments(
    messageId: string,
    attachments: readonly NewAttachment[],
    at: Date,
  ): Promise<{ attachments: Attachment[]; message: Message } | null> {
    const record = this.messages.get(messageId);
    if (!record) return null;
    const ids = new Set<string>();
    for (const file of attachments) {
      if (this.attachments.has(file.id) || ids.has(file.id)) throw new ChatError('CONFLICT', `Attachment ${file.id} already exists`);
      ids.add(file.id);
    }
    const createdAt = at.toISOString();
    const added = attachments.map((file) => this.storeAttachment(record, file, createdAt));
    // The attachment list is part of the message body, so unlike a reaction it moves updatedAt.
    record.message.updatedAt = createdAt;
    this.bump(record);
    return { attachments: added.map(copyAttachment), message: this.toMessage(record) };
  }

  async getAttachment(attachmentId: string): Promise<Attachment | null> {
    const attachment = this.attachments.get(attachmentId);
    return attachment ? copyAttachment(attachment) : null;
  }

  async getAttachments(messageId: string): Promise<Attachment[]> {
    const record = this.messages.get(messageId);
    return record ? this.attachmentsOf(record) : [];
  }

  async deleteAttachment(attachmentId: string, at: Date): Promise<{ attachment: Attachment; message: Message } | null> {
    const attachment = this.attachments.get(attachmentId);
    const record = attachment && this.messages.get(attachment.messageId);
    if (!attachment || !record) return null;
    this.attachments.delete(attachmentId);
    record.attachmentIds = record.attachmentIds.filter((id) => id !== attachmentId);
    record.message.updatedAt = at.toISOString();
    this.bump(record);
    return { attachment: copyAttachment(attachment), message: this.toMessage(record) };
  }

  // ---- LLM streams ------------------------------------------------------------------------

  async createStream(input: { stream: NewStream; messages: readonly NewMessage[] }): Promise<{ stream: StreamRecord; messages: InsertedMessage[] }> {
    const { stream, messages } = input;
    // Everything is checked before anything is written, as in insertMessages.
    if (this.streams.has(stream.id)) throw new ChatError('CONFLICT', `Stream ${stream.id} already exists`);
    const session = this.requireSession(stream.sessionId);
    const plans = this.planInsert(messages);
    const inserted = this.applyInsert(messages, plans);
    // An input message that was a duplicate (clientMessageId) is the stored one: point the row at it.
    const stored = (id: string) => {
      const index = messages.findIndex((m) => m.id === id);
      return index === -1 ? id : (inserted[index] as InsertedMessage).message.id;
    };
    const at = stream.at.toISOString();
    const record: StreamRecord = {
      id: stream.id,
      sessionId: stream.sessionId,
      messageId: stored(stream.messageId),
      promptMessageId: stored(stream.promptMessageId),
      userId: stream.userId,
      agentId: stream.agentId,
      model: stream.model,
      status: 'pending',
      finishReason: null,
      maxTokens: stream.maxTokens,
      tokensGenerated: 0,
      promptTokens: null,
      bytesEmitted: 0,
      errors: 0,
      errorMessage: null,
      nodeId: stream.nodeId,
      startedAt: at,
      firstTokenAt: null,
      completedAt: null,
      updatedAt: at,
    };
    this.streams.set(record.id, record);
    session.streams.push(record);
    this.runningStreams.add(record.id);
    return { stream: { ...record }, messages: inserted };
  }

  async updateStream(
    streamId: string,
    patch: StreamPatch,
    message?: { patch: MessagePatch; bumpSeq: boolean },
  ): Promise<{ stream: StreamRecord; message: Message | null } | null> {
    const record = this.streams.get(streamId);
    if (!record) return null;
    if (patch.expectedStatuses && !patch.expectedStatuses.includes(record.status)) return null;
    if (patch.status !== undefined) {
      record.status = patch.status;
      if (isRunning(record.status)) this.runningStreams.add(record.id);
      else this.runningStreams.delete(record.id);
    }
    if (patch.finishReason !== undefined) record.finishReason = patch.finishReason;
    if (patch.tokensGenerated !== undefined) record.tokensGenerated = patch.tokensGenerated;
    if (patch.promptTokens !== undefined) record.promptTokens = patch.promptTokens;
    if (patch.bytesEmitted !== undefined) record.bytesEmitted = patch.bytesEmitted;
    if (patch.errors !== undefined) record.errors = patch.errors;
    if (patch.errorMessage !== undefined) record.errorMessage = patch.errorMessage;
    if (patch.firstTokenAt !== undefined) record.firstTokenAt = patch.firstTokenAt?.toISOString() ?? null;
    if (patch.completedAt !== undefined) record.completedAt = patch.completedAt?.toISOString() ?? null;
    record.updatedAt = patch.at.toISOString();
    const updated = message === undefined ? null : this.patchMessage(record.messageId, message.patch, message.bumpSeq);
    return { stream: { ...record }, message: updated };
  }

  async flushStream(streamId: string, flush: StreamFlush): Promise<boolean> {
    const record = this.streams.get(streamId);
    if (!record || !isRunning(record.status)) return false;
    record.status = 'streaming';
    record.tokensGenerated = flush.tokensGenerated;
    record.bytesEmitted = flush.bytesEmitted;
    record.errors = flush.errors;
    record.firstTokenAt = flush.firstTokenAt?.toISOString() ?? null;
    record.updatedAt = flush.at.toISOString();
    const entry = this.messages.get(record.messageId);
    if (entry) {
      const { message } = entry;
      if (message.content !== flush.content) {
        message.content = flush.content;
        entry.words = null;
      }
      if (flush.parts !== undefined) setParts(message, flush.parts);
      message.tokens = flush.tokens;
      message.updatedAt = record.updatedAt;
    }
    return true;
  }

  async getStream(streamId: string): Promise<StreamRecord | null> {
    const record = this.streams.get(streamId);
    return record ? { ...record } : null;
  }

  async listStreams(sessionId: string, statuses: readonly StreamStatus[]): Promise<StreamRecord[]> {
    const wanted = new Set(statuses);
    const records = this.sessions.get(sessionId)?.streams ?? [];
    return records
      .filter((r) => wanted.has(r.status))
      .sort((a, b) => compareStrings(a.startedAt, b.startedAt) || compareStrings(a.id, b.id))
      .map((r) => ({ ...r }));
  }

  async listStaleStreams(query: { nodeId: string | null; updatedBefore: Date }): Promise<StreamRecord[]> {
    const before = query.updatedBefore.getTime();
    const stale: StreamRecord[] = [];
    for (const id of this.runningStreams) {
      const record = this.streams.get(id);
      if (!record || Date.parse(record.updatedAt) >= before) continue;
      if (query.nodeId !== null && record.nodeId !== query.nodeId) continue;
      stale.push({ ...record });
    }
    return stale.sort((a, b) => compareStrings(a.updatedAt, b.updatedAt) || compareStrings(a.id, b.id));
  }

  // ---- internals --------------------------------------------------------------------------

  private requireSession(sessionId: string): SessionRecord {
    const record = this.sessions.get(sessionId);
    if (!record) throw new ChatError('NOT_FOUND', `Session ${sessionId} not found`);
    return record;
  }

  private join(record: SessionRecord, userId: string, role: MemberRole, joinedAt: string): SessionMember {
    const member: SessionMember = {
      sessionId: record.session.id,
      userId,
      role,
      lastReadSeq: 0,
      lastDeliveredSeq: 0,
      lastSeenAt: null,
      joinedAt,
    };
    record.members.set(userId, member);
    let sessionIds = this.memberships.get(userId);
    if (!sessionIds) this.memberships.set(userId, (sessionIds = new Set()));
    sessionIds.add(record.session.id);
    return member;
  }

  /** Writes one validated message: next seq, attachments, counters, indexes. */
  private create(item: NewMessage): MessageRecord {
    const session = this.requireSession(item.sessionId);
    const seq = ++session.session.lastSeq;
    const at = item.at.toISOString();
    const record: MessageRecord = {
      message: {
        id: item.id,
        sessionId: item.sessionId,
        userId: item.userId,
        agentId: item.agentId,
        content: item.content,
        role: item.role,
        metadata: cloneJson(item.metadata),
        tokens: item.tokens,
        parentMessageId: item.parentMessageId,
        replyCount: 0,
        seq,
        changeSeq: seq,
        clientMessageId: item.clientMessageId,
        isEdited: false,
        editedAt: null,
        isDeleted: false,
        deletedAt: null,
        createdAt: at,
        updatedAt: at,
      },
      attachmentIds: [],
      reactions: [],
      replies: [],
      words: null,
    };
    for (const file of item.attachments) this.storeAttachment(record, file, at);
    this.messages.set(item.id, record);
    session.messages.push(record);
    const parent = item.parentMessageId === null ? undefined : this.messages.get(item.parentMessageId);
    if (parent) {
      parent.replies.push(record);
      parent.message.replyCount += 1;
    } else {
      session.topLevel.push(record);
      session.session.messageCount += 1;
    }
    if (item.clientMessageId !== null) this.clientIds.set(clientKey(item.sessionId, item.userId, item.clientMessageId), item.id);
    return record;
  }

  private storeAttachment(record: MessageRecord, file: NewAttachment, createdAt: string): Attachment {
    const attachment: Attachment = {
      id: file.id,
      messageId: record.message.id,
      fileName: file.fileName,
      fileUrl: file.fileUrl,
      mimeType: file.mimeType,
      fileSize: file.fileSize,
      metadata: cloneJson(file.metadata),
      createdAt,
    };
    this.attachments.set(attachment.id, attachment);
    record.attachmentIds.push(attachment.id);
    return attachment;
  }

  /** Gives a change to an existing message the next seq of its session. */
  private bump(record: MessageRecord): void {
    const session = this.requireSession(record.message.sessionId);
    record.message.changeSeq = ++session.session.lastSeq;
  }

  private attachmentsOf(record: MessageRecord): Attachment[] {
    const list: Attachment[] = [];
    for (const id of record.attachmentIds) {
      const attachment = this.attachments.get(id);
      if (attachment) list.push(copyAttachment(attachment));
    }
    return list;
  }

  private toMessage(record: MessageRecord): Message {
    const { parts, ...stored } = record.message;
    return {
      ...stored,
      content: stored.isDeleted ? '' : stored.content,
      metadata: cloneJson(stored.metadata),
      attachments: this.attachmentsOf(record),
      reactions: groupReactions(record.reactions),
      ...(parts && !stored.isDeleted && { parts: structuredClone(parts) }),
    };
  }
}

// ---- pure helpers ---------------------------------------------------------------------------

/** JSON.stringify keeps the three parts apart whatever characters they contain. */
function clientKey(sessionId: string, userId: string | null, clientMessageId: string): string {
  return JSON.stringify([sessionId, userId, clientMessageId]);
}

/** None (null or empty) is no `parts` at all, as the SQL storages read it. */
function setParts(message: StoredMessage, parts: readonly MessagePart[] | null): void {
  if (parts && parts.length > 0) message.parts = structuredClone([...parts]);
  else delete message.parts;
}

function cloneJson(value: JsonObject | null): JsonObject | null {
  return value === null ? null : structuredClone(value);
}

function copySession(session: Session): Session {
  return { ...session, metadata: cloneJson(session.metadata) };
}

function copyAttachment(attachment: Attachment): Attachment {
  return { ...attachment, metadata: cloneJson(attachment.metadata) };
}

function copyReaction(reaction: Reaction): Reaction {
  return { ...reaction, userIds: [...reaction.userIds] };
}

/** Groups in the order each emoji was first used; users in the order they reacted. */
function groupReactions(reactions: readonly ReactionRecord[]): Reaction[] {
  const groups = new Map<string, Reaction>();
  for (const reaction of reactions) {
    let group = groups.get(reaction.emoji);
    if (!group) groups.set(reaction.emoji, (group = { emoji: reaction.emoji, count: 0, userIds: [] }));
    group.count += 1;
    group.userIds.push(reaction.userId);
  }
  return [...groups.values()];
}

/** Messages after the cursor written by someone else (server messages included), not deleted. */
function unreadCount(record: SessionRecord, userId: string, lastReadSeq: number): number {
  let count = 0;
  for (let i = firstIndexAbove(record.messages, lastReadSeq); i < record.messages.length; i++) {
    const message = (record.messages[i] as MessageRecord).message;
    if (!message.isDeleted && message.userId !== userId) count += 1;
  }
  return count;
}

/** Index of the first record with seq > `seq` in a seq-ordered list. */
function firstIndexAbove(records: readonly MessageRecord[], seq: number): number {
  let lo = 0;
  let hi = records.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if ((records[mid] as MessageRecord).message.seq <= seq) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

const NOT_A_WORD = /[^\p{L}\p{N}]+/u;

/** The search word rule shared by every storage: runs of Unicode letters and digits, lower-cased. */
function searchWords(text: string): string[] {
  return text
    .toLowerCase()
    .split(NOT_A_WORD)
    .filter((word) => word.length > 0);
}

function isRunning(status: StreamStatus): boolean {
  return status === 'pending' || status === 'streaming';
}

function compareStrings(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** `requireMembership` and `authorize` (see assertSessionAccess). */
function assertReader(sessionId: string, session: SessionRecord | undefined, memberId: string | null): void {
  assertSessionAccess(sessionId, memberId, session !== undefined, memberId === null || session?.members.has(memberId) === true);
}
