import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { cruise, type ICruiseResult, type IViolation } from 'dependency-cruiser';
import extractDepcruiseOptions from 'dependency-cruiser/config-utl/extract-depcruise-options';
import extractTSConfig from 'dependency-cruiser/config-utl/extract-ts-config';
import { expect } from '../support/expect.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const CONFIG = path.join(ROOT, '.dependency-cruiser.mjs');
const FIXTURES = path.join(ROOT, 'test', 'fixtures', 'layers');

/** One line per violation: the rule, then the import (or the whole cycle) that breaks it. */
function violationLine(violation: IViolation): string {
  const cycle = violation.cycle?.map((step) => step.name);
  return `${violation.rule.name}: ${cycle ? [violation.from, ...cycle].join(' -> ') : `${violation.from} -> ${violation.to}`}`;
}

/** Cruises `<baseDir>/src` with the rules of .dependency-cruiser.mjs; returns each violation. */
async function violations(baseDir: string): Promise<string[]> {
  const options = await extractDepcruiseOptions(CONFIG);
  const tsConfig = extractTSConfig(path.join(ROOT, 'tsconfig.json'));
  const result = await cruise(['src'], { ...options, baseDir, validate: true }, {}, { tsConfig });
  const output = result.output as ICruiseResult;
  return output.summary.violations.map(violationLine).sort();
}

/** The entries of `<baseDir>/src` that LAYERS does not place. */
async function unlisted(baseDir: string): Promise<string[]> {
  const { LAYERS } = (await import(pathToFileURL(CONFIG).href)) as { LAYERS: string[][] };
  const listed = new Set(LAYERS.flat());
  return fs.readdirSync(path.join(baseDir, 'src')).filter((name) => !listed.has(name));
}

describe('architecture: the layers of src/ point one way (docs/architecture.md)', function () {
  this.timeout(120_000);

  it('src/ has no import against the layer order, no cycle and no unresolvable import', async () => {
    const found = await violations(ROOT);
    expect(found, `src/ breaks the rules of .dependency-cruiser.mjs (see docs/architecture.md):\n  ${found.join('\n  ')}\n`).to.deep.equal(
      [],
    );
  });

  it('every folder and file of src/ has its place in LAYERS', async () => {
    const missing = await unlisted(ROOT);
    expect(missing, `add these to LAYERS in .dependency-cruiser.mjs, at the layer they belong to: ${missing.join(', ')}`).to.deep.equal([]);
  });

  describe('the rules fail a tree that breaks them (test/fixtures/layers/)', () => {
    it('a tree that keeps the layers passes', async () => {
      expect(await violations(path.join(FIXTURES, 'clean'))).to.deep.equal([]);
    });

    it('an import of a higher layer fails, a type-only one too', async () => {
      expect(await violations(path.join(FIXTURES, 'upward'))).to.deep.equal(['layer-pg: src/pg/connection.ts -> src/config/config.ts']);
    });

    it('an import between two folders of one layer fails', async () => {
      expect(await violations(path.join(FIXTURES, 'sideways'))).to.deep.equal([
        'layer-report: src/report/report.ts -> src/doctor/check.ts',
      ]);
    });

    it('a cycle fails, even when one of its imports is type-only', async () => {
      const found = await violations(path.join(FIXTURES, 'cycle'));
      expect(found).to.include('no-circular: src/archive/names.ts -> src/archive/reader.ts -> src/archive/names.ts');
      expect(found.every((line) => line.startsWith('no-circular: '))).to.equal(true);
    });

    it('an import that resolves to no file fails', async () => {
      expect(await violations(path.join(FIXTURES, 'unresolvable'))).to.deep.equal([
        'not-to-unresolvable: src/errors.ts -> ./moved-away.js',
      ]);
    });

    it('a folder that no layer names is found', async () => {
      expect(await unlisted(path.join(FIXTURES, 'unlisted'))).to.deep.equal(['extras']);
    });
  });
});
