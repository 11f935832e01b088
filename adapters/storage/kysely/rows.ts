/**
 * Rows ↔ model objects, for every SQL dialect: the dialect converts the values that differ
 * (dates, booleans, JSON); the shapes are written once here.
 */
import type { MessagePatch, NewStream, StreamFlush, StreamPatch } from '../../../src/ports/storage.js';
import type { Attachment, JsonObject, MemberRole, Message, MessagePart, MessageRole, Reaction, Session, SessionMember, StreamRecord, StreamStatus } from '../../../src/model.js';
import type { AttachmentRow, DbBool, DbDate, MemberRow, MessageRow, SessionRow, StreamRow } from './schema.js';
import type { ExtrasColumns } from './statements.js';

/** Values as the database's driver takes and returns them (each `SqlDialect` is one). */
export interface ValueCodec {
  toDate(date: Date): DbDate;
  toBool(value: boolean): DbBool;
  /** Driver value → ISO string. */
  fromDate(value: unknown): string;
  fromBool(value: unknown): boolean;
  fromJson(value: unknown): JsonObject | null;
}

export class RowMapper {
  constructor(private readonly d: ValueCodec) {}

  message(row: MessageRow, reactions: Reaction[], attachments: Attachment[]): Message {
    const d = this.d;
    const isDeleted = d.fromBool(row.is_deleted);
    // A deleted answer shows no parts, as it shows no text.
    const parts = isDeleted || row.parts == null ? [] : (parseJson(row.parts) as MessagePart[]);
    return {
      id: row.id,
      sessionId: row.session_id,
      userId: row.user_id,
      agentId: row.agent_id,
      // The contract: a deleted message never shows its old text, whatever was stored.
      content: isDeleted ? '' : row.content,
      role: row.role as MessageRole,
      metadata: d.fromJson(row.metadata),
      tokens: row.tokens == null ? null : Number(row.tokens),
      parentMessageId: row.parent_message_id,
      replyCount: Number(row.reply_count),
      seq: Number(row.seq),
      changeSeq: Number(row.change_seq),
      clientMessageId: row.client_message_id,
      isEdited: d.fromBool(row.is_edited),
      editedAt: row.edited_at == null ? null : d.fromDate(row.edited_at),
      isDeleted,
      deletedAt: row.deleted_at == null ? null : d.fromDate(row.deleted_at),
      createdAt: d.fromDate(row.created_at),
      updatedAt: d.fromDate(row.updated_at),
      attachments,
      reactions,
      ...(parts.length > 0 && { parts }),
    };
  }

  /** A message row with its aggregated reactions and attachments (see {@link ExtrasColumns}). */
  messageWith(row: MessageRow & ExtrasColumns): Message {
    return this.message(row, reactionsFrom(row.reactions), this.attachmentsFrom(row.id, row.attachments));
  }

  attachmentsFrom(messageId: string, value: unknown): Attachment[] {
    const list = byOrd(parseJson(value) as [number | string, string, string, string, string, number | string, unknown, string][]);
    return list.map(([, id, fileName, fileUrl, mimeType, fileSize, metadata, createdAt]) =>
      this.attachment({
        id,
        message_id: messageId,
        file_name: fileName,
        file_url: fileUrl,
        mime_type: mimeType,
        file_size: fileSize,
        metadata,
        created_at: createdAt,
      }),
    );
  }

  session(row: SessionRow): Session {
    const d = this.d;
    return {
      id: row.id, title: row.title, createdBy: row.created_by, metadata: d.fromJson(row.metadata),
      lastSeq: Number(row.last_seq), messageCount: Number(row.message_count), createdAt: d.fromDate(row.created_at),
    };
  }

  member(row: MemberRow): SessionMember {
    const d = this.d;
    return {
      sessionId: row.session_id, userId: row.user_id, role: row.role as MemberRole,
      lastReadSeq: Number(row.last_read_seq), lastDeliveredSeq: Number(row.last_delivered_seq),
      lastSeenAt: row.last_seen_at == null ? null : d.fromDate(row.last_seen_at), joinedAt: d.fromDate(row.joined_at),
    };
  }

