//! The Genesys Cloud emulator.

pub mod fixture;
