"""Member Day check-in under load: the real server on PostgreSQL, driven by wrk; plus the database's ceiling.

    .venv/bin/python benchmarks/memberday/run.py [--members 10000] [--duration 20] [--connections 32]
                                                 [--workers 2] [--threads 4] [--server gunicorn|granian|serve]
                                                 [--drain-every 5] [--db NAME] [--keep] [--reuse]

1. creates a scratch PostgreSQL database (127.0.0.1, user postgres; dropped at the end unless --keep);
2. loads the demo (`hufen demo --persons 2×members`), enrols the owners of the largest brand (bulk:
   members, accounts, tier history, like `member_join` without its per-row audit), schedules a Member
   Day for today (brand time) and creates a brand-scoped API client;
3. starts the real server (gunicorn with production settings, no access log — or `--server serve`,
   `hufen serve` as shipped, which logs every request; Redis cache when the redis client library is
   installed, else local memory) and, beside it, the award drain (`hufen memberday award-pending
   --every N`, what the scheduler does every 5 s), and runs `wrk` with checkin.lua for `--duration`
   seconds: POST /api/v1/memberday/check-ins with a bearer token and an Idempotency-Key, each wrk
   thread walking its own slice of the members (first taps → 201, later passes → 200 repeats);
4. stops both, drains what is still pending (`award-pending`, timed), runs `hufen points verify` and
   checks check-ins = check-in awards = `memberday_checked_in` events, none pending, and 201 answers;
5. profiles 300 first check-ins in-process through Django's WSGI handler (what gunicorn calls): the
   CPU of the Python process and of its PostgreSQL backend per request, then a cProfile pass for the
   split (Django's handler and middleware, the fast lane, the statement's round trip, the live
   counters), and times one drain of those 300;
6. runs pgbench with the server's own check-in statement (`_pgbench_script` writes it out with its
   parameters as pgbench variables), prepared, without Python — the database's ceiling for the same
   transaction.

`--duration 600` is the issue's 10-minute run. Use `--members` large enough that the run is mostly
first check-ins if that is what should be measured (each member checks in once; later passes are
repeat taps, answered by one read).

Prints one JSON object and keeps a copy in benchmarks/results/.
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib.util
import json
import os
import re
import resource
import secrets
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
BIN = Path(sys.executable).parent
PG = ["-h", "127.0.0.1", "-U", "postgres"]
PROFILE_MEMBERS = 300


def _redis_url() -> str:
    """Redis for the cache when its client library is installed; else Django's local memory (per worker)."""
    if importlib.util.find_spec("redis") is None:
        return ""
    return os.environ.get("HUFEN_BENCH_REDIS_URL", "redis://127.0.0.1:6379/7")


def _env(db: str) -> dict[str, str]:
    return {
        **os.environ,
        "DATABASE_URL": f"postgres://postgres@127.0.0.1:5432/{db}",
        "HUFEN_ENV": "production",
        "HUFEN_SECRET_KEY": secrets.token_urlsafe(48),
        "HUFEN_PII_KEY": secrets.token_urlsafe(48),
        "REDIS_URL": _redis_url(),
        "HUFEN_DB_CONN_MAX_AGE": "600",
        "DJANGO_SETTINGS_MODULE": "hufen.settings",
    }


def _run(cmd: list[str], env: dict[str, str], **kw: Any) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(cmd, env=env, cwd=ROOT, text=True, capture_output=True, check=False, **kw)
    if done.returncode != 0:
        sys.stderr.write(done.stdout[-3000:] + done.stderr[-5000:])
        raise RuntimeError(f"{' '.join(cmd[:3])} … exited with {done.returncode}")
    return done


def _json_line(out: str, prefix: str = "") -> dict[str, Any]:
    for line in reversed(out.splitlines()):
        if line.startswith(prefix) and line[len(prefix) :].strip().startswith("{"):
            result: dict[str, Any] = json.loads(line[len(prefix) :])
            return result
    raise RuntimeError(f"no JSON line in output:\n{out[-2000:]}")


# --- steps that run inside Django (a subprocess with the bench environment) ---------------------------


