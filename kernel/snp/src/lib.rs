//! Placeholder: filled in by its issue.
#![no_std]

extern crate alloc;

pub mod ovmf_table;
