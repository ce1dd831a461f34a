#!/usr/bin/env python3
"""Reads mails back as a mail client and a calendar client would, for the mail tests.

    python3 tests/mail/read_invites.py FROM TO FILE.eml...

FROM and TO are RFC 3339 instants. Each file is parsed with the standard library's MIME
parser (`email`, policy `default`); each text/calendar part with `icalendar`. Prints one JSON
object:

- "mails": per file, in the order given: "subject", "to", "from" (headers decoded),
  "content_types" (every MIME part, depth first), "text" and "html" (the decoded bodies of the
  first text/plain and text/html parts), "calendar": the first text/calendar part's "method"
  (the part's `method=` parameter and the VCALENDAR's METHOD), "uids", "sequences", "events"
  (per VEVENT: "recurrence_id", "dtstart", "status", as UTC RFC 3339), "conference" (every
  CONFERENCE value) and "occurrences": what `recurring-ical-events` expands between FROM and
  TO ("start", "end" in UTC RFC 3339, "status"), STATUS:CANCELLED ones left out.
- "applied": the files applied in order the way RFC 5546 tells a calendar to: a REQUEST
  (with a higher or equal SEQUENCE) replaces the event; a CANCEL with a RECURRENCE-ID cancels
  that occurrence (its VEVENT is added to the stored event), one without cancels the event.
  "occurrences" as above, of the result; "sequence" the last applied.
"""

import datetime
import email
import email.policy
import json
import sys

import icalendar
import recurring_ical_events


def parse_instant(text):
    return datetime.datetime.fromisoformat(text.replace("Z", "+00:00"))


def utc(value):
    """A DATE-TIME property's instant (or a date's midnight UTC) as RFC 3339 UTC."""
    if value is None:
        return None
    dt = value.dt if hasattr(value, "dt") else value
    if not isinstance(dt, datetime.datetime):
        dt = datetime.datetime(dt.year, dt.month, dt.day, tzinfo=datetime.timezone.utc)
    if dt.tzinfo is None:
        raise SystemExit(f"floating time {dt} in an invitation")
    return dt.astimezone(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def values(component, name):
    """Every value of a property that may appear more than once."""
    v = component.get(name)
    if v is None:
        return []
    return v if isinstance(v, list) else [v]


def expand(cal, start, end):
    out = []
    for ev in recurring_ical_events.of(cal).between(start, end):
        status = str(ev.get("STATUS", "CONFIRMED")).upper()
        if status == "CANCELLED":
            continue
        out.append({"start": utc(ev.get("DTSTART")), "end": utc(ev.get("DTEND")), "status": status})
    out.sort(key=lambda o: o["start"])
    return out


def calendar_of(msg):
    for part in msg.walk():
        if part.get_content_type() == "text/calendar":
            return part
    return None


def read(path, start, end):
    with open(path, "rb") as f:
        msg = email.message_from_bytes(f.read(), policy=email.policy.default)
    out = {
        "file": path,
        "subject": str(msg["subject"]),
        "to": str(msg["to"]),
        "from": str(msg["from"]),
        "content_types": [p.get_content_type() for p in msg.walk()],
        "text": None,
        "html": None,
        "calendar": None,
    }
    for part in msg.walk():
        kind = part.get_content_type()
        if kind == "text/plain" and out["text"] is None:
            out["text"] = part.get_content()
        elif kind == "text/html" and out["html"] is None:
            out["html"] = part.get_content()
    part = calendar_of(msg)
    cal = None
    if part is not None:
        raw = part.get_payload(decode=True)
        cal = icalendar.Calendar.from_ical(raw)
        events = list(cal.walk("VEVENT"))
        out["calendar"] = {
            "part_method": part.get_param("method"),
            "method": str(cal.get("METHOD")),
            "crlf": b"\r\n" in raw and b"\n" not in raw.replace(b"\r\n", b""),
            "uids": sorted({str(e.get("UID")) for e in events}),
            "sequences": [int(e.get("SEQUENCE", 0)) for e in events],
            "events": [
                {
                    "recurrence_id": utc(e.get("RECURRENCE-ID")),
                    "dtstart": utc(e.get("DTSTART")),
                    "status": str(e.get("STATUS", "")),
                    "rrule": e.get("RRULE").to_ical().decode() if e.get("RRULE") else None,
                }
                for e in events
            ],
            "conference": [str(c) for e in events for c in values(e, "CONFERENCE")],
            "occurrences": expand(cal, start, end),
        }
    return out, cal


def apply(state, cal):
    """One iTIP message applied to the stored calendar (or None)."""
    method = str(cal.get("METHOD")).upper()
    events = list(cal.walk("VEVENT"))
    if method == "REQUEST":
        if state is not None:
            old = max(int(e.get("SEQUENCE", 0)) for e in state.walk("VEVENT"))
            new = max(int(e.get("SEQUENCE", 0)) for e in events)
            if new < old:
                return state  # RFC 5546 §2.1.5: an older revision is ignored
        return cal
    if method == "CANCEL":
        if state is None:
            return None
        if all(e.get("RECURRENCE-ID") is None for e in events):
            return None
        for cancelled in events:
            rid = utc(cancelled.get("RECURRENCE-ID"))
            state.subcomponents[:] = [
                c
                for c in state.subcomponents
                if not (c.name == "VEVENT" and utc(c.get("RECURRENCE-ID")) == rid)
            ]
            state.add_component(cancelled)
        return state
    return state


def main():
    start, end = parse_instant(sys.argv[1]), parse_instant(sys.argv[2])
    mails = []
    state = None
    sequence = None
    for path in sys.argv[3:]:
        out, cal = read(path, start, end)
        mails.append(out)
        if cal is not None:
            state = apply(state, cal)
            sequence = max(out["calendar"]["sequences"])
    applied = {
        "occurrences": expand(state, start, end) if state is not None else [],
        "sequence": sequence,
    }
    json.dump({"mails": mails, "applied": applied}, sys.stdout, indent=1)
    print()


if __name__ == "__main__":
    main()