def step_setup(members: int, out_dir: Path) -> dict[str, Any]:
    import django

    django.setup()
    from django.db.models import Count
    from django.utils import timezone

    from hufen.common.actors import SYSTEM
    from hufen.memberday.services import local_day, occurrence_add
    from hufen.membership.models import Member, PointsAccount, Program, TierDefinition, TierHistory
    from hufen.membership.programs import program_for_brand
    from hufen.org.models import Brand
    from hufen.org.selectors import actor_for_api_client
    from hufen.org.services import api_client_create
    from hufen.people.models import Ownership, Person

    current = Ownership.objects.filter(ended_at__isnull=True, person__status="active")
    top = current.values("vehicle__model__brand_id").annotate(n=Count("person_id", distinct=True)).order_by("-n")[0]
    brand = Brand.objects.get(pk=top["vehicle__model__brand_id"])
    person_ids = sorted(
        set(current.filter(vehicle__model__brand=brand).values_list("person_id", flat=True).distinct())
    )[: members + PROFILE_MEMBERS]
    program = program_for_brand(brand)
    entry = TierDefinition.objects.filter(program=program).order_by("rank").first()
    assert entry is not None
    have = set(Member.objects.filter(program=program).values_list("person_id", flat=True))
    now = timezone.now()
    program = Program.objects.get(pk=program.pk)
    new = [
        Member(
            program=program,
            person_id=pid,
            number=f"{program.number_prefix}{program.next_number + i:09d}",
            tier=entry,
            channel="import",
            joined_at=now,
        )
        for i, pid in enumerate(p for p in person_ids if p not in have)
    ]
    Member.objects.bulk_create(new, batch_size=2000)
    program.next_number += len(new)
    program.save(update_fields=["next_number"])
    made = list(Member.objects.filter(program=program, person_id__in=person_ids, account__isnull=True))
    PointsAccount.objects.bulk_create((PointsAccount(member=m) for m in made), batch_size=2000)
    TierHistory.objects.bulk_create(
        (TierHistory(member_id=m.pk, to_tier=entry, reason="join", changed_at=now) for m in made), batch_size=2000
    )
    # The benchmark acts as the operator who issues integration keys (`hufen apiclient create`).
    issuer = dataclasses.replace(SYSTEM, label="memberday-bench", extra_permissions=frozenset({"api_clients.manage"}))
    client, token = api_client_create(actor=issuer, name="memberday-bench", brand=brand)
    # Only members the brand's client may act for (its data scope): an owner outside it is a 404, not load.
    visible = Person.objects.visible_to(actor_for_api_client(client)).values("id")
    ids = list(
        Member.objects.filter(program=program, person_id__in=person_ids)
        .filter(person_id__in=visible)
        .order_by("id")
        .values_list("id", flat=True)
    )
    (out_dir / "all_ids.txt").write_text("\n".join(map(str, ids)) + "\n")
    occurrence = occurrence_add(actor=SYSTEM, brand=brand, day=local_day(brand, now))
    return {
        "brand": brand.code,
        "members_enrolled_in_scope": len(ids),
        "occurrence_id": occurrence.pk,
        "checkin_points": occurrence.checkin_points,
        "token": token,
        "member_id_min": min(ids),
        "member_id_max": max(ids),
    }


def step_grow(count: int, out_dir: Path) -> dict[str, Any]:
    """`count` more owners of the setup's brand, enrolled: a fresh crowd for a long run without loading a
    demo of millions. Each is modelled on an enrolled owner in the client's scope (the same dealer,
    vehicle model, city and district) with a name, mobile and VIN of its own (the demo's generators),
    written in bulk (`hufen.common.bulk.insert_rows`): person, vehicle, ownership, member, points
    account, tier history. The new member ids are appended to all_ids.txt."""
    import random

    import django

    django.setup()
    from django.db.models import Max
    from django.utils import timezone

    from hufen.common.bulk import insert_rows
    from hufen.demo import fakes
    from hufen.membership.models import Member, PointsAccount, Program, TierHistory
    from hufen.people.models import Ownership, Person, Vehicle

    ids = [int(x) for x in (out_dir / "all_ids.txt").read_text().split()]
    sample = list(Member.objects.filter(pk__in=ids[:5000]).select_related("program", "tier", "person").order_by("id"))
    brand_id = sample[0].program.brand_id
    templates = []
    for m in sample:
        # An owner whose current car was sold by one of the brand's dealers: that ownership alone puts
        # the clone in the brand client's scope.
        own = (
            Ownership.objects.filter(person_id=m.person_id, ended_at__isnull=True, dealer__brands=brand_id)
            .select_related("vehicle")
            .first()
        )
        if own is not None:
            templates.append((m, own))
        if len(templates) >= 300:
            break
    assert templates, "no enrolled owner to model the new ones on"
    program = Program.objects.get(pk=templates[0][0].program_id)
    rng = random.Random(count)
    names = fakes.NameMaker()
    base = (Person.objects.aggregate(n=Max("id"))["n"] or 0) + 10_000_000
    now = timezone.now()
    made = 0
    offset = Member.objects.filter(number__startswith=f"G{program.pk}").count()  # an earlier --grow's
    while made < count:
        chunk = min(20_000, count - made)
        people, vehicles, owners, members = [], [], [], []
        for i in range(made, made + chunk):
            m, own = templates[i % len(templates)]
            sex = rng.choice("MF")
            name = names.surname(rng) + names.given(rng, sex, rng.randint(1965, 2000))
            pinyin, initials = names.spell(name)
            t = m.person
            people.append(
                Person(
                    name=name, name_pinyin=pinyin, name_initials=initials, gender=sex,
                    phone=fakes.mobile(base + i), province=t.province, city=t.city, district=t.district,
                    source="dms",
                )
            )  # fmt: skip
            vehicles.append(
                Vehicle(
                    vin=fakes.vin("LGR", "ABCDE", 2025, 3_000_000 + offset + i),
                    model_id=own.vehicle.model_id,
                    colour="白",
                )
            )
        insert_rows(people)
        insert_rows(vehicles)
        for k, (person, vehicle) in enumerate(zip(people, vehicles, strict=True)):
            m, own = templates[(made + k) % len(templates)]
            owners.append(
                Ownership(person=person, vehicle=vehicle, dealer_id=own.dealer_id, delivered_at=own.delivered_at)
            )
            members.append(
                Member(
                    program=program, person=person, number=f"G{program.pk}{offset + made + k:012d}", tier_id=m.tier_id,
                    channel="import", joined_at=now,
                )
            )  # fmt: skip
        insert_rows(owners)
        insert_rows(members)
        insert_rows([PointsAccount(member=x) for x in members])
        insert_rows([TierHistory(member=x, to_tier_id=x.tier_id, reason="join", changed_at=now) for x in members])
        with (out_dir / "all_ids.txt").open("a") as f:
            f.write("".join(f"{x.pk}\n" for x in members))
        made += chunk
    return {"grown": made}


