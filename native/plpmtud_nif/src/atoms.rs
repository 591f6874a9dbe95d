//! Every atom of the NIF: the fixed ones, made once, and [`named`] for
//! names that come from the core at run time.

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
    not_owner,
    badarg,
    normal,
    probe,
    unchanged,
    changed,
    probe_due,
    probe_acked,
    probe_lost,
    search_started,
    black_hole_suspected,
    black_hole_confirmed,
    ptb,
    emsgsize,
    initial,
    probe_failed,
    disabled,
    base,
    searching,
    plpmtud_udp,
    plpmtud_udp_passive,
    plpmtud_ptb,
    plpmtud_udp_error,
    partial,
    eagain,
    closed,
    enotsup,
    einval,
    infinity,
    once,
    mtu,
    offender,
    dest,
    quoted,
    ack,
    more,
}

/// The atom for a name the core gives at run time (a counter, a layer, an
/// errno): every other atom is one of the fixed atoms above. A name the
/// atom table refuses (longer than 255 bytes) comes back as a string.
pub fn named<'a>(env: rustler::Env<'a>, name: &str) -> rustler::Term<'a> {
    use rustler::Encoder;
    rustler::Atom::from_str(env, name).map_or_else(|_| name.encode(env), |a| a.encode(env))
}
