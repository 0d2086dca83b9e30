-- The course schema and its seed data. Loaded at every start of the lab, so it must be
-- idempotent (IF NOT EXISTS, ON CONFLICT DO NOTHING), and it may be loaded by two processes
-- at once (two kernels, a grader and a kernel): CREATE ... IF NOT EXISTS alone races on the
-- catalog, so the whole load runs in one transaction under an advisory lock.
-- Also fine with psql:  psql "$DATABASE_URL" -f schema.sql

BEGIN;
SET LOCAL client_min_messages = warning;  -- no "already exists, skipping" notices
SELECT pg_advisory_xact_lock(7022089759022145890);  -- 'asynclab' in ASCII; shared by every loader

-- Notebooks 01, 04, 07: users looked up by id. 1,000 deterministic rows, ids 1..1000.
CREATE TABLE IF NOT EXISTS users (
    id          integer PRIMARY KEY,
    name        text NOT NULL,
    email       text NOT NULL UNIQUE,
    tier        text NOT NULL,
    created_at  timestamptz
);

-- 25 first names x 40 last names: every user gets a distinct name, the same on every machine.
INSERT INTO users (id, name, email, tier, created_at)
SELECT g,
       f.first || ' ' || l.last,
       lower(f.first) || '.' || lower(l.last) || '@example.com',
       CASE WHEN g % 10 = 0 THEN 'enterprise' WHEN g % 3 = 0 THEN 'pro' ELSE 'free' END,
       timestamptz '2024-01-01 00:00:00+00' + (g - 1) * interval '7 hours'
FROM generate_series(1, 1000) AS g
CROSS JOIN LATERAL (
    SELECT (ARRAY['Ada', 'Alan', 'Barbara', 'Brian', 'Claude', 'Dennis', 'Donald', 'Edsger',
                  'Frances', 'Grace', 'Guido', 'Hedy', 'Ivan', 'Jean', 'John', 'Ken', 'Leslie',
                  'Linus', 'Margaret', 'Niklaus', 'Radia', 'Sophie', 'Tim', 'Vint', 'Yukihiro'
                  ])[1 + (g - 1) % 25] AS first
) AS f
CROSS JOIN LATERAL (
    SELECT (ARRAY['Allen', 'Backus', 'Bartik', 'Cerf', 'Codd', 'Conway', 'Dahl', 'Engelbart',
                  'Floyd', 'Gray', 'Hamming', 'Hoare', 'Hopper', 'Iverson', 'Kay', 'Knuth',
                  'Lamport', 'Liskov', 'Lovelace', 'McCarthy', 'Milner', 'Minsky', 'Moore',
                  'Naur', 'Newell', 'Nygaard', 'Pascal', 'Perlman', 'Ritchie', 'Rivest',
                  'Shamir', 'Shannon', 'Stroustrup', 'Sutherland', 'Tarjan', 'Thompson',
                  'Turing', 'Wexelblat', 'Wilkes', 'Wirth'
                  ])[1 + (g - 1) / 25] AS last
) AS l
ON CONFLICT DO NOTHING;

-- Notebook 07: the audit trail ("no audit event is lost").
CREATE TABLE IF NOT EXISTS events (
    id          bigserial PRIMARY KEY,
    user_id     integer,
    kind        text NOT NULL,
    payload     jsonb NOT NULL DEFAULT '{}',
    created_at  timestamptz DEFAULT now()
);

-- Notebook 06: a durable job queue. A worker claims with
--   SELECT ... WHERE status = 'queued' ORDER BY id LIMIT 1 FOR UPDATE SKIP LOCKED
-- and sets status = 'running', locked_until = now() + lease; a job whose lease ran out
-- (its worker died) is claimable again.
CREATE TABLE IF NOT EXISTS jobs (
    id            bigserial PRIMARY KEY,
    payload       jsonb NOT NULL,
    status        text NOT NULL DEFAULT 'queued'
                  CHECK (status IN ('queued', 'running', 'done', 'failed')),
    attempts      integer NOT NULL DEFAULT 0,
    locked_until  timestamptz,
    locked_by     text,
    created_at    timestamptz DEFAULT now(),
    done_at       timestamptz
);
CREATE INDEX IF NOT EXISTS jobs_queued_idx ON jobs (id) WHERE status = 'queued';
CREATE INDEX IF NOT EXISTS jobs_lease_idx ON jobs (locked_until) WHERE status = 'running';

COMMIT;
