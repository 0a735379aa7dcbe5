import pg from 'pg';
import type { Cluster } from './cluster.js';

export interface SampleDatabaseOptions {
  database?: string;
  role?: string;
  rolePassword: string;
  /** The address the NICE engine registered from (the old app server). */
  niceHost: string;
  /** Rows of subscribers; phones, lines and orders scale with it. */
  subscribers?: number;
}

/** CUPM's application role (a login with a password) and the database it owns; names default to `cupm`. */
export async function createApplicationDatabase(cluster: Cluster, options: { database?: string; role?: string; rolePassword: string }) {
  const database = options.database ?? 'cupm';
  const role = options.role ?? 'cupm';
  const ident = (name: string) => pg.Client.prototype.escapeIdentifier(name);
  const literal = (text: string) => pg.Client.prototype.escapeLiteral(text);
  await cluster.query(`CREATE ROLE ${ident(role)} LOGIN PASSWORD ${literal(options.rolePassword)}`);
  await cluster.query(`CREATE DATABASE ${ident(database)} OWNER ${ident(role)}`);
  return { database, role, ident, literal };
}

/**
 * Creates the CUPM application role and database with a small, realistic schema: subscribers,
 * phones, lines, an order history (jsonb), device certificates (bytea) and `nicesyseng`, the
 * table the install guide's restore procedure purges by host (docs/cupm.md).
 */
export async function createSampleCupmDatabase(cluster: Cluster, options: SampleDatabaseOptions): Promise<void> {
  const { database, role, ident, literal } = await createApplicationDatabase(cluster, options);
  const n = options.subscribers ?? 200;
  await cluster.query(
    `SET ROLE ${ident(role)};
     CREATE TABLE subscriber (
       id serial PRIMARY KEY, user_id text UNIQUE NOT NULL, display_name text NOT NULL,
       email text, created_at timestamptz NOT NULL DEFAULT now());
     CREATE TABLE phone (
       id serial PRIMARY KEY, mac text UNIQUE NOT NULL, model text NOT NULL,
       subscriber_id int REFERENCES subscriber(id), settings jsonb NOT NULL DEFAULT '{}');
     CREATE TABLE line (
       id serial PRIMARY KEY, directory_number text NOT NULL, phone_id int REFERENCES phone(id));
     CREATE INDEX line_dn ON line (directory_number);
     CREATE TABLE order_history (
       id bigserial PRIMARY KEY, subscriber_id int REFERENCES subscriber(id), status text NOT NULL,
       payload jsonb NOT NULL, placed_at timestamptz NOT NULL DEFAULT now());
     CREATE TABLE device_certificate (id serial PRIMARY KEY, phone_id int REFERENCES phone(id), der bytea NOT NULL);
     CREATE TABLE nicesyseng (id serial PRIMARY KEY, host text NOT NULL, port int NOT NULL, engine text NOT NULL, registered_at timestamptz NOT NULL DEFAULT now());

     INSERT INTO subscriber (user_id, display_name, email)
       SELECT 'user' || i, 'Subscriber ' || i || ' 山田', 'user' || i || '@example.com' FROM generate_series(1, ${n}) i;
     INSERT INTO phone (mac, model, subscriber_id, settings)
       SELECT 'SEP' || lpad(to_hex(i), 12, '0'), (ARRAY['7960','7975','9971'])[1 + i % 3], i,
              jsonb_build_object('locale', 'ja_JP', 'ring', i % 5) FROM generate_series(1, ${n}) i;
     INSERT INTO line (directory_number, phone_id) SELECT (4000 + i)::text, i FROM generate_series(1, ${n}) i;
     INSERT INTO order_history (subscriber_id, status, payload)
       SELECT 1 + i % ${n}, (ARRAY['done','failed','pending'])[1 + i % 3],
              jsonb_build_object('action', 'add phone', 'items', i % 7, 'note', repeat('x', i % 40))
       FROM generate_series(1, ${n * 3}) i;
     INSERT INTO device_certificate (phone_id, der) SELECT i, decode(md5(i::text) || md5((i * 7)::text), 'hex') FROM generate_series(1, ${n}) i;
     INSERT INTO nicesyseng (host, port, engine) VALUES
       (${literal(options.niceHost)}, 46001, 'nice-primary'),
       (${literal(options.niceHost)}, 46002, 'nice-secondary');
     RESET ROLE;`,
    undefined,
    database,
  );
}