  stream(row: StreamRow): StreamRecord {
    const d = this.d;
    const date = (value: unknown) => (value == null ? null : d.fromDate(value));
    return {
      id: row.id,
      sessionId: row.session_id,
      messageId: row.message_id,
      promptMessageId: row.prompt_message_id,
      userId: row.user_id,
      agentId: row.agent_id,
      model: row.model,
      status: row.status as StreamStatus,
      finishReason: row.finish_reason,
      maxTokens: row.max_tokens == null ? null : Number(row.max_tokens),
      tokensGenerated: Number(row.tokens_generated),
      promptTokens: row.prompt_tokens == null ? null : Number(row.prompt_tokens),
      bytesEmitted: Number(row.bytes_emitted),
      errors: Number(row.errors),
      errorMessage: row.error_message,
      nodeId: row.node_id,
      startedAt: d.fromDate(row.started_at),
      firstTokenAt: date(row.first_token_at),
      completedAt: date(row.completed_at),
      updatedAt: d.fromDate(row.updated_at),
    };
  }

  attachment(row: AttachmentRow): Attachment {
    const d = this.d;
    return {
      id: row.id, messageId: row.message_id, fileName: row.file_name, fileUrl: row.file_url, mimeType: row.mime_type,
      fileSize: Number(row.file_size), metadata: d.fromJson(row.metadata), createdAt: d.fromDate(row.created_at),
    };
  }

  /** A new message's row, as both the Kysely insert and a prepared insert take it. */
  messageValues(m: Message) {
    const d = this.d;
    const at = d.toDate(new Date(m.createdAt));
    return {
      id: m.id,
      session_id: m.sessionId,
      user_id: m.userId,
      agent_id: m.agentId,
      role: m.role,
      content: m.content,
      metadata: json(m.metadata),
      parts: partsJson(m.parts),
      tokens: m.tokens,
      parent_message_id: m.parentMessageId,
      reply_count: m.replyCount,
      seq: m.seq,
      change_seq: m.changeSeq,
      client_message_id: m.clientMessageId,
      is_edited: d.toBool(false),
      edited_at: null,
      is_deleted: d.toBool(false),
      deleted_at: null,
      created_at: at,
      updated_at: at,
    };
  }

  attachmentValues(a: Attachment) {
    return {
      id: a.id,
      message_id: a.messageId,
      file_name: a.fileName,
      file_url: a.fileUrl,
      mime_type: a.mimeType,
      file_size: a.fileSize,
      metadata: json(a.metadata),
      created_at: this.d.toDate(new Date(a.createdAt)),
    };
  }

  /** The columns a message update sets. */
  messagePatch(patch: MessagePatch) {
    const d = this.d;
    return {
      ...(patch.content !== undefined ? { content: patch.content } : {}),
      ...(patch.metadata !== undefined ? { metadata: json(patch.metadata) } : {}),
      ...(patch.parts !== undefined ? { parts: partsJson(patch.parts) } : {}),
      ...(patch.tokens !== undefined ? { tokens: patch.tokens } : {}),
      ...(patch.isEdited !== undefined ? { is_edited: d.toBool(patch.isEdited) } : {}),
      ...(patch.editedAt !== undefined ? { edited_at: patch.editedAt && d.toDate(patch.editedAt) } : {}),
      ...(patch.isDeleted !== undefined ? { is_deleted: d.toBool(patch.isDeleted) } : {}),
      ...(patch.deletedAt !== undefined ? { deleted_at: patch.deletedAt && d.toDate(patch.deletedAt) } : {}),
      updated_at: d.toDate(patch.at),
    };
  }