def step_fresh(occurrence_id: int, out_dir: Path) -> dict[str, Any]:
    """The members of the setup who have not checked in today: the last 300 for the profile, the rest
    for wrk (so a `--reuse` run measures first check-ins too)."""
    import django

    django.setup()
    from hufen.memberday.models import CheckIn

    done = set(CheckIn.objects.filter(occurrence_id=occurrence_id).values_list("member_id", flat=True))
    ids = [i for i in map(int, (out_dir / "all_ids.txt").read_text().split()) if i not in done]
    load, profile = ids[: len(ids) - PROFILE_MEMBERS], ids[len(ids) - PROFILE_MEMBERS :]
    (out_dir / "ids.txt").write_text("\n".join(map(str, load)) + "\n")
    (out_dir / "profile_ids.txt").write_text("\n".join(map(str, profile)) + "\n")
    return {"fresh_members": len(load), "already_checked_in": len(done)}


def step_count(occurrence_id: int) -> dict[str, Any]:
    import django

    django.setup()
    from hufen.common.models import DomainEvent
    from hufen.memberday.models import CheckIn
    from hufen.membership.models import PointsEntry

    return {
        "checkins": CheckIn.objects.filter(occurrence_id=occurrence_id).count(),
        "checkins_pending": CheckIn.objects.filter(occurrence_id=occurrence_id, points_status="pending").count(),
        "checkin_entries": PointsEntry.objects.filter(
            reason="check_in", ref_type="memberday_occurrence", ref_id=str(occurrence_id)
        ).count(),
        "checkins_linked_to_entries": CheckIn.objects.filter(
            occurrence_id=occurrence_id, points_status="awarded", entry_id__isnull=False
        ).count(),
        "checkin_events": DomainEvent.objects.filter(name="memberday_checked_in").count(),
    }


