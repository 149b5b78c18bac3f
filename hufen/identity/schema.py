"""Which column means what: the built-in Chinese schema and user configs (TOML).

A config lets `hufen identity resolve` link a file of any shape: each column is given a *kind*,
and the kind decides how it is normalised, compared, blocked on and whether it is a strong
identifier. Errors name the key and the reason, like every importer in Hufen.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# Strong identifiers link on their own (unless the records contradict each other).
STRONG_KINDS = frozenset({"identifier", "phone", "email", "id_card", "vin"})
NAME_KINDS = frozenset({"name", "given_name", "family_name"})
KINDS = STRONG_KINDS | NAME_KINDS | frozenset({"date", "gender", "address", "text", "category"})


class ConfigError(ValueError):
    """An invalid config: `key` names where, `reason` says why."""

    def __init__(self, key: str, reason: str) -> None:
        self.key = key
        self.reason = reason
        super().__init__(f"{key}: {reason}")


@dataclass(frozen=True)
class Schema:
    record_id: str = "record_id"
    columns: dict[str, str] = field(default_factory=dict)  # column → kind
    merge: float = 0.995  # match probability at or above which two records are one person
    review: float = 0.5  # at or above (and below merge): review queue
    chinese: bool = True  # Chinese address splitting, ID cards, honorific names
    max_identifier_group: int = 50  # a "phone" shared by more records is a placeholder, not evidence

    def of_kind(self, *kinds: str) -> list[str]:
        return [col for col, kind in self.columns.items() if kind in kinds]


DEFAULT_SCHEMA = Schema(
    columns={
        "name": "name",
        "phone": "phone",
        "email": "email",
        "id_number": "id_card",
        "birth_date": "date",
        "gender": "gender",
        "province": "category",
        "city": "category",
        "district": "category",
        "address": "address",
        "wechat_unionid": "identifier",
        "app_user_id": "identifier",
        "vin": "vin",
    }
)


def _probability(data: dict[str, Any], key: str, default: float) -> float:
    value = data.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0.0 < float(value) < 1.0:
        raise ConfigError(f"thresholds.{key}", f"must be a probability strictly between 0 and 1, got {value!r}")
    return float(value)


def schema_from_mapping(data: dict[str, Any]) -> Schema:
    unknown = set(data) - {"record_id", "columns", "thresholds", "chinese", "max_identifier_group"}
    if unknown:
        raise ConfigError(sorted(unknown)[0], "unknown key (expected record_id, columns, thresholds, chinese)")
    record_id = data.get("record_id", "record_id")
    if not isinstance(record_id, str) or not record_id:
        raise ConfigError("record_id", "must be a column name")
    columns = data.get("columns")
    if not isinstance(columns, dict) or not columns:
        raise ConfigError("columns", 'must be a table of `column = "kind"` with at least one column')
    for column, kind in columns.items():
        if kind not in KINDS:
            raise ConfigError(f"columns.{column}", f"unknown kind {kind!r} (one of {', '.join(sorted(KINDS))})")
        if column == record_id:
            raise ConfigError(f"columns.{column}", "is the record id column; it cannot also be matched on")
    thresholds = data.get("thresholds", {})
    if not isinstance(thresholds, dict):
        raise ConfigError("thresholds", "must be a table with `merge` and `review`")
    extra = set(thresholds) - {"merge", "review"}
    if extra:
        raise ConfigError(f"thresholds.{sorted(extra)[0]}", "unknown threshold (expected merge, review)")
    merge = _probability(thresholds, "merge", Schema.merge)
    review = _probability(thresholds, "review", Schema.review)
    if review > merge:
        raise ConfigError("thresholds", f"review ({review}) must not be above merge ({merge})")
    chinese = data.get("chinese", False)
    if not isinstance(chinese, bool):
        raise ConfigError("chinese", "must be true or false")
    group = data.get("max_identifier_group", Schema.max_identifier_group)
    if isinstance(group, bool) or not isinstance(group, int) or group < 2:
        raise ConfigError("max_identifier_group", "must be an integer of at least 2")
    return Schema(record_id, dict(columns), merge, review, chinese, group)


def load_schema(path: Path) -> Schema:
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8-sig"))
    except OSError as exc:
        raise ConfigError(str(path), f"cannot be read ({exc.strerror})") from exc
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(str(path), f"is not valid TOML ({exc})") from exc
    return schema_from_mapping(data)


def check_columns(schema: Schema, header: list[str], *, strict: bool) -> None:
    """The record id column must exist; configured columns must too (the default schema is lenient)."""
    if schema.record_id not in header:
        raise ConfigError(schema.record_id, f"column missing from the input header ({', '.join(header) or 'empty'})")
    if strict:
        for column in schema.columns:
            if column not in header:
                raise ConfigError(f"columns.{column}", "unknown column: not in the input header")
