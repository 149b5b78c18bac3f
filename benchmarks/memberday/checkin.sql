-- pgbench: one Member Day check-in request's SQL, statement for statement, without Python.
-- Variables (-D): lo, hi (member id range), brand, occ (occurrence id), points.
-- Mirrors memberday_check_in with an Idempotency-Key (the bearer token's actor is cached in the
-- process, so no token lookup): ONE read — the member with program, brand, home dealer, data-scope
-- check (brand client), today's Member Day, the member's check-in of today and the key's earlier
-- answer, all as subqueries — then the check-in row (points pending), its audit row, its
-- `memberday_checked_in` event and the key's record. The points are paid later in batches, so the
-- ledger is untouched here. Each transaction is a fresh first check-in where possible: a member already
-- checked in is skipped by ON CONFLICT (the real code answers from the read instead).
\set mid random(:lo, :hi)
\set rnd random(1, 1000000000000)
BEGIN;
SELECT m.id, m.person_id, m.status, m.number, p.brand_id, b.time_zone,
       COALESCE((SELECT o.dealer_id FROM people_ownership o JOIN people_vehicle v ON v.id = o.vehicle_id
          JOIN people_vehiclemodel vm ON vm.id = v.model_id
         WHERE o.person_id = m.person_id AND o.ended_at IS NULL AND vm.brand_id = p.brand_id
         ORDER BY o.delivered_at DESC, o.id DESC LIMIT 1), 0) AS home_dealer_id,
       EXISTS (SELECT 1 FROM people_ownership o WHERE o.person_id = m.person_id AND o.dealer_id IN
         (SELECT dealer_id FROM org_dealer_brands WHERE brand_id = p.brand_id)) AS in_scope,
       (SELECT d.id FROM memberday_occurrence d WHERE d.brand_id = p.brand_id AND d.starts_at <= now() AND d.ends_at > now() LIMIT 1) AS day_id,
       (SELECT d.day FROM memberday_occurrence d WHERE d.brand_id = p.brand_id AND d.starts_at <= now() AND d.ends_at > now() LIMIT 1) AS day_date,
       (SELECT d.checkin_points FROM memberday_occurrence d WHERE d.brand_id = p.brand_id AND d.starts_at <= now() AND d.ends_at > now() LIMIT 1) AS day_points,
       (SELECT c.id FROM memberday_checkin c JOIN memberday_occurrence d ON d.id = c.occurrence_id
         WHERE c.member_id = m.id AND d.brand_id = p.brand_id AND d.starts_at <= now() AND d.ends_at > now() LIMIT 1) AS ci_id,
       (SELECT c.points FROM memberday_checkin c JOIN memberday_occurrence d ON d.id = c.occurrence_id
         WHERE c.member_id = m.id AND d.brand_id = p.brand_id AND d.starts_at <= now() AND d.ends_at > now() LIMIT 1) AS ci_points,
       (SELECT c.entry_id FROM memberday_checkin c JOIN memberday_occurrence d ON d.id = c.occurrence_id
         WHERE c.member_id = m.id AND d.brand_id = p.brand_id AND d.starts_at <= now() AND d.ends_at > now() LIMIT 1) AS ci_entry,
       (SELECT c.checked_in_at FROM memberday_checkin c JOIN memberday_occurrence d ON d.id = c.occurrence_id
         WHERE c.member_id = m.id AND d.brand_id = p.brand_id AND d.starts_at <= now() AND d.ends_at > now() LIMIT 1) AS ci_at,
       (SELECT c.points_status FROM memberday_checkin c JOIN memberday_occurrence d ON d.id = c.occurrence_id
         WHERE c.member_id = m.id AND d.brand_id = p.brand_id AND d.starts_at <= now() AND d.ends_at > now() LIMIT 1) AS ci_status,
       (SELECT r.status_code FROM common_idempotencyrecord r WHERE r.scope = 'api_client:bench' AND r.key = 'pgb-' || :rnd LIMIT 1) AS key_status,
       (SELECT r.request_hash FROM common_idempotencyrecord r WHERE r.scope = 'api_client:bench' AND r.key = 'pgb-' || :rnd LIMIT 1) AS key_hash
  FROM membership_member m JOIN membership_program p ON p.id = m.program_id JOIN org_brand b ON b.id = p.brand_id
 WHERE m.id = :mid LIMIT 1 \gset m_
INSERT INTO memberday_checkin (occurrence_id, member_id, person_id, dealer_id, points, entry_id, channel, actor_label, checked_in_at, points_status)
  VALUES (:occ, :mid, :m_person_id, NULLIF(:m_home_dealer_id, 0), :points, NULL, 'app', 'pgbench', now(), 'pending')
  ON CONFLICT DO NOTHING;
INSERT INTO common_auditevent (occurred_at, actor_kind, actor_label, action, object_type, object_id, summary, reason)
  VALUES (now(), 'api_client', 'pgbench', 'memberday.check_in', 'memberday_checkin', :mid, '{"points": 10}', '');
INSERT INTO common_domainevent (event_id, name, ts, person_id, channel, properties)
  VALUES (gen_random_uuid(), 'memberday_checked_in', now(), :m_person_id, 'app', '{"points": 10}');
INSERT INTO common_idempotencyrecord (scope, key, request_hash, status_code, response, created_at)
  VALUES ('api_client:bench', 'pgb-' || :rnd, md5('x'), 201, '{}', now());
COMMIT;
