//! Meetings, room numbers, organizers; persistence (stub, see the server helper).
