import crypto from 'node:crypto';
import fsp from 'node:fs/promises';
import path from 'node:path';
import { FILES_PREFIX, type Manifest, type ManifestEntry } from '../../archive/format.js';
import type { ArchiveReader } from '../../archive/reader.js';
import { findJbossFolder } from '../../artifacts/cupm-files.js';
import { readProperties } from '../../artifacts/dfc-properties.js';
import { ArchiveInvalidError, ConfigError, messageOf } from '../../errors.js';
import { fileMeta } from '../../file-system.js';
import type { JournalFile } from '../journal.js';
import { checkCupmPorts, databasePortMismatch, remoteProbe, type PortFinding, type PortProbe } from '../ports.js';
import { DFC_PROPERTIES, hasEdits, rewriteDfcDs, rewriteDfcProperties, type ConfigEdits, type Rewrite } from '../rewrites.js';

/** The largest CUPM file read into memory (they are a few KB; the keystore a few more). */
const MAX_FILE_BYTES = 64 * 1024 * 1024;
const DS_SUFFIX = '/server/cupm/deploy/dfc-ds.xml';

export interface FilesInput {
  installDir: string;
  backupDir: string;
  /** The restore's time stamp: the snapshot folder is named with it. */
  stamp: string;
  manifest: Manifest;
  reader: ArchiveReader;
  noFiles: boolean;
  /** --db-host, --db-port. */
  dbHosts: string[] | undefined;
  dbPort: number | undefined;
  /** migrate: its ports are checked (and moved with --auto-ports) in dfc.properties. */
  migration: { autoPorts: boolean; portProbe?: PortProbe | undefined } | undefined;
  /** CUPM_SERVER's host, from an admin host: its ports are probed over the network. */
  serverHost: string | undefined;
  /** Where PostgreSQL listens, and whether it runs on the CUPM server (its port is then taken). */
  databasePort: number;
  databaseOnServer: boolean;
}

/** The CUPM files the restore will write, staged in memory, and where each goes. */
export interface StagedFiles {
  /** Path relative to the install dir -> the bytes to write. */
  staged: Map<string, Buffer>;
  rewrites: Rewrite[];
  ports: PortFinding[] | null;
  snapshotDir: string;
  files: JournalFile[];
  /** The files that come from the archive (relative paths); the others are this server's, rewritten. */
  fromArchive: Set<string>;
}

/**
 * Phase 3: the files staged and rewritten. From the archive (unless --no-files), rewritten for
 * --db-host/--db-port and a migration's ports; or this server's, rewritten. Their folders must
 * exist (CUPM is installed there), else exit 2. Nothing is written.
 */
