# Copyright: (c) 2026, airgap.k8s contributors
# Apache License 2.0 (see LICENSE)
"""The certificate report: what ``_certscan`` found on each host, parsed and sorted by expiry.

Private to the collection. Pure functions of their arguments (the clock is
passed in), so the rules are unit-tested without Ansible.
"""

from __future__ import annotations

import datetime
import typing as t
from dataclasses import asdict, dataclass

from ansible_collections.airgap.k8s.plugins.module_utils._pki import (
    PkiError,
    common_name,
    is_ca_certificate,
    iso,
    issuer_common_name,
    parse_certificates,
    serial_hex,
    sha256_fingerprint,
)

DAY = datetime.timedelta(days=1)


@dataclass(frozen=True)
class Row:
    """One installed certificate."""

    host: str
    location: str
    kind: str
    subject: str
    issuer: str
    not_after: str
    days_left: int  # whole days, rounded down; negative once expired
    seconds_left: int
    serial: str
    sha256_fingerprint: str
    is_ca: bool

    def as_dict(self) -> dict[str, t.Any]:
        return asdict(self)


@dataclass
class Report:
    rows: list[Row]
    errors: list[dict[str, str]]
    expiring: list[Row]

    @property
    def lines(self) -> list[str]:
        return format_table(self.rows) + [f"cannot read {e['host']}:{e['path']}: {e['error']}" for e in self.errors]


def row_for(host: str, entry: t.Mapping[str, t.Any], now: datetime.datetime) -> Row:
    """Parse one entry of ``pki_cert_info``'s ``certificates``."""
    certs = parse_certificates(str(entry["pem"]).encode("ascii", errors="replace"), str(entry["location"]))
    cert = certs[0]
    left = cert.not_valid_after_utc - now
    return Row(
        host=host,
        location=str(entry["location"]) + (f" [{entry['index']}]" if int(entry.get("index") or 0) else ""),
        kind=str(entry.get("kind") or "file"),
        subject=common_name(cert) or cert.subject.rfc4514_string(),
        issuer=issuer_common_name(cert),
        not_after=iso(cert.not_valid_after_utc),
        days_left=int(left // DAY),
        seconds_left=int(left.total_seconds()),
        serial=serial_hex(cert.serial_number),
        sha256_fingerprint=sha256_fingerprint(cert),
        is_ca=is_ca_certificate(cert),
    )


def build_report(
    found: t.Mapping[str, t.Iterable[t.Mapping[str, t.Any]]],
    now: datetime.datetime,
    fail_within_days: int | None = None,
    errors: t.Mapping[str, t.Iterable[t.Mapping[str, str]]] | None = None,
) -> Report:
    """Rows for every host's certificates, soonest expiry first.

    ``found`` maps a host name to ``pki_cert_info``'s ``certificates``; ``errors``
    to its ``errors``. ``expiring`` lists the rows that expire within
    ``fail_within_days`` days (expired ones included).
    """
    rows: list[Row] = []
    problems = [{"host": host, **e} for host, errs in (errors or {}).items() for e in errs]
    for host, entries in found.items():
        for entry in entries:
            try:
                rows.append(row_for(host, entry, now))
            except (PkiError, KeyError, TypeError, ValueError) as exc:
                problems.append({"host": host, "path": str(entry.get("location", "?")), "error": str(exc)})
    rows.sort(key=lambda r: (r.seconds_left, r.host, r.location))
    expiring = []
    if fail_within_days is not None:
        limit = int(fail_within_days * DAY.total_seconds())
        expiring = [r for r in rows if r.seconds_left < limit]
    return Report(rows=rows, errors=problems, expiring=expiring)


TITLES = ("days", "not after", "host", "subject", "issuer", "where")
FIELDS = ("days_left", "not_after", "host", "subject", "issuer", "location")


def format_table(rows: t.Sequence[Row]) -> list[str]:
    """A plain-text table, one line per row, columns padded to fit."""
    cells = [[str(getattr(row, field)) for field in FIELDS] for row in rows]
    widths = [max([len(title)] + [len(c[i]) for c in cells]) for i, title in enumerate(TITLES)]
    # The last column is not padded: no trailing spaces.
    widths[-1] = 0

    def line(values: t.Sequence[str]) -> str:
        first = values[0].rjust(widths[0])
        return "  ".join([first, *(v.ljust(w) for v, w in zip(values[1:], widths[1:], strict=True))]).rstrip()

    return [line(TITLES), *(line(c) for c in cells)]


def describe(rows: t.Sequence[Row]) -> str:
    """One short sentence per certificate, for a failure message."""
    return "; ".join(
        f"{r.host}:{r.location} ({r.subject}) {'expired' if r.seconds_left <= 0 else 'expires'} {r.not_after}"
        for r in rows
    )
