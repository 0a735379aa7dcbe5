import type { Cluster } from '../../src/sandbox/cluster.js';
import { createApplicationDatabase } from '../../src/sandbox/cupm-database.js';
import { syncPageCache } from './proc.js';

/**
 * A CUPM-like database of a chosen number of phones, generated inside PostgreSQL with
 * generate_series (no data crosses the wire), for the benchmark.
 *
 * The shape follows the sample schema (src/sandbox/cupm-database.ts) with the columns a
 * provisioning database of this kind has, and values that compress like real ones: repeated keys
 * and vocabularies (jsonb orders, log messages), unique identifiers (MACs, user ids, numbers),
 * timestamps spread over years, and incompressible bytes (certificates, bytea).
 *
 * Per phone (the unit of a CUPM install, docs/cupm.md: 1,000 / 10,000 / 60,000): one subscriber,
 * 1.5 lines, one certificate, ORDERS_PER_PHONE orders with EVENTS_PER_ORDER log events each.
 * That is about BYTES_PER_PHONE bytes of pg_dumpall output (measured; see README "Performance").
 */
export const ORDERS_PER_PHONE = 25;
export const EVENTS_PER_ORDER = 5;
/** pg_dumpall bytes per phone of this generator, measured at 20,000 phones (schema and indexes are noise). */
export const BYTES_PER_PHONE = 44_000;

/** Phones for a dump of about `bytes`. */
export function phonesForDumpSize(bytes: number): number {
  return Math.max(100, Math.round(bytes / BYTES_PER_PHONE));
}

export interface CupmDataOptions {
  phones: number;
  database?: string;
  role?: string;
  rolePassword: string;
  /** The address the NICE engine registered from. */
  niceHost: string;
}

/** Creates the role and database and fills them; two connections share the work (the machine has two cores). */
export async function createCupmData(cluster: Cluster, options: CupmDataOptions): Promise<void> {
  const { database, role, ident, literal } = await createApplicationDatabase(cluster, options);
  const p = Math.max(1, Math.floor(options.phones));
  const asRole = (sql: string) => cluster.query(`SET ROLE ${ident(role)}; ${sql}; RESET ROLE;`, undefined, database);

  await asRole(SCHEMA);
  // Independent tables in two streams; constraints and indexes come after the data, as in a restore.
  await Promise.all([
    asRole(`${fillSubscribers(p)}; ${fillPhones(p)}; ${fillLines(p)}; ${fillCertificates(p)}; ${fillNice(literal(options.niceHost))}`),
    asRole(`${fillOrders(p)}; ${fillEvents(p)}`),
  ]);
  await Promise.all([
    asRole(`ALTER TABLE subscriber ADD PRIMARY KEY (id);
            ALTER TABLE subscriber ADD CONSTRAINT subscriber_user_id_key UNIQUE (user_id);
            ALTER TABLE phone ADD PRIMARY KEY (id);
            ALTER TABLE phone ADD CONSTRAINT phone_mac_key UNIQUE (mac);
            ALTER TABLE line ADD PRIMARY KEY (id);
            CREATE INDEX line_dn ON line (directory_number);
            ALTER TABLE device_certificate ADD PRIMARY KEY (id);
            ALTER TABLE nicesyseng ADD PRIMARY KEY (id)`),
    asRole(`ALTER TABLE order_history ADD PRIMARY KEY (id);
            CREATE INDEX order_history_subscriber ON order_history (subscriber_id, placed_at);
            ALTER TABLE order_event ADD PRIMARY KEY (id);
            CREATE INDEX order_event_order ON order_event (order_id)`),
  ]);
  await asRole(`ALTER TABLE phone ADD FOREIGN KEY (subscriber_id) REFERENCES subscriber (id);
                ALTER TABLE line ADD FOREIGN KEY (phone_id) REFERENCES phone (id);
                ALTER TABLE device_certificate ADD FOREIGN KEY (phone_id) REFERENCES phone (id);
                ALTER TABLE order_history ADD FOREIGN KEY (subscriber_id) REFERENCES subscriber (id);
                ALTER TABLE order_event ADD FOREIGN KEY (order_id) REFERENCES order_history (id);
                SELECT setval('order_history_id_seq', (SELECT max(id) FROM order_history));
                SELECT setval('order_event_id_seq', (SELECT max(id) FROM order_event))`);
  await settle(cluster, database);
}

