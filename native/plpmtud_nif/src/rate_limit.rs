//! The responder's per-source rate limiter as a resource.

use crate::socket::decode_ip;
use parking_lot::Mutex;
use plpmtud_path::rate_limit::RateLimiter;
use rustler::{Encoder, Env, NifResult, Resource, ResourceArc, Term};

/// A rate limiter shared by reference with the BEAM.
pub struct RateLimiterResource(Mutex<RateLimiter>);

#[rustler::resource_impl]
impl Resource for RateLimiterResource {}

/// A limiter allowing `per_second` answers per source, `burst` at once.
#[rustler::nif]
fn rate_limiter_new(env: Env<'_>, per_second: u32, burst: u32) -> Term<'_> {
    let limiter = RateLimiter::new(per_second, burst);
    ResourceArc::new(RateLimiterResource(Mutex::new(limiter))).encode(env)
}

/// True if `ip` may get an answer at `now` (spends a token).
#[rustler::nif]
fn rate_limiter_allow(
    limiter: ResourceArc<RateLimiterResource>,
    now: u64,
    ip: Term<'_>,
) -> NifResult<bool> {
    let ip = decode_ip(ip)?;
    Ok(limiter.0.lock().allow(now, ip))
}
