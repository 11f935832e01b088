/**
 * Two small tools for the reference app's assistant, so the page shows an agent acting. They work
 * with a real model, and with the scripted demo provider, which calls one when the prompt mentions
 * it ("roll a die", "what time is it?"). See docs/agents.md.
 */
import { randomInt } from 'node:crypto';
import { defineTool } from 'parley-chat';
import { z } from 'zod';

export const rollDice = defineTool({
  description: 'Roll dice: the faces rolled and their sum.',
  input: z.object({
    sides: z.number().int().min(2).max(1000).default(6).describe('faces per die'),
    count: z.number().int().min(1).max(10).default(1).describe('how many dice'),
  }),
  execute: ({ sides, count }) => {
    const rolls = Array.from({ length: count }, () => randomInt(1, sides + 1));
    return { rolls, total: rolls.reduce((a, b) => a + b, 0) };
  },
});

export const currentTime = defineTool({
  description: 'The current date and time on the server, optionally in an IANA time zone such as Europe/Paris.',
  input: z.object({ timeZone: z.string().max(64).optional() }),
  execute: ({ timeZone }) => {
    const now = new Date();
    // Throws RangeError for an unknown zone: the model gets an error result and may try another.
    const local = now.toLocaleString('en-GB', { timeZone, dateStyle: 'full', timeStyle: 'long' });
    return { iso: now.toISOString(), timeZone: timeZone ?? Intl.DateTimeFormat().resolvedOptions().timeZone, local };
  },
});

export const demoTools = { rollDice, currentTime };
