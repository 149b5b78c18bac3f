"""`hufen identity rebuild` and `train`: the batch engine over every stored SourceRecord.

A rebuild re-clusters all records with a freshly trained model and then maps clusters onto the
persons that already exist, so that IDs stay stable:

- each cluster goes to the existing person holding most of its records (on a tie, the older one),
  each person to at most one cluster, biggest clusters first;
- a person whose records all land in a cluster that went to another person is merged into it
  (`people.merge.person_merge`: the absorbed ID redirects to the survivor);
- records of a cluster with no person left get a new person;
- persons that no new evidence touches keep exactly their records, hence their IDs.

Reviewers' must-link and cannot-link decisions are passed to the batch engine, so they survive.
"""

from __future__ import annotations

import time
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pandas as pd
from django.db import transaction

from hufen.common.actors import Actor
from hufen.common.audit import audit
from hufen.identity.linking import ONLINE_SCHEMA
from hufen.identity.matching import Resolution, resolve_rows
from hufen.identity.models import BlockKey, Identifier, LinkConstraint, ReviewPair, SourceRecord
from hufen.identity.prepare import frame_columns
from hufen.identity.services import identity_model_store, identity_name_counts_rebuild, person_input
from hufen.people.models import Person
from hufen.people.services import person_create

Note = Callable[[str], None]


@dataclass
class RebuildSummary:
    records: int
    persons_before: int
    persons_after: int
    records_moved: int
    merges: int
    new_persons: int
    review_pairs: int
    model_id: int
    seconds: dict[str, float]

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def load_rows() -> tuple[list[dict[str, Any]], list[int], list[int]]:
    """Every record's stored normalised row (uid = position, rid = record pk), and current persons."""
    rows: list[dict[str, Any]] = []
    pks: list[int] = []
    persons: list[int] = []
    queryset = SourceRecord.objects.order_by("pk").values_list("pk", "person_id", "normalized")
    for uid, (pk, person_id, normalized) in enumerate(queryset.iterator(chunk_size=5000)):
        rows.append({**normalized, "uid": uid, "rid": str(pk)})
        pks.append(pk)
        persons.append(person_id)
    return rows, pks, persons


def batch_resolve(rows: list[dict[str, Any]], note: Note) -> Resolution:
    columns = frame_columns(ONLINE_SCHEMA)
    frame = pd.DataFrame(rows, columns=columns).astype({c: "string" for c in columns if c != "uid"})
    constraints = LinkConstraint.objects.values_list("kind", "record_a_id", "record_b_id")
    must = [(str(a), str(b)) for kind, a, b in constraints if kind == "must"]
    cannot = [(str(a), str(b)) for kind, a, b in constraints if kind == "cannot"]
    return resolve_rows(rows, frame, ONLINE_SCHEMA, progress=note, must_link=must, cannot_link=cannot)


def assign(
    clusters: dict[str, list[int]], current: dict[int, int]
) -> tuple[dict[str, int | None], list[tuple[int, int]]]:
    """Cluster → existing person (None: a new one), and (survivor, absorbed) merges.

    `clusters` maps a cluster label to its record pks, `current` a record pk to its person today."""
    holders = {label: Counter(current[r] for r in members) for label, members in clusters.items()}
    total = Counter(current.values())
    order = sorted(clusters, key=lambda label: (-len(clusters[label]), label))
    taken: dict[int, str] = {}
    target: dict[str, int | None] = {}
    for label in order:
        choice = None
        for person, _ in sorted(holders[label].items(), key=lambda kv: (-kv[1], kv[0])):
            if person not in taken:
                choice = person
                break
        target[label] = choice
        if choice is not None:
            taken[choice] = label
    merges: list[tuple[int, int]] = []
    for label, counts in holders.items():
        survivor = target[label]
        for person, n in counts.items():
            # Every record of a person that got no cluster of its own is here: it is the same human.
            if person != survivor and person not in taken and n == total[person] and survivor is not None:
                merges.append((survivor, person))
    return target, merges


