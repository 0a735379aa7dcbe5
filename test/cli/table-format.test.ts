import { expect } from '../support/expect.js';
import { formatArchiveTable } from '../../src/cli/list.js';
import { formatBytes, formatDuration } from '../../src/format/units.js';
import { formatTable } from '../../src/format/table.js';
import { manifestFor, typicalEntries } from '../support/archives.js';

describe('output formats: one table and size helper for list, status and doctor', () => {
  it('sizes are human: 302676907 bytes is 288.7 MiB, 75222.7 MiB is 73.5 GiB', () => {
    expect(formatBytes(302_676_907)).to.equal('288.7 MiB');
    expect(formatBytes(75222.7 * 1024 ** 2)).to.equal('73.5 GiB');
    expect(formatBytes(512)).to.equal('512 B');
    expect(formatDuration(75_000)).to.equal('1m15s');
  });

  it('aligns columns under a header, right-aligns numbers, and leaves no trailing spaces', () => {
    const lines = formatTable(
      [{ header: 'NAME' }, { header: 'SIZE', align: 'right' }, { header: 'NOTE' }],
      [['a', '1.5 KiB', ''], ['longer-name', '12 B', 'x'], '  a note under the row'],
    );
    expect(lines).to.deep.equal([
      'NAME            SIZE  NOTE',
      'a            1.5 KiB',
      'longer-name     12 B  x',
      '  a note under the row',
    ]);
  });

  it('counts a Japanese host name as two columns a character', () => {
    const lines = formatTable(
      [{}, {}],
      [
        ['東京', 'x'],
        ['ab', 'y'],
      ],
    );
    expect(lines).to.deep.equal(['東京  x', 'ab    y']);
  });

  it('list shows a header, one aligned row per archive, and "encrypted" for an encrypted archive read with the identity', () => {
    const manifest = manifestFor(typicalEntries(), { createdAt: '2026-11-25T02:00:00.000Z', label: 'nightly' });
    const lines = formatArchiveTable([
      {
        file: '/b/a.zip',
        name: 'cupm-backup_h_20261125T020000Z_nightly.zip',
        size: 302_676_907,
        modifiedAt: '',
        manifest,
        encrypted: false,
      },
      {
        file: '/b/b.zip.age',
        name: 'cupm-backup_h_20261126T020000Z.zip.age',
        size: 1_000,
        modifiedAt: '',
        manifest: { ...manifest, label: null },
        encrypted: true,
      },
    ]);
    expect(lines[0]).to.match(/^ARCHIVE +SIZE +CREATED \(UTC\) +HOST +CUPM +LABEL +STATE$/);
    expect(lines[1]).to.match(/_nightly\.zip +288\.7 MiB +2026-11-25T02:00:00Z .* nightly +ok$/);
    expect(lines[2]).to.match(/\.zip\.age +1000 B .* encrypted$/);
    // Columns line up: every row's size ends where the header's SIZE ends.
    const end = lines[0]!.indexOf('SIZE') + 'SIZE'.length;
    for (const line of lines.slice(1)) expect(line.slice(end - 1, end), line).to.match(/[B]/);
  });
});
