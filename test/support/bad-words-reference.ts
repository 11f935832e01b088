import { Filter } from 'bad-words';
import type { ProfanityFilterOptions } from '../../src/moderation/profanity-filter.js';

/** The bad-words reference ProfanityFilter is held to, shared by its unit and differential tests. */

/**
 * What we promise: bad-words' `clean()` of each underscore-separated segment, underscores kept.
 * (bad-words itself deletes every `_`; for text without one this is exactly its `clean()`.) Each
 * segment is cleaned as by a fresh filter: bad-words keeps `splitRegex` state between calls.
 */
export function badWordsClean(filter: Filter, text: string): string {
  return text
    .split('_')
    .map((segment) => {
      (filter as unknown as { splitRegex: RegExp }).splitRegex.lastIndex = 0;
      return filter.clean(segment);
    })
    .join('_');
}

/** The reference: a FRESH bad-words filter with the same options (it keeps `splitRegex` state between calls). */
export function reference(opts: ProfanityFilterOptions): Filter {
  const filter = new Filter({ placeHolder: opts.placeHolder, emptyList: opts.emptyList });
  if (opts.addWords) filter.addWords(...opts.addWords);
  if (opts.removeWords) filter.removeWords(...opts.removeWords);
  return filter;
}