def identity_rebuild(*, actor: Actor, note: Note = lambda stage: None) -> RebuildSummary:
    timings: dict[str, float] = {}
    started = time.perf_counter()
    rows, pks, persons = load_rows()
    timings["load"] = round(time.perf_counter() - started, 3)
    if not rows:
        raise ValueError("there are no source records to rebuild")
    mark = time.perf_counter()
    resolution = batch_resolve(rows, note)
    timings["resolve"] = round(time.perf_counter() - mark, 3)
    mark = time.perf_counter()
    note("applying")
    summary = _apply(actor, resolution, pks, persons)
    timings["apply"] = round(time.perf_counter() - mark, 3)
    timings["total"] = round(time.perf_counter() - started, 3)
    summary.seconds = timings
    return summary


@transaction.atomic
def _apply(actor: Actor, resolution: Resolution, pks: list[int], persons: list[int]) -> RebuildSummary:
    current = dict(zip(pks, persons, strict=True))
    clusters: dict[str, list[int]] = defaultdict(list)
    for rid, label in zip(resolution.record_ids, resolution.person_ids, strict=True):
        clusters[label].append(int(rid))
    target, merges = assign(clusters, current)
    new_persons = 0
    moves: dict[int, list[int]] = defaultdict(list)  # person → records to move onto it
    for label, members in clusters.items():
        person_id = target[label]
        if person_id is None:
            first = SourceRecord.objects.get(pk=min(members))
            fields = {k: v for k, v in first.raw.items() if not k.startswith("id_number")}
            person_id = person_create(actor=actor, data=person_input(first.source, fields, first.normalized)).pk
            new_persons += 1
        for record in members:
            if current[record] != person_id:
                moves[person_id].append(record)
    for person_id, records in moves.items():
        for chunk in _chunks(records, 2000):
            SourceRecord.objects.filter(pk__in=chunk).update(person_id=person_id)
            Identifier.objects.filter(record_id__in=chunk).update(person_id=person_id)
            BlockKey.objects.filter(record_id__in=chunk).update(person_id=person_id)
    from hufen.people.merge import person_merge

    people = Person.objects.in_bulk({p for pair in merges for p in pair})
    for survivor, absorbed in merges:
        person_merge(
            actor=actor,
            survivor=people[survivor],
            absorbed=people[absorbed],
            reason="identity rebuild: one cluster",
            evidence={"rebuild": True},
        )
    review = _review_pairs(resolution)
    identity_name_counts_rebuild()  # repairs any drift of the online name counts
    model = identity_model_store(
        actor=actor,
        parameters=resolution.parameters,
        trained_on=f"rebuild of {len(pks)} records",
        records=len(pks),
    )
    summary = RebuildSummary(
        records=len(pks),
        persons_before=len(set(persons)),
        persons_after=len(clusters),
        records_moved=sum(len(r) for r in moves.values()),
        merges=len(merges),
        new_persons=new_persons,
        review_pairs=review,
        model_id=model.pk,
        seconds={},
    )
    audit(actor=actor, action="identity.rebuild", obj_type="identity", obj_id="rebuild", summary=summary.as_dict())
    return summary


def _review_pairs(resolution: Resolution) -> int:
    decided = set(LinkConstraint.objects.values_list("record_a_id", "record_b_id"))
    known = set(ReviewPair.objects.values_list("record_a_id", "record_b_id"))
    label = dict(zip(resolution.record_ids, resolution.person_ids, strict=True))
    new = []
    for pair in resolution.review:
        if label[pair["record_id_l"]] == label[pair["record_id_r"]]:
            continue  # a later, stronger link joined them after all
        a, b = sorted((int(pair["record_id_l"]), int(pair["record_id_r"])))
        if (a, b) in decided or (a, b) in known:
            continue
        known.add((a, b))
        new.append(
            ReviewPair(
                record_a_id=a,
                record_b_id=b,
                probability=pair["match_probability"],
                match_weight=pair["match_weight"],
                evidence=pair["evidence"],
            )
        )
    ReviewPair.objects.bulk_create(new, batch_size=1000)
    return len(new)


def _chunks(items: list[int], size: int) -> list[list[int]]:
    return [items[i : i + size] for i in range(0, len(items), size)]
