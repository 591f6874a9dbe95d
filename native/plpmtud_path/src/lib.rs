//! plpmtud path knowledge: what a node knows or needs about its paths beside
//! the per-path prober of `plpmtud_core`.
//!
//! - [`cache`]: the node-wide table of discovered MTUs per destination (TTL,
//!   bounded, shared behind a lock) that seeds new probers.
//! - [`fragment`]: splitting a message into datagrams that fit the path and
//!   reassembling them within fixed memory bounds.
//! - [`overhead`]: header sizes of the common encapsulations, and the payload
//!   budget they leave.
//! - [`wire`]: a probe/ack datagram format for transports without acks.
//! - [`rate_limit`]: per-source token buckets (e.g. for a probe responder).
//!
//! No sockets and no threads; the only lock is the cache's. The
//! reassembler's fuzzing oracle is in the unpublished `plpmtud_sim`.

pub mod cache;
pub mod fragment;
pub mod overhead;
pub mod rate_limit;
pub mod wire;
