//! Atoms used across the NIF.

rustler::atoms! {
    ok,
    error,
    nil,
    invalid_config,
    bad_option,
    unknown_option,
    not_due,
    in_flight,
    wrong_size,
    timeout,
    dup_ack,
    mtu_changed,
    search_complete,
    fallback,
    black_hole,
    accepted,
    unmatched,
    not_smaller,
    below_floor,
    not_probing,
}
