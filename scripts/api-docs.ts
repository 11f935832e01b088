/**
 * The public API reference, one report per entry point of package.json "exports" (subpaths.ts).
 *
 *   tsx scripts/api-docs.ts          writes docs/api/<entry>.api.md from the built types in dist/,
 *                                    and the browsable HTML reference to docs/api/html/ (git-ignored)
 *   tsx scripts/api-docs.ts --check  fails when the built types' public API differs from the
 *                                    committed reports (CI, after the build)
 *
 * A report is API Extractor's: every exported declaration's signature, without doc comments or
 * bodies, so it changes only when the API does and a review sees the change as a diff. It is made
 * from what is published (dist/*.d.ts), not from the sources. The HTML comes from TypeDoc, from the
 * sources' doc comments. Both flag broken doc comments (bad TSDoc syntax, unresolved `{@link}`s).
 */
import { existsSync, mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { Extractor, ExtractorConfig, ExtractorLogLevel, type ExtractorMessage } from '@microsoft/api-extractor';
import { fromRoot, subpaths } from '../subpaths.js';

const REPORTS = 'docs/api/';
const HTML = 'docs/api/html/';
const check = process.argv.includes('--check');

/** API Extractor's own words on a report that changed: this script says it instead, with what to do. */
const REPORT_STATUS = new Set<string>([
  'console-api-report-changed',
  'console-api-report-copied',
  'console-api-report-created',
  'console-api-report-not-copied',
]);

/** Report files are named after the entry: `index.api.md`, `socket.io.api.md`. */
const reportName = (entry: string) => `${entry}.api.md`;

function extract(entry: string, typesFile: string): { changed: boolean; problems: string[] } {
  const problems: string[] = [];
  const config = ExtractorConfig.prepare({
    configObject: {
      projectFolder: fromRoot(''),
      mainEntryPointFilePath: fromRoot(typesFile),
      // Our tsconfig.json is for the sources; the built types need only what their imports resolve with.
      compiler: {
        overrideTsconfig: {
          compilerOptions: { target: 'es2022', module: 'esnext', moduleResolution: 'bundler', lib: ['es2024'], types: ['node'], strict: true, skipLibCheck: true },
          files: [fromRoot(typesFile)],
        },
      },
      apiReport: { enabled: true, reportFileName: entry, reportFolder: fromRoot(REPORTS), reportTempFolder: fromRoot('.tmp/api-report/') },
      docModel: { enabled: false },
      dtsRollup: { enabled: false },
      tsdocMetadata: { enabled: false },
      messages: {
        compilerMessageReporting: { default: { logLevel: ExtractorLogLevel.Error } },
        extractorMessageReporting: {
          default: { logLevel: ExtractorLogLevel.Warning },
          // Release tags (@public, @beta…) are not how this package marks its surface: the entry points are.
          'ae-missing-release-tag': { logLevel: ExtractorLogLevel.None },
          // Many fields explain themselves by name and type; the HTML reference shows what is documented.
          'ae-undocumented': { logLevel: ExtractorLogLevel.None, addToApiReportFile: false },
          // A type reachable from the API but not exported by name (often one another entry point
          // exports): not an error. Kept out of the report, whose notes would name built files by
          // their hashed names and line numbers, which change with any build.
          'ae-forgotten-export': { logLevel: ExtractorLogLevel.None, addToApiReportFile: false },
        },
        tsdocMessageReporting: { default: { logLevel: ExtractorLogLevel.Warning } },
      },
    },
    configObjectFullPath: undefined,
    packageJsonFullPath: fromRoot('package.json'),
  });
  const result = Extractor.invoke(config, {
    localBuild: !check,
    messageCallback(message: ExtractorMessage) {
      message.handled = true; // printed below, once, with the entry's name
      if (message.logLevel === 'error' || message.logLevel === 'warning') {
        if (REPORT_STATUS.has(message.messageId)) return; // said once, below, for every entry
        const where = message.sourceFilePath ? ` (${message.sourceFilePath.replace(fromRoot(''), '')}:${message.sourceFileLine})` : '';
        problems.push(`${message.messageId}: ${message.text}${where}`);
      }
    },
  });
  return { changed: result.apiReportChanged, problems };
}

const entries = subpaths();
const missing = entries.filter(({ entry }) => !existsSync(fromRoot(`dist/${entry}.d.ts`)));
if (missing.length > 0) {
  console.error(`api-docs: no built types for ${missing.map((m) => m.specifier).join(', ')}: run \`npm run build\` first`);
  process.exit(1);
}
mkdirSync(fromRoot(REPORTS), { recursive: true });

const changed: string[] = [];
let problemCount = 0;
for (const { entry, specifier } of entries) {
  const { changed: differs, problems } = extract(entry, `dist/${entry}.d.ts`);
  if (differs) changed.push(`${specifier} (${REPORTS}${reportName(entry)})`);
  for (const problem of problems) console.error(`api-docs: ${specifier}: ${problem}`);
  problemCount += problems.length;
}
// A report whose entry point is gone from package.json.
const known = new Set(entries.map(({ entry }) => reportName(entry)));
const stale = readdirSync(fromRoot(REPORTS)).filter((f) => f.endsWith('.api.md') && !known.has(f));
for (const file of stale) {
  if (check) changed.push(`no entry point any more (${REPORTS}${file})`);
  else rmSync(fromRoot(REPORTS + file));
}

if (check) {
  if (changed.length > 0) {
    console.error(
      `api-docs: the public API differs from the committed report for:\n  ${changed.join('\n  ')}\n` +
        'If the change is on purpose, run `npm run docs` and commit the updated docs/api/*.api.md with it.',
    );
    process.exit(1);
  }
  if (problemCount > 0) {
    console.error(`api-docs: ${problemCount} problem(s) in the public API's doc comments (above)`);
    process.exit(1);
  }
  console.log(`api-docs: the public API of ${entries.length} entry points matches docs/api/`);
} else {
  for (const what of changed) console.log(`api-docs: updated ${what}`);
  await html();
  console.log(`api-docs: reports in ${REPORTS}, HTML reference in ${HTML}index.html`);
  if (problemCount > 0) process.exitCode = 1;
}

/** The browsable reference, from the sources' doc comments. */
async function html(): Promise<void> {
  const { Application } = await import('typedoc');
  // The project's compiler options, over the entry points and what they import only (not the tests).
  const tsconfig = fromRoot('.tmp/api-docs/tsconfig.json');
  mkdirSync(fromRoot('.tmp/api-docs'), { recursive: true });
  writeFileSync(tsconfig, JSON.stringify({ extends: fromRoot('tsconfig.json'), include: [], files: entries.map(({ source }) => fromRoot(source)) }));
  const app = await Application.bootstrapWithPlugins({
    entryPoints: entries.map(({ source }) => fromRoot(source)),
    tsconfig,
    out: fromRoot(HTML),
    name: 'parley-chat',
    readme: 'none',
    excludePrivate: true,
    excludeInternal: true,
    validation: { notExported: false, invalidLink: true, notDocumented: false },
    logLevel: 'Warn',
  });
  const project = await app.convert();
  if (!project) throw new Error('TypeDoc could not convert the project');
  await app.generateDocs(project, fromRoot(HTML));
  if (app.logger.hasWarnings() || app.logger.hasErrors()) process.exitCode = 1;
}
