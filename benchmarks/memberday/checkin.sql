-- pgbench: one Member Day check-in request's SQL, statement for statement, without Python.
-- Variables (-D): lo, hi (member id range), brand, occ (occurrence id), points.
-- Mirrors: bearer-token lookup; Idempotency-Key record lookup; the member with its home dealer; the
-- occurrence on today; data-scope check (brand client); points_award (account lock, replay, status,
-- balance, entry, lot, audit, event, tier check); the check-in row; audit; event; the key's record.
-- Each transaction is a fresh first check-in: keys are random, and a member already checked in is
-- skipped by ON CONFLICT (the real code replays instead); the ledger stays consistent for
-- `hufen points verify` because balance, entry and lot move together.
\set mid random(:lo, :hi)
\set rnd random(1, 1000000000000)
BEGIN;
SELECT c.id, c.brand_id, c.dealer_id, c.revoked_at, c.expires_at, c.last_used_at FROM org_apiclient c WHERE c.token_hash = md5('bench') LIMIT 1;
SELECT r.status_code FROM common_idempotencyrecord r WHERE r.scope = 'api_client:bench' AND r.key = 'pgb-' || :rnd LIMIT 1;
SELECT m.id, m.person_id, m.status, m.number, p.brand_id, b.time_zone,
       COALESCE((SELECT o.dealer_id FROM people_ownership o JOIN people_vehicle v ON v.id = o.vehicle_id
          JOIN people_vehiclemodel vm ON vm.id = v.model_id
         WHERE o.person_id = m.person_id AND o.ended_at IS NULL AND vm.brand_id = p.brand_id
         ORDER BY o.delivered_at DESC, o.id DESC LIMIT 1), 0) AS home_dealer_id
  FROM membership_member m JOIN membership_program p ON p.id = m.program_id JOIN org_brand b ON b.id = p.brand_id
 WHERE m.id = :mid LIMIT 1 \gset m_
SELECT id, checkin_points FROM memberday_occurrence WHERE brand_id = :brand AND starts_at <= now() AND ends_at > now() LIMIT 1;
SELECT EXISTS (SELECT 1 FROM people_ownership o WHERE o.person_id = :m_person_id AND o.dealer_id IN
  (SELECT dealer_id FROM org_dealer_brands WHERE brand_id = :brand));
SELECT id, balance FROM membership_pointsaccount WHERE member_id = :mid FOR UPDATE \gset a_
SELECT id FROM membership_pointsentry WHERE account_id = :a_id AND idempotency_key = 'memberday:pgb:' || :rnd LIMIT 1;
SELECT status FROM membership_member WHERE id = :mid;
UPDATE membership_pointsaccount SET balance = balance + :points, updated_at = now() WHERE id = :a_id RETURNING balance AS after \gset b_
INSERT INTO membership_pointsentry (account_id, kind, amount, reason, ref_type, ref_id, idempotency_key, actor_label, balance_after, created_at)
  VALUES (:a_id, 'award', :points, 'check_in', 'memberday_occurrence', 'pgbench', 'memberday:pgb:' || :rnd, 'pgbench', :b_after, now()) RETURNING id AS id \gset e_
INSERT INTO membership_pointslot (account_id, entry_id, amount, remaining, expires_at) VALUES (:a_id, :e_id, :points, :points, now() + interval '2 years');
INSERT INTO common_auditevent (occurred_at, actor_kind, actor_label, action, object_type, object_id, summary, reason)
  VALUES (now(), 'api_client', 'pgbench', 'points.award', 'points_entry', :e_id, '{"amount": 10}', '');
INSERT INTO common_domainevent (event_id, name, ts, person_id, channel, properties)
  VALUES (gen_random_uuid(), 'points_earned', now(), :m_person_id, 'system', '{"amount": 10}');
SELECT SUM(e.amount) FROM membership_pointsentry e JOIN membership_pointsaccount a ON a.id = e.account_id
 WHERE a.member_id = :mid AND e.created_at >= now() - interval '1 year' AND e.kind = 'award';
SELECT SUM(e.amount) FROM membership_pointsentry e JOIN membership_pointsaccount a ON a.id = e.account_id
  JOIN membership_pointsentry r ON r.id = e.reverses_id
 WHERE a.member_id = :mid AND e.created_at >= now() - interval '1 year' AND e.kind = 'reverse' AND r.kind = 'award';
SELECT t.id FROM membership_tierdefinition t JOIN membership_member m ON m.program_id = t.program_id
 WHERE m.id = :mid AND t.threshold <= 10 ORDER BY t.rank DESC LIMIT 1;
SELECT m.id, t.rank FROM membership_member m JOIN membership_tierdefinition t ON t.id = m.tier_id WHERE m.id = :mid FOR UPDATE OF m;
INSERT INTO memberday_checkin (occurrence_id, member_id, person_id, dealer_id, points, entry_id, channel, actor_label, checked_in_at)
  VALUES (:occ, :mid, :m_person_id, NULLIF(:m_home_dealer_id, 0), :points, :e_id, 'app', 'pgbench', now())
  ON CONFLICT DO NOTHING;
INSERT INTO common_auditevent (occurred_at, actor_kind, actor_label, action, object_type, object_id, summary, reason)
  VALUES (now(), 'api_client', 'pgbench', 'memberday.check_in', 'memberday_checkin', :mid, '{"points": 10}', '');
INSERT INTO common_domainevent (event_id, name, ts, person_id, channel, properties)
  VALUES (gen_random_uuid(), 'memberday_checked_in', now(), :m_person_id, 'app', '{"points": 10}');
INSERT INTO common_idempotencyrecord (scope, key, request_hash, status_code, response, created_at)
  VALUES ('api_client:bench', 'pgb-' || :rnd, md5('x'), 201, '{}', now());
COMMIT;