  /** A new stream's row (status `pending`, no metrics yet), naming its stored messages. */
  newStream(stream: NewStream, messageId: string, promptMessageId: string) {
    const at = this.d.toDate(stream.at);
    const none = { finish_reason: null, prompt_tokens: null, error_message: null, first_token_at: null, completed_at: null };
    return {
      ...none,
      id: stream.id,
      session_id: stream.sessionId,
      message_id: messageId,
      prompt_message_id: promptMessageId,
      user_id: stream.userId,
      agent_id: stream.agentId,
      model: stream.model,
      status: 'pending',
      max_tokens: stream.maxTokens,
      tokens_generated: 0,
      bytes_emitted: 0,
      errors: 0,
      node_id: stream.nodeId,
      started_at: at,
      updated_at: at,
    };
  }

  /** The columns a stream update sets. */
  streamPatch(patch: StreamPatch) {
    const d = this.d;
    const date = (value: Date | null) => (value === null ? null : d.toDate(value));
    return {
      ...(patch.status !== undefined ? { status: patch.status } : {}),
      ...(patch.finishReason !== undefined ? { finish_reason: patch.finishReason } : {}),
      ...(patch.tokensGenerated !== undefined ? { tokens_generated: patch.tokensGenerated } : {}),
      ...(patch.promptTokens !== undefined ? { prompt_tokens: patch.promptTokens } : {}),
      ...(patch.bytesEmitted !== undefined ? { bytes_emitted: patch.bytesEmitted } : {}),
      ...(patch.errors !== undefined ? { errors: patch.errors } : {}),
      ...(patch.errorMessage !== undefined ? { error_message: patch.errorMessage } : {}),
      ...(patch.firstTokenAt !== undefined ? { first_token_at: date(patch.firstTokenAt) } : {}),
      ...(patch.completedAt !== undefined ? { completed_at: date(patch.completedAt) } : {}),
      updated_at: d.toDate(patch.at),
    };
  }

  /** The named values of a stream flush statement (both rows: the stream's metrics, the message's text). */
  flushValues(streamId: string, flush: StreamFlush) {
    const d = this.d;
    return {
      id: streamId,
      tokensGenerated: flush.tokensGenerated,
      bytesEmitted: flush.bytesEmitted,
      errors: flush.errors,
      firstTokenAt: flush.firstTokenAt === null ? null : d.toDate(flush.firstTokenAt),
      at: d.toDate(flush.at),
      content: flush.content,
      // Null leaves the stored parts as they are (coalesce): a flush's parts only grow.
      parts: partsJson(flush.parts),
      tokens: flush.tokens,
    };
  }
}

/** JSON as the column takes it: we always write a string (or NULL). */
export function json(value: JsonObject | null): string | null {
  return value === null ? null : JSON.stringify(value);
}

/** An answer's parts as the column takes them: none (absent, null or empty) is NULL. */
export function partsJson(parts: readonly MessagePart[] | null | undefined): string | null {
  return parts && parts.length > 0 ? JSON.stringify(parts) : null;
}

/** JSON the driver parsed (pg `json`) or left as text (SQLite, or a pg pool with json parsing off). */
export function parseJson(value: unknown): unknown {
  return typeof value === 'string' ? JSON.parse(value) : (value ?? []);
}

/** Aggregated `[ord, …]` entries in `ord` order (most lists have 0 or 1 entries). */
function byOrd<T extends readonly [number | string, ...unknown[]]>(list: T[]): T[] {
  return list.length < 2 ? list : list.sort((a, b) => Number(a[0]) - Number(b[0]));
}

/** `[[ord, emoji, userId], …]` → grouped by emoji in reaction order, each group where its first reaction was. */
export function reactionsFrom(value: unknown): Reaction[] {
  const groups = new Map<string, Reaction>();
  for (const [, emoji, userId] of byOrd(parseJson(value) as [number | string, string, string][])) {
    let group = groups.get(emoji);
    if (!group) groups.set(emoji, (group = { emoji, count: 0, userIds: [] }));
    group.count++;
    group.userIds.push(userId);
  }
  return [...groups.values()];
}