def step_profile(ids_file: Path, token: str) -> dict[str, Any]:
    """Where one check-in's time goes: the WSGI application in-process (what gunicorn and granian call:
    the check-in lane, then Django's handler), the CPU of this process and of its PostgreSQL backend per
    request, then a cProfile pass for the split."""
    import cProfile
    import io
    import pstats

    import django

    django.setup()
    from django.db import connection

    from hufen.wsgi import application as handler

    ids = [int(x) for x in ids_file.read_text().split()]
    statuses: dict[int, int] = {}

    def request(mid: int) -> None:
        body = json.dumps({"member_id": mid}).encode()
        environ = {
            "REQUEST_METHOD": "POST", "PATH_INFO": "/api/v1/memberday/check-ins", "SERVER_NAME": "127.0.0.1",
            "SERVER_PORT": "80", "HTTP_HOST": "127.0.0.1", "REMOTE_ADDR": "127.0.0.1", "wsgi.url_scheme": "http",
            "CONTENT_TYPE": "application/json", "CONTENT_LENGTH": str(len(body)), "wsgi.input": io.BytesIO(body),
            "wsgi.errors": sys.stderr, "HTTP_AUTHORIZATION": f"Bearer {token}",
            "HTTP_IDEMPOTENCY_KEY": f"profile-{mid}",
        }  # fmt: skip
        status: list[str] = []
        b"".join(handler(environ, lambda s, h, *a: status.append(s)))
        code = int(status[0].split()[0])
        statuses[code] = statuses.get(code, 0) + 1

    def backend_cpu() -> float:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_backend_pid()")
            pid = cursor.fetchone()[0]
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    warm, timed, profiled = ids[:20], ids[20:160], ids[160:]
    for mid in warm:  # connection, prepared statement, token cache
        request(mid)
    pg0, cpu0, wall0 = backend_cpu(), time.process_time(), time.perf_counter()
    for mid in timed:
        request(mid)
    wall, cpu, pg = time.perf_counter() - wall0, time.process_time() - cpu0, backend_cpu() - pg0
    profiler = cProfile.Profile()
    profiler.enable()
    for mid in profiled:
        request(mid)
    profiler.disable()
    raw: dict[Any, Any] = pstats.Stats(profiler).stats  # type: ignore[attr-defined]

    def cumulative(name: str, module: str) -> float:
        return sum(v[3] for (file, _, func), v in raw.items() if func == name and module in file)

    n, m = max(len(timed), 1), max(len(profiled), 1)
    whole = cumulative("__call__", "hufen/memberday/middleware.py")
    lane = cumulative("answer_check_in", "hufen/memberday/middleware.py")
    statement = cumulative("_execute", "hufen/memberday/hotwrite.py")
    live = cumulative("checked_in", "hufen/memberday/live.py")
    parts = {
        "wsgi_lane_outside_the_answer": whole - lane,
        "fast_lane_python": lane - statement - live,
        "the_one_statement_round_trip": statement,
        "live_counters_redis": live,
    }
    from hufen.memberday.awards import memberday_award_pending

    drain_began = time.perf_counter()
    drained = memberday_award_pending()
    drain_seconds = time.perf_counter() - drain_began
    top = sorted(raw.items(), key=lambda kv: kv[1][2], reverse=True)[:10]
    return {
        "requests": n + m,
        "statuses": statuses,
        "per_request_without_profiler": {
            "wall_ms": round(wall / n * 1000, 3),
            "python_cpu_ms": round(cpu / n * 1000, 3),
            "postgres_backend_cpu_ms": round(pg / n * 1000, 3),
        },
        "profiled_wall_ms_per_request": {k: round(v / m * 1000, 3) for k, v in parts.items()},
        "top_self_time": [
            {"function": f"{Path(file).name}:{func}", "ms_per_request": round(v[2] / m * 1000, 3)}
            for (file, _, func), v in top
        ],
        "award_drain": {
            "checkins": drained.checkins,
            "batches": drained.batches,
            "seconds": round(drain_seconds, 3),
            "ms_per_award": round(drain_seconds / max(drained.checkins, 1) * 1000, 3),
        },
    }


def step_pgbench_script(token: str, out: Path, now: str) -> dict[str, Any]:
    """pgbench's script: the statement the server prepares, with each parameter as pgbench sends it —
    the member id and the Idempotency-Key random per transaction, the clock fixed inside today's
    Member Day, the event id from gen_random_uuid()."""
    import django

    django.setup()
    from django.db import connection
    from psycopg import sql as pgsql

    from hufen.memberday import hotwrite
    from hufen.org.services import api_client_actor

    actor = api_client_actor(token)
    assert actor is not None
    statement = hotwrite.kept_statement(actor, True)
    assert statement is not None, "the check-in statement cannot be built on this database"
    batch = int(os.environ.get("HUFEN_BENCH_PGBENCH_BATCH", "1"))
    now_mark, wall_mark = object(), object()
    as_sql: dict[int, str] = {id(now_mark): "CAST(:now AS timestamptz)", id(wall_mark): "now()"}
    requests = []
    for i in range(batch):
        mid, key, event = object(), object(), object()
        as_sql[id(mid)] = f"CAST(:mid{i} AS bigint)"
        as_sql[id(key)] = f"('pgb-' || CAST(:rnd{i} AS text))"
        as_sql[id(event)] = "gen_random_uuid()"
        requests.append(
            hotwrite.Request(actor, mid, "app", now_mark, ("api_client:pgbench", key, "pgbench"), wall_mark, event)
        )
    rows = hotwrite.statement_rows(requests)
    params = [None, *statement.scope_params]  # the order of hotwrite.statement_params; $1 is built below
    connection.ensure_connection()

    variables: dict[str, str] = {}

    def literal(p: Any) -> str:
        if isinstance(p, str) and ":" in p:
            # pgbench would read ":name" inside a literal as its variable: pass the text as a variable
            # (a parameter of the prepared statement, as the server sends it).
            name = f"text{len(variables)}"
            variables[name] = p
            return f"CAST(:{name} AS text)"
        return as_sql.get(id(p)) or pgsql.Literal(p).as_string(connection.connection)

    # The requests' jsonb, built in SQL from pgbench's variables: the same input the server sends.
    built = ", ".join(
        "jsonb_build_object(" + ", ".join(f"'{k}', {literal(v)}" for k, v in row.items()) + ")" for row in rows
    )
    values = [f"jsonb_build_array({built})", *(literal(p) for p in params[1:])]
    text = statement.sql
    for i in range(len(values), 0, -1):  # $10 before $1
        text = text.replace(f"${i}", values[i - 1])
    draws = "".join(f"\\set mid{i} random(:lo, :hi)\n\\set rnd{i} random(1, 1000000000000)\n" for i in range(batch))
    script = draws + " ".join(text.split()) + ";\n"
    out.write_text(script)
    return {"script": str(out), "parameters": len(params), "now": now, "variables": variables, "batch": batch}