export async function stageFiles(input: FilesInput, warnings: string[]): Promise<StagedFiles> {
  const { installDir, manifest, migration } = input;
  const edits: ConfigEdits = { dbHosts: input.dbHosts, dbPort: input.dbPort, properties: {} };
  const fileEntries = input.noFiles ? [] : manifest.entries.filter((e) => e.path.startsWith(FILES_PREFIX));
  const contents = new Map<string, Buffer>();
  for (const entry of fileEntries) contents.set(entry.path.slice(FILES_PREFIX.length), await readEntry(input.reader, entry));

  let ports: PortFinding[] | null = null;
  const propertiesRel = DFC_PROPERTIES;
  // dfc-ds.xml: the archive's, else this server's (its JBoss folder found, not assumed).
  const dsPath = () => [...contents.keys()].find((p) => p.endsWith(DS_SUFFIX)) ?? localDsPath(installDir);
  const needsRewrite = hasEdits(edits) || migration !== undefined;
  const base = async (rel: string): Promise<{ text: string; origin: string } | undefined> => {
    const fromArchive = contents.get(rel);
    if (fromArchive) return { text: fromArchive.toString('latin1'), origin: `${rel} in the archive` };
    const local = path.join(installDir, ...rel.split('/'));
    const bytes = await fsp.readFile(local).catch(() => undefined);
    return bytes ? { text: bytes.toString('latin1'), origin: local } : undefined;
  };

  const rewrites: Rewrite[] = [];
  if (needsRewrite) {
    const props = await base(propertiesRel);
    if (!props) {
      throw new ConfigError(`There is no ${propertiesRel} to rewrite (not in the archive, not under ${installDir}).`, {
        state: 'nothing was changed',
      });
    }
    if (migration) {
      const values = readProperties(props.text);
      if (input.dbPort !== undefined) values.set('dfc.postgres.port', String(input.dbPort));
      const checked = await checkCupmPorts(values, {
        databasePort: input.databasePort,
        databaseIsLocal: input.databaseOnServer,
        autoPorts: migration.autoPorts,
        // From an admin host a port of the server is in use when it accepts a connection.
        probe: migration.portProbe ?? (input.serverHost !== undefined ? remoteProbe(input.serverHost) : undefined),
      });
      ports = checked.findings;
      edits.properties = checked.moves;
    }
    if (hasEdits(edits)) {
      const rewritten = rewriteDfcProperties(props.text, edits, props.origin);
      contents.set(propertiesRel, Buffer.from(rewritten.text, 'latin1'));
      rewrites.push(...rewritten.rewrites);
      warnings.push(...rewritten.warnings);
      if (edits.dbHosts !== undefined || edits.dbPort !== undefined) {
        const dsRel = dsPath();
        const ds = dsRel === undefined ? undefined : await base(dsRel);
        if (!dsRel || !ds) {
          throw new ConfigError(`There is no <JBoss folder>${DS_SUFFIX} to rewrite (not in the archive, not under ${installDir}).`, {
            state: 'nothing was changed',
            hint: 'restore onto an installed CUPM (CUPM_INSTALL_DIR), or with an archive that holds dfc-ds.xml',
          });
        }
        const dsRewritten = rewriteDfcDs(ds.text, edits, dsRel, ds.origin);
        contents.set(dsRel, Buffer.from(dsRewritten.text, 'latin1'));
        rewrites.push(...dsRewritten.rewrites);
      }
    }
  }

  // A restore onto a server whose PostgreSQL listens elsewhere than the archive's port: CUPM
  // would not find its database. --db-port rewrites it (above); without it, the plan warns.
  const restoredProperties = contents.get(propertiesRel);
  if (restoredProperties && input.dbPort === undefined && !migration) {
    const mismatch = databasePortMismatch(readProperties(restoredProperties.toString('latin1')), input.databasePort);
    if (mismatch) warnings.push(mismatch);
  }

  // Where each file goes; its folder must exist (CUPM is installed there).
  const snapshotDir = path.join(input.backupDir, `cupm-restore-${input.stamp}-${crypto.randomBytes(3).toString('hex')}`);
  const files: JournalFile[] = [];
  const missingDirs: string[] = [];
  for (const [rel] of contents) {
    const target = path.join(installDir, ...rel.split('/'));
    const meta = await fileMeta(target);
    if (!(await isDir(path.dirname(target)))) missingDirs.push(path.dirname(target));
    const key = rel.split('/').join(path.sep);
    files.push({
      relativePath: rel,
      target,
      staged: path.join(snapshotDir, 'staged', key),
      before: meta ? path.join(snapshotDir, 'before', key) : null,
      mode: meta?.mode ?? 0o600,
      uid: meta?.uid ?? null,
      gid: meta?.gid ?? null,
    });
  }
  if (missingDirs.length > 0) {
    throw new ConfigError(`The install dir ${installDir} lacks folders the archive's files go into:`, {
      problems: [...new Set(missingDirs)],
      state: 'nothing was changed',
      hint: 'install CUPM there first (CUPM_INSTALL_DIR), or pass --no-files to restore only the database',
    });
  }
  const fromArchive = new Set(fileEntries.map((e) => e.path.slice(FILES_PREFIX.length)));
  return { staged: contents, rewrites, ports, snapshotDir, files, fromArchive };
}

/** A CUPM file's bytes from the archive, checked against the manifest (it may change after verify). */
async function readEntry(reader: ArchiveReader, entry: ManifestEntry): Promise<Buffer> {
  if (entry.size > MAX_FILE_BYTES) throw new ArchiveInvalidError(`${entry.path} is ${entry.size} bytes: too large to be a CUPM file.`);
  const chunks: Buffer[] = [];
  for await (const chunk of await reader.openEntry(entry.path)) chunks.push(chunk as Buffer);
  const bytes = Buffer.concat(chunks);
  if (bytes.length !== entry.size || crypto.createHash('sha256').update(bytes).digest('hex') !== entry.sha256) {
    throw new ArchiveInvalidError(`${entry.path} changed since the archive was verified.`, { state: 'nothing was changed' });
  }
  return bytes;
}

/** dfc-ds.xml of this server, relative to the install dir, when there is one. */
function localDsPath(installDir: string): string | undefined {
  try {
    const jboss = findJbossFolder(installDir);
    return jboss.includes('*') ? undefined : `${jboss}${DS_SUFFIX}`;
  } catch (error) {
    if (error instanceof ConfigError) throw error;
    throw new ConfigError(`Cannot read the install dir ${installDir}: ${messageOf(error)}`, { state: 'nothing was changed' });
  }
}

async function isDir(dir: string): Promise<boolean> {
  return fsp.stat(dir).then(
    (s) => s.isDirectory(),
    () => false,
  );
}