/**
 * Settles a database as one that has run for a while is: hint bits set, nothing left for
 * autovacuum, no dirty pages left for the checkpointer. Either would compete with the runs being
 * measured: a first backup right after the data was made used twice the CPU, and a live restore
 * right after psql -f loaded its target shared the cores with autovacuum's 2.4 CPU-seconds on it.
 */
export async function settle(cluster: Cluster, database: string): Promise<void> {
  await cluster.query('VACUUM (FREEZE, ANALYZE)', undefined, database);
  await cluster.query('CHECKPOINT');
  await syncPageCache();
}

const SCHEMA = `
CREATE TABLE subscriber (
  id int NOT NULL, user_id text NOT NULL, first_name text NOT NULL, last_name text NOT NULL,
  display_name text NOT NULL, email text, department text, location text, locale text NOT NULL,
  manager_id int, created_at timestamptz NOT NULL, updated_at timestamptz);
CREATE TABLE phone (
  id int NOT NULL, mac text NOT NULL, model text NOT NULL, protocol text NOT NULL,
  subscriber_id int, description text, settings jsonb NOT NULL DEFAULT '{}', registered_at timestamptz);
CREATE TABLE line (
  id int NOT NULL, directory_number text NOT NULL, phone_id int, line_index int NOT NULL,
  label text, partition text, call_forward jsonb);
CREATE SEQUENCE order_history_id_seq;
CREATE TABLE order_history (
  id bigint NOT NULL DEFAULT nextval('order_history_id_seq'), subscriber_id int, order_type text NOT NULL,
  status text NOT NULL, payload jsonb NOT NULL, placed_at timestamptz NOT NULL, completed_at timestamptz);
CREATE SEQUENCE order_event_id_seq;
CREATE TABLE order_event (
  id bigint NOT NULL DEFAULT nextval('order_event_id_seq'), order_id bigint NOT NULL,
  at timestamptz NOT NULL, level text NOT NULL, message text NOT NULL);
CREATE TABLE device_certificate (id int NOT NULL, phone_id int, serial text NOT NULL, der bytea NOT NULL);
CREATE TABLE nicesyseng (id serial, host text NOT NULL, port int NOT NULL, engine text NOT NULL, registered_at timestamptz NOT NULL DEFAULT now())`;

// Pseudo-random but reproducible values: hashint4/hashint8 of the row number (no random()).
const h = (expr: string, salt: number) => `abs(hashint8((${expr})::bigint * 7919 + ${salt}))`;
const pick = (list: string[], expr: string, salt: number) =>
  `(ARRAY[${list.map((s) => `'${s}'`).join(',')}])[1 + ${h(expr, salt)} % ${list.length}]`;

const FIRST = [
  'Hiroshi',
  'Yuki',
  'Anna',
  'Marc',
  'Sofia',
  'Kenji',
  'Laura',
  'David',
  'Mei',
  'Oliver',
  'Chloé',
  'Ravi',
  'Fatima',
  'Lukas',
  'Aiko',
  'Pedro',
];
const LAST = [
  'Tanaka',
  'Suzuki',
  'Müller',
  'Garcia',
  'Rossi',
  'Dubois',
  'Smith',
  'Kowalski',
  'Yamada',
  'Novak',
  'Silva',
  'Jensen',
  'Ito',
  'Costa',
];
const DEPARTMENTS = ['Sales', 'Engineering', 'Support', 'Finance', 'Logistics', 'Legal', 'Marketing', 'Facilities', 'HR', 'Operations'];
const SITES = ['Tokyo-HQ', 'Osaka-2F', 'Paris-La-Defense', 'Frankfurt-DC', 'Sao-Paulo', 'Chicago-Loop', 'Warsaw', 'Lyon-Branch'];
const LOCALES = ['ja_JP', 'en_US', 'fr_FR', 'de_DE', 'pt_BR', 'pl_PL'];
const MODELS = ['Cisco 7960', 'Cisco 7975', 'Cisco 9971', 'Cisco 7942', 'Cisco 8945', 'Cisco 7911'];
const ORDER_TYPES = [
  'add phone',
  'move phone',
  'change line',
  'add line',
  'delete phone',
  'change subscriber',
  'add voicemail',
  'reset phone',
];
const STATUSES = ['done', 'done', 'done', 'done', 'failed', 'cancelled', 'pending'];
const LEVELS = ['INFO', 'INFO', 'INFO', 'WARN', 'DEBUG', 'ERROR'];
const MESSAGES = [
  'Order accepted by the workflow engine; validating business rules',
  'Device template resolved from the subscriber service area',
  'Pushing configuration to Unified Communications Manager via AXL',
  'AXL request completed: addPhone returned a new pkid',
  'Voicemail box provisioned on Unity Connection',
  'Retrying after a transient SOAP fault from the call processor',
  'Order completed; notification e-mail queued for the subscriber',
  'Line association updated; directory number moved to the new partition',
];