# --- the orchestration ---------------------------------------------------------------------------------


def _pgbench(db: str, env: dict[str, str], setup: dict[str, Any], clients: int, seconds: int) -> dict[str, Any]:
    """The database's ceiling: the server's own prepared statement (written out by `_pgbench_script`),
    run by pgbench's clients with no Python in between — each transaction a first check-in where the
    random member has none yet, else the repeat tap's answer."""
    script = ROOT / "var" / "bench-memberday" / "checkin_statement.sql"
    now = time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime())
    bench_env = {**env, "HUFEN_BENCH_TOKEN": setup["token"]}
    made = _json_line(_run([sys.executable, __file__, "_pgbench_script", str(script), now], bench_env).stdout)
    cmd = [
        "pgbench", *PG, "-n", "-M", "prepared", "-c", str(clients), "-j", "2", "-T", str(seconds), "-f", str(script),
        "-D", f"lo={setup['member_id_min']}", "-D", f"hi={setup['member_id_max']}", "-D", f"now={now}",
        *[arg for name, value in made["variables"].items() for arg in ("-D", f"{name}={value}")],
        db,
    ]  # fmt: skip
    # As the server's connections do (hotwrite._execute): the generic plan, planned once.
    out = _run(cmd, {**env, "PGOPTIONS": "-c plan_cache_mode=force_generic_plan"}).stdout
    tps = re.search(r"tps = ([\d.]+) \(without initial connection time\)", out)
    latency = re.search(r"latency average = ([\d.]+) ms", out)
    failed = re.search(r"number of failed transactions: (\d+)", out)
    return {
        "statement": "the server's one check-in statement, prepared (-M prepared)",
        "checkins_per_transaction": made["batch"],
        "parameters": made["parameters"],
        "clients": clients,
        "seconds": seconds,
        "transactions_per_s": float(tps.group(1)) if tps else None,
        "checkin_requests_per_s": round(float(tps.group(1)) * made["batch"], 1) if tps else None,
        "latency_avg_ms": float(latency.group(1)) if latency else None,
        "failed": int(failed.group(1)) if failed else 0,
    }


# libpq names the connections of each part (PGAPPNAME), so their PostgreSQL backends can be told apart.
SERVER_APP, DRAIN_APP = "hufen-bench-server", "hufen-bench-drain"


def _pg_roles() -> dict[int, str]:
    """What each PostgreSQL process is doing it for: the server's or the drain's backends, another
    client, or the server's own work (autovacuum worker, checkpointer, walwriter ...)."""
    sql = "SELECT pid, backend_type, application_name FROM pg_stat_activity"
    out = subprocess.run(["psql", *PG, "-d", "postgres", "-AtF", "\t", "-c", sql], capture_output=True, text=True)
    roles: dict[int, str] = {}
    for line in out.stdout.splitlines():
        pid, kind, app = [*line.split("\t"), "", ""][:3]
        if kind == "client backend":
            kind = {SERVER_APP: "server_backends", DRAIN_APP: "drain_backends"}.get(app, "other_clients")
        roles[int(pid)] = kind.replace(" ", "_")
    return roles


def _cpu_by_part(server_group: int, drain_group: int) -> dict[str, Any]:
    """CPU seconds so far of the server's and the drain's process groups and of all postgres processes,
    and of each postgres process by its pid (`_pg_split` turns two of these into CPU by role)."""
    tick = os.sysconf("SC_CLK_TCK")
    parts: dict[str, Any] = {"server": 0.0, "award_drain": 0.0, "postgresql": 0.0, "pids": {}}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:
            continue  # the process ended meanwhile
        name = text[text.index("(") + 1 : text.rindex(")")]
        fields = text.rsplit(")", 1)[1].split()
        group, cpu = int(fields[2]), (int(fields[11]) + int(fields[12])) / tick
        if group == server_group:
            parts["server"] += cpu
        elif group == drain_group:
            parts["award_drain"] += cpu
        elif name == "postgres":
            parts["postgresql"] += cpu
            parts["pids"][int(stat.parent.name)] = cpu
    return parts


