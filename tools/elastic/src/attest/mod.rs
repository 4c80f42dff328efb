//! Relying-party building blocks for `elastic verify`: the attestation report layout
//! ([`report`]) and AMD's certificates, chain and certificate table ([`certs`]).

pub mod certs;
pub mod report;