const ts = (expr: string, salt: number) => `timestamptz '2009-01-01' + (${h(expr, salt)} % 400000000) * interval '1 second'`;

function fillSubscribers(p: number): string {
  return `INSERT INTO subscriber
    SELECT i, 'u' || lpad(i::text, 7, '0'), ${pick(FIRST, 'i', 1)}, ${pick(LAST, 'i', 2)},
      ${pick(LAST, 'i', 2)} || ', ' || ${pick(FIRST, 'i', 1)} || ' (' || ${pick(DEPARTMENTS, 'i', 3)} || ')',
      'u' || lpad(i::text, 7, '0') || '@corp.example.com', ${pick(DEPARTMENTS, 'i', 3)}, ${pick(SITES, 'i', 4)},
      ${pick(LOCALES, 'i', 5)}, CASE WHEN i > 50 THEN 1 + ${h('i', 6)} % 50 END, ${ts('i', 7)}, ${ts('i', 8)}
    FROM generate_series(1, ${p}) i`;
}

function fillPhones(p: number): string {
  return `INSERT INTO phone
    -- hashint8 gives 32 bits: random-looking high half, the id in the low half, so MACs stay unique at any size.
    SELECT i, 'SEP' || upper(lpad(to_hex(${h('i', 11)} % 16777216), 6, '0') || lpad(to_hex(i), 6, '0')), ${pick(MODELS, 'i', 12)},
      CASE WHEN i % 3 = 0 THEN 'SIP' ELSE 'SCCP' END, i,
      'Phone of u' || lpad(i::text, 7, '0') || ' at ' || ${pick(SITES, 'i', 4)},
      jsonb_build_object(
        'locale', ${pick(LOCALES, 'i', 5)}, 'ringtone', 'Chirp' || (i % 5), 'firmware', 'SCCP75.9-' || (i % 4) || '-1SR4-1S',
        'buttonTemplate', 'Standard ' || ${pick(MODELS, 'i', 12)} || ' SCCP', 'softkeyTemplate', 'Standard User',
        'devicePool', 'DP_' || ${pick(SITES, 'i', 4)}, 'callingSearchSpace', 'CSS_' || ${pick(SITES, 'i', 4)} || '_International',
        'speedDials', jsonb_build_array(
          jsonb_build_object('index', 1, 'number', (100000 + ${h('i', 13)} % 900000)::text, 'label', 'Reception'),
          jsonb_build_object('index', 2, 'number', (100000 + ${h('i', 14)} % 900000)::text, 'label', 'Help desk'))),
      ${ts('i', 15)}
    FROM generate_series(1, ${p}) i`;
}

function fillLines(p: number): string {
  // 1.5 lines per phone: every phone has line 1, every second phone a line 2.
  return `INSERT INTO line
    SELECT n, (40000000 + ${h('n', 21)} % 50000000)::text, CASE WHEN n <= ${p} THEN n ELSE (n - ${p}) * 2 END,
      CASE WHEN n <= ${p} THEN 1 ELSE 2 END, 'Ext. ' || (1000 + n % 9000), 'PT_' || ${pick(SITES, 'n', 4)},
      CASE WHEN n % 4 = 0 THEN jsonb_build_object('busy', 'voicemail', 'noAnswer', 'voicemail', 'seconds', 20) END
    FROM generate_series(1, ${p + Math.floor(p / 2)}) n`;
}

