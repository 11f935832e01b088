import { ChatError, isChatError } from '../errors.js';
import { normalizeText } from './normalize.js';
import { ProfanityFilter, type ProfanityFilterOptions } from './profanity-filter.js';

export interface ModerationContext {
  /** `message` for a new message, `edit` for new text of an existing one, `stream` for LLM output. */
  kind: 'message' | 'edit' | 'stream';
  sessionId: string;
  /** The writer; null for server-written text. */
  userId: string | null;
  /** The text after normalisation and the profanity filter. */
  content: string;
}

/**
 * The host's last word before a message is stored: return nothing to keep the text, a string to
 * replace it, or `{ reject: reason }` to refuse the message (the caller gets VALIDATION with the
 * reason and nothing is written).
 */
export type BeforeMessageHook = (
  ctx: ModerationContext,
) => void | string | { reject: string } | Promise<void | string | { reject: string }>;

export interface ModerationOptions {
  /** The bad-words filter: on by default; `false` turns it off; an object configures it. */
  profanity?: boolean | ProfanityFilterOptions;
  beforeMessage?: BeforeMessageHook;
}

/**
 * Runs before any text is stored: NFKC + invisible-character stripping so trivial
 * evasions fail, the profanity filter, then the host's `beforeMessage` hook.
 */
export class ModerationPipeline {
  private readonly filter: ProfanityFilter | null;
  private readonly hook: BeforeMessageHook | undefined;

  constructor(options: ModerationOptions = {}, private readonly maxLength: number) {
    const profanity = options.profanity ?? true;
    // Stryker disable next-line ConditionalExpression,BooleanLiteral: \`true\` as the filter's options names none of them, like {}
    this.filter = profanity === false ? null : new ProfanityFilter(profanity === true ? {} : profanity);
    this.hook = options.beforeMessage;
  }

  /** Whether the host installed a `beforeMessage` hook (code of theirs that runs on every send). */
  get hasHook(): boolean {
    return this.hook !== undefined;
  }

  /** Normalises and filters without the hook (LLM output chunks go through this). */
  clean(text: string): string {
    return this.mask(normalizeText(text));
  }

  /** The filter step of `clean` alone, for text already normalised (LLM output, see streams/output-filter.ts). */
  mask(normalized: string): string {
    return this.filter ? this.filter.clean(normalized) : normalized;
  }

  /** Whether a word beginning with `run` (ASCII letters and digits) could be masked once whole. */
  mayMask(run: string): boolean {
    return this.filter !== null && this.filter.mayMask(run);
  }

  async moderate(ctx: Omit<ModerationContext, 'content'>, text: string): Promise<string> {
    let content = this.clean(text);
    if (this.hook) {
      let verdict;
      try {
        verdict = await this.hook({ ...ctx, content });
      } catch (error) {
        if (isChatError(error)) throw error;
        throw new ChatError('INTERNAL', 'Moderation hook failed', { cause: error });
      }
      if (typeof verdict === 'string') content = verdict;
      else if (verdict && typeof verdict === 'object' && 'reject' in verdict) {
        throw new ChatError('VALIDATION', `Message rejected: ${verdict.reject}`, {
          details: { moderation: true, reason: verdict.reject },
        });
      }
    }
    if (content.trim().length === 0) throw new ChatError('VALIDATION', 'Message is empty after moderation');
    if (content.length > this.maxLength) {
      throw new ChatError('VALIDATION', `Message is longer than ${this.maxLength} characters after normalisation`);
    }
    return content;
  }
}