def _pg_split(before: dict[str, Any], after: dict[str, Any], roles: dict[int, str]) -> dict[str, float]:
    """PostgreSQL's CPU between two samples by role (a process that ended between them is not seen)."""
    split: dict[str, float] = {}
    for pid, cpu in after["pids"].items():
        role = roles.get(pid, "ended_or_unknown")
        split[role] = split.get(role, 0.0) + cpu - before["pids"].get(pid, 0.0)
    return split


def _wait_ready(base: str, server: subprocess.Popen[bytes], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError("the server exited; see the server log")
        try:
            # Unauthenticated: a quick JSON 401 proves the whole stack (Django, database) is up.
            urllib.request.urlopen(f"{base}/api/v1/memberday/occurrences", timeout=10).close()
            return
        except urllib.error.HTTPError as exc:
            if exc.code == 401:
                return
            raise
        except OSError:
            time.sleep(0.3)
    raise RuntimeError("the server did not answer within a minute")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--members", type=int, default=10_000)
    parser.add_argument("--duration", type=int, default=20, help="seconds of load (wrk and pgbench)")
    parser.add_argument("--connections", type=int, default=32, help="wrk connections")
    parser.add_argument("--wrk-threads", type=int, default=2)
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers")
    parser.add_argument("--threads", type=int, default=4, help="threads per gunicorn worker")
    parser.add_argument(
        "--server",
        choices=["gunicorn", "granian", "serve"],
        default="gunicorn",
        help="gunicorn or granian (`hufen serve --server granian`), production settings without an access "
        "log; serve: `hufen serve` as shipped (gunicorn, logging every request)",
    )
    parser.add_argument("--drain-every", type=float, default=5, help="seconds between award drains during the load")
    parser.add_argument(
        "--pgbench-clients", type=int, default=16, help="0: no pgbench (its transactions check members in too)"
    )
    parser.add_argument(
        "--pgbench-batch",
        type=int,
        default=1,
        help="check-ins per pgbench transaction (the statement's arrays), as the server's group commit sends them",
    )
    parser.add_argument(
        "--drain-nice",
        type=int,
        default=0,
        help="run the award drain at this lower CPU priority (nice), as a background worker beside the server",
    )
    parser.add_argument(
        "--grow",
        type=int,
        default=0,
        help="first enrol this many more owners of the brand (bulk, modelled on enrolled ones): fresh members "
        "for a long run (`--reuse --grow 600000 --duration 600`)",
    )
    parser.add_argument("--port", type=int, default=8791)
    parser.add_argument("--db", default="hufen_bench_memberday", help="scratch database (dropped and created)")
    parser.add_argument("--keep", action="store_true", help="keep the database afterwards")
    parser.add_argument(
        "--reuse",
        action="store_true",
        help="use the database a previous --keep run set up (its members who have not checked in yet); implies --keep",
    )
    args = parser.parse_args()
    if not 1_000 <= args.members <= 5_000_000:
        parser.error("--members: 1,000 to 5,000,000")
    if not 1 <= args.duration <= 3_600:
        parser.error("--duration: 1 to 3,600 seconds")

    work = ROOT / "var" / "bench-memberday"
    work.mkdir(parents=True, exist_ok=True)
    saved = work / "setup.json"
    if args.reuse:
        args.keep = True
        if not saved.exists():
            parser.error(f"--reuse: no earlier setup in {saved} (run once with --keep)")
        kept = json.loads(saved.read_text())
        if kept["db"] != args.db:
            parser.error(f"--reuse: the kept setup is in database {kept['db']!r}, not {args.db!r}")
    env = _env(args.db)
    if args.reuse:
        env.update(kept["keys"])  # the tokens' hashes and the PII columns depend on them
    result: dict[str, Any] = {
        "benchmark": "memberday_check_in",
        "machine": {
            "cpus": os.cpu_count(),
            "load_average_before": [round(x, 2) for x in os.getloadavg()],
            "note": "shared with other work: figures are provisional",
        },
        "params": {k: v for k, v in vars(args).items() if k not in ("keep",)},
        "cache": "redis" if env["REDIS_URL"] else "locmem (the redis client library is not installed)",
    }
    if not args.reuse:
        subprocess.run(["dropdb", *PG, "--if-exists", args.db], env=env, check=True)
        subprocess.run(["createdb", *PG, args.db], env=env, check=True)
    server: subprocess.Popen[bytes] | None = None
    drainer: subprocess.Popen[bytes] | None = None
    try:
        began = time.monotonic()
        if args.reuse:
            setup = kept["setup"]
        else:
            demo_cmd = [str(BIN / "hufen"), "demo", "--persons", str(args.members * 2), "--json"]
            result["demo_persons"] = _json_line(_run(demo_cmd, env).stdout)["persons"]
            setup = _json_line(_run([sys.executable, __file__, "_setup", str(args.members), str(work)], env).stdout)
            keys = {k: env[k] for k in ("HUFEN_SECRET_KEY", "HUFEN_PII_KEY")}
            saved.write_text(json.dumps({"db": args.db, "setup": setup, "keys": keys}))
        if args.grow:
            grown = _json_line(_run([sys.executable, __file__, "_grow", str(args.grow), str(work)], env).stdout)
            result["grown"] = grown["grown"]
            setup["member_id_max"] = max(int(x) for x in (work / "all_ids.txt").read_text().split())
            saved.write_text(json.dumps({**json.loads(saved.read_text()), "setup": setup}))
        result["setup"] = {k: v for k, v in setup.items() if k != "token"}
        fresh_cmd = [sys.executable, __file__, "_fresh", str(setup["occurrence_id"]), str(work)]
        result["setup"].update(_json_line(_run(fresh_cmd, env).stdout))
        before = _json_line(_run([sys.executable, __file__, "_count", str(setup["occurrence_id"])], env).stdout)
        result["setup_seconds"] = round(time.monotonic() - began, 1)

        log = (work / "server.log").open("wb")
        if args.server == "granian":
            serve = [str(BIN / "hufen"), "serve", "--server", "granian", "--no-access-log", "--port", str(args.port),
                     "--workers", str(args.workers), "--threads", str(args.threads)]  # fmt: skip
        elif args.server == "serve":
            serve = [str(BIN / "hufen"), "serve", "--port", str(args.port), "--workers", str(args.workers),
                     "--threads", str(args.threads)]  # fmt: skip
        else:
            serve = [str(BIN / "gunicorn"), "hufen.wsgi:application", "--bind", f"127.0.0.1:{args.port}",
                     "--workers", str(args.workers), "--threads", str(args.threads),
                     "--graceful-timeout", "10"]  # fmt: skip
        server = subprocess.Popen(
            serve,
            env={**env, "PGAPPNAME": SERVER_APP},
            cwd=ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        drain_log = (work / "drain.log").open("wb")
        drain_cmd = [str(BIN / "hufen"), "memberday", "award-pending", "--every", str(args.drain_every)]
        if args.drain_nice:
            drain_cmd = ["nice", "-n", str(args.drain_nice), *drain_cmd]
        drainer = subprocess.Popen(
            drain_cmd,
            # PYTHONUNBUFFERED: its JSON lines survive the SIGTERM at the end
            env={**env, "PYTHONUNBUFFERED": "1", "PGAPPNAME": DRAIN_APP},
            cwd=ROOT,
            stdout=drain_log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        base = f"http://127.0.0.1:{args.port}"
        _wait_ready(base, server)
        wrk_env = {
            **env,
            "HUFEN_BENCH_IDS": str(work / "ids.txt"),
            "HUFEN_BENCH_TOKEN": setup["token"],
            "HUFEN_BENCH_THREADS": str(args.wrk_threads),
            "HUFEN_BENCH_RUN": secrets.token_hex(4),
        }
        wrk = [
            "wrk", "-t", str(args.wrk_threads), "-c", str(args.connections), "-d", f"{args.duration}s",
            "--timeout", "10s", "-s", str(HERE / "checkin.lua"), base,
        ]  # fmt: skip
        cpu_before = _cpu_by_part(server.pid, drainer.pid)
        children_before = resource.getrusage(resource.RUSAGE_CHILDREN)
        result["http"] = _json_line(_run(wrk, wrk_env).stdout, "WRK_JSON ")
        result["http"]["errors"] = result["http"]["failed_status"] + sum(result["http"]["socket_errors"].values())
        cpu_after = _cpu_by_part(server.pid, drainer.pid)
        roles = _pg_roles()
        children_after = resource.getrusage(resource.RUSAGE_CHILDREN)
        wrk_cpu = (children_after.ru_utime + children_after.ru_stime) - (
            children_before.ru_utime + children_before.ru_stime
        )
        answered = max(result["http"]["requests"], 1)
        spent = {k: cpu_after[k] - cpu_before.get(k, 0.0) for k in cpu_after if k != "pids"} | {"wrk": wrk_cpu}
        pg_split = _pg_split(cpu_before, cpu_after, roles)
        result["cpu_during_load"] = {
            "seconds": {k: round(v, 2) for k, v in spent.items()},
            "ms_per_request": {k: round(v / answered * 1000, 3) for k, v in spent.items()},
            "note": "CPU seconds of each part while wrk ran (PostgreSQL: every postgres process; "
            "server and drain: their process groups)",
            "postgresql_ms_per_request_by_role": {
                k: round(v / answered * 1000, 3) for k, v in sorted(pg_split.items())
            },
        }
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)
        server = None
        os.killpg(drainer.pid, signal.SIGTERM)
        drainer.wait(timeout=30)
        drainer = None
        during = [json.loads(x) for x in (work / "drain.log").read_text().splitlines() if x.startswith("{")]
        began = time.monotonic()
        final = _json_line(_run([str(BIN / "hufen"), "memberday", "award-pending", "--json"], env).stdout)
        result["award_drain"] = {
            "during_load": {
                "runs": len(during),
                "checkins": sum(d["checkins"] for d in during),
                "seconds": round(sum(d["seconds"] for d in during), 2),
            },
            "after_load": {**final, "wall_seconds": round(time.monotonic() - began, 2)},
        }

        verify = subprocess.run([str(BIN / "hufen"), "points", "verify", "--json"], env=env, cwd=ROOT,
                                text=True, capture_output=True)  # fmt: skip
        verified = _json_line(verify.stdout)
        result["points_verify"] = {"ok": verified["ok"], "discrepancies": len(verified["discrepancies"])}
        counts = _json_line(_run([sys.executable, __file__, "_count", str(setup["occurrence_id"])], env).stdout)
        # One entry per check-in; wrk counts only answers it read before stopping, so up to one
        # request per connection may have committed unseen.
        created = result["http"]["created_201"]
        counts["agree"] = (
            counts["checkins"]
            == counts["checkin_entries"]
            == counts["checkins_linked_to_entries"]
            == counts["checkin_events"]
            and counts["checkins_pending"] == 0
            and created <= counts["checkins"] - before["checkins"] <= created + args.connections
        )
        counts["checkins_before_this_run"] = before["checkins"]
        result["reconciliation"] = counts

        profile_env = {**env, "HUFEN_BENCH_TOKEN": setup["token"]}
        result["profile"] = _json_line(
            _run([sys.executable, __file__, "_profile", str(work / "profile_ids.txt")], profile_env).stdout
        )

        if args.pgbench_clients > 0:  # pgbench's transactions check members in too: 0 keeps them for --reuse
            try:
                batch_env = {**env, "HUFEN_BENCH_PGBENCH_BATCH": str(args.pgbench_batch)}
                result["pgbench"] = _pgbench(args.db, batch_env, setup, args.pgbench_clients, args.duration)
            except RuntimeError as exc:  # keep the HTTP figures: report the ceiling's failure beside them
                result["pgbench"] = {"error": str(exc)}
                raise SystemExit(json.dumps(result, ensure_ascii=False, indent=2)) from exc
            verify = subprocess.run([str(BIN / "hufen"), "points", "verify", "--json"], env=env, cwd=ROOT,
                                    text=True, capture_output=True)  # fmt: skip
            result["pgbench"]["points_verify_ok"] = _json_line(verify.stdout)["ok"]
    finally:
        for proc in (server, drainer):
            if proc is not None:
                os.killpg(proc.pid, signal.SIGTERM)
                proc.wait(timeout=30)
        if not args.keep:
            subprocess.run(["dropdb", *PG, "--if-exists", args.db], env=env, check=False)
    result["machine"]["load_average_after"] = [round(x, 2) for x in os.getloadavg()]
    text = json.dumps(result, ensure_ascii=False, indent=2)
    print(text)
    results = ROOT / "benchmarks" / "results"
    results.mkdir(exist_ok=True)
    (results / f"memberday-{time.strftime('%Y%m%d-%H%M%S')}.json").write_text(text + "\n")


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    if len(sys.argv) > 1 and sys.argv[1] == "_fresh":
        print(json.dumps(step_fresh(int(sys.argv[2]), Path(sys.argv[3]))))
    elif len(sys.argv) > 1 and sys.argv[1] == "_setup":
        print(json.dumps(step_setup(int(sys.argv[2]), Path(sys.argv[3]))))
    elif len(sys.argv) > 1 and sys.argv[1] == "_grow":
        print(json.dumps(step_grow(int(sys.argv[2]), Path(sys.argv[3]))))
    elif len(sys.argv) > 1 and sys.argv[1] == "_count":
        print(json.dumps(step_count(int(sys.argv[2]))))
    elif len(sys.argv) > 1 and sys.argv[1] == "_pgbench_script":
        print(json.dumps(step_pgbench_script(os.environ["HUFEN_BENCH_TOKEN"], Path(sys.argv[2]), sys.argv[3])))
    elif len(sys.argv) > 1 and sys.argv[1] == "_profile":
        print(json.dumps(step_profile(Path(sys.argv[2]), os.environ["HUFEN_BENCH_TOKEN"])))
    else:
        main()