function fillCertificates(p: number): string {
  // ~700 bytes of DER: a fixed structure around hash bytes (bytea is dumped as hex: 2 chars a byte).
  const random = (salt: string) => Array.from({ length: 16 }, (_, k) => `decode(md5(i::text || '${salt}${k}'), 'hex')`).join(' || ');
  return `INSERT INTO device_certificate
    SELECT i, i, upper(to_hex(${h('i', 31)})),
      '\\x308202bc308201a4a003020102'::bytea || ${random('a')} || '\\x300d06092a864886f70d01010b0500'::bytea || ${random('b')}
    FROM generate_series(1, ${p}) i`;
}

function fillNice(host: string): string {
  return `INSERT INTO nicesyseng (host, port, engine) VALUES (${host}, 46001, 'nice-primary'), (${host}, 46002, 'nice-secondary')`;
}

function fillOrders(p: number): string {
  const n = p * ORDERS_PER_PHONE;
  const s = `(1 + o % ${p})`;
  return `INSERT INTO order_history
    SELECT o, ${s}, ${pick(ORDER_TYPES, 'o', 41)}, ${pick(STATUSES, 'o', 42)},
      jsonb_build_object(
        'orderNumber', 'ORD-' || lpad(o::text, 10, '0'), 'requestedBy', 'u' || lpad(${s}::text, 7, '0'),
        'approvedBy', 'u' || lpad((1 + ${h('o', 43)} % 50)::text, 7, '0'), 'serviceArea', ${pick(SITES, 'o', 4)},
        'items', jsonb_build_array(
          jsonb_build_object('product', 'IP Phone', 'model', ${pick(MODELS, 'o', 12)}, 'quantity', 1,
            'attributes', jsonb_build_object('mac', 'SEP' || upper(lpad(to_hex(${h('o', 44)} % 281474976710656), 12, '0')),
              'description', 'Phone for ' || ${pick(FIRST, 'o', 1)} || ' ' || ${pick(LAST, 'o', 2)}, 'expansionModules', o % 3)),
          jsonb_build_object('product', 'Directory Number', 'quantity', 1,
            'attributes', jsonb_build_object('number', (40000000 + ${h('o', 45)} % 50000000)::text, 'partition', 'PT_' || ${pick(SITES, 'o', 4)},
              'callForwardAll', 'none', 'voicemail', (o % 2 = 0))),
          jsonb_build_object('product', 'Voicemail', 'quantity', o % 2,
            'attributes', jsonb_build_object('template', 'VM_' || ${pick(LOCALES, 'o', 5)}, 'pin', lpad((${h('o', 46)} % 1000000)::text, 6, '0')))),
        'workflow', jsonb_build_array('validate', 'reserve', 'provision', 'notify', 'close'),
        'comment', ${pick(MESSAGES, 'o', 47)} || '; ticket INC' || (${h('o', 48)} % 10000000)::text,
        'checksum', md5(o::text)),
      ${ts('o', 49)}, ${ts('o', 49)} + (${h('o', 50)} % 86400) * interval '1 second'
    FROM generate_series(1, ${n}) o`;
}

function fillEvents(p: number): string {
  const n = p * ORDERS_PER_PHONE * EVENTS_PER_ORDER;
  const order = `(1 + (e - 1) / ${EVENTS_PER_ORDER})`;
  return `INSERT INTO order_event
    SELECT e, ${order}, ${ts(order, 49)} + (e % ${EVENTS_PER_ORDER}) * interval '37 seconds', ${pick(LEVELS, 'e', 51)},
      ${pick(MESSAGES, 'e', 52)} || ' [order ORD-' || lpad(${order}::text, 10, '0') || ', step ' || (e % ${EVENTS_PER_ORDER} + 1)
        || ', host cupm-app01, thread WorkerThread-' || (${h('e', 53)} % 64) || ', took ' || (${h('e', 54)} % 5000) || ' ms]'
    FROM generate_series(1, ${n}) e`;
}
